"""Graded tests of the Chapter 9 exercises (course_lib/exercises/ch09.py).

Each test carries its points and exercise id. The references are independent
of the code under test: ``skimage.metrics.peak_signal_noise_ratio``,
``torch.nn.functional.pixel_shuffle`` / ``pixel_unshuffle`` and their
autograd, PyTorch's autograd in float64 and central differences
(``course_lib.numpy_nn.gradcheck``). "NumPy only" is checked twice: ``torch``,
``scipy`` and ``skimage`` cannot be imported while the solution runs, and the
solution's source is read. The tests between the HIDDEN TESTS markers are left
out of the student edition.
"""

from __future__ import annotations

import ast
import inspect
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import assert_numpy_only, names_used, numpy_only
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio

from course_lib.exercises import ch09
from course_lib.numpy_nn.gradcheck import numerical_gradient

pytestmark = pytest.mark.ch09

PSNR = "ch09-ex-psnr"
SHUFFLE = "ch09-ex-pixel-shuffle"
MASKED = "ch09-ex-masked-loss"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _no_skimage(mp: pytest.MonkeyPatch) -> None:
    """``import skimage...`` fails while the solution runs (with ``numpy_only`` for the rest)."""
    for name in list(sys.modules):
        if name == "skimage" or name.startswith("skimage."):
            mp.setitem(sys.modules, name, None)


def _uses_skimage(func) -> bool:
    return any(n.split(".")[0] == "skimage" for n in names_used(func))


# --------------------------------------------------------------------------- PSNR


def _noisy_stack(rng: np.random.Generator, n: int, h: int, w: int, data_range: float):
    """Clean pictures in [0, data_range] and restorations of a different error each."""
    clean = data_range * rng.random((n, h, w))
    sigma = data_range * 10.0 ** rng.uniform(-3, -0.5, size=(n, 1, 1))  # (N, 1, 1)
    return clean + sigma * rng.normal(size=(n, h, w)), clean


@pytest.mark.points(2)
@pytest.mark.exercise(PSNR)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6),
       data_range=st.sampled_from([1.0, 2.0, 255.0]), seed=st.integers(0, 2**16))
