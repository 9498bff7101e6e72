"""Benchmark: the Chapter 5 classifier's training throughput and its time to 92 % test accuracy.

    python benchmarks/bench_cnn.py [--json PATH] [--markdown PATH] [--threads T]
                                   [--steps N] [--skip-time-to-target]

1. Throughput: images per second of one training step (forward, backward and
   SGD step) at the default batch size of 128, for the default-profile
   FashionCNN, the full-profile (shipped) FashionCNN and SimpleCNN, on random
   data: best and median of ``--repeats`` blocks of ``--steps`` steps, after a
   warm-up. On CUDA the FashionCNNs are also timed with bf16/fp16 autocast and
   channels-last, as :func:`course_lib.torch_nn.train.fit` runs them there.
2. Time to 92 %: the readers' default run (``TrainConfig.for_profile("fashion",
   "default")``) on Fashion-MNIST, evaluated on the 10,000 test pictures every
   quarter epoch; the figure is the training time (evaluation excluded) at the
   first evaluation that reaches 0.92. The run stops there.

Both run on the device :func:`course_lib.torch_nn.device.get_device` picks; the
results record which. See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from typing import Any

import torch
from common import time_steps, write_results
from torch import nn

from course_lib.torch_nn import device as dev
from course_lib.torch_nn.cnn import SimpleCNN, build_model, count_parameters
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.train import TrainConfig, evaluate, fit, set_seed

TARGET = 0.92


class _Reached(Exception):
    """Raised from the fit callback to stop the run once the target is reached."""


def throughput(model: nn.Module, device: torch.device, *, batch_size: int, steps: int,
               repeats: int, amp: bool = False) -> dict[str, float]:
    """Images/s of forward + backward + SGD step on random (batch, 1, 28, 28) data."""
    model = model.to(device).train()
    channels_last = amp and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch_size, 1, 28, 28, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=device)
    scaler = torch.amp.GradScaler("cuda") if dev.needs_grad_scaler(device, amp) else None

    def step() -> None:
        with dev.autocast_context(device, amp):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    return time_steps(step, device, images_per_step=batch_size, steps=steps, repeats=repeats)


def time_to_target(device: torch.device, *, target: float = TARGET) -> dict[str, Any]:
    """Train the default config; evaluate every quarter epoch; stop at ``target`` test accuracy."""
    cfg = TrainConfig.for_profile("fashion", "default")
    cfg.progress = False
    cfg.eval_every_epoch = False
    set_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    train = fashion_mnist("train", limit=cfg.train_limit)
    test = fashion_mnist("test")
    steps_per_epoch = len(train[0]) // cfg.batch_size
    every = max(1, steps_per_epoch // 4)
    curve: list[dict[str, float]] = []
    clock = {"start": time.perf_counter(), "eval": 0.0}

    def check(step: int, m: nn.Module, loss: float) -> None:
        if step % every:
            return
        dev.synchronize(device)
        tic = time.perf_counter()
        trained = tic - clock["start"] - clock["eval"]
        acc = evaluate(m, *test, device=device)["accuracy"]
        clock["eval"] += time.perf_counter() - tic
        curve.append({"step": step, "epoch": step / steps_per_epoch, "seconds": trained,
                      "test_accuracy": acc})
        if acc >= target:
            raise _Reached

    reached = True
    try:
        fit(model, train, config=cfg, device=device, callback=check)
    except _Reached:
        pass
    else:
        reached = bool(curve) and curve[-1]["test_accuracy"] >= target
    first = next((c for c in curve if c["test_accuracy"] >= target), None)
    return {
        "config": cfg.to_dict(),
        "parameters": count_parameters(model),
        "reached": reached,
        "seconds": first["seconds"] if first else None,
        "epochs": first["epoch"] if first else None,
        "best_accuracy": max((c["test_accuracy"] for c in curve), default=None),
        "curve": curve,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write all figures to this JSON file")
    parser.add_argument("--markdown", help="also write a table for the benchmarks appendix")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-time-to-target", action="store_true")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = dev.get_device(args.device)
    batch = TrainConfig.for_profile("fashion", "default").batch_size
    models = {
        "FashionCNN (default profile)": TrainConfig.for_profile("fashion", "default").model_kwargs,
        "FashionCNN (full profile, shipped)":
            TrainConfig.for_profile("fashion", "full").model_kwargs,
    }
    rows = []
    for name, kwargs in models.items():
        for amp in (False, True) if device.type == "cuda" else (False,):
            set_seed(0)
            model = build_model("fashion", **kwargs)
            rate = throughput(model, device, batch_size=batch, steps=args.steps,
                              repeats=args.repeats, amp=amp)
            rows.append({"model": name, "kwargs": kwargs, "parameters": count_parameters(model),
                         "amp_channels_last": amp, "images_per_second": rate})
            print(f"{name}{' AMP+NHWC' if amp else ''}: {rate['best']:.0f} images/s "
                  f"(median {rate['median']:.0f})", flush=True)
    set_seed(0)
    rate = throughput(SimpleCNN(), device, batch_size=batch, steps=args.steps * 4,
                      repeats=args.repeats)
    rows.append({"model": "SimpleCNN", "kwargs": {"channels": [8, 16]},
                 "parameters": count_parameters(SimpleCNN()), "amp_channels_last": False,
                 "images_per_second": rate})
    print(f"SimpleCNN: {rate['best']:.0f} images/s (median {rate['median']:.0f})", flush=True)
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "device": dev.describe(device),
        "gpu": device.type == "cuda",
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "throughput": rows,
    }
    if not args.skip_time_to_target:
        ttt = time_to_target(device)
        results["time_to_target"] = {"target": TARGET, **ttt}
        if ttt["seconds"] is not None:
            print(f"time to {TARGET:.0%}: {ttt['seconds']:.0f} s ({ttt['epochs']:.2f} epochs)")
        else:
            print(f"did not reach {TARGET:.0%}: best {ttt['best_accuracy']}")
    write_results(args, results, to_markdown)
    return results


def to_markdown(results: dict[str, Any]) -> str:
    gpu_note = "" if results["gpu"] else " No GPU in this run."
    lines = [
        f"Measured with `make bench` on {results['date']}: {results['device']}, "
        f"torch {results['torch']}, batch {results['batch_size']}.{gpu_note}",
        "",
        "| model | parameters | AMP + channels-last | images/s, best (median) |",
        "|---|---|---|---|",
    ]
    for r in results["throughput"]:
        rate = r["images_per_second"]
        amp = "yes" if r["amp_channels_last"] else "no"
        lines.append(f"| {r['model']} | {r['parameters']:,} | {amp} "
                     f"| {rate['best']:,.0f} ({rate['median']:,.0f}) |")
    ttt = results.get("time_to_target")
    lines.append("")
    if not ttt:
        lines.append(f"Time to {TARGET:.0%} was not measured in this run "
                     "(`--skip-time-to-target`).")
    else:
        if ttt["seconds"] is not None:
            lines.append(
                f"**Time to {ttt['target']:.0%} test accuracy** (default profile, evaluation "
                f"excluded): **{ttt['seconds']:.0f} s**, after {ttt['epochs']:.2f} epochs.")
        else:
            lines.append(f"The default run did not reach {ttt['target']:.0%} "
                         f"(best {ttt['best_accuracy']:.4f}).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
