"""Training the networks of Chapter 9: presets, the steps, the final figures, three tasks.

    python -m course_lib.torch_nn.train denoise                 # COURSE_PROFILE sets the size
    python -m course_lib.torch_nn.train sr2x --eval-only        # re-measure the shipped model
    python -m course_lib.torch_nn.train pix2pix --gan-weight 0  # the L1-only translator
    COURSE_PROFILE=full python -m course_lib.torch_nn.train denoise --out runs/denoiser

``denoise`` and ``sr2x`` train on Fashion-MNIST's training pictures plus
28 x 28 grey patches of the scikit-image pictures :data:`NATURAL_TRAIN`;
``pix2pix`` on Fashion-MNIST alone. A validation split carved off the
training pictures (with noise, or degradation, drawn once from a fixed seed)
monitors every epoch, keeps the best network and stops early; the final line
measures, once, the first ``--eval-n`` test pictures (500 by default, the
figures of the chapter) and, for the first two tasks, the pictures
:data:`NATURAL_HELD_OUT` that no run trains on.
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
from course_lib.data import sample_image
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import load_model, load_pretrained, save_checkpoint
from course_lib.torch_nn.datasets import fashion_mnist, to_unit, train_val_split
from course_lib.torch_nn.loop import (
    EarlyStoppingStep,
    KeepBest,
    RunConfig,
    StepContext,
    TrainStep,
    fit,
    set_seed,
)
from course_lib.torch_nn.restore import (
    Pix2Pix,
    add_noise,
    bicubic_upscale2x,
    downscale2x,
    sobel_edges,
)
from course_lib.torch_nn.tasks import (
    Task,
    apply_common_options,
    non_negative_float,
    non_negative_int,
    positive_int,
    register_task,
    thin,
    write_param_digest,
)
from course_lib.torch_nn.zoo import build_model

__all__ = ["EVAL_SIGMAS", "NATURAL_HELD_OUT", "NATURAL_TRAIN", "RestoreConfig", "degrade",
           "natural_patches", "noisy", "restore_metrics"]

# grey versions of the registry's pictures; camera and coins (the classic test pictures) are
# never trained on
NATURAL_TRAIN = ("astronaut", "rocket", "retina", "hubble_deep_field", "brick", "grass",
                 "gravel", "text", "clock", "cell", "chelsea", "coffee", "immunohistochemistry")
NATURAL_HELD_OUT = ("camera", "coins")
EVAL_SIGMAS = (15, 25, 50)  # on the 0..255 scale
TASK_KINDS = ("denoise", "sr2x", "pix2pix")
FINAL_NAMES = {"denoise": "denoiser.pt", "sr2x": "sr2x.pt", "pix2pix": "pix2pix.pt"}
PATCH = 28


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x  # the batches stay in [0, 1]: every network of the chapter works there


def natural_patches(n: int, *, seed: int = 0, fake: bool = False) -> torch.Tensor:
    """``n`` random 28 x 28 grey patches uint8 (n, 28, 28) of :data:`NATURAL_TRAIN`, seeded.

    Drawn uniformly over pictures and positions, each picture at its own
    size or halved (so the patches hold both fine texture and larger shapes).
    """
    g = np.random.default_rng(seed)
    if fake:
        return torch.from_numpy(g.integers(0, 256, (n, PATCH, PATCH), dtype=np.uint8))
    pics = []
    for name in NATURAL_TRAIN:
        img = torch.from_numpy(sample_image(name, as_gray=True)[..., 0])[None, None]
        pics.append(img)
        pics.append(F.interpolate(img, scale_factor=0.5, mode="bilinear", antialias=True))
    out = np.empty((n, PATCH, PATCH), np.uint8)
    which = g.integers(0, len(pics), n)
    for i, k in enumerate(which):
        p = pics[k][0, 0]
        r, c = g.integers(0, p.shape[0] - PATCH + 1), g.integers(0, p.shape[1] - PATCH + 1)
        out[i] = (p[r : r + PATCH, c : c + PATCH].clamp(0, 1) * 255).round().byte().numpy()
    return torch.from_numpy(out)


def noisy(x: torch.Tensor, sigma255: float, *, seed: int = 0) -> torch.Tensor:
    """The evaluation noise of the chapter: ``clip(x + sigma255/255 * n)``, n drawn from ``seed``.

    The same n for every σ (so the pictures at σ = 15, 25, 50 differ only in
    strength); the test figures use ``seed=0``, validation ``seed=1``.
    """
    g = torch.Generator().manual_seed(seed)
    return add_noise(x.cpu(), sigma255 / 255.0, generator=g).to(x.device)


def degrade(kind: str, x: torch.Tensor) -> torch.Tensor:
    """What the network of ``kind`` gets from a clean batch (deterministic): sr2x and pix2pix."""
    if kind == "sr2x":
        return downscale2x(x)
    if kind == "pix2pix":
        return sobel_edges(x)
    raise ValueError(f"degrade is for sr2x and pix2pix, not {kind!r} (noise: use noisy)")


@dataclass
class RestoreConfig(RunConfig):
    """Everything that decides a Chapter 9 training run; stored in every checkpoint."""

    kind: str = "denoise"
    model: str = "dncnn"
    lr: float = 1e-3  # Adam (beta1 0.5 for pix2pix), cosine-annealed to lr / 10
    sigma_max: float = 50.0  # denoise: training noise sigma ~ U[0, sigma_max] / 255
    patches: int = 20_000  # denoise, sr2x: natural 28 x 28 patches added to the training set
    gan_weight: float = 1.0  # pix2pix: weight of the adversarial term (0: L1 only)
    l1_weight: float = 100.0  # pix2pix: lambda of Isola et al. (2017)
    val_size: int | None = 5000
    eval_limit: int = 1000  # validation pictures scored after each epoch
    patience: int | None = None

    RESUME_KEYS = (*RunConfig.RESUME_KEYS, "kind", "val_size", "patches")

    @classmethod
    def for_profile(cls, kind: str = "denoise", profile: str | None = None) -> RestoreConfig:
        """The preset of a profile for ``kind`` in ``denoise``, ``sr2x``, ``pix2pix``.

        smoke: a few steps of tiny networks (the tests); default: a run a reader
        can make in about five minutes on two CPU cores; full: the shipped checkpoints'.
        """
        profile = profile or course_profile.get_profile()
        if profile not in course_profile.PROFILES:
            raise ValueError(f"profile must be one of {course_profile.PROFILES}, got {profile!r}")
        if kind not in TASK_KINDS:
            raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}")
        smoke = dict(epochs=1, batch_size=32, train_limit=512, test_limit=64, val_size=64,
                     eval_limit=64, patches=64)
        sizes = {
            "denoise": ("dncnn", {"smoke": {"depth": 3, "width": 4},
                                  "default": {"depth": 8, "width": 32},
                                  "full": {"depth": 8, "width": 32}}),
            "sr2x": ("espcn", {"smoke": {"widths": (4, 4)},
                               "default": {"widths": (64, 32)},
                               "full": {"widths": (64, 32)}}),
            "pix2pix": ("pix2pix", {"smoke": {"width": 4, "d_width": 4},
                                    "default": {"width": 12, "d_width": 32},
                                    "full": {"width": 12, "d_width": 32}}),
        }
        model, widths = sizes[kind]
        # measured on one CPU thread at batch 64: a step of the depth-8 DnCNN takes 0.33 s,
        # of ESPCN 0.03 s, of pix2pix at width 16 0.23 s (shipped at width 12: all the
        # checkpoints together must stay under 10 MB)
        runs = {
            "smoke": smoke,
            "default": dict(epochs=2, batch_size=64, train_limit=20_000, patches=5000),
            "full": {"denoise": dict(epochs=5, batch_size=64, patience=2),
                     "sr2x": dict(epochs=20, batch_size=64, patience=3),
                     "pix2pix": dict(epochs=8, batch_size=64, patience=3)}[kind],
        }
        cfg = cls(kind=kind, model=model, model_kwargs=widths[profile], **runs[profile])
        if kind == "pix2pix":
            cfg.lr, cfg.patches = 2e-4, 0
        return cfg

    def batch_options(self) -> dict[str, Any]:
        return {"transform": _unit}

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> TrainStep:
        total = max(1, self.epochs * steps_per_epoch)
        return (Pix2PixStep if self.kind == "pix2pix" else RestoreStep)(model, self, total)


def _cosine(opt: torch.optim.Optimizer, total: int, lr: float):
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=lr / 10)


class _Validated(EarlyStoppingStep):
    """Validation after each epoch on degraded pictures drawn once; the best network kept."""

    metric = "mse"

    def _setup(self, cfg: RestoreConfig) -> None:
        self.cfg = cfg
        self.keep = KeepBest(self.metric)
        self._val: tuple[list[torch.Tensor], torch.Tensor] | None = None

    def _val_pairs(self, eval_data: Any, device: torch.device):
        if self._val is None:
            clean = to_unit(eval_data[0][: self.cfg.eval_limit]).to(device)
            if self.cfg.kind == "denoise":  # one noise draw per sigma, seed 1 (the test's is 0)
                inputs = [noisy(clean, s, seed=1) for s in EVAL_SIGMAS]
            else:
                inputs = [degrade(self.cfg.kind, clean)]
            self._val = (inputs, clean)
        return self._val


class RestoreStep(_Validated):
    """One step of denoising or ×2 super-resolution: the mean squared error to the clean batch.

    Denoising draws σ ~ U[0, sigma_max]/255 per picture and clips the noisy
    picture to [0, 1]; the loss ``mean (x_hat - x)²`` equals DnCNN's
    ``mean (r(y) - (y - x))²`` since ``x_hat = y - r(y)`` (eq-ch09-dncnn-loss).
    Super-resolution gets ``downscale2x(x)``. The noise comes from torch's
    generator, which the loop checkpoints, so a resumed run draws the same.
    """

    def __init__(self, model: nn.Module, cfg: RestoreConfig, total: int) -> None:
        self._setup(cfg)
        self.model = model
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.optimizers = {"adam": opt}
        self.schedulers = {"cosine": _cosine(opt, total, cfg.lr)}

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        if self.cfg.kind == "denoise":
            sigma = torch.rand(len(x), device=x.device) * (self.cfg.sigma_max / 255.0)
            inp = add_noise(x, sigma)
        else:
            inp = downscale2x(x)
        with ctx.autocast():
            out = self.net(inp)
        loss = F.mse_loss(out.float(), x)
        ctx.minimize(loss, self.optimizers["adam"])
        return {"mse": loss.detach()}

    @torch.no_grad()
    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        inputs, clean = self._val_pairs(eval_data, device)
        self.model.eval()
        mses = [torch.cat([((self.model(b) - c) ** 2).mean((1, 2, 3))
                           for b, c in zip(inp.split(500), clean.split(500), strict=True)])
                for inp in inputs]
        self.model.train()
        mse = float(torch.stack(mses).mean())
        psnr = float(torch.stack([-10 * torch.log10(m) for m in mses]).mean())
        self.keep.update(mse, self.model)
        return {"val_mse": mse, "val_psnr": psnr}

    def finish(self) -> dict[str, Any]:
        return self.keep.restore(self.model)

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: train MSE {train_loss:.5f}, validation PSNR "
                f"{res['val_psnr']:.2f} dB (best MSE {self.keep.value:.5f} at epoch "
                f"{self.keep.epoch})")


class Pix2PixStep(_Validated):
    """One step of pix2pix on a clean batch x and its Sobel edges e (Isola et al. 2017, eq. 4).

    Discriminator (when ``gan_weight > 0``): ``½ [BCE(D(e, x), 1) + BCE(D(e,
    G(e)), 0)]`` per patch, the fake detached. Generator:
    ``gan_weight · BCE(D(e, G(e)), 1) + l1_weight · mean |G(e) - x|``
    (eq-ch09-pix2pix). With ``gan_weight = 0`` the discriminator is never
    trained or called: the L1-only baseline. Validation keeps the generator
    with the lowest L1 error on the validation pictures.
    """

    metric = "l1"

    def __init__(self, model: nn.Module, cfg: RestoreConfig, total: int) -> None:
        if not isinstance(model, Pix2Pix):
            raise ValueError(f"Pix2PixStep trains a restore.Pix2Pix, got {type(model).__name__}")
        self._setup(cfg)
        self.model = model
        betas = (0.5, 0.999)
        self.optimizers = {
            "generator": torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=betas)}
        if cfg.gan_weight > 0:
            self.optimizers["discriminator"] = torch.optim.Adam(
                model.discriminator.parameters(), lr=cfg.lr, betas=betas)
        self.schedulers = {k: _cosine(o, total, cfg.lr) for k, o in self.optimizers.items()}

    def wrap(self, wrapper) -> None:
        self.g_net = wrapper(self.model.generator)
        self.d_net = wrapper(self.model.discriminator) if self.cfg.gan_weight > 0 else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        e = sobel_edges(x)
        values: dict[str, Any] = {}
        with ctx.autocast():
            fake = self.g_net(e)
        if self.d_net is not None:
            with ctx.autocast():
                real_logits = self.d_net(e, x)
                fake_logits = self.d_net(e, fake.detach())
                d_loss = 0.5 * (
                    F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                    + F.binary_cross_entropy_with_logits(fake_logits,
                                                         torch.zeros_like(fake_logits)))
            ctx.minimize(d_loss, self.optimizers["discriminator"])
        l1 = (fake.float() - x).abs().mean()
        g_loss = self.cfg.l1_weight * l1
        if self.d_net is not None:
            with ctx.autocast():
                logits = self.d_net(e, fake)
            adv = F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits))
            g_loss = g_loss + self.cfg.gan_weight * adv
            values.update(d_loss=d_loss.detach(), adv=adv.detach())
        ctx.minimize(g_loss, self.optimizers["generator"])
        return {"g_loss": g_loss.detach(), "l1": l1.detach(), **values}

    @torch.no_grad()
    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        (edges,), clean = self._val_pairs(eval_data, device)
        G = self.model.generator
        G.eval()
        pairs = zip(edges.split(500), clean.split(500), strict=True)
        l1 = float(torch.cat([(G(b) - c).abs().mean((1, 2, 3)) for b, c in pairs]).mean())
        G.train()
        self.keep.update(l1, G)
        return {"val_l1": l1}

    def finish(self) -> dict[str, Any]:
        return self.keep.restore(self.model.generator)

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: generator loss {train_loss:.4f}, validation L1 "
                f"{res['val_l1']:.4f} (best {self.keep.value:.4f} at epoch {self.keep.epoch})")


# ---------------------------------------------------------------------------
# The final figures, measured once
# ---------------------------------------------------------------------------


def _held_out_pictures(fake: bool) -> list[torch.Tensor]:
    """The held-out natural pictures, grey, (1, 1, H, W) cropped to even sides."""
    if fake:
        g = torch.Generator().manual_seed(7)
        return [torch.rand(1, 1, 64, 48, generator=g)]
    out = []
    for name in NATURAL_HELD_OUT:
        img = torch.from_numpy(sample_image(name, as_gray=True)[..., 0])
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        out.append(img[:h, :w][None, None].contiguous())
    return out


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per picture, dB (eq-ch09-psnr), (N,)."""
    return -10.0 * torch.log10(((a - b) ** 2).mean((1, 2, 3)))


