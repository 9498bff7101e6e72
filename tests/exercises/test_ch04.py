"""Graded tests of the Chapter 4 exercises (course_lib/exercises/ch04.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch in float64 (``torch.nn.functional``,
``torch.distributions`` and autograd) and small cases worked by hand. The
tests between the HIDDEN TESTS markers are left out of the student edition.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch04

pytestmark = pytest.mark.ch04

WEIGHTS = "ch04-ex-class-weights"
FOCAL = "ch04-ex-focal-loss"
KL = "ch04-ex-kl-gaussians"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- references


def _ref_focal(z: np.ndarray, y: np.ndarray, gamma: float, alpha: float | None):
    """torchvision.ops.sigmoid_focal_loss's formula, mean reduction, differentiated by autograd."""
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64)
    p = torch.sigmoid(zt)
    ce = F.binary_cross_entropy_with_logits(zt, yt, reduction="none")
    p_t = p * yt + (1 - p) * (1 - yt)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * yt + (1 - alpha) * (1 - yt)) * loss
    loss = loss.mean()
    loss.backward()
    return loss.item(), zt.grad.numpy()


def _ref_kl(mu_q, logvar_q, mu_p, logvar_p):
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (mu_q, logvar_q)]
    q = torch.distributions.Normal(leaves[0], torch.exp(0.5 * leaves[1]))
    p = torch.distributions.Normal(
        torch.from_numpy(mu_p), torch.exp(0.5 * torch.from_numpy(logvar_p))
    )
    kl = torch.distributions.kl_divergence(q, p).sum(dim=1).mean()
    kl.backward()
    return kl.item(), leaves[0].grad.numpy(), leaves[1].grad.numpy()


def _kl_inputs(seed: int, n: int = 5, d: int = 3, scale: float = 1.0):
    rng = _rng(seed)
    return [scale * rng.normal(size=(n, d)) for _ in range(4)]


# --------------------------------------------------------------------------- class weights


@pytest.mark.points(2)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_hand_example() -> None:
    w = ch04.inverse_frequency_weights(np.array([0, 0, 0, 1, 2, 2]), 3)
    # N = 6, K = 3: w_k = 6 / (3 n_k) with n = (3, 1, 2)
    np.testing.assert_allclose(w, [2 / 3, 2.0, 1.0], rtol=1e-15)
    assert w.dtype == np.float64 and w.shape == (3,)


@pytest.mark.points(2)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_make_the_weighted_loss_a_mean_over_classes() -> None:
    rng = _rng(1)
    labels = np.repeat(np.arange(4), [50, 20, 5, 1])  # imbalanced, every class present
    logits = rng.normal(size=(labels.size, 4))
    w = ch04.inverse_frequency_weights(labels, 4)
    per_example = F.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels), reduction="none"
    ).numpy()
    per_class_means = [per_example[labels == k].mean() for k in range(4)]
    weighted = F.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels), weight=torch.from_numpy(w)
    ).item()
    assert math.isclose(weighted, np.mean(per_class_means), rel_tol=1e-12)
    assert math.isclose(w[labels].sum(), labels.size, rel_tol=1e-12)  # like N unweighted examples


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_balanced_and_absent_classes() -> None:
    np.testing.assert_allclose(ch04.inverse_frequency_weights(np.arange(10) % 5, 5), np.ones(5))
    w = ch04.inverse_frequency_weights(np.array([0, 0, 2, 2]), 4)
    np.testing.assert_allclose(w, [0.5, 0.0, 0.5, 0.0])  # N / (K n_k) = 4 / 8, absent -> 0
    assert np.all(np.isfinite(w))


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_class_weights_errors() -> None:
    for labels, k in (
        (np.array([0, 3]), 3),
        (np.array([-1, 0]), 3),
        (np.array([0.0, 1.0]), 2),
        (np.zeros((2, 2), dtype=int), 2),
        (np.array([], dtype=int), 2),
        (np.array([0]), 0),
    ):
        with pytest.raises(ValueError):
            ch04.inverse_frequency_weights(labels, k)


# --------------------------------------------------------------------------- focal loss


