"""Chapter 6's GANs: the networks' shapes and errors, sampling, one step of the game, exact
resume through the shared loop, the dcgan/cgan command line, and the metrics of the final line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.torch_nn import train
from course_lib.torch_nn.checkpoint import load_checkpoint, model_from_checkpoint
from course_lib.torch_nn.datasets import fashion_mnist, to_signed, train_val_split
from course_lib.torch_nn.gan import GAN, Discriminator, Generator, sample_images, to_uint8
from course_lib.torch_nn.gan_training import GANConfig, GANStep, gan_metrics
from course_lib.torch_nn.loop import StepContext, fit, set_seed

pytestmark = pytest.mark.ch06
CPU = torch.device("cpu")


def tiny_config(**kw) -> GANConfig:
    base = dict(model_kwargs={"latent_dim": 8, "width": 4, "ema": True}, epochs=2, batch_size=16,
                fake_data=True, progress=False, val_size=32, eval_samples=32, ema_decay=0.9)
    return GANConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def fake():
    # 80 pictures = 5 steps of 16 per epoch; 32 validation pictures
    return fashion_mnist("train", limit=80, fake=True), fashion_mnist("test", limit=32, fake=True)


def run(cfg: GANConfig, data, seed_model: int = 0):
    set_seed(seed_model)
    model = GAN(**cfg.model_kwargs)
    history = fit(model, data[0], config=cfg, eval_data=data[1], device=CPU)
    return model, history


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# --------------------------------------------------------------------------- the networks


@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_ranges(num_classes):
    torch.manual_seed(0)
    G = Generator(latent_dim=12, width=8, num_classes=num_classes)
    D = Discriminator(width=8, num_classes=num_classes)
    labels = torch.arange(5) % 10 if num_classes else None
    x = G(torch.randn(5, 12), labels)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x, labels).shape == (5,)


def test_bad_inputs_say_what_was_expected():
    G, D = Generator(latent_dim=4, width=2), Discriminator(width=2, num_classes=3)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 4\)"):
        G(torch.randn(2, 5))
    with pytest.raises(ValueError, match="unconditional"):
        G(torch.randn(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="needs labels"):
        D(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        D(torch.zeros(2, 1, 32, 32), torch.zeros(2, dtype=torch.long))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="latent_dim"):
            Generator(latent_dim=bad)


def test_projection_discriminator_depends_on_the_class():
    torch.manual_seed(0)
    D = Discriminator(width=4, num_classes=10).eval()
    x = torch.rand(10, 1, 28, 28) * 2 - 1
    a, b = D(x, torch.zeros(10, dtype=torch.long)), D(x, torch.ones(10, dtype=torch.long))
    h = D.features(x)
    assert torch.allclose(a - b, ((D.embed.weight[0] - D.embed.weight[1]) * h).sum(1), atol=1e-5)


def test_sample_images_is_deterministic_uint8_and_cycles_classes():
    torch.manual_seed(0)
    G = Generator(latent_dim=8, width=4, num_classes=10)
    G.train()
    a, b = sample_images(G, 23, seed=3, batch_size=7), sample_images(G, 23, seed=3)
    assert a.dtype == np.uint8 and a.shape == (23, 28, 28) and np.array_equal(a, b)
    assert G.training  # the mode is restored
    assert not np.array_equal(a, sample_images(G, 23, seed=4))
    # labels None: the classes in turn, the same as asking for them
    assert np.array_equal(a, sample_images(G, 23, seed=3, labels=np.arange(23) % 10))
    with pytest.raises(ValueError, match="labels"):
        sample_images(G, 3, labels=[0, 1, 10])
    with pytest.raises(ValueError, match="unconditional"):
        sample_images(Generator(latent_dim=8, width=4), 2, labels=[0, 1])
    assert sample_images(G, 0).shape == (0, 28, 28)


def test_to_uint8_maps_the_tanh_range():
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 1.5]).view(1, 1, 1, 5)
    assert to_uint8(x).tolist() == [[[0, 64, 128, 255, 255]]]


def test_ema_is_the_exponential_average():
    torch.manual_seed(0)
    gan = GAN(latent_dim=4, width=2, ema=True)
    before = {k: v.clone() for k, v in gan.generator_ema.named_parameters()}
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)
    gan.update_ema(0.75)
    for name, p in gan.generator.named_parameters():
        expected = 0.75 * before[name] + 0.25 * p
        assert torch.allclose(dict(gan.generator_ema.named_parameters())[name], expected)
    assert gan.sampler() is gan.generator_ema
    assert GAN(latent_dim=4, width=2).sampler() is not None


# --------------------------------------------------------------------------- one step of the game


def test_one_step_matches_the_losses_written_out(fake):
    """The step's losses are the BCEs of eq-ch04-gan-d and eq-ch04-gan-g-ns, and the
    discriminator's update leaves the generator alone (the fakes are detached)."""
    for loss in ("non-saturating", "minimax"):
        set_seed(0)
        gan = GAN(latent_dim=8, width=4)
        cfg = tiny_config(model_kwargs={"latent_dim": 8, "width": 4}, loss=loss, lr_g=0.0)
        step = GANStep(gan, cfg)
        step.wrap(lambda m: m)
        x = to_signed(fake[0][0][:16, None].float() / 255)
        g_before = {k: v.clone() for k, v in gan.generator.state_dict().items()}
        d_before = [p.clone() for p in gan.discriminator.parameters()]
        torch.manual_seed(5)
        z = torch.randn(16, 8)
        torch.manual_seed(5)
        out = step(x, fake[0][1][:16], StepContext(device=CPU))
        # recompute D's loss with the networks as they were
        g_ref, d_ref = GAN(latent_dim=8, width=4), GAN(latent_dim=8, width=4)
        g_ref.generator.load_state_dict(g_before)
        d_ref.discriminator.train()
        with torch.no_grad():
            for p, q in zip(d_ref.discriminator.parameters(), d_before, strict=True):
                p.copy_(q)
            fake_x = g_ref.generator(z)
            r, f = d_ref.discriminator(x), d_ref.discriminator(fake_x)
        expected_d = -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean())
        assert math.isclose(out["d_loss"].item(), expected_d.item(), rel_tol=1e-5)
        assert math.isclose(out["d_real"].item(), torch.sigmoid(r).mean().item(), rel_tol=1e-5)
        # lr_g = 0: the generator's weights did not move, the discriminator's did
        for k, v in gan.generator.named_parameters():
            assert torch.equal(v, g_before[k]), k
        assert any(not torch.equal(p, q)
                   for p, q in zip(gan.discriminator.parameters(), d_before, strict=True))
        # the generator loss: through the updated D, on the same fakes
        with torch.no_grad():
            f_new = gan.discriminator(fake_x)
        expected_g = (-F.logsigmoid(f_new).mean() if loss == "non-saturating"
                      else F.logsigmoid(-f_new).mean())
        assert math.isclose(out["g_loss"].item(), expected_g.item(), rel_tol=1e-5)


