"""The command line of every PyTorch model of the course.

    python -m course_lib.torch_nn.train cnn                   # train (COURSE_PROFILE sets the size)
    python -m course_lib.torch_nn.train cnn --eval-only       # evaluate the shipped checkpoint
    python -m course_lib.torch_nn.train cnn --fake-data --max-steps 3 --out /tmp/run
    python -m course_lib.torch_nn.train cnn --out runs/a --resume runs/a/last.pt   # after a crash
    COURSE_PROFILE=full python -m course_lib.torch_nn.train cnn --out runs/cnn-full  # shipped
    python -m course_lib.torch_nn.train dcgan --fake-data --max-steps 3
    torchrun --standalone --nproc-per-node 2 -m course_lib.torch_nn.train cnn --fake-data

Each model kind is a *task* (:mod:`course_lib.torch_nn.tasks`) that lives
beside its model and registers itself: ``cnn``
(:mod:`course_lib.torch_nn.classifier`), ``dcgan`` and ``cgan``
(:mod:`course_lib.torch_nn.gan_training`), ``vae``
(:mod:`course_lib.torch_nn.vae_training`), ``fast-style``
(:mod:`course_lib.torch_nn.fast_style_training`), ``denoise``, ``sr2x`` and
``pix2pix`` (:mod:`course_lib.torch_nn.restore_training`). A task adds its own options and
returns the metrics printed as the last line of stdout, ``key=value`` pairs
that scripts can parse. Every task trains with the one loop,
:func:`course_lib.torch_nn.loop.fit`. This module only builds the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch

# importing a task's module registers it
from course_lib.torch_nn import (  # noqa: F401
    classifier,
    fast_style_training,
    gan_training,
    restore_training,
    vae_training,
)
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.classifier import (
    FINAL_NAME,
    TrainConfig,
    cnn_config,
    evaluate,
    predict,
    run_cnn,
)
from course_lib.torch_nn.loop import History, TrainingDiverged, fit, set_seed
from course_lib.torch_nn.tasks import (
    TASKS,
    Task,
    common_arguments,
    format_metrics,
    params_digest,
    register_task,
)

__all__ = [
    "FINAL_NAME",
    "TASKS",
    "History",
    "Task",
    "TrainConfig",
    "build_parser",
    "cnn_config",
    "evaluate",
    "fit",
    "format_metrics",
    "main",
    "params_digest",
    "predict",
    "register_task",
    "run_cnn",
    "set_seed",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.torch_nn.train",
        description="Train or evaluate a model of the course; the last line of stdout "
                    "is key=value metrics.",
    )
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in TASKS.values():
        p = sub.add_parser(task.name, help=task.help, description=task.help)
        common_arguments(p)
        task.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a task; 0 on success, 2 for a bad request (one line on stderr), 1 if training diverged.

    Options are checked by argparse (positive counts, finite rates, known
    device names: ``error: argument --x: ...`` and exit status 2); a
    ``ValueError`` raised later for an inconsistent request (a device that is
    not present, an option that does not apply to the model) is printed the
    same way, without a traceback unless ``$COURSE_TRACEBACK`` is set.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.task}"
    try:
        device, created_group = dev.init_distributed(dev.get_device(args.device))
    except ValueError as err:
        parser.error(str(err))
    try:
        metrics = TASKS[args.task].run(args, device)
        if metrics is not None:
            print(format_metrics(metrics), flush=True)
    except TrainingDiverged as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        if os.environ.get("COURSE_TRACEBACK"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    finally:
        if created_group:
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
