"""Training the Fashion-MNIST classifier of Chapter 5: its presets, its step, its task.

    python -m course_lib.torch_nn.train cnn                   # train (COURSE_PROFILE sets the size)
    python -m course_lib.torch_nn.train cnn --eval-only       # evaluate the shipped checkpoint

:class:`TrainConfig` holds the classifier's settings and presets,
:class:`ClassifierStep` its training step (one cross-entropy minibatch) for
the shared loop :func:`course_lib.torch_nn.loop.fit`; :func:`predict` and
:func:`evaluate` run a trained classifier on uint8 pictures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import profile as course_profile
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.augment import Augment
from course_lib.torch_nn.checkpoint import (
    load_model,
    load_pretrained,
    save_checkpoint,
    unwrap,
)
from course_lib.torch_nn.datasets import fashion_mnist, normalize
from course_lib.torch_nn.loop import History, RunConfig, StepContext, TrainStep, fit, set_seed
from course_lib.torch_nn.tasks import (
    Task,
    apply_common_options,
    positive_int,
    register_task,
    write_param_digest,
)
from course_lib.torch_nn.zoo import build_model

__all__ = ["ClassifierStep", "TrainConfig", "evaluate", "predict"]

CNN_CHECKPOINT = "cnn"  # name of the shipped checkpoint in the registry
FINAL_NAME = "cnn-fashion-mnist.pt"


@dataclass
class TrainConfig(RunConfig):
    """Everything that decides a classifier's training run; stored in every checkpoint."""

    lr: float = 0.05  # the peak learning rate with the onecycle schedule
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD with Nesterov momentum; ignored by adam/adamw
    optimizer: str = "sgd"  # "sgd" | "adam" | "adamw"
    schedule: str = "onecycle"  # "onecycle" | "none"
    label_smoothing: float = 0.0
    augment: bool = True
    augment_kwargs: dict[str, Any] = field(default_factory=dict)  # Augment(hflip, shift, erase)
    class_weights: list[float] | None = None  # weights of the cross-entropy, one per class

    @classmethod
    def for_profile(cls, model: str = "fashion", profile: str | None = None) -> TrainConfig:
        """The preset of a profile (default: ``$COURSE_PROFILE``) for ``"fashion"`` or ``"simple"``.

        smoke: 16 steps on 1,024 pictures (the tests). default: what a reader
        trains in about two minutes on two quiet CPU cores, 4 epochs without
        augmentation (92.6 % on the test set). full: the shipped checkpoint's
        run: width 32, 20 epochs with flips, shifts and random erasing.
        """
        profile = profile or course_profile.get_profile()
        if profile not in course_profile.PROFILES:
            raise ValueError(f"profile must be one of {course_profile.PROFILES}, got {profile!r}")
        if model not in ("fashion", "simple"):
            raise ValueError(f"no presets for model {model!r}; known: fashion, simple")
        if model == "simple":
            presets = {
                "smoke": dict(epochs=1, train_limit=1024, test_limit=1000, batch_size=64),
                "default": dict(epochs=5),
                "full": dict(epochs=20),
            }
            return cls(model="simple", augment=False, lr=0.05, **presets[profile])
        presets = {
            "smoke": dict(
                model_kwargs={"width": 8, "hidden": 32}, epochs=1, train_limit=1024,
                test_limit=1000, batch_size=64, augment=False,
            ),
            "default": dict(
                model_kwargs={"width": 16, "hidden": 128, "dropout": 0.2}, epochs=4,
                batch_size=128, lr=0.1, label_smoothing=0.1, augment=False,
            ),
            "full": dict(
                model_kwargs={"width": 32, "hidden": 128, "dropout": 0.2}, epochs=20,
                batch_size=128, lr=0.1, label_smoothing=0.1, augment=True,
                augment_kwargs={"hflip": 0.5, "shift": 2, "erase": 0.1},
            ),
        }
        return cls(model="fashion", **presets[profile])

    def batch_options(self) -> dict[str, Any]:
        return {"augment": Augment(**self.augment_kwargs) if self.augment else None}

    def build_step(self, model: nn.Module, steps_per_epoch: int) -> ClassifierStep:
        return ClassifierStep(model, self, steps_per_epoch)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be sgd, adam or adamw, got {cfg.optimizer!r}")


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> Any:
    if cfg.schedule == "onecycle":
        # Smith and Topin (2019): warm up to lr over 25% of the run, then anneal
        # (cosine) to lr / 1e4; the schedule spans all epochs, max_steps only stops early
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total, 2), pct_start=0.25
        )
    if cfg.schedule == "none":
        return None
    raise ValueError(f"schedule must be onecycle or none, got {cfg.schedule!r}")