@torch.no_grad()
def _apply(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model(b.to(device)).cpu() for b in x.split(batch_size)])


@torch.no_grad()
def restore_metrics(kind: str, model: nn.Module, clean_uint8: torch.Tensor, *,
                    fake: bool = False) -> dict[str, float]:
    """The final line's figures of ``model`` (eval mode) on uint8 test pictures (N, 28, 28).

    denoise: ``psnr_<σ>`` and ``noisy_psnr_<σ>`` at σ in :data:`EVAL_SIGMAS`
    (noise seed 0) and ``natural_psnr_25`` (mean over :data:`NATURAL_HELD_OUT`);
    sr2x: ``psnr``, ``bicubic_psnr`` and ``natural_psnr``, ``natural_bicubic_psnr``;
    pix2pix: ``l1`` and ``fd`` (Fréchet distance to the same test pictures in
    the shipped classifier's features). PSNRs are means over pictures, dB.
    """
    model.eval()
    clean = to_unit(clean_uint8)
    out: dict[str, float] = {}
    if kind == "denoise":
        for s in EVAL_SIGMAS:
            y = noisy(clean, s, seed=0)
            out[f"psnr_{s}"] = float(_psnr(_apply(model, y), clean).mean())
            out[f"noisy_psnr_{s}"] = float(_psnr(y, clean).mean())
        nat = [float(_psnr(_apply(model, noisy(p, 25, seed=0)), p)) for p in
               _held_out_pictures(fake)]
        out["natural_psnr_25"] = float(np.mean(nat))
    elif kind == "sr2x":
        lr = degrade("sr2x", clean)
        out["psnr"] = float(_psnr(_apply(model, lr), clean).mean())
        out["bicubic_psnr"] = float(_psnr(bicubic_upscale2x(lr), clean).mean())
        pics = _held_out_pictures(fake)
        out["natural_psnr"] = float(np.mean([float(_psnr(_apply(model, downscale2x(p)), p))
                                             for p in pics]))
        out["natural_bicubic_psnr"] = float(np.mean(
            [float(_psnr(bicubic_upscale2x(downscale2x(p)), p)) for p in pics]))
    elif kind == "pix2pix":
        from course_lib.evaluation import feature_statistics, frechet_distance
        from course_lib.torch_nn.features import classifier_features

        made = _apply(model, degrade("pix2pix", clean))
        out["l1"] = float((made - clean).abs().mean())
        made_u8 = (made[:, 0] * 255).round().clamp(0, 255).byte()
        device = next(model.parameters()).device
        out["fd"] = frechet_distance(
            *feature_statistics(classifier_features(clean_uint8, device=device)),
            *feature_statistics(classifier_features(made_u8, device=device)))
    else:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}")
    return out


