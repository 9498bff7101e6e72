"""Graded tests of the Chapter 6 exercises (course_lib/exercises/ch06.py).

Each test carries its points and exercise id. The references are independent
of the code under test: ``scipy.stats`` densities, ``scipy.special.rel_entr``,
``scipy.spatial.distance.jensenshannon`` and ``scipy.integrate.trapezoid`` for
the divergences; closed forms and ``scipy.linalg.sqrtm`` for the Fréchet
distance; PyTorch's autograd in float64 and central differences for the
generator's gradient. The constraints the docstrings state ("NumPy only,
without ...") are checked twice: the forbidden functions raise while the
solution runs, and :func:`_forbidden_uses` reads the solution's source for
them. The tests between the HIDDEN TESTS markers are left out of the student
edition.
"""

from __future__ import annotations

import ast
import inspect
import math
import sys
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.exercises import ch06
from course_lib.numpy_nn.gradcheck import numerical_gradient

pytestmark = pytest.mark.ch06

OPTIMAL_D = "ch06-ex-optimal-discriminator"
JS = "ch06-ex-js-divergence"
FRECHET = "ch06-ex-frechet-gaussians"
GRADIENT = "ch06-ex-generator-gradient"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _no_warnings(f: Callable, *args, **kwargs):
    """``f(*args, **kwargs)`` with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return f(*args, **kwargs)


# --------------------------------------------------------------------------- constraints


def _forbidden_uses(func: Callable, banned: tuple[str, ...], allowed: tuple[str, ...] = ()):
    """The dotted names under ``banned`` that ``func`` imports or uses, read from its source.

    Follows the module's imports (``import scipy.linalg as la``, ``from x import y``,
    relative imports) and the module-level helper functions ``func`` calls.
    A name under ``allowed`` is fine even when it lies under ``banned``.
    """
    module = sys.modules[func.__module__]
    tree = ast.parse(inspect.getsource(module))
    parts = module.__name__.split(".")
    aliases: dict[str, str] = {}

    def imported(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
        names = {}
        for alias in node.names:
            if isinstance(node, ast.Import):
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
            else:
                base = node.module or ""
                if node.level:  # from .. import x: relative to this module's package
                    base = ".".join([*parts[: len(parts) - node.level], *([base] if base else [])])
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
        return names

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            aliases.update(imported(node))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    def dotted(node: ast.AST) -> str | None:
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = aliases.get(node.id, node.id)
        return ".".join([root, *reversed(attrs)])

    def bad(name: str) -> bool:
        under = lambda prefixes: any(name == p or name.startswith(p + ".") for p in prefixes)  # noqa: E731
        return under(banned) and not under(allowed)

    found, todo, seen = [], [func.__name__], set()
    while todo:
        fn = helpers.get(todo.pop())
        if fn is None or fn.name in seen:
            continue
        seen.add(fn.name)
        inner = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found += [full for full in imported(node).values() if bad(full)]
            elif isinstance(node, ast.Name | ast.Attribute) and id(node) not in inner:
                name = dotted(node)
                if name is None:
                    continue
                if name in ("__import__", "importlib", "eval", "exec") or bad(name):
                    found.append(name)
                if isinstance(node, ast.Name) and node.id in helpers:
                    todo.append(node.id)
    return sorted(set(found))


def _raiser(what: str) -> Callable:
    def forbidden(*args, **kwargs):
        raise AssertionError(f"the exercise forbids {what}")

    return forbidden


def _block_in_module(mp: pytest.MonkeyPatch, originals: dict[int, str]) -> None:
    """Replace the names of ch06 bound to a forbidden object (``from x import f`` at the top)."""
    for name, value in list(vars(ch06).items()):
        if id(value) in originals:
            mp.setattr(ch06, name, _raiser(originals[id(value)]))


# --------------------------------------------------------------------------- optimal discriminator


@pytest.mark.points(2)
@pytest.mark.exercise(OPTIMAL_D)
def test_optimal_discriminator_of_two_gaussians() -> None:
    x = np.linspace(-6, 6, 240)
    data, gen = scipy.stats.norm(0.0, 1.0), scipy.stats.norm(1.5, 0.7)
    d = ch06.optimal_discriminator(data.logpdf(x), gen.logpdf(x))
    assert isinstance(d, np.ndarray) and d.shape == x.shape and d.dtype == np.float64
    p, q = data.pdf(x), gen.pdf(x)  # no under- or overflow on this range
    np.testing.assert_allclose(d, p / (p + q), rtol=1e-12)
    grid = ch06.optimal_discriminator(data.logpdf(x).reshape(3, -1), gen.logpdf(x).reshape(3, -1))
    np.testing.assert_allclose(grid, d.reshape(3, -1), rtol=1e-15)  # any shape


@pytest.mark.points(1)
@pytest.mark.exercise(OPTIMAL_D)
def test_optimal_discriminator_is_one_half_where_equal_and_symmetric() -> None:
    log_p = np.array([-1e4, -50.0, -1.0, 0.0, 3.0, 700.0, 1e3])
    np.testing.assert_array_equal(ch06.optimal_discriminator(log_p, log_p), np.full(7, 0.5))
    log_q = _rng(1).normal(scale=5.0, size=7)
    d, d_swapped = (
        ch06.optimal_discriminator(log_p, log_q),
        ch06.optimal_discriminator(log_q, log_p),
    )
    np.testing.assert_allclose(d + d_swapped, 1.0, rtol=1e-15)  # D* for p_g is 1 - D* for p_data
    assert np.all((d >= 0) & (d <= 1))


@pytest.mark.points(1)
@pytest.mark.exercise(OPTIMAL_D)
def test_optimal_discriminator_extreme_and_zero_densities() -> None:
    log_p = np.array([-1e4, -1e4, 1e3, 800.0, 0.0, -np.inf, -np.inf, 5.0])
    log_q = np.array([-1e4 + 2, -1e4 - 3, 1e3 - 1, 810.0, -np.inf, 0.0, -np.inf, 5.0])
    d = _no_warnings(ch06.optimal_discriminator, log_p, log_q)
    # p / (p + q) = 1 / (1 + q / p), with q / p = exp(log q - log p) of a small exponent
    expected = [1 / (1 + math.exp(2)), 1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-1)),
                1 / (1 + math.exp(10)), 1.0, 0.0, 0.5, 0.5]  # fmt: skip
    np.testing.assert_allclose(d, expected, rtol=1e-13)
    # disjoint supports: D* = 1 on the data's, 0 on the generator's, 1/2 outside both
    x = np.linspace(-2, 5, 71)
    with np.errstate(divide="ignore"):
        log_tri_p = np.log(np.clip(1 - np.abs(x), 0, None))
        log_tri_q = np.log(np.clip(1 - np.abs(x - 3), 0, None))
    d = _no_warnings(ch06.optimal_discriminator, log_tri_p, log_tri_q)
    expected = np.where(log_tri_p > -np.inf, 1.0, np.where(log_tri_q > -np.inf, 0.0, 0.5))
    np.testing.assert_array_equal(d, expected)


# --------------------------------------------------------------------------- Jensen-Shannon


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """w with sum_k w_k f(x_k) = the trapezoid rule on the grid x."""
    w = np.zeros_like(x)
    w[1:] += np.diff(x) / 2
    w[:-1] += np.diff(x) / 2
    return w


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
@pytest.mark.parametrize(("loc", "scale"), [(1.0, 2.0), (4.0, 0.5)])
def test_js_of_two_gaussians_against_scipy(loc: float, scale: float) -> None:
    x = np.linspace(-25, 25, 5001)
    data, gen = scipy.stats.norm(0.0, 1.0), scipy.stats.norm(loc, scale)
    js = ch06.jensen_shannon(data.logpdf(x), gen.logpdf(x), x)
    assert isinstance(js, float)
    # The trapezoid rule is a weighted sum: the JS of the distributions w p and w q
    # on the grid points (both of total mass 1 here), which scipy returns the root of.
    w = _trapezoid_weights(x)
    expected = scipy.spatial.distance.jensenshannon(w * data.pdf(x), w * gen.pdf(x)) ** 2
    assert math.isclose(js, expected, rel_tol=1e-9)
    assert 0 < js < math.log(2)


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
def test_js_identical_is_zero_and_symmetric() -> None:
    x = np.linspace(-10, 10, 801)
    log_p = scipy.stats.norm(0.5, 1.2).logpdf(x)
    assert abs(ch06.jensen_shannon(log_p, log_p, x)) < 1e-14
    log_q = scipy.stats.laplace(-1.0, 0.8).logpdf(x)
    assert math.isclose(
        ch06.jensen_shannon(log_p, log_q, x), ch06.jensen_shannon(log_q, log_p, x), rel_tol=1e-12
    )


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
def test_js_of_disjoint_supports_is_log_2() -> None:
    x = np.linspace(-2, 5, 7001)
    with np.errstate(divide="ignore"):  # triangles: piecewise linear, so the rule is exact
        log_p = np.log(np.clip(1 - np.abs(x), 0, None))
        log_q = np.log(np.clip(1 - np.abs(x - 3), 0, None))
    js = _no_warnings(ch06.jensen_shannon, log_p, log_q, x)
    assert math.isclose(js, math.log(2), rel_tol=1e-9)


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
def test_js_gives_the_value_of_the_game_at_the_optimum() -> None:
    # Goodfellow et al. 2014, Theorem 1: V(D*, G) = -log 4 + 2 JS(p_data || p_g)
    x = np.linspace(-20, 20, 4001)
    data, gen = scipy.stats.norm(0.0, 1.0), scipy.stats.norm(-1.0, 1.5)
    p, q = data.pdf(x), gen.pdf(x)
    d_star = p / (p + q)
    value = scipy.integrate.trapezoid(p * np.log(d_star) + q * np.log(1 - d_star), x)
    js = ch06.jensen_shannon(data.logpdf(x), gen.logpdf(x), x)
    assert math.isclose(value, -math.log(4) + 2 * js, rel_tol=1e-10)


# --------------------------------------------------------------------------- Fréchet distance


def _spd(rng: np.random.Generator, d: int, low: float = 0.5, high: float = 3.0) -> np.ndarray:
    """A random symmetric positive definite (D, D) with eigenvalues in [low, high]."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = (q * rng.uniform(low, high, size=d)) @ q.T
    return (s + s.T) / 2


