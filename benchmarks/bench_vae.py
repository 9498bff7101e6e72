"""Benchmark: the VAEs of Chapter 7, their throughput, likelihoods, samples and the beta studies.

    python benchmarks/bench_vae.py [--json PATH] [--markdown PATH] [--threads T]
                                   [--only SECTION ...] [--update PATH]

Sections (``--only`` runs some of them; ``--update`` merges into an earlier JSON):

* ``throughput``: training pictures per second of one :class:`VAEStep` at
  batch 128 for the conv and MLP VAEs of the ``default`` profile.
* ``shipped``: the shipped ``vae`` on the 10,000 test pictures binarised with
  ``binarize(test, seed=0)``: -ELBO, NLL (IWAE, k=100), rate and distortion;
  the IWAE bound for k = 1, 10, 100, 1000 on the first 500; its samples'
  Fréchet distance, precision and recall in the classifier features of
  Chapter 6 (10,000 samples against the 10,000 test pictures), next to the
  shipped GANs'.
* ``default_run``: ``python -m course_lib.torch_nn.train vae`` in the
  ``default`` profile (targets: at most 5 minutes of training, NLL <= 238),
  and the same for ``--model mlp``.
* ``numpy``: the NumPy MLP VAE's ``default`` preset (target: test -ELBO <= 248
  within 5 minutes).
* ``studies``: the beta rate-distortion curve (:data:`BETAS`) and the
  posterior-collapse settings (:data:`COLLAPSE_SETTINGS`), MLP VAEs (L = 16,
  hidden 512) trained with :data:`STUDY_SETTINGS`, scored on 2,000 test
  pictures. Notebook 7.4 reads these, from ``course_lib/assets/vae_studies.json``
  (``--studies-json``), which ships with the package.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from common import bench_parser, readers_run, start_run, time_steps, write_results

from course_lib.evaluation import feature_statistics, frechet_distance, precision_recall
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist
from course_lib.torch_nn.features import classifier_features
from course_lib.torch_nn.gan_training import gan_metrics
from course_lib.torch_nn.loop import StepContext
from course_lib.torch_nn.vae import iwae_bound, sample_images
from course_lib.torch_nn.vae_study import (
    BETAS,
    COLLAPSE_SETTINGS,
    STUDY_EPOCHS,
    STUDY_SETTINGS,
    train_vae,
)
from course_lib.torch_nn.vae_training import VAEConfig, VAEStep, binarized, vae_metrics
from course_lib.torch_nn.zoo import build_model

BATCH = 128
STUDIES_JSON = Path(__file__).resolve().parents[1] / "course_lib" / "assets" / "vae_studies.json"
SECTIONS = ("throughput", "shipped", "default_run", "numpy", "studies")


def throughput(model: str, device: torch.device, *, steps: int, repeats: int) -> dict[str, Any]:
    cfg = VAEConfig.for_profile(model, "default")
    vae = build_model(cfg.model, **cfg.model_kwargs).to(device).train()
    step = VAEStep(vae, cfg, total_steps=10**6)
    step.wrap(lambda net: net)
    ctx = StepContext(device)
    x = (torch.rand(BATCH, 1, 28, 28, device=device) < 0.3).float()
    rate = time_steps(lambda: step(x, x, ctx), device, images_per_step=BATCH, steps=steps,
                      repeats=repeats)
    return {"model": model, "parameters": sum(p.numel() for p in vae.parameters()),
            "images_per_second": rate}


def shipped(device: torch.device) -> dict[str, Any]:
    vae = load_pretrained("vae", device=device)
    test, _ = fashion_mnist("test")
    x = binarized(test, seed=0)
    tic = time.perf_counter()
    out: dict[str, Any] = vae_metrics(vae, x, k=100)
    out["seconds_k100_10k"] = time.perf_counter() - tic
    torch.manual_seed(0)
    out["iwae_by_k"] = {k: float(-iwae_bound(vae, x[:500].to(device), k=k).mean())
                        for k in (1, 10, 100, 1000)}
    test_np = test.numpy()
    real_f = classifier_features(test_np, device=device)
    fake_f = classifier_features(sample_images(vae, len(test_np), seed=0), device=device)
    p, r = precision_recall(real_f, fake_f)
    out["samples"] = {"fd": frechet_distance(*feature_statistics(real_f),
                                             *feature_statistics(fake_f)),
                      "precision": p, "recall": r}
    out["gans"] = {name: gan_metrics(load_pretrained(name, device=device), test_np, seed=0,
                                     device=device, real_features=real_f)
                   for name in ("dcgan", "cgan")}
    return out


def numpy_vae() -> dict[str, Any]:
    from course_lib.numpy_nn.vae import PRESETS, evaluate_test_set, train_numpy_vae

    vae, h = train_numpy_vae(PRESETS["default"])
    return {"test_neg_elbo": evaluate_test_set(vae), "seconds": h.seconds,
            "epochs": len(h.val_neg_elbo), "best_val_neg_elbo": h.best_val}


def studies(device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {"beta": [], "collapse": []}
    for beta in BETAS:
        _, m = train_vae(model="mlp", device=device, **{**STUDY_SETTINGS, "beta": beta})
        out["beta"].append({"beta": beta, **m})
        print(f"beta {beta}: rate {m['kl']:.1f}, distortion {m['rec']:.1f}", file=sys.stderr)
    for label, overrides in COLLAPSE_SETTINGS:
        _, m = train_vae(model="mlp", device=device, **{**STUDY_SETTINGS, **overrides})
        out["collapse"].append({"setting": label, **overrides, **m})
        print(f"{label}: {m['active_units']} active units", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = bench_parser(__doc__, SECTIONS)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--studies-json", default=str(STUDIES_JSON),
                        help="where the studies' results go for notebook 7.4 (package data)")
    args = parser.parse_args(argv)
    device, results, run = start_run(args, SECTIONS)
    if "throughput" in run:
        results["throughput"] = [throughput(m, device, steps=args.steps, repeats=args.repeats)
                                 for m in ("conv", "mlp")]
    if "shipped" in run:
        results["shipped"] = shipped(device)
    if "default_run" in run:
        results["default_run"] = {m: readers_run(["vae", "--model", m], device)
                                  for m in ("conv", "mlp")}
    if "numpy" in run:
        results["numpy"] = numpy_vae()
    if "studies" in run:
        results["studies"] = studies(device)
        meta = {k: results[k] for k in ("date", "device", "torch")}
        Path(args.studies_json).write_text(json.dumps({**meta, **results["studies"]}, indent=1)
                                           + "\n", encoding="utf-8")
    write_results(args, results, to_markdown)
    print(to_markdown(results))
    return results


def to_markdown(r: dict[str, Any]) -> str:
    gpu_note = "" if r.get("gpu") else " No GPU in this run."
    lines = [f"Measured with `make bench` on {r['date']}: {r['device']}, torch {r['torch']}."
             f"{gpu_note} Nats per image on the test set binarised with "
             "`binarize(test, seed=0)`.", ""]
    if "throughput" in r:
        lines += ["| VAE (default profile) | parameters | training pictures/s, best (median) |",
                  "|---|---|---|"]
        for t in r["throughput"]:
            rate = t["images_per_second"]
            lines.append(f"| {t['model']} | {t['parameters']:,} | {rate['best']:,.0f} "
                         f"({rate['median']:,.0f}) |")
        lines.append("")
    rows = []
    if "shipped" in r:
        s = r["shipped"]
        rows.append(("shipped `vae` (conv, full profile)", s, ""))
    for model, d in r.get("default_run", {}).items():
        rows.append((f"readers' run, `--model {model}` (default profile)",
                     {k.removeprefix("test_"): v for k, v in d.items()},
                     f"{d['seconds']:.0f} s"))
    if "numpy" in r:
        n = r["numpy"]
        rows.append(("NumPy MLP VAE (default preset)", {"neg_elbo": n["test_neg_elbo"]},
                     f"{n['seconds']:.0f} s"))
    if rows:
        lines += ["| model | -ELBO | NLL (IWAE k=100) | rate (KL) | distortion | active units "
                  "| training |", "|---|---|---|---|---|---|---|"]
        for name, m, t in rows:
            def f(key: str, m: dict[str, Any] = m) -> str:
                return f"{m[key]:.1f}" if key in m else ""
            units = f"{m['active_units']:.0f}" if "active_units" in m else ""
            lines.append(f"| {name} | {f('neg_elbo')} | {f('nll')} | {f('kl')} | {f('rec')} "
                         f"| {units} | {t} |")
        lines.append("")
    if "shipped" in r:
        s = r["shipped"]
        ks = ", ".join(f"k={k}: {v:.2f}" for k, v in s["iwae_by_k"].items())
        lines += [f"IWAE NLL of the shipped `vae` on the first 500 test pictures: {ks}.", "",
                  "| samples (10,000) | FD | precision | recall |", "|---|---|---|---|"]
        for name, m in [("shipped `vae`", s["samples"])] + [
                (f"shipped `{g}`", v) for g, v in s["gans"].items()]:
            lines.append(f"| {name} | {m['fd']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} |")
        lines.append("")
    if "studies" in r:
        st = r["studies"]
        lines += [f"MLP VAEs (L = 16, hidden 512), {STUDY_EPOCHS} epochs each, 2,000 test "
                  "pictures:", "",
                  "| setting | rate (KL) | distortion | NLL | active units |",
                  "|---|---|---|---|---|"]
        for m in st["beta"]:
            lines.append(f"| beta {m['beta']} | {m['kl']:.1f} | {m['rec']:.1f} | {m['nll']:.1f} "
                         f"| {m['active_units']} |")
        for m in st["collapse"]:
            lines.append(f"| {m['setting']} | {m['kl']:.1f} | {m['rec']:.1f} | {m['nll']:.1f} "
                         f"| {m['active_units']} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