@pytest.mark.points(3)
@pytest.mark.exercise(FOCAL)
@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (1.0, None), (3.0, 0.8)])
def test_focal_loss_matches_torch(gamma: float, alpha: float | None) -> None:
    rng = _rng(2)
    z = 3 * rng.normal(size=(6, 4))
    y = rng.integers(0, 2, size=(6, 4))
    loss, dz = ch04.binary_focal_loss(z, y, gamma=gamma, alpha=alpha)
    ref_loss, ref_dz = _ref_focal(z, y, gamma, alpha)
    assert math.isclose(loss, ref_loss, rel_tol=1e-10)
    assert dz.shape == z.shape
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-9, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.exercise(FOCAL)
def test_focal_loss_with_gamma_0_is_the_binary_cross_entropy() -> None:
    rng = _rng(3)
    z, y = rng.normal(size=10), rng.integers(0, 2, size=10).astype(float)
    loss, dz = ch04.binary_focal_loss(z, y, gamma=0.0, alpha=None)
    zt = torch.tensor(z, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(zt, torch.from_numpy(y))
    ref.backward()
    assert math.isclose(loss, ref.item(), rel_tol=1e-12)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.points(1)
@pytest.mark.exercise(FOCAL)
def test_focal_loss_down_weights_easy_examples() -> None:
    # An easy positive (p = sigmoid(3) = 0.95) and a hard one (p = sigmoid(-3)).
    easy, _ = ch04.binary_focal_loss(np.array([3.0]), np.array([1]), gamma=2.0, alpha=None)
    hard, _ = ch04.binary_focal_loss(np.array([-3.0]), np.array([1]), gamma=2.0, alpha=None)
    p = 1 / (1 + math.exp(-3.0))
    assert math.isclose(easy, (1 - p) ** 2 * -math.log(p), rel_tol=1e-12)
    assert math.isclose(hard, p**2 * -math.log(1 - p), rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(FOCAL)
def test_focal_loss_errors() -> None:
    z = np.zeros(3)
    for args, kwargs in (
        ((z, np.array([0, 1])), {}),
        ((z, np.array([0.0, 0.5, 1.0])), {}),
        ((z, np.array([0, 1, 2])), {}),
        ((z, np.array([0, 1, 1])), {"gamma": -1.0}),
        ((z, np.array([0, 1, 1])), {"alpha": 1.5}),
        ((np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1])), {}),
    ):
        with pytest.raises(ValueError):
            ch04.binary_focal_loss(*args, **kwargs)


# --------------------------------------------------------------------------- KL of two Gaussians


@pytest.mark.points(3)
@pytest.mark.exercise(KL)
def test_kl_matches_torch_distributions() -> None:
    inputs = _kl_inputs(4)
    kl, dmu, dlogvar = ch04.kl_diagonal_gaussians(*inputs)
    ref_kl, ref_dmu, ref_dlogvar = _ref_kl(*inputs)
    assert math.isclose(kl, ref_kl, rel_tol=1e-12)
    np.testing.assert_allclose(dmu, ref_dmu, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(dlogvar, ref_dlogvar, rtol=1e-11, atol=1e-15)


@pytest.mark.points(1)
@pytest.mark.exercise(KL)
def test_kl_is_zero_at_equality_and_not_symmetric() -> None:
    mu, logvar, mu2, logvar2 = _kl_inputs(5)
    kl, dmu, dlogvar = ch04.kl_diagonal_gaussians(mu, logvar, mu, logvar)
    assert abs(kl) < 1e-14 and np.abs(dmu).max() < 1e-15 and np.abs(dlogvar).max() < 1e-15
    forward = ch04.kl_diagonal_gaussians(mu, logvar, mu2, logvar2)[0]
    backward = ch04.kl_diagonal_gaussians(mu2, logvar2, mu, logvar)[0]
    assert forward > 0 and backward > 0 and not math.isclose(forward, backward)


@pytest.mark.points(1)
@pytest.mark.exercise(KL)
def test_kl_against_the_standard_normal_hand_case() -> None:
    # One dimension, q = N(1, e^1), p = N(0, 1): (1 + e - 1 - 1) / 2 = (e - 1) / 2
    kl, dmu, dlogvar = ch04.kl_diagonal_gaussians(
        np.ones((1, 1)), np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1))
    )
    assert math.isclose(kl, (math.e - 1) / 2, rel_tol=1e-14)
    assert math.isclose(dmu[0, 0], 1.0) and math.isclose(dlogvar[0, 0], (math.e - 1) / 2)


