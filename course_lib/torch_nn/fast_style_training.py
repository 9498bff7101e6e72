"""Training the fast stylisation network of Chapter 8: data, preset, step, final figures, the task.

    python -m course_lib.torch_nn.train fast-style                  # COURSE_PROFILE sets the size
    python -m course_lib.torch_nn.train fast-style --fake-data --max-steps 3
    python -m course_lib.torch_nn.train fast-style --eval-only      # re-measure the shipped network
    COURSE_PROFILE=full python -m course_lib.torch_nn.train fast-style --out runs/fast-style

Everything is offline. The content pictures are random crops of the
pictures that ship with scikit-image (:data:`TRAIN_PICTURES`; licences in the
asset registry), a validation split of those crops monitors training, keeps
the best network and stops early; two other pictures (:data:`HELD_OUT`) are
never trained on and give the final figures, once: the fast network's loss
on them against Gatys' optimisation of the same loss on the same pictures in
the same network, and the time of one 256 x 256 stylisation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from course_lib import profile as course_profile
from course_lib import registry
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.augment import random_hflip
from course_lib.torch_nn.checkpoint import load_model, load_pretrained, save_checkpoint
from course_lib.torch_nn.datasets import train_val_split
from course_lib.torch_nn.fast_style import StyleLoss
from course_lib.torch_nn.loop import (
    EarlyStoppingStep,
    KeepBest,
    RunConfig,
    StepContext,
    fit,
    set_seed,
)
from course_lib.torch_nn.style import load_picture, style_targets, stylize
from course_lib.torch_nn.style_networks import OFFLINE_CHOICE, feature_network
from course_lib.torch_nn.tasks import (
    Task,
    apply_common_options,
    non_negative_float,
    positive_int,
    register_task,
    thin,
    write_param_digest,
)
from course_lib.torch_nn.zoo import build_model

__all__ = ["HELD_OUT", "TRAIN_PICTURES", "FastStyleConfig", "FastStyleStep", "content_crops",
           "fast_style_metrics", "style_loss_for"]

# every picture of the asset registry except the style and the held-out ones
TRAIN_PICTURES = ("astronaut", "rocket", "retina", "hubble_deep_field", "camera", "coins",
                  "brick", "grass", "gravel", "text", "clock", "cell")
HELD_OUT = ("chelsea", "coffee")
STYLE = "immunohistochemistry"
FINAL_NAME = "fast-style.pt"


def content_crops(n: int, size: int, *, seed: int = 0, fake: bool = False) -> torch.Tensor:
    """``n`` random crops uint8 (n, 3, size, size) of :data:`TRAIN_PICTURES`, deterministic in seed.

    Each picture is shrunk so its short side is 1.25, 2 or 3 times ``size``
    (never enlarged: at most its own size, at least ``size``), and crops are
    drawn uniformly over pictures, scales and positions, so the network sees
    both whole objects and close-up texture.
    """
    g = torch.Generator().manual_seed(seed)
    if fake:
        return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    scaled = []
    for name in TRAIN_PICTURES:
        short = min(registry.sample(name)["shape"][:2])
        for factor in (1.25, 2.0, 3.0):
            side = max(size, min(round(size * factor), short))  # shrunk, never enlarged
            pic = load_picture(name, size=side, crop=False)  # (1, 3, H', W')
            scaled.append((pic[0] * 255).round().to(torch.uint8))
    picks = torch.randint(0, len(scaled), (n,), generator=g)
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for i, k in enumerate(picks.tolist()):
        pic = scaled[k]
        top = int(torch.randint(0, pic.shape[1] - size + 1, (1,), generator=g))
        left = int(torch.randint(0, pic.shape[2] - size + 1, (1,), generator=g))
        out[i] = pic[:, top:top + size, left:left + size]
    return out


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x  # the network takes [0, 1] pictures as they are


def _flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return random_hflip(x, generator=generator)


@dataclass
class FastStyleConfig(RunConfig):
    """A fast-style run: the network's sizes, the style, the loss weights; kept in checkpoints."""

    model: str = "transformer_net"
    style: str = STYLE
    style_size: int = 256  # the style picture's side when its Gram matrices are taken
    crop: int = 256  # training crops' side
    crops: int = 1100  # crops drawn (train + validation)
    network: str = OFFLINE_CHOICE  # the feature network (fixed, so a run is reproducible)
    content_weight: float = 1.0
    style_weight: float = 1e5  # the offline network's defaults of stylize
    tv_weight: float = 1.0
    lr: float = 1e-3  # Adam, cosine-annealed to lr / 10
    val_size: int | None = 100
    patience: int | None = None  # epochs without a better validation loss before stopping

    RESUME_KEYS = (*RunConfig.RESUME_KEYS, "style", "crop", "crops", "network", "val_size")

    @classmethod
    def for_profile(cls, profile: str | None = None) -> FastStyleConfig:
        """smoke: a tiny network, a few steps. default: what a reader trains in ~10 minutes on
        two CPU cores. full: the shipped checkpoint's run."""
        profile = profile or course_profile.get_profile()
        if profile not in course_profile.PROFILES:
            raise ValueError(f"profile must be one of {course_profile.PROFILES}, got {profile!r}")
        shipped = {"width": 12, "blocks": 4, "edge_kernel": 5}
        presets = {
            "smoke": dict(model_kwargs={"width": 4, "blocks": 1, "edge_kernel": 3}, epochs=1,
                          batch_size=2, crop=32, crops=40, val_size=8, style_size=64),
            # 256 x 256 crops, the size the network is evaluated at: the coarsest scale of the
            # feature network then sees the same structures in training as on a test picture
            "default": dict(model_kwargs=shipped, epochs=2, batch_size=2, crops=700,
                            val_size=100),
            "full": dict(model_kwargs=shipped, epochs=8, batch_size=2, crops=1100, val_size=100,
                         patience=3),
        }
        return cls(**presets[profile])

    def batch_options(self) -> dict[str, Any]:
        return {"transform": _identity, "augment": _flip}

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> FastStyleStep:
        return FastStyleStep(model, self, total_steps=self.epochs * steps_per_epoch)


