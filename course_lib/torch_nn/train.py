"""Training configuration and the command line of every PyTorch model of the course.

    python -m course_lib.torch_nn.train cnn                   # train (COURSE_PROFILE sets the size)
    python -m course_lib.torch_nn.train cnn --eval-only       # evaluate the shipped checkpoint
    python -m course_lib.torch_nn.train cnn --fake-data --max-steps 3 --out /tmp/run
    python -m course_lib.torch_nn.train cnn --out runs/a --resume runs/a/last.pt   # after a crash
    COURSE_PROFILE=full python -m course_lib.torch_nn.train cnn --out runs/cnn-full  # shipped
    torchrun --standalone --nproc-per-node 2 -m course_lib.torch_nn.train cnn --fake-data

Each model kind is a *task* registered in :data:`TASKS` (``cnn`` now; the
generative chapters add ``dcgan``, ``cgan``, ``vae`` and ``fast-style`` with
:func:`register_task`). A task adds its own options and returns the metrics
printed as the last line of stdout, ``key=value`` pairs that scripts can parse.
The training loop itself lives in :mod:`course_lib.torch_nn.loop`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from course_lib import profile as course_profile
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import (
    load_checkpoint,
    load_pretrained,
    model_from_checkpoint,
    save_checkpoint,
    unwrap,
)
from course_lib.torch_nn.cnn import build_model, count_parameters
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.loop import History, evaluate, fit, predict, set_seed

__all__ = [
    "TASKS",
    "History",
    "Task",
    "TrainConfig",
    "evaluate",
    "fit",
    "main",
    "predict",
    "register_task",
    "set_seed",
]


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored (as plain types) in every checkpoint."""

    model: str = "fashion"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 1
    max_steps: int | None = None  # stop after N optimiser steps (the LR schedule is unchanged)
    batch_size: int = 128  # per process
    lr: float = 0.05  # the peak learning rate with the onecycle schedule
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD with Nesterov momentum; ignored by adam/adamw
    optimizer: str = "sgd"  # "sgd" | "adam" | "adamw"
    schedule: str = "onecycle"  # "onecycle" | "none"
    label_smoothing: float = 0.0
    augment: bool = True
    augment_kwargs: dict[str, Any] = field(default_factory=dict)  # Augment(hflip, shift, erase)
    class_weights: list[float] | None = None  # weights of the cross-entropy, one per class
    train_limit: int | None = None  # train on the first N pictures
    test_limit: int | None = None  # evaluate on the first N test pictures
    fake_data: bool = False
    seed: int = 0
    amp: bool = True  # autocast (bf16, or fp16 with a GradScaler); only on CUDA
    channels_last: bool = True  # only on CUDA
    compile: bool = False  # torch.compile the model
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500  # steps
    resume: str | None = None
    eval_every_epoch: bool = True
    progress: bool = True

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

    def to_dict(self) -> dict[str, Any]:
        """Plain dict/list/str/number values, as ``torch.load(weights_only=True)`` reads them."""
        out = dataclasses.asdict(self)
        out["model_kwargs"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.model_kwargs.items()
        }
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ---------------------------------------------------------------------------
# Tasks: one per model kind
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A model kind of the command line: its options and what running it does."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, torch.device], dict[str, Any] | None]  # metrics, or None


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def format_metrics(metrics: dict[str, Any]) -> str:
    """``key=value`` pairs on one line; floats with 4 significant decimals (seconds with 1)."""
    parts = []
    for k, v in metrics.items():
        if isinstance(v, float):
            v = f"{v:.1f}" if k in ("seconds", "images_per_second") else f"{v:.4f}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


def params_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's parameters (names and bytes), to check that replicas agree.

    Buffers are left out on purpose: DistributedDataParallel copies rank 0's
    batch-norm running statistics to every process at the start of each
    forward pass, and each process then updates its copy with its own batch,
    so after the last step they legitimately differ; the parameters may not.
    """
    h = hashlib.sha256()
    for name, t in unwrap(model).named_parameters():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=course_profile.PROFILES, default=None,
                   help="preset (default: $COURSE_PROFILE, else 'default')")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="stop after N optimiser steps")
    p.add_argument("--batch-size", type=int, help="pictures per step and per process")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--seed", type=int)
    p.add_argument("--fake-data", action="store_true", help="random pictures, no data set needed")
    p.add_argument("--out", type=Path, help="folder for checkpoints (last.pt, and the final model)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint")
    p.add_argument("--eval-only", action="store_true",
                   help="only evaluate --checkpoint (default: the shipped checkpoint)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint for --eval-only")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--write-param-digests", action="store_true",
                   help="each process writes the SHA-256 of its parameters to "
                        "OUT/params-rank<R>.sha256 (to check that replicas agree)")


# ---------------------------------------------------------------------------
# The cnn task: the Fashion-MNIST classifier of Chapter 5
# ---------------------------------------------------------------------------

CNN_CHECKPOINT = "cnn"  # name of the shipped checkpoint in the registry
FINAL_NAME = "cnn-fashion-mnist.pt"


def _cnn_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=("fashion", "simple"), default="fashion")
    p.add_argument("--width", type=int, help="FashionCNN width (channels of the first block)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--train-limit", type=int, help="train on the first N pictures")


def cnn_config(args: argparse.Namespace) -> TrainConfig:
    """The preset of the profile, overridden by the options given."""
    cfg = TrainConfig.for_profile(args.model, args.profile)
    overrides = {
        "epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size,
        "lr": args.lr, "seed": args.seed, "checkpoint_every": args.checkpoint_every,
        "train_limit": args.train_limit,
    }
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    if args.width is not None:
        cfg.model_kwargs = {**cfg.model_kwargs, "width": args.width}
    cfg.fake_data = args.fake_data or cfg.fake_data
    cfg.augment = cfg.augment and not args.no_augment
    cfg.compile = args.compile
    cfg.amp = not args.no_amp
    cfg.progress = not args.no_progress
    cfg.checkpoint_dir = str(args.out) if args.out else None
    cfg.resume = str(args.resume) if args.resume else None
    return cfg


def _cnn_eval_only(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    if args.checkpoint is not None:
        state = load_checkpoint(args.checkpoint)
        model = model_from_checkpoint(state).to(device).eval()
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
        print(f"{cfg.model} CNN ({count_parameters(model):,} parameters) on "
              f"{dev.describe(device)}, "
              f"{world} process(es), {len(train[0])} training pictures, "
              f"profile {args.profile or course_profile.get_profile()}", file=sys.stderr)
    history: History = fit(model, train, config=cfg, eval_data=test, device=device)
    if args.write_param_digests and args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"params-rank{rank}.sha256").write_text(params_digest(model) + "\n")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.torch_nn.train",
        description="Train or evaluate a model of the course; the last line of stdout "
                    "is key=value metrics.",
    )
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in TASKS.values():
        p = sub.add_parser(task.name, help=task.help, description=task.help)
        _common_arguments(p)
        task.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device, created_group = dev.init_distributed(dev.get_device(args.device))
    try:
        metrics = TASKS[args.task].run(args, device)
        if metrics is not None:
            print(format_metrics(metrics), flush=True)
    finally:
        if created_group:
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
