"""The NumPy toy GAN (numpy_nn.toy_gan) against the same game written in torch, float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_nn.module import Sequential
from course_lib.numpy_nn.toy_gan import (
    LOSSES,
    PRESETS,
    ToyGANConfig,
    discriminator_step,
    gan_step,
    make_toy_gan,
    pack_samples,
    sample,
    train_toy_gan,
)
from course_lib.torch_nn.toy_gan_reference import mlp_to_torch, torch_gan_step

pytestmark = pytest.mark.ch06

TOL = {"rtol": 1e-12, "atol": 1e-14}


def assert_same_parameters(ours: Sequential, theirs: torch.nn.Sequential) -> None:
    for (name, p), (t_name, t) in zip(
        ours.named_parameters(), theirs.named_parameters(), strict=True
    ):
        assert name == t_name
        expected = t.detach().numpy()
        np.testing.assert_allclose(p.data, expected.T if p.data.ndim == 2 else expected, **TOL)


@settings(max_examples=12)
@given(
    loss=st.sampled_from(LOSSES),
    pack=st.sampled_from([1, 2, 3]),
    batch=st.integers(1, 6),
    latent=st.integers(1, 4),
    width=st.integers(1, 8),
    activation=st.sampled_from(["relu", "leaky_relu", "tanh"]),
    seed=st.integers(0, 2**16),
)
def test_gan_step_equals_torch(loss, pack, batch, latent, width, activation, seed):
    config = ToyGANConfig(
        latent_dim=latent,
        g_hidden=(width, 5),
        d_hidden=(width,),
        activation=activation,
        lr_g=3e-3,
        lr_d=1e-2,
        betas=(0.5, 0.9),
        loss=loss,
        pack=pack,
        seed=seed,
    )
    gan = make_toy_gan(config)
    G_t, D_t = mlp_to_torch(gan.G), mlp_to_torch(gan.D)
    opt_g = torch.optim.Adam(G_t.parameters(), lr=3e-3, betas=(0.5, 0.9), eps=1e-8)
    opt_d = torch.optim.Adam(D_t.parameters(), lr=1e-2, betas=(0.5, 0.9), eps=1e-8)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # three rounds: Adam's moments and bias correction come in too
        real = rng.standard_normal((batch * pack, 2))
        z = rng.standard_normal((batch * pack, latent))
        r = gan_step(gan, real, z, loss=loss, pack=pack)
        loss_d, loss_g = torch_gan_step(
            G_t, D_t, opt_g, opt_d, torch.tensor(real), torch.tensor(z), loss=loss, pack=pack
        )
        np.testing.assert_allclose([r.loss_d, r.loss_g], [loss_d, loss_g], **TOL)
        assert_same_parameters(gan.G, G_t)
        assert_same_parameters(gan.D, D_t)
        assert 0 < r.d_real < 1 and 0 < r.d_fake < 1


def test_pack_samples_groups_consecutive_rows():
    x = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(pack_samples(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    np.testing.assert_array_equal(pack_samples(x, 1), x)
    with pytest.raises(ValueError, match="groups of 4"):
        pack_samples(x, 4)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("pack", [1, 2])
def test_generator_input_gradient_through_d_matches_numerical(loss, pack):
    """dL_G/dx_fake from D.backward, and dL_G/dz through G, against central differences."""
    from course_lib.numpy_nn.functional.losses import gan_generator_loss

    gan = make_toy_gan(ToyGANConfig(latent_dim=3, g_hidden=(7,), d_hidden=(6, 5), pack=pack))
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4 * pack, 3))
    ns = loss == "non-saturating"

    def loss_of_fake(x):  # (B*m, 2) -> L_G
        return gan_generator_loss(gan.D(pack_samples(x, pack)), non_saturating=ns)[0]

    def loss_of_z(z_):
        return loss_of_fake(gan.G(z_))

    fake = gan.G(z)
    _, dlogits = gan_generator_loss(gan.D(pack_samples(fake, pack)), non_saturating=ns)
    dfake = gan.D.backward(dlogits).reshape(fake.shape)  # (B, 2m) -> (B*m, 2)
    dz = gan.G.backward(dfake)
    assert rel_error(dfake, numerical_gradient(loss_of_fake, fake.copy())) < 1e-7
    assert rel_error(dz, numerical_gradient(loss_of_z, z.copy())) < 1e-7


def test_each_player_leaves_the_other_unchanged():
    gan = make_toy_gan(ToyGANConfig(pack=2, d_hidden=(8,), g_hidden=(8,)))
    rng = np.random.default_rng(0)
    real, z = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    g_before = [p.data.copy() for p in gan.G.parameters()]
    d_before = [p.data.copy() for p in gan.D.parameters()]
    discriminator_step(gan, real, z, pack=2)  # the D step alone: G is untouched
    for p, before in zip(gan.G.parameters(), g_before, strict=True):
        np.testing.assert_array_equal(p.data, before)
        assert not p.has_grad
    d_after = [p.data.copy() for p in gan.D.parameters()]
    assert any(not np.array_equal(a, b) for a, b in zip(d_after, d_before, strict=True))

    # A full round = D step + G step; the G step alone must not move D: replay the D
    # step on a copy and compare D after the round with D after that D step only.
    gan2 = make_toy_gan(ToyGANConfig(pack=2, d_hidden=(8,), g_hidden=(8,)))
    discriminator_step(gan2, real, z, pack=2)
    gan3 = make_toy_gan(ToyGANConfig(pack=2, d_hidden=(8,), g_hidden=(8,)))
    gan_step(gan3, real, z, pack=2)
    for p2, p3 in zip(gan2.D.parameters(), gan3.D.parameters(), strict=True):
        np.testing.assert_array_equal(p2.data, p3.data)
        assert not p3.has_grad and not p3.grad.any()  # the G step's D gradients were discarded
    assert any(
        not np.array_equal(p2.data, p3.data)
        for p2, p3 in zip(gan2.G.parameters(), gan3.G.parameters(), strict=True)
    )


def test_gan_step_rejects_an_unknown_loss():
    gan = make_toy_gan(ToyGANConfig())
    with pytest.raises(ValueError, match="loss must be one of"):
        gan_step(gan, np.zeros((4, 2)), np.zeros((4, 2)), loss="wasserstein")
    with pytest.raises(ValueError, match="loss must be one of"):
        ToyGANConfig(loss="hinge")
    with pytest.raises(ValueError, match="snapshot_steps"):
        ToyGANConfig(steps=10, snapshot_steps=(20,))


def test_sample_shape_and_determinism():
    gan = make_toy_gan(ToyGANConfig(latent_dim=5))
    a = sample(gan.G, 7, np.random.default_rng(3))
    b = sample(gan.G, 7, np.random.default_rng(3))
    assert a.shape == (7, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)


def test_trainer_snapshots_and_determinism():
    config = PRESETS["smoke"].replace(steps=30, snapshot_steps=(0, 10, 30), snapshot_size=100)
    h1 = train_toy_gan(config, progress=False)
    h2 = train_toy_gan(config, progress=False)
    assert [s.step for s in h1.snapshots] == [0, 10, 30]
    for s1, s2 in zip(h1.snapshots, h2.snapshots, strict=True):
        assert s1.samples.shape == (100, 2)
        assert set(s1.metrics) == {"modes", "high_quality", "kl"}
        np.testing.assert_array_equal(s1.samples, s2.samples)
    for name in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert getattr(h1, name).shape == (30,)
        np.testing.assert_array_equal(getattr(h1, name), getattr(h2, name))
    assert np.isfinite(h1.loss_d).all() and h1.final == h1.snapshots[-1].metrics
    h3 = train_toy_gan(config.replace(seed=1), progress=False)
    assert not np.array_equal(h3.snapshots[-1].samples, h1.snapshots[-1].samples)


def test_trainer_with_packing_and_extra_d_steps_runs():
    config = PRESETS["smoke"].replace(steps=5, pack=3, d_steps=2, snapshot_steps=(5,))
    h = train_toy_gan(config, progress=False)
    assert h.gan.D[0].in_features == 6 and len(h.snapshots) == 1
    # d_steps = 2: two D updates per round, one G update
    assert h.gan.opt_d.state[h.gan.D.parameters()[0]]["step"] == 10
    assert h.gan.opt_g.state[h.gan.G.parameters()[0]]["step"] == 5


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_configs(name):
    config = PRESETS[name]
    assert isinstance(config, ToyGANConfig) and config.steps in config.snapshot_steps