def style_loss_for(cfg: FastStyleConfig, device: torch.device) -> StyleLoss:
    """The run's perceptual loss: its network, its style picture's Gram matrices, its weights."""
    net = feature_network(cfg.network, device=device)
    size = cfg.style_size
    style = load_picture(cfg.style, size).to(device) if not cfg.fake_data else torch.rand(
        1, 3, size, size, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    weights = {k: 1 / len(net.style_layers) for k in net.style_layers}
    return StyleLoss(net, style_targets(net, style, list(weights)), weights, net.content_layer,
                     cfg.content_weight, cfg.style_weight, cfg.tv_weight)


class FastStyleStep(EarlyStoppingStep):
    """One Adam step on a batch of content crops: minimise the perceptual loss of T(x)."""

    def __init__(self, model: nn.Module, cfg: FastStyleConfig, *, total_steps: int) -> None:
        self.model, self.cfg = model, cfg
        device = next(model.parameters()).device
        self.loss = style_loss_for(cfg, device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.optimizers = {"adam": opt}
        self.schedulers = {"cosine": torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, total_steps), eta_min=cfg.lr / 10)}
        self.keep = KeepBest("loss")  # the best network by validation loss

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        with ctx.autocast():
            out = self.net(x)
        # the loss network in float32: Gram matrices of 256 channels lose precision in fp16
        total, c, s, t = self.loss(out.float(), x)
        ctx.minimize(total, self.optimizers["adam"])
        return {"loss": total.detach(), "content": c.detach(), "style": s.detach(),
                "tv": t.detach()}

    @torch.no_grad()
    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        """The mean perceptual loss on the validation crops."""
        images, _ = eval_data
        self.model.eval()
        totals = []
        for xb in images.split(16):
            x = xb.to(device).float() / 255
            totals.append(float(self.loss(self.model(x), x)[0]) * len(xb))
        self.model.train()
        val = sum(totals) / len(images)
        self.keep.update(val, self.model)
        return {"val_loss": val}

    def finish(self) -> dict[str, Any]:
        """Put the best network (by validation loss) back."""
        return self.keep.restore(self.model)

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: train loss {train_loss:.4f}, validation loss "
                f"{res['val_loss']:.4f} (best {self.keep.value:.4f} at epoch "
                f"{self.keep.epoch})")


