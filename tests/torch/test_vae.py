"""Chapter 7's VAEs in torch: the networks, the ELBO and IWAE bounds against torch.distributions,
active units, the training step's KL weight and free bits, exact resume, and the vae command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from course_lib.data import binarize
from course_lib.torch_nn import train
from course_lib.torch_nn.checkpoint import load_checkpoint, model_from_checkpoint
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.loop import StepContext, fit, set_seed
from course_lib.torch_nn.vae import (
    MLPVAE,
    ConvVAE,
    active_units,
    elbo,
    gaussian_kl_per_dim,
    iwae_bound,
    sample_images,
)
from course_lib.torch_nn.vae_training import VAEConfig, VAEStep, binarized, kl_weight, vae_metrics

pytestmark = pytest.mark.ch07
CPU = torch.device("cpu")


def pictures(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.3).float()


@pytest.fixture(params=["mlp", "conv"])
def vae(request) -> nn.Module:
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=3, hidden=16) if request.param == "mlp" else ConvVAE(3, width=4)
    return model.double()


# --------------------------------------------------------------------------- the networks


@pytest.mark.parametrize("cls, kw", [(MLPVAE, {"hidden": 8}), (ConvVAE, {"width": 4})])
def test_shapes_and_errors(cls, kw):
    model = cls(latent_dim=5, **kw)
    x = pictures(3)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 5)
    assert model.decode(mu).shape == (3, 1, 28, 28)
    logits, mu2, _ = model(x)
    assert logits.shape == (3, 1, 28, 28) and torch.equal(mu, mu2)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model.encode(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        model.decode(torch.zeros(3, 4))
    with pytest.raises(ValueError):
        cls(latent_dim=0, **kw)


def test_conv_vae_is_smaller_than_the_mlp_vae():
    n = [sum(p.numel() for p in m.parameters()) for m in (ConvVAE(), MLPVAE())]
    assert n[0] < n[1] / 2


# --------------------------------------------------------------------------- the bounds


def test_elbo_equals_torch_distributions(vae):
    x = pictures(4).double()
    torch.manual_seed(1)
    ours = elbo(vae, x)
    torch.manual_seed(1)  # the same eps
    mu, logvar = vae.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = mu + q.scale * torch.randn_like(mu)
    px = Independent(Bernoulli(logits=vae.decode(z)), 3)
    expected = px.log_prob(x) - kl_divergence(q, Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-10)
    ours.mean().backward()  # differentiable: the training loss
    assert all(p.grad is not None for p in vae.parameters())


def test_iwae_equals_torch_distributions_and_k1_is_an_elbo_sample(vae):
    x = pictures(3).double()
    torch.manual_seed(2)
    ours = iwae_bound(vae, x, k=7)
    torch.manual_seed(2)
    mu, logvar = vae.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = mu + q.scale * torch.randn(7, *mu.shape, dtype=mu.dtype)  # (k, N, L)
    log_px = Independent(Bernoulli(logits=vae.decode(z.reshape(-1, 3))), 3).log_prob(
        x.repeat(7, 1, 1, 1)).view(7, 3)
    log_w = log_px + Normal(0.0, 1.0).log_prob(z).sum(2) - q.log_prob(z).sum(2)
    torch.testing.assert_close(ours, log_w.logsumexp(0) - math.log(7), rtol=1e-12, atol=1e-9)
    # k = 1 estimates the ELBO without bias: the means over many draws agree
    torch.manual_seed(3)
    x1 = x[:1].expand(4000, -1, -1, -1)
    e1 = iwae_bound(vae, x1, k=1).mean()
    ee = elbo(vae, x1).detach().mean()
    assert abs(e1 - ee) < 0.5


def test_iwae_rises_with_k_and_stays_finite_where_weights_underflow(vae):
    x = pictures(1).double().expand(200, -1, -1, -1)  # one picture, 200 estimates per k
    torch.manual_seed(4)
    bounds = [iwae_bound(vae, x, k=k).mean().item() for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2]
    # a bound near -500 nats: exp(log w) is 0 in float64, the log-sum-exp is not
    assert bounds[2] < -300 and math.isfinite(bounds[2])


def test_iwae_chunks_cover_every_picture(vae):
    x = pictures(7).double()
    assert iwae_bound(vae, x, k=5, chunk=10).shape == (7,)  # 2 pictures per pass
    with pytest.raises(ValueError, match="k must be"):
        iwae_bound(vae, x, k=0)
    with pytest.raises(TypeError, match="encode"):
        elbo(nn.Linear(2, 2), x)


def test_kl_per_dim_is_the_closed_form():
    mu, logvar = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl_per_dim(mu, logvar), expected)


def test_active_units_count_the_dimensions_the_encoder_uses():
    class Half(nn.Module):  # dimension 0 follows the picture, dimension 1 is the prior
        latent_dim = 2

        def encode(self, x):
            m = x.flatten(1).mean(1, keepdim=True) * 10
            return torch.cat([m, torch.zeros_like(m)], 1), torch.zeros(len(x), 2)

        def decode(self, z):
            return z[:, :1, None, None].expand(-1, 1, 28, 28)

    x = torch.cat([pictures(10), torch.zeros(10, 1, 28, 28)])
    assert active_units(Half(), x).tolist() == [True, False]
    assert math.isfinite(elbo(Half(), x).sum().item())  # any module with encode/decode


def test_sample_images_are_uint8_and_deterministic():
    model = ConvVAE(latent_dim=3, width=4)
    a, b = sample_images(model, 5, seed=1), sample_images(model, 5, seed=1)
    assert a.dtype == np.uint8 and a.shape == (5, 28, 28) and np.array_equal(a, b)
    assert not np.array_equal(a, sample_images(model, 5, seed=2))
    assert set(np.unique(sample_images(model, 5, binary=True))) <= {0, 255}


def test_binarized_is_binarize_with_a_channel_axis():
    imgs = np.resize(np.arange(256, dtype=np.uint8), (2, 28, 28))
    out = binarized(torch.from_numpy(imgs), seed=3)
    assert out.shape == (2, 1, 28, 28) and out.dtype == torch.float32
    assert np.array_equal(out[:, 0].numpy(), binarize(imgs, seed=3))
    assert binarize(np.full((1000,), 255, np.uint8)).all()
    assert not binarize(np.zeros(9, np.uint8)).any()
    frac = binarize(np.full((100_000,), 64, np.uint8), seed=0).mean()
    assert abs(frac - 64 / 255) < 0.005
    with pytest.raises(ValueError, match="uint8"):
        binarize(np.zeros(3))


# --------------------------------------------------------------------------- the training step


def tiny_config(**kw) -> VAEConfig:
    base = dict(model="conv_vae", model_kwargs={"latent_dim": 3, "width": 4}, epochs=2,
                batch_size=16, fake_data=True, progress=False, val_size=32, eval_limit=32)
    return VAEConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def fake():
    return fashion_mnist("train", limit=80, fake=True), fashion_mnist("test", limit=32, fake=True)


def run(cfg: VAEConfig, data, seed_model: int = 0):
    set_seed(seed_model)
    model = ConvVAE(**cfg.model_kwargs)
    history = fit(model, data[0], config=cfg, eval_data=data[1], device=CPU)
    return model, history


def test_kl_weight_warms_up_linearly():
    assert [kl_weight(s, 2.0, 4) for s in (0, 1, 2, 4, 9)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert kl_weight(0, 0.5, 0) == 0.5


@pytest.mark.parametrize("free_bits, warmup", [(0.0, 0), (0.5, 0), (0.0, 4)])
def test_one_step_minimises_rec_plus_weighted_kl(free_bits, warmup):
    cfg = tiny_config(free_bits=free_bits, warmup_steps=warmup, beta=2.0)
    torch.manual_seed(0)
    a, b = ConvVAE(3, width=4), ConvVAE(3, width=4)
    b.load_state_dict(a.state_dict())
    step = VAEStep(a, cfg, total_steps=10)
    step.wrap(lambda m: m)
    x = pictures(8)
    torch.manual_seed(5)
    out = step(x, torch.zeros(8), StepContext(device=CPU))
    # the same step written out
    torch.manual_seed(5)
    logits, mu, logvar = b(x)
    rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 8
    kl_dims = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    weight = 2.0 * (min(1.0, 1 / warmup) if warmup else 1.0)
    loss = rec + weight * kl_dims.clamp(min=free_bits).sum()
    opt = torch.optim.Adam(b.parameters(), lr=cfg.lr)
    loss.backward()
    opt.step()
    assert out["neg_elbo"].item() == pytest.approx((rec + kl_dims.sum()).item(), rel=1e-5)
    assert out["kl_weight"].item() == pytest.approx(weight)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_free_bits_leave_dimensions_under_the_floor_unpenalised():
    cfg = tiny_config(free_bits=100.0)  # every dimension under the floor: no KL gradient
    model = ConvVAE(3, width=4)
    step = VAEStep(model, cfg, total_steps=10)
    step.wrap(lambda m: m)
    enc_last = model.encoder[-1]
    x = pictures(8)
    step.optimizers["adam"].zero_grad()
    logits, mu, logvar = model(x)
    kl = gaussian_kl_per_dim(mu, logvar).mean(0).clamp(min=100.0).sum()
    kl.backward()
    assert enc_last.weight.grad is None or torch.count_nonzero(enc_last.weight.grad) == 0


def test_resumed_run_ends_where_the_uninterrupted_one_does(fake, tmp_path):
    full, h_full = run(tiny_config(), fake)
    run(tiny_config(max_steps=7, checkpoint_dir=str(tmp_path), checkpoint_every=3), fake)
    resumed, h_res = run(tiny_config(resume=str(tmp_path / "last.pt")), fake, seed_model=9)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert h_res.values == h_full.values and h_res.evals == h_full.evals
    assert h_res.summary == h_full.summary and h_full.summary["best_epoch"] in (1, 2)


def test_validation_keeps_the_best_model_and_stops_early(fake):
    model, history = run(tiny_config(epochs=3), fake)
    vals = history.evals["val_neg_elbo"]
    assert len(vals) == 3 and history.summary["val_neg_elbo"] == min(vals)
    step = VAEStep(ConvVAE(3, width=4), tiny_config(patience=2), total_steps=1)
    step.keep.value, step.keep.epoch, step.keep.epochs_done = 1.0, 1, 2
    assert not step.should_stop(None)
    step.keep.epochs_done = 3
    assert step.should_stop(None)


def test_vae_metrics_are_consistent(vae):
    x = pictures(6).double()
    m = vae_metrics(vae, x, k=20, seed=0)
    assert m == vae_metrics(vae, x, k=20, seed=0)  # deterministic
    assert m["neg_elbo"] == pytest.approx(m["rec"] + m["kl"])
    assert m["nll"] <= m["neg_elbo"] + 5  # the IWAE bound is tighter, up to sampling noise
    assert 0 <= m["active_units"] <= 3 and m["kl"] >= 0


def test_profiles_give_sensible_presets():
    for model in ("conv", "mlp"):
        smoke, default, full = (VAEConfig.for_profile(model, p) for p in ("smoke", "default",
                                                                          "full"))
        assert smoke.train_limit is not None and default.train_limit is None
        assert full.epochs > default.epochs and full.patience and full.val_size
        assert default.model_kwargs["latent_dim"] == 16
    assert VAEConfig.for_profile("conv", "full").model_kwargs == {"latent_dim": 16, "width": 32}
    with pytest.raises(ValueError, match="model must be"):
        VAEConfig.for_profile("pixelcnn", "smoke")
    with pytest.raises(ValueError, match="beta"):
        VAEStep(ConvVAE(3, width=4), tiny_config(beta=-1.0), total_steps=1)


# --------------------------------------------------------------------------- the command line


def last_line_metrics(out: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in out.strip().splitlines()[-1].split())


@pytest.mark.parametrize("model", ["conv", "mlp"])
def test_cli_trains_saves_and_evaluates(model, tmp_path, capsys):
    argv = ["vae", "--model", model, "--profile", "smoke", "--fake-data", "--max-steps", "4",
            "--out", str(tmp_path), "--no-progress", "--batch-size", "16", "--eval-n", "64",
            "--k", "10", "--beta", "0.5", "--free-bits", "0.1", "--warmup-steps", "2"]
    assert train.main(argv) == 0
    m = last_line_metrics(capsys.readouterr().out)
    assert list(m) == ["test_neg_elbo", "test_nll", "test_rec", "test_kl", "test_active_units",
                       "val_neg_elbo", "best_epoch", "steps", "seconds"]
    assert m["steps"] == "4" and float(m["test_nll"]) > 0
    name = "vae" if model == "conv" else "mlp-vae"
    state = load_checkpoint(tmp_path / f"{name}-fashion-mnist.pt")
    vae = model_from_checkpoint(state)
    assert isinstance(vae, ConvVAE if model == "conv" else MLPVAE)
    assert state["extra"]["train_config"]["beta"] == 0.5
    assert set(state["extra"]["curves"]) == {"neg_elbo", "rec", "kl", "kl_weight"}
    assert train.main(["vae", "--eval-only", "--checkpoint", str(tmp_path / f"{name}-fashion-"
                       "mnist.pt"), "--fake-data", "--eval-n", "64", "--k", "10"]) == 0
    again = last_line_metrics(capsys.readouterr().out)
    assert again["test_nll"] == m["test_nll"]  # the same pixels and the same noise


def test_cli_options_reach_the_config():
    from course_lib.torch_nn.vae_training import vae_config

    args = train.build_parser().parse_args(
        ["vae", "--model", "mlp", "--profile", "default", "--beta", "4", "--latent-dim", "2",
         "--hidden", "64", "--warmup-steps", "0", "--free-bits", "0.25", "--lr", "3e-4"])
    cfg = vae_config(args)
    assert cfg.model == "mlp_vae" and cfg.model_kwargs == {"latent_dim": 2, "hidden": 64}
    assert (cfg.beta, cfg.warmup_steps, cfg.free_bits, cfg.lr) == (4.0, 0, 0.25, 3e-4)
    with pytest.raises(ValueError, match="--width does not apply"):
        vae_config(train.build_parser().parse_args(["vae", "--model", "mlp", "--width", "8"]))