def test_psnr_equals_skimage_per_picture(n, h, w, data_range, seed):
    restored, clean = _noisy_stack(_rng(seed), n, h, w, data_range)
    got = ch09.psnr(restored, clean, data_range=data_range)
    ref = [peak_signal_noise_ratio(c, r, data_range=data_range)
           for r, c in zip(restored, clean, strict=True)]
    assert isinstance(got, np.ndarray) and got.shape == (n,) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    one = ch09.psnr(restored[0], clean[0], data_range)
    assert isinstance(one, float) and one == pytest.approx(ref[0], rel=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(PSNR)
def test_psnr_known_values_and_an_exact_restoration_is_infinite_without_warning():
    clean = np.zeros((2, 4, 5))
    errors = np.array([0.1, 0.01])[:, None, None]  # MSE 1e-2 and 1e-4
    assert ch09.psnr(clean[0] + 0.1, clean[0]) == pytest.approx(20.0, rel=1e-12)
    assert ch09.psnr(clean[0] + 2.55, clean[0], 255.0) == pytest.approx(40.0, rel=1e-12)
    np.testing.assert_allclose(ch09.psnr(clean + errors, clean), [20.0, 40.0], rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero warned about is a failure
        assert ch09.psnr(clean[0], clean[0]) == np.inf
        mixed = ch09.psnr(np.stack([clean[0], clean[1] + 0.1]), clean)
    assert mixed[0] == np.inf and mixed[1] == pytest.approx(20.0, rel=1e-12)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(PSNR)
def test_hidden_psnr_numpy_only_without_skimage_and_errors(monkeypatch):
    import course_lib.restoration as restoration

    restored, clean = _noisy_stack(_rng(3), 3, 6, 5, 255.0)
    ref = [peak_signal_noise_ratio(c, r, data_range=255.0)
           for r, c in zip(restored, clean, strict=True)]

    def forbidden(*a, **k):
        raise AssertionError("the exercise is to compute the PSNR, not to call the library")

    with monkeypatch.context() as mp:
        mp.setattr(restoration, "psnr", forbidden)
        numpy_only(mp)
        _no_skimage(mp)
        got = ch09.psnr(restored, clean, data_range=255.0)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert_numpy_only(ch09.psnr)
    assert not _uses_skimage(ch09.psnr), "the exercise asks for NumPy only, not skimage"
    assert not any("restoration" in n for n in names_used(ch09.psnr))
    for args in ((restored, clean[:2]), (restored[0], clean), (restored[0, 0], clean[0, 0]),
                 (restored[None], clean[None]), (restored, clean, 0.0), (restored, clean, -1.0),
                 (restored * np.nan, clean)):
        with pytest.raises(ValueError):
            ch09.psnr(*args)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- pixel shuffle


@pytest.mark.points(2)
@pytest.mark.exercise(SHUFFLE)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), r=st.integers(1, 3), h=st.integers(1, 4),
       w=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_pixel_shuffle_and_unshuffle_equal_torch(n, c, r, h, w, seed):
    rng = _rng(seed)
    x = rng.normal(size=(n, c * r * r, h, w))
    y = ch09.pixel_shuffle(x, r)
    assert y.shape == (n, c, r * h, r * w) and y.dtype == np.float64
    np.testing.assert_array_equal(y, F.pixel_shuffle(torch.tensor(x), r).numpy())
    z = rng.normal(size=(n, c, r * h, r * w))
    back = ch09.pixel_unshuffle(z, r)
    assert back.shape == (n, c * r * r, h, w) and back.dtype == np.float64
    np.testing.assert_array_equal(back, F.pixel_unshuffle(torch.tensor(z), r).numpy())


@pytest.mark.points(1)
@pytest.mark.exercise(SHUFFLE)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), r=st.integers(2, 3), h=st.integers(1, 4),
       w=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_pixel_shuffle_round_trip_and_unshuffle_is_its_backward(n, c, r, h, w, seed):
    rng = _rng(seed)
    x = rng.normal(size=(n, c * r * r, h, w))
    y = rng.normal(size=(n, c, r * h, r * w))
    np.testing.assert_array_equal(ch09.pixel_unshuffle(ch09.pixel_shuffle(x, r), r), x)
    np.testing.assert_array_equal(ch09.pixel_shuffle(ch09.pixel_unshuffle(y, r), r), y)
    # the adjoint identity <shuffle(x), y> = <x, unshuffle(y)>: unshuffle is shuffle's transpose
    lhs = float(np.sum(ch09.pixel_shuffle(x, r) * y))
    assert lhs == pytest.approx(float(np.sum(x * ch09.pixel_unshuffle(y, r))), rel=1e-12)
    # ... and so the backward pass of shuffle, as autograd computes it
    xt = torch.tensor(x, requires_grad=True)
    F.pixel_shuffle(xt, r).backward(torch.tensor(y))
    np.testing.assert_array_equal(ch09.pixel_unshuffle(y, r), xt.grad.numpy())


### BEGIN HIDDEN TESTS


def _loops(func) -> list[str]:
    """The Python loops in ``func`` and in the module-level helpers it calls."""
    tree = ast.parse(inspect.getsource(sys.modules[func.__module__]))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found, todo, seen = [], [func.__name__], set()
    while todo:
        fn = helpers.get(todo.pop())
        if fn is None or fn.name in seen:
            continue
        seen.add(fn.name)
        for node in ast.walk(fn):
            if isinstance(node, (ast.For, ast.While, ast.comprehension)):
                found.append(f"{fn.name}:{node.lineno}")
            elif isinstance(node, ast.Name) and node.id in helpers:
                todo.append(node.id)
    return found


@pytest.mark.points(1)
@pytest.mark.exercise(SHUFFLE)
def test_hidden_pixel_shuffle_numpy_only_no_loops_layout_and_errors(monkeypatch):
    # integers show the layout: channel c r^2 + i r + j lands on sub-pixel (i, j) of channel c
    x = np.arange(2 * 8 * 2 * 3).reshape(2, 8, 2, 3)
    ref = F.pixel_shuffle(torch.tensor(x), 2).numpy()

    def forbidden(*a, **k):
        raise AssertionError("the exercise is to rearrange the pixels, not to call torch")

    with monkeypatch.context() as mp:
        for module, name in ((F, "pixel_shuffle"), (F, "pixel_unshuffle"),
                             (torch, "pixel_shuffle"), (torch, "pixel_unshuffle")):
            mp.setattr(module, name, forbidden)
        numpy_only(mp)
        _no_skimage(mp)
        y = ch09.pixel_shuffle(x, 2)
        back = ch09.pixel_unshuffle(y, 2)
    assert y.dtype == x.dtype and back.dtype == x.dtype
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(back, x)
    assert y[1, 1, 3, 4] == x[1, 4 + 2 * 1 + 0, 1, 2]  # c 1, (i, j) = (1, 0), (h, w) = (1, 2)
    for func in (ch09.pixel_shuffle, ch09.pixel_unshuffle):
        assert_numpy_only(func)
        assert not _uses_skimage(func)
        assert not _loops(func), f"{func.__name__}: reshape and transpose only, no Python loop"
    for args in ((x[:, :7], 2), (x, 0), (x, -2), (x, 1.5), (x[0], 2), (x[None], 2)):
        with pytest.raises(ValueError):
            ch09.pixel_shuffle(*args)
    for args in ((y[:, :, :3], 2), (y[:, :, :, :5], 2), (y, 0), (y, 2.0), (y[0], 2)):
        with pytest.raises(ValueError):
            ch09.pixel_unshuffle(*args)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- masked loss