def _ref_frechet_sqrtm(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's sqrtm (fine on well-conditioned matrices)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.points(2)
@pytest.mark.exercise(FRECHET)
def test_frechet_1d_and_diagonal_closed_forms() -> None:
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with s the standard deviations
    for m1, v1, m2, v2 in ((0.0, 1.0, 0.0, 1.0), (1.0, 4.0, -2.0, 0.25), (3.0, 0.0, 1.0, 9.0)):
        got = ch06.frechet_distance_gaussians(np.array([m1]), np.array([[v1]]),
                                              np.array([m2]), np.array([[v2]]))  # fmt: skip
        assert isinstance(got, float)
        assert math.isclose(got, (m1 - m2) ** 2 + (math.sqrt(v1) - math.sqrt(v2)) ** 2,
                            rel_tol=1e-12, abs_tol=1e-14)  # fmt: skip
    # diagonal: the sum over the axes of the 1-D distances
    rng = _rng(2)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    v1, v2 = rng.uniform(0.1, 4, size=5), rng.uniform(0.1, 4, size=5)
    got = ch06.frechet_distance_gaussians(mu1, np.diag(v1), mu2, np.diag(v2))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert math.isclose(got, expected, rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(FRECHET)
@pytest.mark.parametrize("d", [3, 8])
def test_frechet_full_covariances_against_sqrtm(d: int) -> None:
    rng = _rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    got = ch06.frechet_distance_gaussians(mu1, s1, mu2, s2)
    assert math.isclose(got, _ref_frechet_sqrtm(mu1, s1, mu2, s2), rel_tol=1e-9)


@pytest.mark.points(1)
@pytest.mark.exercise(FRECHET)
def test_frechet_is_zero_for_equal_symmetric_and_rotation_invariant() -> None:
    rng = _rng(3)
    mu1, mu2, s1, s2 = rng.normal(size=4), rng.normal(size=4), _spd(rng, 4), _spd(rng, 4)
    assert ch06.frechet_distance_gaussians(mu1, s1, mu1, s1) < 1e-12
    d12 = ch06.frechet_distance_gaussians(mu1, s1, mu2, s2)
    assert math.isclose(d12, ch06.frechet_distance_gaussians(mu2, s2, mu1, s1), rel_tol=1e-10)
    r, _ = np.linalg.qr(rng.normal(size=(4, 4)))  # both Gaussians rotated: same distance
    rotated = ch06.frechet_distance_gaussians(r @ mu1, r @ s1 @ r.T, r @ mu2, r @ s2 @ r.T)
    assert math.isclose(d12, rotated, rel_tol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(FRECHET)
def test_frechet_errors() -> None:
    mu, s = np.zeros(3), np.eye(3)
    cases = [
        (mu, s, np.zeros(2), np.eye(2)),  # different dimensions
        (mu, np.eye(2), mu, s),  # sigma1 not (D, D)
        (mu, s + np.triu(np.ones((3, 3)), 1), mu, s),  # not symmetric
        (np.array([0.0, np.nan, 0.0]), s, mu, s),  # NaN
        (np.zeros((1, 3)), s, mu, s),  # mu not 1-D
    ]
    for args in cases:
        with pytest.raises(ValueError):
            ch06.frechet_distance_gaussians(*args)


# --------------------------------------------------------------------------- generator gradient


def _discriminator(rng: np.random.Generator, d: int, h: int, *, b2: float | None = None):
    w1, b1 = rng.normal(size=(d, h)), rng.normal(size=h)
    w2 = rng.normal(size=(h, 1)) / math.sqrt(h)
    return w1, b1, w2, np.array([rng.normal() if b2 is None else b2])


def _ref_generator(x, w1, b1, w2, b2, non_saturating: bool, slope: float):
    """(loss, dL/dx, logits) by torch's autograd in float64."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    u = xt @ torch.from_numpy(w1) + torch.from_numpy(b1)
    s = (F.leaky_relu(u, slope) @ torch.from_numpy(w2) + torch.from_numpy(b2))[:, 0]
    loss = -F.logsigmoid(s).mean() if non_saturating else F.logsigmoid(-s).mean()
    loss.backward()
    return loss.item(), xt.grad.numpy(), s.detach().numpy()


def _check_generator(x, params, non_saturating: bool, slope: float, rtol: float = 1e-10) -> None:
    loss, dx = ch06.generator_sample_gradient(
        x, *params, non_saturating=non_saturating, negative_slope=slope
    )
    ref_loss, ref_dx, _ = _ref_generator(x, *params, non_saturating, slope)
    assert isinstance(loss, float)
    assert math.isclose(loss, ref_loss, rel_tol=rtol, abs_tol=1e-300)
    assert dx.shape == x.shape and dx.dtype == np.float64
    np.testing.assert_allclose(dx, ref_dx, rtol=rtol, atol=1e-14 * np.abs(ref_dx).max())


@pytest.mark.points(3)
@pytest.mark.exercise(GRADIENT)
@settings(max_examples=30)
@given(
    n=st.integers(1, 6),
    d=st.integers(1, 5),
    h=st.integers(1, 7),
    non_saturating=st.booleans(),
    slope=st.sampled_from([0.0, 0.2, 0.01]),
    seed=st.integers(0, 2**16),
)
def test_generator_gradient_matches_torch_autograd(
    n: int, d: int, h: int, non_saturating: bool, slope: float, seed: int
) -> None:
    rng = _rng(seed)
    x = rng.normal(size=(n, d))
    _check_generator(x, _discriminator(rng, d, h), non_saturating, slope)


@pytest.mark.points(2)
@pytest.mark.exercise(GRADIENT)
@pytest.mark.parametrize("non_saturating", [True, False])
def test_generator_gradient_against_central_differences(non_saturating: bool) -> None:
    rng = _rng(4)
    x = rng.normal(size=(5, 3))
    params = _discriminator(rng, 3, 6)
    for slope in (0.0, 0.2):
        _, dx = ch06.generator_sample_gradient(
            x, *params, non_saturating=non_saturating, negative_slope=slope
        )

        def loss_of_x(v, slope=slope):
            out = ch06.generator_sample_gradient(
                v, *params, non_saturating=non_saturating, negative_slope=slope
            )
            return out[0]

        np.testing.assert_allclose(dx, numerical_gradient(loss_of_x, x), rtol=1e-6, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.exercise(GRADIENT)
def test_minimax_gradient_saturates_when_the_discriminator_rejects_the_fakes() -> None:
    rng = _rng(5)
    x = rng.normal(size=(8, 2))
    params = _discriminator(rng, 2, 16, b2=-15.0)  # D(x) ~ 3e-7: the fakes are rejected
    _, dx_ns = ch06.generator_sample_gradient(x, *params, non_saturating=True)
    _, dx_mm = ch06.generator_sample_gradient(x, *params, non_saturating=False)
    _, _, s = _ref_generator(x, *params, True, 0.2)
    assert np.all(s < -10)
    # dL/ds is -(1 - D)/N against -D/N: the rows differ by the factor D / (1 - D) = e^s
    np.testing.assert_allclose(dx_mm, dx_ns * np.exp(s)[:, None], rtol=1e-9, atol=1e-300)
    assert np.linalg.norm(dx_mm) < 1e-5 * np.linalg.norm(dx_ns)  # orders of magnitude smaller


@pytest.mark.points(1)
@pytest.mark.exercise(GRADIENT)
@pytest.mark.parametrize(("b2", "non_saturating"), [(-1e3, True), (1e3, False), (1e3, True)])
def test_generator_gradient_is_stable_for_huge_logits(b2: float, non_saturating: bool) -> None:
    rng = _rng(6)
    x = rng.normal(size=(4, 3))
    params = _discriminator(rng, 3, 5, b2=b2)
    loss, dx = _no_warnings(
        ch06.generator_sample_gradient, x, *params, non_saturating=non_saturating
    )
    assert math.isfinite(loss) and np.all(np.isfinite(dx))
    _check_generator(x, params, non_saturating, 0.2, rtol=1e-12)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(OPTIMAL_D)
def test_hidden_optimal_discriminator_tails_and_errors() -> None:
    t = np.array([-700.0, -300.0, -40.0, 40.0, 700.0])
    d = _no_warnings(ch06.optimal_discriminator, t - 5e3, np.full(5, -5e3))
    expected = [math.exp(v) / (1 + math.exp(v)) if v < 0 else 1 / (1 + math.exp(-v)) for v in t]
    np.testing.assert_allclose(d, expected, rtol=1e-12)  # relative precision, also at 1e-304
    for a, b in (
        (np.zeros(3), np.zeros(4)),
        (np.array([0.0, np.nan]), np.zeros(2)),
        (np.zeros(2), np.array([np.inf, 0.0])),
    ):
        with pytest.raises(ValueError):
            ch06.optimal_discriminator(a, b)


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
def test_hidden_js_on_a_non_uniform_truncated_grid() -> None:
    rng = _rng(7)
    x = np.sort(np.concatenate([rng.uniform(-3, 6, size=150), [-3.0, 6.0]]))
    data, gen = scipy.stats.norm(0.0, 1.0), scipy.stats.laplace(2.0, 1.0)
    p, q = data.pdf(x), gen.pdf(x)
    m = (p + q) / 2
    integrand = 0.5 * (scipy.special.rel_entr(p, m) + scipy.special.rel_entr(q, m))
    expected = scipy.integrate.trapezoid(integrand, x)
    got = ch06.jensen_shannon(data.logpdf(x), gen.logpdf(x), x)
    assert math.isclose(got, expected, rel_tol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(JS)
def test_hidden_js_errors() -> None:
    x = np.linspace(0, 1, 5)
    for args in (
        (np.zeros(5), np.zeros(5), x[::-1]),  # decreasing grid
        (np.zeros(4), np.zeros(5), x),  # shapes
        (np.zeros(1), np.zeros(1), np.zeros(1)),  # a single point
        (np.full(5, np.nan), np.zeros(5), x),
    ):
        with pytest.raises(ValueError):
            ch06.jensen_shannon(*args)


@pytest.mark.points(1)
@pytest.mark.exercise(FRECHET)
def test_hidden_frechet_singular_covariances() -> None:
    rng = _rng(8)
    b, c = rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    s1, s2 = b @ b.T, c @ c.T  # ranks 2 and 3 in 6 dimensions
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # S1 S2 = B (B^T S2): its non-zero eigenvalues are those of the 2 x 2 matrix B^T S2 B
    tr_sqrt = np.sqrt(np.linalg.eigvalsh(b.T @ s2 @ b)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    got = _no_warnings(ch06.frechet_distance_gaussians, mu1, s1, mu2, s2)
    assert isinstance(got, float) and math.isclose(got, expected, rel_tol=1e-9)
    same = _no_warnings(ch06.frechet_distance_gaussians, mu1, s1, mu1, s1)
    assert 0 <= same < 1e-6 * np.trace(s1)
    # FID-like: 64-D statistics of 20 samples each (rank 19)
    feats1, feats2 = rng.normal(size=(20, 64)), 0.5 + 2 * rng.normal(size=(20, 64))
    s1, s2 = np.cov(feats1, rowvar=False), np.cov(feats2, rowvar=False)
    x1 = (feats1 - feats1.mean(0)).T / math.sqrt(19)  # S1 = X1 X1^T, (64, 20)
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(x1.T @ s2 @ x1), 0, None)).sum()
    mu1, mu2 = feats1.mean(0), feats2.mean(0)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    got = _no_warnings(ch06.frechet_distance_gaussians, mu1, s1, mu2, s2)
    assert isinstance(got, float) and math.isclose(got, expected, rel_tol=1e-7)


@pytest.mark.points(1)
@pytest.mark.exercise(FRECHET)
def test_hidden_frechet_uses_numpy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import course_lib.evaluation as evaluation

    rng = _rng(9)
    mu1, mu2, s1, s2 = rng.normal(size=5), rng.normal(size=5), _spd(rng, 5), _spd(rng, 5)
    expected = _ref_frechet_sqrtm(mu1, s1, mu2, s2)
    originals = {id(scipy.linalg.sqrtm): "scipy.linalg.sqrtm"}
    originals |= {
        id(getattr(evaluation, n)): f"course_lib.evaluation.{n}" for n in evaluation.__all__
    }
    with monkeypatch.context() as mp:
        mp.setattr(scipy.linalg, "sqrtm", _raiser("scipy.linalg.sqrtm"))
        for name in evaluation.__all__:
            mp.setattr(evaluation, name, _raiser("course_lib.evaluation"))
        _block_in_module(mp, originals)
        got = ch06.frechet_distance_gaussians(mu1, s1, mu2, s2)
    assert math.isclose(got, expected, rel_tol=1e-9)
    uses = _forbidden_uses(
        ch06.frechet_distance_gaussians, ("scipy", "torch", "course_lib.evaluation")
    )
    assert not uses, f"the exercise asks for NumPy only; the solution uses {uses}"


@pytest.mark.points(1)
@pytest.mark.exercise(GRADIENT)
def test_hidden_generator_gradient_uses_numpy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = _rng(10)
    x = rng.normal(size=(6, 4))
    params = _discriminator(rng, 4, 5)
    ref_loss, ref_dx, _ = _ref_generator(x, *params, True, 0.2)
    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "torch", None)  # `import torch` fails inside the call
        mp.setattr(torch.Tensor, "backward", _raiser("torch's autograd"))
        mp.setattr(torch.autograd, "backward", _raiser("torch's autograd"))
        mp.setattr(torch.autograd, "grad", _raiser("torch's autograd"))
        loss, dx = ch06.generator_sample_gradient(x, *params)
    assert math.isclose(loss, ref_loss, rel_tol=1e-10)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-15)
    uses = _forbidden_uses(
        ch06.generator_sample_gradient,
        ("torch", "scipy", "jax", "autograd", "course_lib.numpy_nn", "course_lib.torch_nn"),
        allowed=("course_lib.numpy_nn.functional.losses.log_sigmoid",),
    )
    assert not uses, f"the exercise asks for NumPy only; the solution uses {uses}"


@pytest.mark.points(1)
@pytest.mark.exercise(GRADIENT)
def test_hidden_generator_gradient_errors_and_inputs_untouched() -> None:
    rng = _rng(11)
    x = rng.normal(size=(3, 2))
    params = _discriminator(rng, 2, 4)
    copies = [a.copy() for a in (x, *params)]
    _check_generator(x, params, False, 0.0)
    for a, b in zip((x, *params), copies, strict=True):
        np.testing.assert_array_equal(a, b)
    w1, b1, w2, b2 = params
    for args in (
        (x, w1.T, b1, w2, b2),  # W1 (H, D)
        (x, w1, b1, w2[:, 0], b2),  # W2 (H,)
        (x[0], w1, b1, w2, b2),  # x not 2-D
        (np.full_like(x, np.nan), w1, b1, w2, b2),
    ):
        with pytest.raises(ValueError):
            ch06.generator_sample_gradient(*args)
    with pytest.raises(ValueError):
        ch06.generator_sample_gradient(x, *params, negative_slope=1.5)


### END HIDDEN TESTS