def test_conditional_step_uses_the_labels(fake):
    set_seed(0)
    gan = GAN(latent_dim=8, width=4, num_classes=10)
    step = GANStep(gan, tiny_config())
    step.wrap(lambda m: m)
    x = to_signed(fake[0][0][:16, None].float() / 255)
    out = step(x, fake[0][1][:16], StepContext(device=CPU))
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert gan.discriminator.embed.weight.grad is not None
    with pytest.raises(ValueError, match="loss"):
        GANStep(gan, tiny_config(loss="wasserstein"))


# --------------------------------------------------------------------------- the shared loop


def test_history_records_both_players_and_the_validation_fd(fake):
    _, h = run(tiny_config(), fake)
    assert h.step == list(range(1, 11)) and h.epoch == [1, 2]
    assert set(h.values) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert h.loss == h.values["d_loss"] and all(0 <= v <= 1 for v in h.values["d_real"])
    assert len(h.evals["val_fd"]) == 2 and all(v >= 0 for v in h.evals["val_fd"])
    assert h.summary["val_fd"] == min(h.evals["val_fd"])
    assert h.summary["best_epoch"] == 1 + int(np.argmin(h.evals["val_fd"]))


def test_same_seed_same_game(fake):
    a, ha = run(tiny_config(), fake)
    b, hb = run(tiny_config(), fake)
    assert_same_state(a, b)
    assert ha.values == hb.values


@pytest.mark.parametrize("stop", [5, 7])  # at an epoch's end, and in the middle of epoch 2
def test_resumed_game_ends_where_the_uninterrupted_one_does(fake, tmp_path, stop):
    full, h_full = run(tiny_config(), fake)
    run(tiny_config(max_steps=stop, checkpoint_dir=str(tmp_path), checkpoint_every=3), fake)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == stop and set(state["optimizers"]) == {"generator", "discriminator"}
    resumed, h_res = run(tiny_config(resume=str(tmp_path / "last.pt")), fake, seed_model=123)
    assert_same_state(full, resumed)  # both players, the average and the best generator
    assert h_res.values == h_full.values and h_res.evals == h_full.evals
    assert h_res.summary == h_full.summary


def test_early_stopping_on_the_validation_fd(fake):
    step = GANStep(GAN(latent_dim=8, width=4), tiny_config(patience=2))
    step.keep.value, step.keep.epoch, step.keep.epochs_done = 1.0, 1, 2
    assert not step.should_stop(None)
    step.keep.epochs_done = 3
    assert step.should_stop(None)
    assert not GANStep(GAN(latent_dim=8, width=4), tiny_config()).should_stop(None)


