"""Chapter 7's NumPy VAE: the functional pieces, the hand-derived step, the trainer.

The reparameterisation and the Bernoulli likelihood are checked against torch
autograd and central differences in float64 on shapes drawn by hypothesis; one
whole training step of the MLP VAE (forward, hand backward, Adam update)
against the same step in torch (``course_lib.torch_nn.vae_reference``).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes
from numpy.polynomial.hermite_e import hermegauss

from course_lib.numpy_nn import functional
from course_lib.numpy_nn.functional.losses import gaussian_kl
from course_lib.numpy_nn.functional.vae import (
    ReparameterizeCache,
    bernoulli_nll,
    reparameterize_backward,
    reparameterize_forward,
)
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_nn.layers import LeakyReLU, ReLU, Tanh
from course_lib.numpy_nn.optim import Adam
from course_lib.numpy_nn.vae import (
    PRESETS,
    NumpyVAE,
    NumpyVAEConfig,
    evaluate_test_set,
    fake_images,
    load_vae_data,
    make_numpy_vae,
    neg_elbo,
    train_numpy_vae,
    vae_step,
)
from course_lib.torch_nn.vae_reference import torch_vae_step, vae_to_torch

pytestmark = pytest.mark.ch07

SMOKE = PRESETS["smoke"]


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, underflow or divide warnings
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- functional


@settings(max_examples=15)
@given(
    n=st.integers(1, 5),
    d=st.integers(1, 5),
    logvar_scale=st.sampled_from([0.1, 1.0, 4.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_reparameterize_matches_torch_and_numerical(n, d, logvar_scale, seed):
    rng = np.random.default_rng(seed)
    mu, eps, dz = (rng.standard_normal((n, d)) for _ in range(3))
    logvar = logvar_scale * rng.standard_normal((n, d))
    z, cache = reparameterize_forward(mu, logvar, eps)
    assert isinstance(cache, ReparameterizeCache)
    dmu, dlogvar = reparameterize_backward(dz, cache)

    mu_t, logvar_t = (torch.tensor(a, requires_grad=True) for a in (mu, logvar))
    z_t = mu_t + torch.exp(logvar_t / 2) * torch.tensor(eps)
    z_t.backward(torch.tensor(dz))
    np.testing.assert_allclose(z, z_t.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dmu, mu_t.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dlogvar, logvar_t.grad.numpy(), rtol=1e-13, atol=1e-15)

    num_mu = numerical_gradient(lambda m: reparameterize_forward(m, logvar, eps)[0], mu, dz)
    num_lv = numerical_gradient(lambda s: reparameterize_forward(mu, s, eps)[0], logvar, dz)
    assert rel_error(dmu, num_mu) < 1e-8
    assert rel_error(dlogvar, num_lv) < 1e-7


@st.composite
def logits_and_targets(draw):
    """Logits of a drawn shape (N, ...) and scale up to +-50, targets binary or grey."""
    shape = draw(array_shapes(min_dims=2, max_dims=3, max_side=5))
    scale = draw(st.sampled_from([0.1, 1.0, 5.0, 50.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    logits = np.clip(scale * rng.standard_normal(shape), -50, 50)
    logits.flat[0] = draw(st.sampled_from([-50.0, 50.0, 0.0]))  # an extreme in every example
    binary = draw(st.booleans())
    x = (rng.random(shape) < 0.5).astype(np.float64) if binary else rng.random(shape)
    return logits, x


@settings(max_examples=20)
@given(data=logits_and_targets())
def test_bernoulli_nll_matches_torch_and_numerical(data):
    logits, x = data
    nll, dlogits = _no_warnings(bernoulli_nll, logits, x)
    assert np.isfinite(nll) and np.all(np.isfinite(dlogits))

    l_t = torch.tensor(logits, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(l_t, torch.tensor(x), reduction="sum") / len(x)
    ref.backward()
    assert abs(nll - ref.item()) <= 1e-12 * max(1.0, abs(ref.item()))
    np.testing.assert_allclose(dlogits, l_t.grad.numpy(), rtol=1e-12, atol=1e-16)
    # the per-example sum of the element-wise loss: nats per image, not per pixel
    per_pixel = np.logaddexp(0, logits) - x * logits
    # (atol: logaddexp(0, 50) - 50 rounds to 0, where the exact value is 1.9e-22)
    expected = per_pixel.reshape(len(x), -1).sum(1).mean()
    np.testing.assert_allclose(nll, expected, rtol=1e-12, atol=1e-12)

    num = numerical_gradient(lambda l: bernoulli_nll(l, x)[0], logits.copy())
    # atol: central differences of a loss of ~50 nats round off to ~1e-16 * 50 / 1e-5
    np.testing.assert_allclose(dlogits, num, rtol=1e-6, atol=1e-8)


def test_bernoulli_nll_at_huge_logits_is_exact():
    # a confident right answer costs ~0 nats, a confident wrong one ~|logit| nats
    logits = np.array([[50.0, -50.0, 50.0, -50.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0]])
    nll, dlogits = _no_warnings(bernoulli_nll, logits, x)
    np.testing.assert_allclose(nll, 100.0, rtol=1e-12)
    np.testing.assert_allclose(dlogits, [[0.0, 0.0, 1.0, -1.0]], atol=1e-21)
    nll32, _ = _no_warnings(bernoulli_nll, np.float32(1e4) * np.sign(logits), x.astype(np.float32))
    np.testing.assert_allclose(nll32, 2e4, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    rng = np.random.default_rng(0)
    mu, logvar = (rng.standard_normal((3, 2)).astype(dtype) for _ in range(2))
    z, cache = reparameterize_forward(mu, logvar, rng.standard_normal((3, 2)))  # eps float64
    dmu, dlogvar = reparameterize_backward(np.ones((3, 2)), cache)
    assert z.dtype == dmu.dtype == dlogvar.dtype == dtype
    nll, dlogits = bernoulli_nll(rng.standard_normal((3, 4)).astype(dtype), np.ones((3, 4), dtype))
    assert nll.dtype == dlogits.dtype == dtype


def test_bad_inputs_raise_value_errors():
    ok = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"logvar has shape \(2, 4\), expected \(2, 3\)"):
        reparameterize_forward(ok, np.zeros((2, 4)), ok)
    with pytest.raises(ValueError, match=r"eps has shape \(3, 2\), expected \(2, 3\)"):
        reparameterize_forward(ok, ok, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="batch axis"):
        reparameterize_forward(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        reparameterize_forward(ok, ok, np.full((2, 3), np.nan))
    _, cache = reparameterize_forward(ok, ok, ok)
    with pytest.raises(ValueError, match=r"dz has shape \(2, 2\), expected \(2, 3\)"):
        reparameterize_backward(np.zeros((2, 2)), cache)
    with pytest.raises(ValueError, match=r"x has shape \(2, 4\), expected \(2, 3\)"):
        bernoulli_nll(ok, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        bernoulli_nll(ok, np.full((2, 3), 1.5))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        bernoulli_nll(ok, np.full((2, 3), -0.1))
    with pytest.raises(ValueError, match="batch axis"):
        bernoulli_nll(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="non-empty"):
        bernoulli_nll(np.zeros((0, 3)), np.zeros((0, 3)))


def test_functional_package_reexports_the_vae_topic():
    assert functional.bernoulli_nll is bernoulli_nll
    assert functional.reparameterize_forward is reparameterize_forward
    assert {"ReparameterizeCache", "reparameterize_backward"} <= set(functional.__all__)


# --------------------------------------------------------------------------- the MLP VAE


def _assert_same_parameters(vae: NumpyVAE, enc_t, dec_t) -> None:
    for ours, theirs in ((vae.encoder, enc_t), (vae.decoder, dec_t)):
        for (name, p), (t_name, t) in zip(
            ours.named_parameters(), theirs.named_parameters(), strict=True
        ):
            assert name == t_name
            expected = t.detach().numpy()
            expected = expected.T if p.data.ndim == 2 else expected
            np.testing.assert_allclose(p.data, expected, rtol=1e-10, atol=1e-13)


@settings(max_examples=12)
@given(
    batch=st.integers(1, 5),
    pixels=st.integers(1, 7),
    latent=st.integers(1, 3),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=2).map(tuple),
    activation=st.sampled_from([ReLU, Tanh, lambda: LeakyReLU(0.2)]),
    beta=st.sampled_from([0.0, 0.5, 1.0, 2.5]),
    seed=st.integers(0, 2**16),
)
def test_training_step_equals_torch(batch, pixels, latent, hidden, activation, beta, seed):
    vae = make_numpy_vae(
        latent, hidden, input_dim=pixels, seed=seed, dtype=np.float64, activation=activation
    )
    enc_t, dec_t = vae_to_torch(vae)
    opt = Adam(vae.parameters(), lr=1e-2)
    opt_t = torch.optim.Adam([*enc_t.parameters(), *dec_t.parameters()], lr=1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # three steps: Adam's moments and bias correction come in too
        x = (rng.random((batch, pixels)) < 0.4).astype(np.float64)
        eps = rng.standard_normal((batch, latent))
        r = vae_step(vae, x, eps, beta=beta)
        opt.step()
        ref = torch_vae_step(
            enc_t, dec_t, torch.tensor(x), torch.tensor(eps), beta, optimizer=opt_t
        )
        np.testing.assert_allclose([r.loss, r.rec, r.kl], ref, rtol=1e-11, atol=1e-13)
        assert r.kl >= 0 and np.isclose(r.loss, r.rec + beta * r.kl)
        _assert_same_parameters(vae, enc_t, dec_t)


def test_vae_step_gradients_match_numerical():
    vae = make_numpy_vae(2, (4,), input_dim=5, seed=3, dtype=np.float64, activation=Tanh)
    rng = np.random.default_rng(0)
    x = (rng.random((3, 5)) < 0.5).astype(np.float64)
    eps = rng.standard_normal((3, 2))
    vae_step(vae, x, eps, beta=0.7)
    grads = [p.grad.copy() for p in vae.parameters()]
    assert all(p.has_grad for p in vae.parameters())
    for p, g in zip(vae.parameters(), grads, strict=True):
        num = numerical_gradient(lambda _: vae_step(vae, x, eps, beta=0.7).loss, p.data)
        assert rel_error(g, num) < 1e-6


def test_vae_step_zeroes_the_gradients_first():
    vae = make_numpy_vae(2, 4, input_dim=5, dtype=np.float64)
    x, eps = np.ones((2, 5)), np.zeros((2, 2))
    vae_step(vae, x, eps)
    once = [p.grad.copy() for p in vae.parameters()]
    vae_step(vae, x, eps)  # not accumulated into the first step's gradients
    for p, g in zip(vae.parameters(), once, strict=True):
        np.testing.assert_array_equal(p.grad, g)


def test_vae_step_and_model_check_shapes():
    vae = make_numpy_vae(3, 8, input_dim=10)
    assert (vae.latent_dim, vae.input_dim, vae.dtype) == (3, 10, np.float32)
    assert vae.encoder[-1].out_features == 6 and vae.decoder[-1].out_features == 10
    with pytest.raises(ValueError, match=r"eps has shape \(2, 2\), expected \(2, 3\)"):
        vae_step(vae, np.ones((2, 10)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"x must be \(N, 10\)"):
        vae_step(vae, np.ones((2, 9)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        vae_step(vae, np.full((2, 10), 2.0), np.zeros((2, 3)))
    other = make_numpy_vae(4, 8, input_dim=10)
    with pytest.raises(ValueError, match="expected \\(N, 3\\) -> \\(N, 10\\)"):
        NumpyVAE(vae.encoder, other.decoder)


def test_neg_elbo_is_deterministic_in_seed_and_batching():
    vae = make_numpy_vae(2, 6, input_dim=8, dtype=np.float64)
    x = (np.random.default_rng(1).random((25, 8)) < 0.5).astype(np.float64)
    a = neg_elbo(vae, x, samples=3, seed=5)
    assert a == neg_elbo(vae, x, samples=3, seed=5)
    assert a != neg_elbo(vae, x, samples=3, seed=6)
    # one batch: the first draw of eps is that of vae_step on the same noise
    eps = np.random.default_rng(5).standard_normal((25, 2))
    np.testing.assert_allclose(neg_elbo(vae, x, seed=5, batch_size=25), vae_step(vae, x, eps).loss)
    with pytest.raises(ValueError, match="samples"):
        neg_elbo(vae, x, samples=0)


def test_neg_elbo_converges_to_the_exact_expectation():
    """With a 1-D latent, E_q[-log p(x|z)] by Gauss-Hermite quadrature is exact to ~1e-12."""
    vae = make_numpy_vae(1, 5, input_dim=6, seed=2, dtype=np.float64, activation=Tanh)
    x = (np.random.default_rng(0).random((4, 6)) < 0.5).astype(np.float64)
    mu, logvar = vae.encode(x)  # (4, 1) each
    t, w = hermegauss(80)  # nodes and weights for the weight exp(-t^2 / 2)
    w = w / np.sqrt(2 * np.pi)
    exact = 0.0
    for n in range(len(x)):
        z = mu[n] + np.exp(logvar[n] / 2) * t[:, None]  # (80, 1) quadrature points of q(z|x_n)
        x_n = np.broadcast_to(x[n], (len(t), x.shape[1]))
        per_point = np.logaddexp(0, vae.decode(z)) - x_n * vae.decode(z)  # (80, 6)
        exact += w @ per_point.sum(1) / len(x)
    exact += gaussian_kl(mu, logvar)[0]
    mc = neg_elbo(vae, x, samples=20_000, seed=0)
    assert abs(mc - exact) < 2e-3 * exact  # about 3 standard errors of the estimate
    # the check can tell: the plug-in z = mu (no sampling) is ~3% off here
    plug_in = bernoulli_nll(vae.decode(mu), x)[0] + gaussian_kl(mu, logvar)[0]
    assert abs(plug_in - exact) > 10 * abs(mc - exact)


# --------------------------------------------------------------------------- training


def test_smoke_training_improves_and_restores_the_best_parameters():
    vae, h = train_numpy_vae(SMOKE)
    assert len(h.val_neg_elbo) == SMOKE.epochs and np.all(np.isfinite(h.val_neg_elbo))
    assert h.val_neg_elbo[-1] < h.val_neg_elbo[0]
    steps = SMOKE.epochs * -(-SMOKE.train_limit // SMOKE.batch_size)
    assert len(h.loss) == len(h.rec) == len(h.kl) == h.epoch_steps[-1] == steps
    np.testing.assert_allclose(h.loss, np.add(h.rec, h.kl), rtol=1e-5)
    assert h.best_val == min(h.val_neg_elbo) and not h.stopped_early and h.seconds > 0
    val = load_vae_data(SMOKE).val
    assert neg_elbo(vae, val, samples=SMOKE.val_samples, seed=SMOKE.seed) == h.best_val
    assert np.isfinite(evaluate_test_set(vae, fake_data=True))


def test_training_restores_an_earlier_best_epoch(monkeypatch):
    import course_lib.numpy_nn.vae as vae_module

    # scripted validation scores: the second epoch is the best of four
    scores = iter([5.0, 3.0, 4.0, 6.0])
    monkeypatch.setattr(vae_module, "neg_elbo", lambda *args, **kwargs: next(scores))
    vae, h = train_numpy_vae(dataclasses.replace(SMOKE, epochs=4))
    assert h.val_neg_elbo == [5.0, 3.0, 4.0, 6.0] and h.best_epoch == 1 and h.best_val == 3.0
    monkeypatch.undo()
    # the first two epochs of any run with the same seed are the same: a 2-epoch run's
    # parameters are those of the best epoch, and the 4-epoch run ended elsewhere
    after_two, _ = train_numpy_vae(dataclasses.replace(SMOKE, epochs=2))
    after_four, _ = train_numpy_vae(dataclasses.replace(SMOKE, epochs=4))
    for p, q, r in zip(
        vae.parameters(), after_two.parameters(), after_four.parameters(), strict=True
    ):
        np.testing.assert_array_equal(p.data, q.data)
        assert not np.array_equal(p.data, r.data)


def test_training_is_deterministic():
    config = dataclasses.replace(SMOKE, epochs=2)
    _, h1 = train_numpy_vae(config)
    _, h2 = train_numpy_vae(config)
    assert h1.loss == h2.loss and h1.val_neg_elbo == h2.val_neg_elbo
    _, h3 = train_numpy_vae(dataclasses.replace(config, seed=1))
    assert h3.loss != h1.loss


def test_max_seconds_stops_the_run():
    config = dataclasses.replace(SMOKE, epochs=10_000, max_seconds=0.5)
    _, h = train_numpy_vae(config)
    assert h.stopped_early and len(h.val_neg_elbo) < config.epochs
    assert h.seconds < 0.5 + 1.0  # one more step and one validation after the budget
    assert h.epoch_steps[-1] == len(h.loss)  # the partial epoch was validated too


@pytest.mark.parametrize(
    "change",
    [
        {"latent_dim": 0},
        {"batch_size": 0},
        {"epochs": 0},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"beta": -1.0},
        {"max_seconds": 0.0},
        {"hidden": ()},
        {"hidden": (0,)},
        {"dtype": "int32"},
        {"train_limit": 0},
        {"val_size": 0},
        {"val_samples": 0},
    ],
)
def test_bad_config_values_raise(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        dataclasses.replace(SMOKE, **change)


def test_val_size_must_leave_training_images():
    with pytest.raises(ValueError, match="val_size"):
        load_vae_data(dataclasses.replace(SMOKE, val_size=SMOKE.fake_size))


def test_data_split_and_fake_images():
    data = load_vae_data(SMOKE)
    assert data.train.dtype == np.uint8 and data.train.shape == (SMOKE.train_limit, 784)
    assert data.val.shape == (SMOKE.val_size, 784) and set(np.unique(data.val)) <= {0.0, 1.0}
    images = fake_images(50, seed=1)
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, fake_images(50, seed=1))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_configs(name):
    config = PRESETS[name]
    assert isinstance(config, NumpyVAEConfig)
    assert name != "default" or (config.max_seconds == 300 and not config.fake_data)
