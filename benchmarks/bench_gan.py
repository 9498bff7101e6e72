"""Benchmark: the GANs of Chapter 6, their training throughput and their quality against baselines.

    python benchmarks/bench_gan.py [--json PATH] [--markdown PATH] [--threads T]
                                   [--steps N] [--skip-default-run] [--skip-toy]

1. Throughput: real pictures per second of one step of the game
   (:class:`~course_lib.torch_nn.gan_training.GANStep`: the discriminator's
   update, then the generator's) at batch 64, for ``dcgan`` and ``cgan`` at
   the widths of the ``default`` and ``full`` profiles, on random data: best
   and median of ``--repeats`` blocks. On CUDA also with mixed precision.
2. Calibration: Fréchet distance, precision and recall, in the Chapter 5
   classifier's features, of the baselines of ``evaluation.calibration_sets``
   (training pictures, blur sigma = 1, noise 25/255, a single class) and of
   the shipped ``dcgan`` and ``cgan`` (10,000 samples each; class accuracy
   for ``cgan``), all against the 10,000 test pictures; FD as a multiple of
   the blur baseline (targets: shipped <= 0.25, readers' run <= 0.5).
3. The readers' run: ``python -m course_lib.torch_nn.train dcgan`` in the
   ``default`` profile (at most 10 minutes on 2 CPU cores), its training time
   and its test metrics (``--skip-default-run`` leaves it out).
4. The NumPy toy GAN's presets on the ring: mode metrics and seconds
   (``--skip-toy`` leaves them out).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from typing import Any

import torch
from common import readers_run, time_steps, write_results

from course_lib.evaluation import (
    calibration_sets,
    feature_statistics,
    frechet_distance,
    precision_recall,
)
from course_lib.torch_nn import device as dev
from course_lib.torch_nn.checkpoint import CheckpointError, load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.features import classifier_features
from course_lib.torch_nn.gan import GAN
from course_lib.torch_nn.gan_training import GANConfig, GANStep, gan_metrics
from course_lib.torch_nn.loop import StepContext

BATCH = 64


def throughput(kind: str, profile: str, device: torch.device, *, steps: int, repeats: int,
               amp: bool = False) -> dict[str, Any]:
    """Real pictures per second of GANStep on random data in [-1, 1]."""
    cfg = GANConfig.for_profile(kind, profile)
    model = GAN(**cfg.model_kwargs).to(device).train()
    step = GANStep(model, cfg)
    step.wrap(lambda net: net)
    scaler = torch.amp.GradScaler("cuda") if dev.needs_grad_scaler(device, amp) else None
    ctx = StepContext(device, amp=amp, scaler=scaler)
    x = torch.rand(BATCH, 1, 28, 28, device=device) * 2 - 1
    y = torch.randint(0, 10, (BATCH,), device=device)

    def one() -> None:
        step(x, y, ctx)
        if scaler is not None:
            scaler.update()

    rate = time_steps(one, device, images_per_step=BATCH, steps=steps, repeats=repeats)
    return {"model": kind, "profile": profile, "width": cfg.model_kwargs["width"], "amp": amp,
            "parameters": sum(p.numel() for p in model.generator.parameters())
            + sum(p.numel() for p in model.discriminator.parameters()),
            "images_per_second": rate}


def calibration(device: torch.device) -> dict[str, Any]:
    test, test_labels = fashion_mnist("test")
    train, _ = fashion_mnist("train", limit=len(test))
    test_np = test.numpy()
    tic = time.perf_counter()
    test_f = classifier_features(test_np, device=device)
    feature_seconds = time.perf_counter() - tic
    stats = feature_statistics(test_f)
    out: dict[str, Any] = {"feature_seconds_per_10k": feature_seconds * 10_000 / len(test_np)}
    baselines = {}
    for name, images in calibration_sets(test_np, test_labels.numpy(), train.numpy()).items():
        f = classifier_features(images, device=device)
        p, r = precision_recall(test_f, f)
        baselines[name] = {"fd": frechet_distance(*stats, *feature_statistics(f)),
                           "precision": p, "recall": r}
    out["baselines"] = baselines
    shipped = {}
    for name in ("dcgan", "cgan"):
        try:
            G = load_pretrained(name, device=device)
        except (KeyError, FileNotFoundError, CheckpointError) as err:
            print(f"{name}: not measured ({err})", file=sys.stderr)
            continue
        shipped[name] = gan_metrics(G, test_np, seed=0, device=device, real_features=test_f)
    out["shipped"] = shipped
    return out


def toy() -> dict[str, Any]:
    from course_lib.numpy_nn.toy_gan import PRESETS, train_toy_gan

    out = {}
    for name in ("ring", "ring-minimax", "ring-pacgan"):
        h = train_toy_gan(PRESETS[name], progress=False)
        out[name] = {**h.final, "seconds": h.seconds}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write all figures to this JSON file")
    parser.add_argument("--markdown", help="also write a table for the benchmarks appendix")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-default-run", action="store_true")
    parser.add_argument("--skip-toy", action="store_true")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = dev.get_device(args.device)
    results: dict[str, Any] = {
        "date": date.today().isoformat(), "device": dev.describe(device),
        "torch": torch.__version__, "python": platform.python_version(),
        "gpu": device.type == "cuda", "batch_size": BATCH, "throughput": [],
    }
    for kind in ("dcgan", "cgan"):
        for profile in ("default", "full"):
            for amp in (False, True) if device.type == "cuda" else (False,):
                r = throughput(kind, profile, device, steps=args.steps, repeats=args.repeats,
                               amp=amp)
                results["throughput"].append(r)
                print(f"{kind} {profile} amp={amp}: {r['images_per_second']['best']:.0f} "
                      "pictures/s", file=sys.stderr)
    results["calibration"] = calibration(device)
    if not args.skip_default_run:
        results["default_run"] = readers_run(["dcgan"], device)
    if not args.skip_toy:
        results["toy"] = toy()
    write_results(args, results, to_markdown)
    print(to_markdown(results))
    return results


def to_markdown(results: dict[str, Any]) -> str:
    gpu_note = "" if results["gpu"] else " No GPU in this run."
    lines = [
        f"Measured with `make bench` on {results['date']}: {results['device']}, "
        f"torch {results['torch']}, batch {results['batch_size']}.{gpu_note}",
        "",
        "| task | profile (width) | parameters (G + D) | AMP | real pictures/s, best (median) |",
        "|---|---|---|---|---|",
    ]
    for r in results["throughput"]:
        rate = r["images_per_second"]
        lines.append(f"| {r['model']} | {r['profile']} ({r['width']}) | {r['parameters']:,} | "
                     f"{'yes' if r['amp'] else 'no'} | {rate['best']:,.0f} "
                     f"({rate['median']:,.0f}) |")
    cal = results["calibration"]
    blur = cal["baselines"]["blur"]["fd"]
    lines += ["", "Against the 10,000 test pictures, in the Chapter 5 classifier's features "
              "(10,000 pictures each; not comparable with Inception FIDs):", "",
              "| set | FD | FD / blur | precision | recall | class accuracy |",
              "|---|---|---|---|---|---|"]
    rows = [(f"baseline: {k}", v) for k, v in cal["baselines"].items()]
    rows += [(f"shipped `{k}`", v) for k, v in cal["shipped"].items()]
    run = results.get("default_run")
    if run:
        rows.append(("readers' `dcgan` run (default profile)", run))
    for name, m in rows:
        acc = f"{100 * m['class_accuracy']:.1f} %" if "class_accuracy" in m else ""
        lines.append(f"| {name} | {m['fd']:.3f} | {m['fd'] / blur:.2f} | {m['precision']:.3f} "
                     f"| {m['recall']:.3f} | {acc} |")
    if run:
        lines += ["", f"The readers' run trained for {run['seconds']:.0f} s "
                  f"({run['wall_seconds']:.0f} s with evaluation and start-up)."]
    toy_runs = results.get("toy")
    if toy_runs:
        lines += ["", "NumPy toy GAN on the ring (8 modes), seed 0:", "",
                  "| preset | modes | high quality | KL to uniform | seconds |",
                  "|---|---|---|---|---|"]
        for name, m in toy_runs.items():
            lines.append(f"| `{name}` | {m['modes']} | {m['high_quality']:.2f} | {m['kl']:.3f} "
                         f"| {m['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