def time_stylization(model: nn.Module, size: int = 256, repeats: int = 11) -> float:
    """Median seconds of one forward pass on a (1, 3, size, size) picture (after a warm-up)."""
    device = next(model.parameters()).device
    x = torch.rand(1, 3, size, size, device=device)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            dev.synchronize(device)
            tic = time.perf_counter()
            model(x)
            dev.synchronize(device)
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


@torch.no_grad()
def fast_style_metrics(model: nn.Module, loss: StyleLoss, pictures: list[torch.Tensor], *,
                       gatys_steps: int = 300, outputs: list | None = None) -> dict[str, float]:
    """The fast network against Gatys on the same pictures, loss and network; both timed.

    Returns the mean weighted terms of each (``fast_*``, ``gatys_*``), the
    ratio of the totals, the fast network's median milliseconds at 256 x 256
    and Gatys' mean seconds per picture. A list passed as ``outputs``
    receives ``(fast picture, Gatys picture)`` for each picture.
    """
    model.eval()
    fast = {"loss": [], "content": [], "style": [], "tv": []}
    gatys = {k: [] for k in fast}
    seconds = []
    pair: list[torch.Tensor] = []
    style_weights = dict(loss.weights)
    for pic in pictures:
        for into, out in ((fast, model(pic)), (gatys, None)):
            if out is None:
                with torch.enable_grad():
                    out, hist = stylize(
                        pic, None, network=loss.net, steps=gatys_steps, style_layers=style_weights,
                        content_layer=loss.content_layer, content_weight=loss.content_weight,
                        style_weight=loss.style_weight, tv_weight=loss.tv_weight, progress=False,
                        targets=loss.targets)
                seconds.append(hist.seconds)
            terms = loss(out, pic)
            for k, v in zip(into, terms, strict=True):
                into[k].append(float(v))
            pair.append(out.detach().cpu())
        if outputs is not None:
            outputs.append(tuple(pair))
        pair = []
    res = {f"fast_{k}": statistics.mean(v) for k, v in fast.items()}
    res.update({f"gatys_{k}": statistics.mean(v) for k, v in gatys.items()})
    res["loss_ratio"] = res["fast_loss"] / res["gatys_loss"]
    res["fast_ms_256"] = 1000 * time_stylization(model)
    res["gatys_seconds"] = statistics.mean(seconds)
    return res


# ---------------------------------------------------------------------------
# The fast-style task of the command line
# ---------------------------------------------------------------------------


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=positive_int, help="channels at full resolution")
    p.add_argument("--blocks", type=positive_int, help="residual blocks")
    p.add_argument("--style", help=f"sample picture of the style (default {STYLE})")
    p.add_argument("--network", help=f"feature network (default {OFFLINE_CHOICE})")
    p.add_argument("--style-weight", type=non_negative_float)
    p.add_argument("--content-weight", type=non_negative_float)
    p.add_argument("--tv-weight", type=non_negative_float)
    p.add_argument("--crop", type=positive_int, help="side of the training crops")
    p.add_argument("--crops", type=positive_int, help="crops drawn, validation included")
    p.add_argument("--val-size", type=positive_int, help="validation crops")
    p.add_argument("--patience", type=positive_int)
    p.add_argument("--gatys-steps", type=positive_int, default=300,
                   help="Gatys' steps on each held-out picture for the final comparison")
    p.add_argument("--eval-size", type=positive_int, default=256,
                   help="side of the held-out pictures")


