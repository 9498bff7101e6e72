"""What the benchmark scripts share: the timing of training steps, and writing the results.

The scripts run as ``python benchmarks/bench_<name>.py``, so this folder is
first on ``sys.path`` and ``import common`` finds this module.
"""

from __future__ import annotations

import json
import statistics
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from course_lib.torch_nn import device as dev


def time_steps(step: Callable[[], None], device: torch.device, *, images_per_step: int,
               steps: int, repeats: int, warmup: int = 3) -> dict[str, float]:
    """Images/s of ``step``: best and median of ``repeats`` blocks of ``steps`` calls.

    ``warmup`` calls first (the allocator, cuDNN/oneDNN kernel choice); the
    device is synchronised around each block, so asynchronous CUDA work counts.
    """
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        dev.synchronize(device)
        tic = time.perf_counter()
        for _ in range(steps):
            step()
        dev.synchronize(device)
        rates.append(steps * images_per_step / (time.perf_counter() - tic))
    return {"best": max(rates), "median": statistics.median(rates)}


def write_results(args: Namespace, results: dict[str, Any],
                  to_markdown: Callable[[dict[str, Any]], str]) -> None:
    """Write ``results`` to ``args.json`` and its table to ``args.markdown``, where given."""
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(to_markdown(results), encoding="utf-8")