def test_train_val_split_is_disjoint_and_seeded():
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1).expand(50, 28, 28).contiguous()
    labels = torch.arange(50)
    (ti, tl), (vi, vl) = train_val_split(images, labels, val_size=10, seed=1)
    assert len(tl) == 40 and len(vl) == 10 and set(tl.tolist()).isdisjoint(vl.tolist())
    assert torch.equal(ti[:, 0, 0].long(), tl) and torch.equal(vi[:, 0, 0].long(), vl)
    assert torch.equal(train_val_split(images, labels, val_size=10, seed=1)[1][1], vl)
    assert not torch.equal(train_val_split(images, labels, val_size=10, seed=2)[1][1], vl)
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(images, labels, val_size=50)


def test_profiles_give_sensible_presets():
    for kind, classes in (("dcgan", 0), ("cgan", 10)):
        smoke, default, full = (GANConfig.for_profile(kind, p)
                                for p in ("smoke", "default", "full"))
        assert smoke.train_limit is not None and default.train_limit is None
        assert full.model_kwargs["width"] >= default.model_kwargs["width"]
        assert all(c.model_kwargs["num_classes"] == classes for c in (smoke, default, full))
        assert full.val_size and full.patience
    with pytest.raises(ValueError, match="known: dcgan, cgan"):
        GANConfig.for_profile("wgan", "smoke")


# --------------------------------------------------------------------------- the command line


def last_line_metrics(out: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in out.strip().splitlines()[-1].split())


@pytest.mark.parametrize("kind", ["dcgan", "cgan"])
def test_cli_trains_saves_and_evaluates(kind, tmp_path, capsys):
    argv = [kind, "--profile", "smoke", "--fake-data", "--max-steps", "4", "--out",
            str(tmp_path), "--no-progress", "--batch-size", "16", "--snapshot-every", "2",
            "--eval-n", "128"]
    assert train.main(argv) == 0
    m = last_line_metrics(capsys.readouterr().out)
    keys = ["fd", "precision", "recall"] + (["class_accuracy"] if kind == "cgan" else [])
    assert list(m) == [*keys, "steps", "best_epoch", "seconds", "images_per_second"]
    assert m["steps"] == "4" and float(m["fd"]) >= 0 and 0 <= float(m["precision"]) <= 1
    final = tmp_path / f"{kind}-fashion-mnist.pt"
    state = load_checkpoint(final)
    G = model_from_checkpoint(state)
    assert isinstance(G, Generator) and G.num_classes == (10 if kind == "cgan" else 0)
    assert "optimizer" not in state and "optimizers" not in state
    assert state["extra"]["snapshot_steps"] == [1, 2, 4]
    assert state["extra"]["snapshots"].shape == (3, 16, 28, 28)
    assert set(state["extra"]["curves"]) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert state["metrics"]["fd"] == pytest.approx(float(m["fd"]), abs=1e-4)

    assert train.main([kind, "--eval-only", "--checkpoint", str(final), "--fake-data",
                       "--eval-n", "128"]) == 0
    assert last_line_metrics(capsys.readouterr().out)["fd"] == m["fd"]  # same samples, same fd

    # resume from the periodic checkpoint and go on to step 6
    argv_resume = [*argv[:5], "6", "--out", str(tmp_path / "b"), "--resume",
                   str(tmp_path / "last.pt"), *argv[8:]]
    assert train.main(argv_resume) == 0
    assert last_line_metrics(capsys.readouterr().out)["steps"] == "6"


def test_cli_options_reach_the_config():
    from course_lib.torch_nn.gan_training import gan_config

    args = train.build_parser().parse_args(
        ["cgan", "--profile", "default", "--lr", "1e-3", "--lr-d", "4e-4", "--width", "16",
         "--no-ema", "--loss", "minimax", "--patience", "3", "--val-size", "100"])
    cfg = gan_config(args, "cgan")
    assert cfg.lr_g == 1e-3 and cfg.lr_d == 4e-4 and cfg.loss == "minimax" and cfg.patience == 3
    assert cfg.model_kwargs["width"] == 16 and not cfg.model_kwargs["ema"]
    assert cfg.model_kwargs["num_classes"] == 10 and cfg.val_size == 100


def test_gan_metrics_of_real_pictures_against_themselves():
    """The pictures' own features: FD about 0 and full precision and recall."""
    images = fashion_mnist("test", limit=64, fake=True)[0].numpy()

    class Replay(torch.nn.Module):  # a "generator" that returns the real pictures
        latent_dim, num_classes = 1, 0

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))
            self.i = 0

        def forward(self, z, labels=None):
            x = torch.from_numpy(images[self.i : self.i + len(z)]).float()[:, None] / 127.5 - 1
            self.i += len(z)
            return x

    m = gan_metrics(Replay(), images, n=64)
    assert m["fd"] < 1e-6 and m["precision"] == 1.0 and m["recall"] == 1.0
