"""Benchmark: Chapter 9's networks against the classical methods, on the same pictures.

    python benchmarks/bench_restore.py [--json PATH] [--markdown PATH] [--n 500]
                                       [--only SECTION ...] [--update PATH]

Sections (``--only`` runs some; ``--update`` merges into an earlier JSON):

* ``denoise``: on the first ``--n`` Fashion-MNIST test pictures (noise seed
  0) at σ = 15, 25, 50: the noisy input, Gaussian, median, TV and BM3D, each
  tuned per σ on 200 validation pictures (carved off the training set as the
  training runs carve it), and the shipped ``denoiser``; PSNR and SSIM. Then
  the held-out natural pictures (camera, coins), BM3D at the true σ against
  the network. Target (issue 13): the network at least BM3D + 1 dB at σ = 25,
  and ahead of BM3D at 15 and 50.
* ``sr``: ×2 from ``downscale2x``: bicubic and the shipped ``sr2x`` on the
  same test pictures and on the held-out natural pictures. Target: bicubic + 2 dB.
* ``inpaint``: a centred 12 x 12 hole and a mask keeping 25 % of the pixels
  at random, on the first ``--n`` test pictures: biharmonic, the shipped VAE
  and DCGAN (latent-code optimisation, 200 Adam steps, 4 restarts); PSNR on
  the missing pixels. Target: the VAE at least biharmonic + 1 dB on the hole.
* ``pix2pix``: the shipped L1+GAN and L1-only translators on the first 2,000
  test pictures' Sobel edges: L1 error, and the Fréchet distance to those
  pictures in the classifier features of Chapter 6.

Notebooks 9.1-9.4 show these tables from ``course_lib/assets/restoration_results.json``
(``--assets-json``), which ships with the package, beside what they recompute on a few pictures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import bench_parser, start_run, write_results

from course_lib import registry
from course_lib import restoration as R
from course_lib.data import sample_image
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.datasets import fashion_mnist, train_val_split
from course_lib.torch_nn.restore_eval import (
    denoising_comparison,
    format_table,
    inpainting_comparison,
    sr_comparison,
)
from course_lib.torch_nn.restore_training import NATURAL_HELD_OUT, restore_metrics

ASSETS_JSON = Path(__file__).resolve().parents[1] / "course_lib" / "assets" / \
    "restoration_results.json"
SECTIONS = ("denoise", "sr", "inpaint", "pix2pix")


def _unit(a: torch.Tensor) -> np.ndarray:
    return a.numpy().astype(np.float64) / 255.0


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test pictures and 200 validation pictures, floats in [0, 1]."""
    test, _ = fashion_mnist("test", limit=n)
    _, (val, _) = train_val_split(*fashion_mnist("train"), val_size=5000, seed=0)
    return _unit(test), _unit(val[:200])