def fast_style_config(args: argparse.Namespace) -> FastStyleConfig:
    cfg = apply_common_options(
        FastStyleConfig.for_profile(args.profile), args, lr=args.lr, style=args.style,
        network=args.network, style_weight=args.style_weight, content_weight=args.content_weight,
        tv_weight=args.tv_weight, crop=args.crop, crops=args.crops, val_size=args.val_size,
        patience=args.patience)
    kw = dict(cfg.model_kwargs)
    for key, value in (("width", args.width), ("blocks", args.blocks)):
        if value is not None:
            kw[key] = value
    cfg.model_kwargs = kw
    return cfg


def _final(model: nn.Module, cfg: FastStyleConfig, args: argparse.Namespace,
           device: torch.device) -> dict[str, Any]:
    loss = style_loss_for(cfg, device)
    size = args.eval_size if not cfg.fake_data else 32
    if cfg.fake_data:
        pics = [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(i))
                for i in range(2)]
    else:
        pics = [load_picture(name, size) for name in HELD_OUT]
    pics = [p.to(device) for p in pics]
    return {f"test_{k}": v for k, v in fast_style_metrics(
        model, loss, pics, gatys_steps=args.gatys_steps).items()}


def run_fast_style(args: argparse.Namespace, device: torch.device) -> dict[str, Any] | None:
    if args.eval_only:
        if args.checkpoint is not None:
            model, state = load_model(args.checkpoint)
            saved = state.get("extra", {}).get("train_config", {})
        else:
            model = load_pretrained("fast-style")
            saved = {}
        cfg = FastStyleConfig.from_dict({**FastStyleConfig.for_profile("full").to_dict(), **saved})
        cfg.fake_data = args.fake_data
        return _final(model.to(device).eval(), cfg, args, device)
    cfg = fast_style_config(args)
    rank, world = dev.rank_and_world()
    set_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    crops = content_crops(cfg.crops, cfg.crop, seed=cfg.seed, fake=cfg.fake_data)
    if cfg.train_limit is not None:
        crops = crops[: cfg.train_limit]
    labels = torch.zeros(len(crops), dtype=torch.int64)
    train, val = train_val_split(crops, labels, val_size=cfg.val_size, seed=cfg.seed)
    if rank == 0:
        n = sum(p.numel() for p in model.parameters())
        print(f"fast-style: TransformerNet {cfg.model_kwargs} ({n:,} parameters) on "
              f"{dev.describe(device)}, {world} process(es), style {cfg.style}, network "
              f"{cfg.network}, {len(train[0])} training and {len(val[0])} validation crops of "
              f"{cfg.crop} px, profile {args.profile or course_profile.get_profile()}",
              file=sys.stderr)
    history = fit(model, train, config=cfg, eval_data=val, device=device)
    write_param_digest(args, model)
    if rank != 0:
        return None
    model.eval()
    metrics: dict[str, Any] = _final(model, cfg, args, device)
    metrics.update(val_loss=history.summary.get("val_loss", float("nan")),
                   best_epoch=history.summary.get("best_epoch", 0),
                   steps=history.step[-1] if history.step else 0, seconds=history.total_seconds)
    if args.out is not None:
        every = max(1, len(history.loss) // 1000)
        extra = {"train_config": cfg.to_dict(), "curve_every": every,
                 "curves": {k: thin(v, every) for k, v in history.values.items()},
                 "evals": history.evals, "epoch_seconds": history.seconds}
        save_checkpoint(args.out / FINAL_NAME, model=model, step=metrics["steps"],
                        epoch=history.epoch[-1] if history.epoch else 0,
                        config={"model": cfg.model, "model_kwargs": cfg.model_kwargs},
                        metrics=metrics, extra=extra)
    return metrics


register_task(Task("fast-style", "the fast stylisation network of Chapter 8 (offline pictures)",
                   _arguments, run_fast_style))
