"""Training the GANs of Chapter 6: presets, the two-player step, evaluation, the tasks.

    python -m course_lib.torch_nn.train dcgan                 # COURSE_PROFILE sets the size
    python -m course_lib.torch_nn.train cgan --eval-only      # re-measure the shipped generator
    COURSE_PROFILE=full python -m course_lib.torch_nn.train dcgan --out runs/dcgan-full

:class:`GANConfig` holds a GAN's settings and presets, :class:`GANStep` one
step of the game for the shared loop :func:`course_lib.torch_nn.loop.fit`
(the discriminator's update, then the generator's), and :func:`gan_metrics`
the figures of the final line: the Fréchet distance, precision and recall in
the shipped classifier's features, and for a conditional GAN the fraction of
samples the classifier assigns to the class they were asked for. Training
monitors the Fréchet distance on a validation split carved from the training
set, keeps the best generator and stops when it no longer improves; the test
set is used once, for the final line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import profile as course_profile
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import load_model, load_pretrained, save_checkpoint
from course_lib.torch_nn.datasets import fashion_mnist, to_signed, train_val_split
from course_lib.torch_nn.features import classifier_features, feature_classifier
from course_lib.torch_nn.gan import GAN, Generator, sample_images
from course_lib.torch_nn.loop import (
    EarlyStoppingStep,
    KeepBest,
    RunConfig,
    StepContext,
    fit,
    set_seed,
)
from course_lib.torch_nn.tasks import (
    Task,
    apply_common_options,
    non_negative_int,
    positive_float,
    positive_int,
    register_task,
    thin,
    write_param_digest,
)
from course_lib.torch_nn.zoo import build_model

__all__ = ["GANConfig", "GANStep", "gan_metrics", "snapshot_callback"]

LOSSES = ("non-saturating", "minimax")
SNAPSHOT_SAMPLES = 16  # pictures per snapshot of the fixed noise


@dataclass
class GANConfig(RunConfig):
    """Everything that decides a GAN's training run; stored in every checkpoint.

    ``model_kwargs`` are those of :class:`~course_lib.torch_nn.gan.GAN`
    (latent_dim, width, d_width, num_classes, ema).
    """

    model: str = "gan"
    lr_g: float = 2e-4  # Adam with beta1 = 0.5, as Radford et al. (2016) found stable
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "non-saturating"  # the generator's: "non-saturating" | "minimax" (eq-ch04-gan-g-*)
    ema_decay: float = 0.999  # of the generator's weight average, when model_kwargs["ema"]
    val_size: int | None = 5000  # validation pictures carved off the training set
    eval_samples: int = 2000  # samples and validation pictures for the per-epoch Fréchet distance
    patience: int | None = None  # stop after this many epochs without a better validation FD
    snapshot_every: int = 0  # steps between pictures of the fixed noise (0: none)

    RESUME_KEYS = (*RunConfig.RESUME_KEYS, "val_size")

    @classmethod
    def for_profile(cls, kind: str = "dcgan", profile: str | None = None) -> GANConfig:
        """The preset of a profile (default: ``$COURSE_PROFILE``) for ``"dcgan"`` or ``"cgan"``.

        smoke: a few steps of tiny networks (the tests). default: what a reader
        trains in under ten minutes on two CPU cores. full: the shipped
        checkpoints' runs.
        """
        profile = profile or course_profile.get_profile()
        if profile not in course_profile.PROFILES:
            raise ValueError(f"profile must be one of {course_profile.PROFILES}, got {profile!r}")
        if kind not in ("dcgan", "cgan"):
            raise ValueError(f"no presets for GAN {kind!r}; known: dcgan, cgan")
        classes = 10 if kind == "cgan" else 0
        presets = {
            "smoke": dict(
                model_kwargs={"latent_dim": 16, "width": 8, "num_classes": classes, "ema": True},
                epochs=1, batch_size=32, train_limit=1024, test_limit=512, val_size=256,
                eval_samples=256, ema_decay=0.9,
            ),
            "default": dict(
                model_kwargs={"latent_dim": 64, "width": 32, "num_classes": classes, "ema": True},
                epochs=6, batch_size=64, eval_samples=2000,
            ),
            "full": dict(
                model_kwargs={"latent_dim": 64, "width": 48, "num_classes": classes, "ema": True},
                epochs=15, batch_size=64, eval_samples=2000, patience=4, snapshot_every=500,
            ),
        }
        return cls(**presets[profile])

    def batch_options(self) -> dict[str, Any]:
        return {"transform": to_signed}  # real pictures in [-1, 1], the generator's tanh range

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> GANStep:
        return GANStep(model, self)


class GANStep(EarlyStoppingStep):
    """One step of the game on a real batch: the discriminator's update, then the generator's.

    Discriminator (eq-ch04-gan-d): ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` with the
    fakes detached, so this update does not reach the generator. Generator:
    the non-saturating ``BCE(D(G(z)), 1) = -mean log D(G(z))``
    (eq-ch04-gan-g-ns), or the minimax ``mean log(1 - D(G(z))) = -BCE(D(G(z)), 0)``,
    through the just-updated discriminator and on the same fakes (one
    generator pass per step, as in pytorch/examples' DCGAN). The gradients this
    leaves in the discriminator are cleared before its next update. A conditional
    GAN gives both players the real batch's labels.
    """

    def __init__(self, model: nn.Module, cfg: GANConfig) -> None:
        if not isinstance(model, GAN):
            raise ValueError(f"GANStep trains a course_lib.torch_nn.gan.GAN, got {type(model)}")
        if cfg.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")
        self.model, self.cfg = model, cfg
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {
            "generator": torch.optim.Adam(model.generator.parameters(), lr=cfg.lr_g, betas=betas),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr_d,
                                              betas=betas),
        }
        self.schedulers = {}
        self.conditional = model.generator.num_classes > 0
        self.keep = KeepBest("fd")  # the best generator by validation FD
        self._val_stats: tuple[np.ndarray, np.ndarray] | None = None

    def wrap(self, wrapper) -> None:
        self.g_net = wrapper(self.model.generator)
        self.d_net = wrapper(self.model.discriminator)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        labels = y if self.conditional else None
        z = torch.randn(len(x), self.model.generator.latent_dim, device=x.device)  # (B, L)
        with ctx.autocast():
            fake = self.g_net(z, labels)  # (B, 1, 28, 28)
            real_logits = self.d_net(x, labels)  # (B,)
            fake_logits = self.d_net(fake.detach(), labels)  # detached: D's update only
            d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits,
                                                           torch.zeros_like(fake_logits)))
        ctx.minimize(d_loss, self.optimizers["discriminator"])
        with ctx.autocast():
            logits = self.d_net(fake, labels)  # the updated D, gradients flow into G
            if self.cfg.loss == "non-saturating":
                g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            else:
                g_loss = -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        ctx.minimize(g_loss, self.optimizers["generator"])
        self.model.update_ema(self.cfg.ema_decay)
        return {
            "d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),  # D(x), 1 = "real"
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),  # D(G(z)) before update
        }

    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        """Fréchet distance of ``eval_samples`` samples to as many validation pictures."""
        from course_lib.evaluation import feature_statistics, frechet_distance

        images, labels = eval_data
        n = min(self.cfg.eval_samples, len(images))
        if self._val_stats is None:  # the validation pictures' features, once
            self._val_stats = feature_statistics(classifier_features(images[:n], device=device))
        G = self.model.sampler()
        ys = np.asarray(labels[:n]) if self.conditional else None
        fake = sample_images(G, n, labels=ys, seed=1234)  # the same noise every epoch
        fd = frechet_distance(*self._val_stats,
                              *feature_statistics(classifier_features(fake, device=device)))
        self.keep.update(fd, G)
        return {"val_fd": fd}

    def finish(self) -> dict[str, Any]:
        """Put the best generator (by validation FD) into the sampler."""
        return self.keep.restore(self.model.sampler())

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: discriminator loss {train_loss:.4f}, "
                f"validation FD {res['val_fd']:.3f} (best {self.keep.value:.3f} "
                f"at epoch {self.keep.epoch})")


@torch.no_grad()
def gan_metrics(
    G: Generator,
    real_images: np.ndarray | torch.Tensor,
    *,
    n: int | None = None,
    seed: int = 0,
    k: int = 3,
    device: torch.device | None = None,
    real_features: np.ndarray | None = None,
) -> dict[str, float]:
    """FD, precision and recall of ``n`` samples against ``real_images`` (uint8 (M, 28, 28)).

    All in the shipped classifier's features (:mod:`course_lib.torch_nn.features`).
    ``n`` defaults to the number of real pictures. For a conditional generator
    the samples cycle through the classes and ``class_accuracy`` is the
    fraction the classifier assigns to the class asked for.
    """
    from course_lib.evaluation import feature_statistics, frechet_distance, precision_recall
    from course_lib.torch_nn.classifier import predict

    device = device or next(G.parameters()).device
    n = len(real_images) if n is None else n
    labels = np.arange(n) % G.num_classes if G.num_classes else None
    fake = sample_images(G, n, labels=labels, seed=seed)
    real_f = classifier_features(real_images, device=device) if real_features is None \
        else real_features
    fake_f = classifier_features(fake, device=device)
    fd = frechet_distance(*feature_statistics(real_f), *feature_statistics(fake_f))
    precision, recall = precision_recall(real_f, fake_f, k=k)
    out = {"fd": fd, "precision": precision, "recall": recall}
    if labels is not None:
        preds = predict(feature_classifier(str(device)), fake).argmax(1)
        out["class_accuracy"] = float(np.mean(preds == labels))
    return out


# ---------------------------------------------------------------------------
# The dcgan and cgan tasks of the command line
# ---------------------------------------------------------------------------

FINAL_NAMES = {"dcgan": "dcgan-fashion-mnist.pt", "cgan": "cgan-fashion-mnist.pt"}


def _gan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--latent-dim", type=positive_int, help="size of the noise z")
    p.add_argument("--width", type=positive_int, help="generator width (channels at 14 x 14)")
    p.add_argument("--d-width", type=positive_int, help="discriminator width (default: --width)")
    p.add_argument("--lr-g", type=positive_float, help="generator learning rate (--lr sets both)")
    p.add_argument("--lr-d", type=positive_float, help="discriminator learning rate")
    p.add_argument("--loss", choices=LOSSES, help="the generator's loss")
    p.add_argument("--no-ema", action="store_true", help="sample from the last generator, "
                   "not the average of its weights")
    p.add_argument("--val-size", type=positive_int,
                   help="validation pictures carved off the training set")
    p.add_argument("--eval-samples", type=positive_int,
                   help="samples for the per-epoch validation FD")
    p.add_argument("--patience", type=positive_int,
                   help="epochs without a better validation FD to stop")
    p.add_argument("--snapshot-every", type=non_negative_int,
                   help="steps between pictures of fixed noise")
    p.add_argument("--eval-n", type=positive_int, default=10_000,
                   help="samples (and test pictures) for the final metrics")


def gan_config(args: argparse.Namespace, kind: str) -> GANConfig:
    """The preset of the profile, overridden by the options given."""
    lr = args.lr
    cfg = apply_common_options(
        GANConfig.for_profile(kind, args.profile), args,
        lr_g=args.lr_g if args.lr_g is not None else lr,
        lr_d=args.lr_d if args.lr_d is not None else lr, loss=args.loss, val_size=args.val_size,
        eval_samples=args.eval_samples, patience=args.patience,
        snapshot_every=args.snapshot_every,
    )
    kw = dict(cfg.model_kwargs)
    for key, value in (("latent_dim", args.latent_dim), ("width", args.width),
                       ("d_width", args.d_width)):
        if value is not None:
            kw[key] = value
    if args.no_ema:
        kw["ema"] = False
    cfg.model_kwargs = kw
    return cfg


def _generator_kwargs(G: Generator) -> dict[str, int]:
    return {"latent_dim": G.latent_dim, "width": G.width, "num_classes": G.num_classes}


def _final_metrics(G: Generator, args, cfg_seed: int, test_limit, device) -> dict[str, Any]:
    n = min(args.eval_n, test_limit or args.eval_n)
    test, _ = fashion_mnist("test", limit=n, fake=args.fake_data, seed=cfg_seed)
    return gan_metrics(G, test.numpy(), seed=0, device=device)


def _eval_only(args: argparse.Namespace, device: torch.device, kind: str) -> dict[str, Any]:
    if args.checkpoint is not None:
        G, _ = load_model(args.checkpoint, device=device)
    else:
        G = load_pretrained(kind, device=device)
    return _final_metrics(G, args, 0, None, device)


def snapshot_callback(every: int, model: GAN, snapshots: dict[str, list]):
    """A ``fit`` callback keeping 16 samples of fixed noise every ``every`` steps (and at step 1).

    It appends to ``snapshots["step"]`` and ``snapshots["images"]`` (uint8
    (16, 28, 28) each); a conditional generator gets the classes in turn. The
    noise is the same for every snapshot, so the pictures change only because
    the generator does.
    """
    z = torch.randn(SNAPSHOT_SAMPLES, model.generator.latent_dim,
                    generator=torch.Generator().manual_seed(99))
    labels = np.arange(SNAPSHOT_SAMPLES) % 10 if model.generator.num_classes else None

    def callback(step: int, m: nn.Module, loss: float) -> None:
        if every and (step % every == 0 or step == 1):
            snapshots["step"].append(step)
            snapshots["images"].append(
                torch.from_numpy(sample_images(m.sampler(), SNAPSHOT_SAMPLES, labels=labels, z=z)))
    return callback


def run_gan(args: argparse.Namespace, device: torch.device, kind: str) -> dict[str, Any] | None:
    if args.eval_only:
        return _eval_only(args, device, kind)
    cfg = gan_config(args, kind)
    rank, world = dev.rank_and_world()
    set_seed(cfg.seed)  # the same initial weights in every process
    model = build_model(cfg.model, **cfg.model_kwargs)
    full = fashion_mnist("train", limit=cfg.train_limit, fake=cfg.fake_data, seed=cfg.seed)
    train, val = train_val_split(*full, val_size=cfg.val_size, seed=cfg.seed)
    if rank == 0:
        n_g = sum(p.numel() for p in model.generator.parameters())
        n_d = sum(p.numel() for p in model.discriminator.parameters())
        print(f"{kind}: generator {n_g:,} and discriminator {n_d:,} parameters on "
              f"{dev.describe(device)}, {world} process(es), {len(train[0])} training and "
              f"{len(val[0])} validation pictures, profile "
              f"{args.profile or course_profile.get_profile()}", file=sys.stderr)
    snapshots: dict[str, list] = {"step": [], "images": []}
    history = fit(model, train, config=cfg, eval_data=val, device=device,
                  callback=snapshot_callback(cfg.snapshot_every, model, snapshots))
    write_param_digest(args, model)
    if rank != 0:
        return None
    G = model.sampler().eval()
    metrics: dict[str, Any] = _final_metrics(G, args, cfg.seed, cfg.test_limit, device)
    seconds = history.total_seconds
    metrics.update(
        steps=history.step[-1] if history.step else 0,
        best_epoch=history.summary.get("best_epoch", 0),
        seconds=seconds, images_per_second=history.images / seconds if seconds > 0 else 0.0,
    )
    if args.out is not None:
        # the generator alone, rebuilt by load_pretrained; the run's curves and snapshots
        # ride along (thinned) for the chapter's figures
        every = max(1, len(history.loss) // 1000)
        curves = {k: thin(v, every) for k, v in history.values.items()}
        extra = {
            "train_config": cfg.to_dict(), "curve_every": every, "curves": curves,
            "evals": history.evals, "epoch_seconds": history.seconds,
            "snapshot_steps": snapshots["step"],
            "snapshots": torch.stack(snapshots["images"]) if snapshots["images"] else None,
        }
        config = {"model": "generator", "model_kwargs": _generator_kwargs(G)}
        save_checkpoint(args.out / FINAL_NAMES[kind], model=G, step=metrics["steps"],
                        epoch=history.epoch[-1] if history.epoch else 0, config=config,
                        metrics={k: v for k, v in metrics.items() if k != "images_per_second"},
                        extra={k: v for k, v in extra.items() if v is not None})
    return metrics


register_task(Task("dcgan", "the DCGAN of Chapter 6 (Fashion-MNIST)", _gan_arguments,
                   lambda args, device: run_gan(args, device, "dcgan")))
register_task(Task("cgan", "the conditional GAN of Chapter 6 (one class per sample)",
                   _gan_arguments, lambda args, device: run_gan(args, device, "cgan")))