def _torch_masked(x_hat: np.ndarray, x: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    xh = torch.tensor(x_hat, requires_grad=True)
    m = torch.tensor(mask, dtype=torch.float64)
    loss = 0.5 * (m * (xh - torch.tensor(x)) ** 2).sum() / m.sum()
    loss.backward()
    return loss.item(), xh.grad.numpy()


def _masked_case(rng: np.random.Generator, shape, known: float):
    x_hat, x = rng.normal(size=shape), rng.normal(size=shape)
    mask = (rng.random(shape) < known).astype(np.float64)
    mask.flat[rng.integers(mask.size)] = 1.0  # at least one known pixel
    return x_hat, x, mask


@pytest.mark.points(2)
@pytest.mark.exercise(MASKED)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(1, 5), w=st.integers(1, 5),
       known=st.sampled_from([0.2, 0.5, 0.8]), seed=st.integers(0, 2**16))
def test_masked_loss_equals_autograd(n, c, h, w, known, seed):
    x_hat, x, mask = _masked_case(_rng(seed), (n, c, h, w), known)
    loss, grad = ch09.masked_reconstruction_loss(x_hat, x, mask)
    ref_loss, ref_grad = _torch_masked(x_hat, x, mask)
    assert isinstance(loss, float) and grad.shape == x_hat.shape and grad.dtype == np.float64
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.exercise(MASKED)
def test_masked_loss_central_differences_a_known_value_and_the_hole_ignored():
    x_hat = np.array([[1.0, 2.0], [3.0, 4.0]])
    loss, grad = ch09.masked_reconstruction_loss(x_hat, np.zeros((2, 2)), np.eye(2))
    assert loss == pytest.approx(0.5 * (1 + 16) / 2, rel=1e-12)  # the mean over 2 known pixels
    np.testing.assert_allclose(grad, [[0.5, 0.0], [0.0, 2.0]], rtol=1e-12)

    rng = _rng(4)
    x_hat, x, mask = _masked_case(rng, (2, 1, 4, 5), 0.5)
    loss, grad = ch09.masked_reconstruction_loss(x_hat, x, mask)
    num = numerical_gradient(lambda v: ch09.masked_reconstruction_loss(v, x, mask)[0], x_hat)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)
    hole = mask == 0
    assert hole.any() and np.all(grad[hole] == 0.0)
    x2, x_hat2 = x.copy(), x_hat.copy()
    x2[hole] = 100.0 * rng.normal(size=hole.sum())  # whatever the hole holds ...
    x_hat2[hole] = -50.0  # ... and whatever the restoration puts there
    loss2, grad2 = ch09.masked_reconstruction_loss(x_hat2, x2, mask)
    assert loss2 == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad2, grad, rtol=1e-14, atol=0)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(MASKED)
def test_hidden_masked_loss_numpy_only_bool_mask_and_errors(monkeypatch):
    x_hat, x, mask = _masked_case(_rng(5), (3, 1, 6, 6), 0.3)
    ref = _torch_masked(x_hat, x, mask)
    with monkeypatch.context() as mp:
        numpy_only(mp)
        _no_skimage(mp)
        loss, grad = ch09.masked_reconstruction_loss(x_hat, x, mask.astype(bool))
    assert loss == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(grad, ref[1], rtol=1e-12, atol=1e-15)
    assert_numpy_only(ch09.masked_reconstruction_loss)
    assert not _uses_skimage(ch09.masked_reconstruction_loss)
    half = mask.copy()
    half.flat[0] = 0.5
    for args in ((x_hat, x, mask[:, :, :5]), (x_hat, x[:2], mask), (x_hat[0], x, mask),
                 (x_hat, x, half), (x_hat, x, 2 * mask), (x_hat, x, np.zeros_like(mask)),
                 (x_hat * np.nan, x, mask), (x_hat, x + np.inf, mask)):
        with pytest.raises(ValueError):
            ch09.masked_reconstruction_loss(*args)


### END HIDDEN TESTS