class ClassifierStep(TrainStep):
    """One minibatch of (weighted, label-smoothed) cross-entropy and one optimiser step."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, steps_per_epoch: int) -> None:
        self.model = model
        opt = _make_optimizer(model, cfg)
        sched = _make_scheduler(opt, cfg, cfg.epochs * steps_per_epoch)
        self.optimizers = {"model": opt}
        self.schedulers = {"model": sched} if sched is not None else {}
        weight = None
        if cfg.class_weights is not None:
            device = next(model.parameters()).device
            weight = torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, Any]:
        with ctx.autocast():
            loss = self.loss_fn(self.net(x), y)
        ctx.minimize(loss, self.optimizers["model"])
        return {"loss": loss.detach()}

    def evaluate(self, eval_data: Any, device: torch.device) -> dict[str, float]:
        res = evaluate(self.model, *eval_data, device=device)
        return {"loss": res["loss"], "accuracy": res["accuracy"]}

    def epoch_message(self, epoch: int, train_loss: float, res: dict[str, float]) -> str:
        return (f"epoch {epoch}: train loss {train_loss:.4f}, "
                f"test loss {res['loss']:.4f}, test accuracy {res['accuracy']:.4f}")


@torch.no_grad()
def predict(
    model: nn.Module,
    images_uint8: torch.Tensor | np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """Logits float32 (N, K) of uint8 pictures (N, 28, 28), in eval mode, batch by batch."""
    model = unwrap(model)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    images = torch.as_tensor(images_uint8)
    out = []
    for i in range(0, len(images), batch_size):
        x = normalize(images[i : i + batch_size]).to(device)
        with dev.autocast_context(device):
            out.append(model(x).float().cpu())
    model.train(was_training)
    k = out[0].shape[1] if out else 0
    return torch.cat(out).numpy() if out else np.zeros((0, k), np.float32)


def evaluate(
    model: nn.Module,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    *,
    device: torch.device | None = None,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Mean cross-entropy and accuracy on a labelled set, in eval mode.

    Returns ``{"loss", "accuracy", "preds" (int64 (N,)), "labels" (int64 (N,))}``.
    """
    logits = torch.from_numpy(predict(model, images, device=device, batch_size=batch_size))
    y = torch.as_tensor(labels).long().cpu()
    loss = nn.functional.cross_entropy(logits, y).item()
    preds = logits.argmax(1)
    return {
        "loss": loss,
        "accuracy": (preds == y).double().mean().item(),
        "preds": preds.numpy(),
        "labels": y.numpy(),
    }


# ---------------------------------------------------------------------------
# The cnn task of the command line
# ---------------------------------------------------------------------------


def _cnn_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=("fashion", "simple"), default="fashion")
    p.add_argument("--width", type=positive_int,
                   help="FashionCNN width (channels of the first block)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")


def cnn_config(args: argparse.Namespace) -> TrainConfig:
    """The preset of the profile, overridden by the options given."""
    cfg = apply_common_options(TrainConfig.for_profile(args.model, args.profile), args,
                               lr=args.lr)
    if args.width is not None:
        cfg.model_kwargs = {**cfg.model_kwargs, "width": args.width}
    cfg.augment = cfg.augment and not args.no_augment
    return cfg


def _cnn_eval_only(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    if args.checkpoint is not None:
        model, state = load_model(args.checkpoint, device=device)
        cfg = TrainConfig.from_dict(state["config"])
        test_limit, seed = cfg.test_limit, cfg.seed  # the test set the run evaluated on
    else:
        model, test_limit, seed = load_pretrained(CNN_CHECKPOINT, device=device), None, 0
    images, labels = fashion_mnist("test", limit=test_limit, fake=args.fake_data, seed=seed)
    tic = time.perf_counter()
    res = evaluate(model, images, labels, device=device)
    seconds = time.perf_counter() - tic
    return {"test_accuracy": res["accuracy"], "test_loss": res["loss"], "images": len(labels),
            "seconds": seconds}


def run_cnn(args: argparse.Namespace, device: torch.device) -> dict[str, Any] | None:
    if args.eval_only:
        return _cnn_eval_only(args, device)
    cfg = cnn_config(args)
    rank, world = dev.rank_and_world()
    set_seed(cfg.seed)  # the same initial weights in every process
    model = build_model(cfg.model, **cfg.model_kwargs)
    train = fashion_mnist("train", limit=cfg.train_limit, fake=cfg.fake_data, seed=cfg.seed)
    test = fashion_mnist("test", limit=cfg.test_limit, fake=cfg.fake_data, seed=cfg.seed)
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{cfg.model} CNN ({n_params:,} parameters) on {dev.describe(device)}, "
              f"{world} process(es), {len(train[0])} training pictures, "
              f"profile {args.profile or course_profile.get_profile()}", file=sys.stderr)
    history: History = fit(model, train, config=cfg, eval_data=test, device=device)
    write_param_digest(args, model)
    if rank != 0:
        return None
    res = evaluate(model, *test, device=device)
    seconds = history.total_seconds
    metrics = {
        "test_accuracy": res["accuracy"], "test_loss": res["loss"], "steps": history.step[-1]
        if history.step else 0, "seconds": seconds,
        "images_per_second": history.images / seconds if seconds > 0 else 0.0,
    }
    if args.out is not None:
        # the final model alone (no optimiser state): what is shipped
        save_checkpoint(args.out / FINAL_NAME, model=model, step=metrics["steps"],
                        epoch=history.epoch[-1] if history.epoch else 0, config=cfg.to_dict(),
                        metrics={k: metrics[k] for k in ("test_accuracy", "test_loss", "seconds")})
    return metrics


register_task(Task("cnn", "the Fashion-MNIST classifier of Chapter 5", _cnn_arguments, run_cnn))