# ---------------------------------------------------------------------------
# The denoise, sr2x and pix2pix tasks of the command line
# ---------------------------------------------------------------------------


def _arguments(p: argparse.ArgumentParser, kind: str) -> None:
    if kind == "denoise":
        p.add_argument("--depth", type=positive_int, help="convolution layers")
        p.add_argument("--width", type=positive_int, help="channels of the hidden layers")
        p.add_argument("--sigma-max", type=non_negative_float,
                       help="largest training noise, 0..255 scale")
    elif kind == "sr2x":
        p.add_argument("--widths", type=positive_int, nargs=2,
                       help="channels of the two hidden layers")
    else:
        p.add_argument("--width", type=positive_int, help="U-Net channels at full resolution")
        p.add_argument("--d-width", type=positive_int, help="PatchGAN channels")
        p.add_argument("--gan-weight", type=non_negative_float,
                       help="adversarial term's weight (0: L1 only)")
        p.add_argument("--l1-weight", type=non_negative_float, help="L1 term's weight (lambda)")
    if kind != "pix2pix":
        p.add_argument("--patches", type=non_negative_int, help="natural 28 x 28 training patches")
    p.add_argument("--val-size", type=positive_int,
                   help="validation pictures carved off the training set")
    p.add_argument("--patience", type=positive_int,
                   help="epochs without a better validation to stop")
    p.add_argument("--eval-n", type=positive_int, default=500,
                   help="test pictures for the final line")