def _natural() -> dict[str, np.ndarray]:
    out = {}
    for name in NATURAL_HELD_OUT:
        img = sample_image(name, as_gray=True)[..., 0].astype(np.float64)
        out[name] = img[: img.shape[0] // 4 * 4, : img.shape[1] // 4 * 4]
    return out


def denoise(n: int, device: torch.device) -> dict[str, Any]:
    test, val = _data(n)
    model = load_pretrained("denoiser", device=device)
    tic = time.perf_counter()
    comp = denoising_comparison(test, model=model, val_clean=val, progress=True)
    seconds = time.perf_counter() - tic
    natural = []
    for name, img in _natural().items():
        c = denoising_comparison(img[None], model=model, val_clean=img[None],
                                 methods=("bm3d",), grids={"bm3d": (1.0,)})
        natural += [{**r, "picture": name} for r in c.rows]
    return {"n": n, "rows": comp.rows, "natural": natural, "seconds": seconds,
            "tuning": "each classical parameter per sigma on 200 validation pictures"}


def sr(n: int, device: torch.device) -> dict[str, Any]:
    test, _ = _data(n)
    model = load_pretrained("sr2x", device=device)
    comp = sr_comparison(test, model=model)
    natural = []
    for name, img in _natural().items():
        natural += [{**r, "picture": name} for r in sr_comparison(img[None], model=model).rows]
    return {"n": n, "rows": comp.rows, "natural": natural}


def inpaint(n: int, device: torch.device) -> dict[str, Any]:
    test, _ = _data(n)
    models = {"vae": load_pretrained("vae", device=device),
              "dcgan": load_pretrained("dcgan", device=device)}
    masks = {"centre 12x12": R.centre_mask(28, 12), "25% known": R.random_mask((28, 28), 0.25)}
    tic = time.perf_counter()
    comp = inpainting_comparison(test, masks=masks, models=models, steps=200, restarts=4)
    return {"n": n, "rows": comp.rows, "seconds": time.perf_counter() - tic,
            "steps": 200, "restarts": 4}


def pix2pix(device: torch.device, n: int = 2000) -> dict[str, Any]:
    test, _ = fashion_mnist("test", limit=n)
    rows = []
    for name in ("pix2pix-l1", "pix2pix"):
        m = restore_metrics("pix2pix", load_pretrained(name, device=device), test)
        rows.append({"method": name, "setting": "edges", **m})
    return {"n": n, "rows": rows}


def training_times() -> dict[str, Any]:
    """Seconds, steps and best epoch of each shipped checkpoint's training run (the registry's)."""
    known = registry.load_registry()["checkpoints"]
    return {name: {k: known[name]["metrics"][k] for k in ("seconds", "steps", "best_epoch")}
            for name in ("denoiser", "sr2x", "pix2pix", "pix2pix-l1") if name in known}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = bench_parser(__doc__, SECTIONS)
    parser.add_argument("--n", type=int, default=500, help="test pictures (issue 13: 500)")
    parser.add_argument("--assets-json", default=str(ASSETS_JSON),
                        help="where the tables go for notebooks 9.1-9.4 (package data)")
    args = parser.parse_args(argv)
    device, results, run = start_run(args, SECTIONS)
    for name, fn in (("denoise", lambda: denoise(args.n, device)),
                     ("sr", lambda: sr(args.n, device)),
                     ("inpaint", lambda: inpaint(args.n, device)),
                     ("pix2pix", lambda: pix2pix(device))):
        if name in run:
            results[name] = fn()
            print(f"{name} done", flush=True)
    results["training"] = training_times()
    write_results(args, results, to_markdown)
    keep = {k: results[k] for k in ("date", "device", "torch", *SECTIONS, "training")
            if k in results}
    Path(args.assets_json).write_text(json.dumps(keep, indent=1) + "\n", encoding="utf-8")
    print(to_markdown(results))
    return results


def to_markdown(r: dict[str, Any]) -> str:
    gpu_note = "" if r.get("gpu") else " No GPU in this run."
    lines = [f"Measured with `make bench` on {r['date']}: {r['device']}, torch {r['torch']}."
             + gpu_note, ""]
    if "denoise" in r:
        d = r["denoise"]
        lines += [f"Denoising, first {d['n']} Fashion-MNIST test pictures, mean PSNR (dB) by "
                  f"sigma ({d['tuning']}):", "", "```",
                  format_table(d["rows"]), "```", "", "SSIM:", "", "```",
                  format_table(d["rows"], value="ssim", digits=3), "```", "",
                  "Held-out natural pictures, PSNR (dB):", "", "```"]
        for name in dict.fromkeys(x["picture"] for x in d["natural"]):
            lines += [name, format_table([x for x in d["natural"] if x["picture"] == name])]
        lines += ["```", ""]
    if "sr" in r:
        s = r["sr"]
        lines += [f"Super-resolution x2, first {s['n']} test pictures and held-out natural "
                  "pictures, PSNR (dB) / SSIM:", ""]
        for x in s["rows"] + s["natural"]:
            lines.append(f"- {x.get('picture', 'Fashion-MNIST')}, {x['method']}: "
                         f"{x['psnr']:.2f} dB, SSIM {x['ssim']:.3f}")
        lines.append("")
    if "inpaint" in r:
        i = r["inpaint"]
        lines += [f"Inpainting, first {i['n']} test pictures, PSNR on the missing pixels (dB; "
                  f"{i['steps']} Adam steps, {i['restarts']} restarts):", "", "```",
                  format_table(i["rows"]), "```", ""]
    if "pix2pix" in r:
        p = r["pix2pix"]
        lines += [f"Edges to garments, first {p['n']} test pictures:", ""]
        for x in p["rows"]:
            lines.append(f"- {x['method']}: L1 {x['l1']:.4f}, Fréchet distance {x['fd']:.2f}")
        lines.append("")
    if "training" in r:
        lines += ["Training of the shipped checkpoints (seconds, steps, best epoch):", ""]
        for name, t in r["training"].items():
            lines.append(f"- {name}: {t['seconds']:.0f} s, {t['steps']} steps, "
                         f"best epoch {t['best_epoch']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
