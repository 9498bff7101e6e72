"""The registry of training tasks behind ``python -m course_lib.torch_nn.train TASK``.

A task is one kind of model: its command-line options and what running it
does. Each task lives beside its model (the classifier in
:mod:`course_lib.torch_nn.classifier`, the GANs in
:mod:`course_lib.torch_nn.gan_training`) and registers itself here with
:func:`register_task`; :mod:`course_lib.torch_nn.train` only builds the
command line from :data:`TASKS`. The helpers below are what every task's
command line shares: the common options and how they override a preset.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_lib import profile as course_profile
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import unwrap

__all__ = [
    "TASKS",
    "Task",
    "apply_common_options",
    "common_arguments",
    "device_name",
    "format_metrics",
    "non_negative_float",
    "non_negative_int",
    "params_digest",
    "positive_float",
    "positive_int",
    "register_task",
    "thin",
    "write_param_digest",
]


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


# argparse types: a bad value is one line, "error: argument --x: ...", and exit status 2


def _int(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts: epochs, steps, pictures, channels)."""
    return _int(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, optional counts where 0 means none)."""
    return _int(text, 0)


def _float(text: str, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(
            f"must be a finite number {'> 0' if positive else '>= 0'}, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates)."""
    return _float(text, True)


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (weights of loss terms)."""
    return _float(text, False)


_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


def device_name(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``; whether it is present is checked on use."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def common_arguments(p: argparse.ArgumentParser) -> None:
    """The options every task takes."""
    p.add_argument("--profile", choices=course_profile.PROFILES, default=None,
                   help="preset (default: $COURSE_PROFILE, else 'default')")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--max-steps", type=positive_int, help="stop after N training steps")
    p.add_argument("--batch-size", type=positive_int, help="pictures per step and per process")
    p.add_argument("--lr", type=positive_float, help="(peak) learning rate")
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--fake-data", action="store_true", help="random pictures, no data set needed")
    p.add_argument("--train-limit", type=positive_int, help="train on the first N pictures")
    p.add_argument("--out", type=Path, help="folder for checkpoints (last.pt, and the final model)")
    p.add_argument("--checkpoint-every", type=non_negative_int, help="steps between checkpoints")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint")
    p.add_argument("--eval-only", action="store_true",
                   help="only evaluate --checkpoint (default: the shipped checkpoint)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint for --eval-only")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--device", type=device_name,
                   help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--write-param-digests", action="store_true",
                   help="each process writes the SHA-256 of its parameters to "
                        "OUT/params-rank<R>.sha256 (to check that replicas agree)")


def apply_common_options(cfg: Any, args: argparse.Namespace, **extra: Any) -> Any:
    """Override a preset ``cfg`` (a RunConfig) with the common options given, and ``extra``."""
    overrides = {
        "epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size,
        "seed": args.seed, "checkpoint_every": args.checkpoint_every,
        "train_limit": args.train_limit, **extra,
    }
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    cfg.fake_data = args.fake_data or cfg.fake_data
    cfg.compile = args.compile
    cfg.amp = not args.no_amp
    cfg.progress = not args.no_progress
    cfg.checkpoint_dir = str(args.out) if args.out else None
    cfg.resume = str(args.resume) if args.resume else None
    return cfg


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


def write_param_digest(args: argparse.Namespace, model: torch.nn.Module) -> None:
    """With ``--write-param-digests --out DIR``: write DIR/params-rank<R>.sha256."""
    if args.write_param_digests and args.out is not None:
        rank, _ = dev.rank_and_world()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"params-rank{rank}.sha256").write_text(params_digest(model) + "\n")


def thin(values: list[float], every: int) -> list[float]:
    """Means of consecutive groups of ``every`` values: a long curve small enough to ship."""
    a = np.asarray(values, dtype=np.float64)
    m = len(a) // every * every
    return a[:m].reshape(-1, every).mean(1).tolist() if m else a.tolist()