def restore_config(args: argparse.Namespace, kind: str) -> RestoreConfig:
    """The preset of the profile, overridden by the options given."""
    cfg = apply_common_options(
        RestoreConfig.for_profile(kind, args.profile), args, lr=args.lr,
        val_size=args.val_size, patience=args.patience,
        sigma_max=getattr(args, "sigma_max", None), patches=getattr(args, "patches", None),
        gan_weight=getattr(args, "gan_weight", None), l1_weight=getattr(args, "l1_weight", None),
    )
    kw = dict(cfg.model_kwargs)
    for key in ("depth", "width", "d_width", "widths"):
        value = getattr(args, key, None)
        if value is not None:
            kw[key] = tuple(value) if key == "widths" else value
    cfg.model_kwargs = kw
    if cfg.gan_weight < 0 or cfg.l1_weight < 0 or not 0 <= cfg.sigma_max <= 255:
        raise ValueError("gan_weight and l1_weight must be >= 0 and sigma_max in [0, 255]")
    return cfg


def final_name(kind: str, gan_weight: float = 1.0) -> str:
    """The file the run writes: denoiser.pt, sr2x.pt, pix2pix.pt (pix2pix-l1.pt without GAN)."""
    if kind == "pix2pix" and gan_weight == 0:
        return "pix2pix-l1.pt"
    return FINAL_NAMES[kind]


