"""Graded tests of the Chapter 7 exercises (course_lib/exercises/ch07.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch's autograd in float64 through the same draws,
closed-form expectations of a quadratic, ``scipy.special.logsumexp``,
``torch.distributions.kl_divergence`` and NumPy's variance. "NumPy only" is
checked twice: ``torch`` and ``scipy`` cannot be imported while the solution
runs, and the solution's source (and the module-level helpers it calls) is
read for them. The tests between the HIDDEN TESTS markers are left out of the
student edition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import scipy.special
import torch
from exercise_checks import assert_numpy_only, numpy_only
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence

from course_lib.exercises import ch07

pytestmark = pytest.mark.ch07

REPARAM = "ch07-ex-reparameterized-gradient"
IWAE = "ch07-ex-iwae-logsumexp"
KL_DIM = "ch07-ex-kl-per-dimension"
ACTIVE = "ch07-ex-active-units"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _no_warnings(f: Callable, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return f(*args, **kwargs)


# ------------------------------------------------------------------ reparameterised gradient


def _torch_reparam(f_torch, mu, logvar, eps):
    """Autograd through the same draws: the gradient of mean_s f(mu + exp(logvar/2) eps_s)."""
    m = torch.tensor(mu, requires_grad=True)
    lv = torch.tensor(logvar, requires_grad=True)
    z = m + torch.exp(lv / 2) * torch.tensor(eps)
    f_torch(z).sum(1).mean().backward()
    return m.grad.numpy(), lv.grad.numpy()


@pytest.mark.points(2)
@pytest.mark.exercise(REPARAM)
@settings(max_examples=20, deadline=None)
@given(s=st.integers(1, 6), dim=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_reparameterized_gradient_equals_autograd_through_the_same_draws(s, dim, seed):
    rng = _rng(seed)
    mu, logvar, eps = rng.normal(size=dim), rng.normal(size=dim), rng.normal(size=(s, dim))
    # f(z) = sum_j sin(z_j) + z_j^3 / 3: a non-linear f whose gradient is known
    dmu, dlogvar = ch07.reparameterized_gradient(lambda z: np.cos(z) + z**2, mu, logvar, eps)
    ref_mu, ref_lv = _torch_reparam(lambda z: torch.sin(z) + z**3 / 3, mu, logvar, eps)
    assert dmu.shape == dlogvar.shape == (dim,) and dmu.dtype == np.float64
    np.testing.assert_allclose(dmu, ref_mu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dlogvar, ref_lv, rtol=1e-12, atol=1e-14)


@pytest.mark.points(1)
@pytest.mark.exercise(REPARAM)
def test_reparameterized_gradient_is_unbiased_for_a_quadratic():
    # E[z^2] = mu^2 + sigma^2: d/dmu = 2 mu, d/dlogvar = sigma^2
    mu, logvar = np.array([0.5, -1.0, 2.0]), np.array([0.0, -1.0, 0.7])
    eps = _rng(1).normal(size=(200_000, 3))
    dmu, dlogvar = ch07.reparameterized_gradient(lambda z: 2 * z, mu, logvar, eps)
    np.testing.assert_allclose(dmu, 2 * mu, atol=0.02)
    np.testing.assert_allclose(dlogvar, np.exp(logvar), atol=0.03)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(REPARAM)
def test_hidden_reparameterized_gradient_numpy_only_and_errors(monkeypatch):
    rng = _rng(2)
    mu, logvar, eps = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(4, 3))
    ref = _torch_reparam(lambda z: z**3 / 3, mu, logvar, eps)
    with monkeypatch.context() as mp:
        numpy_only(mp)
        got = ch07.reparameterized_gradient(lambda z: z**2, mu, logvar, eps)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    assert_numpy_only(ch07.reparameterized_gradient)
    f = lambda z: z  # noqa: E731
    for args in ((mu, logvar[:2], eps), (mu, logvar, eps[:, :2]), (mu, logvar, eps[0]),
                 (mu, np.full(3, np.nan), eps)):
        with pytest.raises(ValueError):
            ch07.reparameterized_gradient(f, *args)
    with pytest.raises(ValueError):
        ch07.reparameterized_gradient(lambda z: z[:, :1], mu, logvar, eps)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- IWAE log-sum-exp


@pytest.mark.points(2)
@pytest.mark.exercise(IWAE)
@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 50), n=st.integers(1, 5), scale=st.sampled_from([1.0, 30.0, 300.0]),
       shift=st.sampled_from([0.0, -250.0, -5000.0]), seed=st.integers(0, 2**16))
def test_iwae_equals_scipy_logsumexp(k, n, scale, shift, seed):
    log_w = shift + scale * _rng(seed).normal(size=(k, n))
    got = _no_warnings(ch07.iwae_from_log_weights, log_w)
    expected = scipy.special.logsumexp(log_w, axis=0) - math.log(k)
    assert got.shape == (n,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.exercise(IWAE)
def test_iwae_of_equal_weights_one_sample_and_bounds():
    np.testing.assert_allclose(ch07.iwae_from_log_weights(np.full((7, 3), -400.0)), -400.0)
    row = np.array([[-300.0, -2.0, 1e3]])
    np.testing.assert_array_equal(ch07.iwae_from_log_weights(row), row[0])  # k = 1
    log_w = _rng(3).normal(scale=10.0, size=(20, 4)) - 500.0
    got = ch07.iwae_from_log_weights(log_w)
    # between the mean log-weight (Jensen: the ELBO estimate) and the largest log-weight
    assert np.all(got >= log_w.mean(0)) and np.all(got <= log_w.max(0))


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(IWAE)
def test_hidden_iwae_zero_weights_numpy_only_and_errors(monkeypatch):
    log_w = np.array([[-np.inf, -np.inf, -800.0], [-np.inf, -900.0, -np.inf]])
    with monkeypatch.context() as mp:
        numpy_only(mp)
        got = _no_warnings(ch07.iwae_from_log_weights, log_w)
    np.testing.assert_array_equal(got[0], -np.inf)
    np.testing.assert_allclose(got[1:], [-900.0 - math.log(2), -800.0 - math.log(2)], rtol=1e-14)
    assert_numpy_only(ch07.iwae_from_log_weights)
    for bad in (np.zeros(3), np.zeros((0, 2)), np.array([[np.nan]]), np.array([[np.inf]])):
        with pytest.raises(ValueError):
            ch07.iwae_from_log_weights(bad)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- collapse diagnostics


@pytest.mark.points(1)
@pytest.mark.exercise(KL_DIM)
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), dim=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_kl_per_dimension_equals_torch(n, dim, seed):
    rng = _rng(seed)
    mu, logvar = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    got = ch07.kl_per_dimension(mu, logvar)
    ref = kl_divergence(Normal(torch.tensor(mu), torch.exp(torch.tensor(logvar) / 2)),
                        Normal(0.0, 1.0)).mean(0).numpy()
    assert got.shape == (dim,)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ch07.kl_per_dimension(np.zeros((n, dim)), np.zeros((n, dim))), 0.0)


@pytest.mark.points(1)
@pytest.mark.exercise(ACTIVE)
def test_count_active_units():
    rng = _rng(4)
    mu = np.concatenate([rng.normal(size=(100, 3)), 1e-3 * rng.normal(size=(100, 2)),
                         np.full((100, 1), 3.0)], axis=1)  # the last: constant, so collapsed
    assert ch07.count_active_units(mu) == 3
    assert isinstance(ch07.count_active_units(mu), int)
    assert ch07.count_active_units(mu, threshold=100.0) == 0
    assert ch07.count_active_units(np.zeros((5, 4)), threshold=0.0) == 0  # strictly above


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(ACTIVE)
def test_hidden_active_units_unbiased_variance_numpy_only_and_errors(monkeypatch):
    # two pictures at +-0.075: variance 0.01125 unbiased, 0.005625 divided by N
    mu = np.array([[0.075, 1.0], [-0.075, 1.0]])
    with monkeypatch.context() as mp:
        numpy_only(mp)
        assert ch07.count_active_units(mu) == 1
    assert_numpy_only(ch07.count_active_units)
    for bad in (np.zeros(3), np.zeros((1, 3)), np.array([[np.nan, 0.0], [0.0, 0.0]])):
        with pytest.raises(ValueError):
            ch07.count_active_units(bad)
    with pytest.raises(ValueError):
        ch07.count_active_units(mu, threshold=-1.0)


@pytest.mark.points(1)
@pytest.mark.exercise(KL_DIM)
def test_hidden_kl_per_dimension_numpy_only_and_errors(monkeypatch):
    mu = np.array([[0.075, 1.0], [-0.075, 1.0]])
    with monkeypatch.context() as mp:
        numpy_only(mp)
        kl = ch07.kl_per_dimension(mu, np.zeros_like(mu))
    np.testing.assert_allclose(kl, [0.5 * 0.075**2, 0.5])
    assert_numpy_only(ch07.kl_per_dimension)
    with pytest.raises(ValueError):
        ch07.kl_per_dimension(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        ch07.kl_per_dimension(np.zeros(3), np.zeros(3))


### END HIDDEN TESTS