@pytest.mark.points(1)
@pytest.mark.exercise(KL)
def test_kl_errors() -> None:
    a = np.zeros((2, 3))
    with pytest.raises(ValueError):
        ch04.kl_diagonal_gaussians(a, a, a, np.zeros((2, 4)))
    with pytest.raises(ValueError):
        ch04.kl_diagonal_gaussians(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError):
        ch04.kl_diagonal_gaussians(a, a, a, np.full((2, 3), np.inf))


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(WEIGHTS)
def test_hidden_class_weights_random_int32_labels() -> None:
    rng = _rng(101)
    labels = rng.choice(7, size=500, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0]).astype(np.int32)
    w = ch04.inverse_frequency_weights(labels, 7)
    counts = np.bincount(labels, minlength=7)
    assert w.dtype == np.float64 and w[6] == 0.0
    np.testing.assert_allclose((w * counts)[:6], np.full(6, 500 / 7), rtol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(FOCAL)
def test_hidden_focal_loss_extreme_logits_and_float32() -> None:
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4, 1e4, -1e4])
    y = np.array([1, 0, 1, 1, 1, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dz = ch04.binary_focal_loss(z, y, gamma=2.0, alpha=0.25)
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    ref_loss, ref_dz = _ref_focal(z, y, 2.0, 0.25)
    assert math.isclose(loss, ref_loss, rel_tol=1e-12)
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-9, atol=1e-15)
    z32 = _rng(102).normal(size=(3, 5)).astype(np.float32)
    y32 = (z32 > 0.3).astype(np.float32)
    loss32, dz32 = ch04.binary_focal_loss(z32, y32, gamma=0.5, alpha=0.6)
    assert loss32.dtype == np.float32 and dz32.dtype == np.float32
    ref_loss, ref_dz = _ref_focal(z32.astype(np.float64), y32, 0.5, 0.6)
    assert math.isclose(loss32, ref_loss, rel_tol=1e-5)
    np.testing.assert_allclose(dz32, ref_dz, rtol=1e-4, atol=1e-7)


@pytest.mark.points(1)
@pytest.mark.exercise(FOCAL)
def test_hidden_focal_loss_non_integer_gamma_and_inputs_untouched() -> None:
    rng = _rng(103)
    z, y = 2 * rng.normal(size=(4, 4)), rng.integers(0, 2, size=(4, 4)).astype(bool)
    copies = (z.copy(), y.copy())
    loss, dz = ch04.binary_focal_loss(z, y, gamma=0.7, alpha=None)
    ref_loss, ref_dz = _ref_focal(z, y.astype(float), 0.7, None)
    assert math.isclose(loss, ref_loss, rel_tol=1e-10)
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(z, copies[0])
    np.testing.assert_array_equal(y, copies[1])


@pytest.mark.points(1)
@pytest.mark.exercise(KL)
def test_hidden_kl_far_apart_and_float32() -> None:
    inputs = _kl_inputs(104, n=7, d=2, scale=4.0)
    kl, dmu, dlogvar = ch04.kl_diagonal_gaussians(*inputs)
    ref = _ref_kl(*inputs)
    assert math.isclose(kl, ref[0], rel_tol=1e-11)
    np.testing.assert_allclose(dmu, ref[1], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dlogvar, ref[2], rtol=1e-10, atol=1e-13)
    inputs32 = [a.astype(np.float32) for a in _kl_inputs(105)]
    out = ch04.kl_diagonal_gaussians(*inputs32)
    assert all(np.asarray(o).dtype == np.float32 for o in out)
    ref = _ref_kl(*[a.astype(np.float64) for a in inputs32])
    assert math.isclose(out[0], ref[0], rel_tol=1e-5)


### END HIDDEN TESTS
