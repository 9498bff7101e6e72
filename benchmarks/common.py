"""What the benchmark scripts share: the timing of training steps, and writing the results.

The scripts run as ``python benchmarks/bench_<name>.py``, so this folder is
first on ``sys.path`` and ``import common`` finds this module.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Sequence
from datetime import date
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


def start_results(args: Namespace, device: torch.device) -> dict[str, Any]:
    """The results so far (``args.update``'s JSON, or none) with this run's date and machine."""
    results: dict[str, Any] = json.loads(Path(args.update).read_text()) if args.update else {}
    results.update({"date": date.today().isoformat(), "device": dev.describe(device),
                    "torch": torch.__version__, "python": platform.python_version(),
                    "gpu": device.type == "cuda"})
    return results


def bench_parser(doc: str, sections: Sequence[str]) -> ArgumentParser:
    """The options every benchmark with sections takes; the script adds its own after them.

    ``--json``/``--markdown`` (where the figures go), ``--threads``, ``--only``
    (some of ``sections``), ``--update`` (an earlier JSON to merge into) and ``--device``.
    """
    parser = ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--json", help="also write all figures to this JSON file")
    parser.add_argument("--markdown", help="also write a table for the benchmarks appendix")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", nargs="+", choices=sections, help="run only these sections")
    parser.add_argument("--update", help="start from this JSON (keep the sections not run)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    return parser


def start_run(args: Namespace, sections: Sequence[str]
              ) -> tuple[torch.device, dict[str, Any], set[str]]:
    """Apply ``--threads``, choose the device: it, the results so far, and the sections to run."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = dev.get_device(args.device)
    return device, start_results(args, device), set(args.only or sections)


def write_results(args: Namespace, results: dict[str, Any],
                  to_markdown: Callable[[dict[str, Any]], str]) -> None:
    """Write ``results`` to ``args.json`` and its table to ``args.markdown``, where given."""
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(to_markdown(results), encoding="utf-8")


def readers_run(task_args: list[str], device: torch.device) -> dict[str, Any]:
    """A readers' run of ``python -m course_lib.torch_nn.train TASK ...`` in the ``default``
    profile, in a fresh process: its wall time and its final ``key=value`` line, as floats."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "course_lib.torch_nn.train", *task_args, "--profile",
               "default", "--no-progress", "--out", tmp, "--device", str(device)]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - tic
    line = proc.stdout.strip().splitlines()[-1]
    metrics = {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split())}
    command = " ".join(cmd[1:3 + len(task_args)]) + " (default profile)"
    return {"command": command, "wall_seconds": wall, **metrics}