def _test_metrics(kind: str, model: nn.Module, args, limit: int | None) -> dict[str, Any]:
    n = min(args.eval_n, limit or args.eval_n)
    test, _ = fashion_mnist("test", limit=n, fake=args.fake_data, seed=0)
    return {f"test_{k}": v for k, v in restore_metrics(kind, model, test,
                                                       fake=args.fake_data).items()}


def _load(args: argparse.Namespace, kind: str, device: torch.device) -> nn.Module:
    if args.checkpoint is None:
        name = {"denoise": "denoiser"}.get(kind, kind)
        if kind == "pix2pix" and getattr(args, "gan_weight", None) == 0:
            name = "pix2pix-l1"
        return load_pretrained(name, device=device)
    return load_model(args.checkpoint, device=device)[0]


def run_restore(args: argparse.Namespace, device: torch.device, kind: str) -> dict[str, Any] | None:
    if args.eval_only:
        return _test_metrics(kind, _load(args, kind, device), args, None)
    cfg = restore_config(args, kind)
    rank, world = dev.rank_and_world()
    set_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    full = fashion_mnist("train", limit=cfg.train_limit, fake=cfg.fake_data, seed=cfg.seed)
    train, val = train_val_split(*full, val_size=cfg.val_size, seed=cfg.seed)
    if cfg.patches:  # natural patches join the training split only; labels are unused (-1)
        p = natural_patches(cfg.patches, seed=cfg.seed, fake=cfg.fake_data)
        train = (torch.cat([train[0], p]), torch.cat([train[1], torch.full((len(p),), -1)]))
    if rank == 0:
        n = sum(q.numel() for q in model.parameters())
        print(f"{kind} ({cfg.model}): {n:,} parameters on {dev.describe(device)}, {world} "
              f"process(es), {len(train[0])} training ({cfg.patches} natural patches) and "
              f"{len(val[0])} validation pictures, profile "
              f"{args.profile or course_profile.get_profile()}", file=sys.stderr)
    history = fit(model, train, config=cfg, eval_data=val, device=device)
    write_param_digest(args, model)
    if rank != 0:
        return None
    net = model.generator if kind == "pix2pix" else model
    net.eval()
    metrics: dict[str, Any] = _test_metrics(kind, net, args, cfg.test_limit)
    summary = history.summary
    metrics.update({k: v for k, v in summary.items() if k.startswith("val_")},
                   best_epoch=summary.get("best_epoch", 0),
                   steps=history.step[-1] if history.step else 0, seconds=history.total_seconds)
    if args.out is not None:  # the network that is used (pix2pix: the generator), and the curves
        every = max(1, len(history.loss) // 1000)
        extra = {"train_config": cfg.to_dict(), "curve_every": every,
                 "curves": {k: thin(v, every) for k, v in history.values.items()},
                 "evals": history.evals, "epoch_seconds": history.seconds}
        if kind == "pix2pix":
            config = {"model": "unet", "model_kwargs": {"width": net.width}}
        else:
            config = {"model": cfg.model, "model_kwargs": cfg.model_kwargs}
        save_checkpoint(args.out / final_name(kind, cfg.gan_weight), model=net,
                        step=metrics["steps"], epoch=history.epoch[-1] if history.epoch else 0,
                        config=config, metrics=metrics, extra=extra)
    return metrics


register_task(Task("denoise", "the blind DnCNN denoiser of Chapter 9",
                   lambda p: _arguments(p, "denoise"),
                   lambda args, device: run_restore(args, device, "denoise")))
register_task(Task("sr2x", "the ESPCN x2 super-resolution network of Chapter 9",
                   lambda p: _arguments(p, "sr2x"),
                   lambda args, device: run_restore(args, device, "sr2x")))
register_task(Task("pix2pix", "edges -> garments, the pix2pix translator of Chapter 9",
                   lambda p: _arguments(p, "pix2pix"),
                   lambda args, device: run_restore(args, device, "pix2pix")))
