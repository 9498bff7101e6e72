"""Benchmark: Chapter 8's style transfer, its networks, Gatys, the fast network and NumPy textures.

    python benchmarks/bench_style.py [--json PATH] [--markdown PATH] [--threads T]
                                     [--only SECTION ...] [--update PATH]

Sections (``--only`` runs some of them; ``--update`` merges into an earlier JSON):

* ``networks``: seconds of one forward and backward pass at 256 x 256 of each
  feature network (VGG-19's architecture with random weights where its file
  is absent: the time does not depend on the weights).
* ``gatys``: ``stylize`` on the cat with the slide's style, 256 x 256, the
  default 300 steps, in the offline network (target: at most 60 s on 2 CPU
  cores).
* ``fast``: the shipped ``fast-style`` network: the median time of one
  256 x 256 stylisation (target: 40 ms on 2 CPU cores), and its loss on the
  held-out pictures against Gatys' on the same pictures, loss and network
  (target: within 1.5x).
* ``numpy``: the NumPy texture loss and image gradient against the same in
  torch (autograd), one evaluation at 64 x 64, as a ratio; and the 64 x 64
  synthesis of notebook 8.1 (300 L-BFGS iterations; target: within a minute).
* ``readers_run``: ``python -m course_lib.torch_nn.train fast-style`` in the
  ``default`` profile.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch
from common import bench_parser, readers_run, start_run, write_results

from course_lib.data import sample_image
from course_lib.numpy_nn.functional import gram_matrix_forward
from course_lib.numpy_nn.texture import RandomPyramidNet, synthesize_texture, texture_loss
from course_lib.torch_nn import device as dev
from course_lib.torch_nn import style_networks
from course_lib.torch_nn.checkpoint import load_pretrained
from course_lib.torch_nn.fast_style_training import (
    HELD_OUT,
    FastStyleConfig,
    fast_style_metrics,
    style_loss_for,
)
from course_lib.torch_nn.style import load_picture, stylize
from course_lib.torch_nn.style_networks import NETWORKS, OFFLINE_CHOICE, FeatureNetwork
from course_lib.torch_nn.texture_reference import torch_texture_loss

SECTIONS = ("networks", "gatys", "fast", "numpy", "readers_run")


def _median_seconds(f, repeats: int, device: torch.device) -> float:
    f()
    times = []
    for _ in range(repeats):
        dev.synchronize(device)
        tic = time.perf_counter()
        f()
        dev.synchronize(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _network(name: str, device: torch.device) -> FeatureNetwork:
    if name == "vgg19" and not style_networks.vgg19_weights_path().exists():
        body, taps = style_networks._vgg19_body("avg")  # the architecture, random weights
        return FeatureNetwork("vgg19 (random weights)", body, taps,
                              style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                              content_layer="relu4_2").to(device)
    return style_networks.feature_network(name, device=device)


def networks(device: torch.device, repeats: int) -> list[dict[str, Any]]:
    out = []
    for name in NETWORKS:
        net = _network(name, device)
        x = torch.rand(1, 3, 256, 256, device=device, requires_grad=True)

        def fb(net: FeatureNetwork = net, x: torch.Tensor = x) -> None:
            feats = net(x, list(net.style_layers) + [net.content_layer])
            sum(f.square().mean() for f in feats.values()).backward()

        out.append({"network": net.name, "seconds": _median_seconds(fb, repeats, device)})
    return out


def gatys(device: torch.device) -> dict[str, Any]:
    net = style_networks.feature_network(OFFLINE_CHOICE, device=device)
    content = load_picture("chelsea", 256).to(device)
    style = load_picture("immunohistochemistry", 256).to(device)
    _, h = stylize(content, style, network=net, steps=300, progress=False)
    return {"network": net.name, "steps": len(h.loss), "seconds": h.seconds,
            "loss_first": h.loss[0], "loss_last": h.loss[-1]}


def fast(device: torch.device) -> dict[str, Any]:
    model = load_pretrained("fast-style", device=device)
    cfg = FastStyleConfig.for_profile("full")
    loss = style_loss_for(cfg, device)
    pictures = [load_picture(name, 256).to(device) for name in HELD_OUT]
    res = fast_style_metrics(model, loss, pictures, gatys_steps=300)
    return {"network": loss.net.name, "pictures": list(HELD_OUT), **res}


def numpy_texture(repeats: int) -> dict[str, Any]:
    net = RandomPyramidNet.create(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 64, 64))
    targets = [gram_matrix_forward(f)[0] for f in net.forward(rng.random((1, 3, 64, 64)))[0]]
    cpu = torch.device("cpu")
    t_numpy = _median_seconds(lambda: texture_loss(x, net, targets), repeats, cpu)
    t_torch = _median_seconds(lambda: torch_texture_loss(x, net, targets), repeats, cpu)
    texture = sample_image("immunohistochemistry")[::4, ::4][:96, :96]
    _, hist = synthesize_texture(texture, net, size=64, steps=300)
    return {"numpy_seconds": t_numpy, "torch_seconds": t_torch, "ratio": t_numpy / t_torch,
            "synthesis_seconds": hist.seconds, "iterations": len(hist.loss),
            "evaluations": hist.evaluations}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = bench_parser(__doc__, SECTIONS)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    device, results, run = start_run(args, SECTIONS)
    if "networks" in run:
        results["networks"] = networks(device, args.repeats)
    if "gatys" in run:
        results["gatys"] = gatys(device)
    if "fast" in run:
        results["fast"] = fast(device)
    if "numpy" in run:
        results["numpy"] = numpy_texture(args.repeats)
    if "readers_run" in run:
        results["readers_run"] = readers_run(["fast-style"], device)
    write_results(args, results, to_markdown)
    print(to_markdown(results))
    return results


def to_markdown(r: dict[str, Any]) -> str:
    gpu_note = "" if r.get("gpu") else " No GPU in this run."
    lines = [f"Measured with `make bench` on {r['date']}: {r['device']}, torch {r['torch']}."
             f"{gpu_note}", ""]
    if "networks" in r:
        lines += ["| feature network | forward + backward at 256 x 256, s |", "|---|---|"]
        lines += [f"| {n['network']} | {n['seconds']:.3f} |" for n in r["networks"]]
        lines.append("")
    if "gatys" in r:
        g = r["gatys"]
        lines += [f"Gatys, 256 x 256, {g['steps']} L-BFGS evaluations in {g['network']}: "
                  f"**{g['seconds']:.1f} s** (target 60 s); objective {g['loss_first']:.3f} "
                  f"-> {g['loss_last']:.4f}.", ""]
    if "fast" in r:
        f = r["fast"]
        lines += [f"Shipped `fast-style` on the held-out {', '.join(f['pictures'])} (256 x 256, "
                  f"{f['network']}): **{f['fast_ms_256']:.1f} ms** per picture, median (target "
                  f"40 ms); Gatys {f['gatys_seconds']:.1f} s per picture.", "",
                  "| loss term | fast network | Gatys (300 steps) | ratio |", "|---|---|---|---|"]
        for k in ("loss", "content", "style", "tv"):
            a, b = f[f"fast_{k}"], f[f"gatys_{k}"]
            lines.append(f"| {k} | {a:.4f} | {b:.4f} | {a / b:.2f} |")
        lines += ["", f"Loss ratio fast / Gatys: **{f['loss_ratio']:.2f}** (target 1.5).", ""]
    if "numpy" in r:
        n = r["numpy"]
        lines += [f"NumPy texture loss and image gradient at 64 x 64: "
                  f"{1000 * n['numpy_seconds']:.1f} ms against torch's "
                  f"{1000 * n['torch_seconds']:.1f} ms (ratio "
                  f"{n['ratio']:.1f}); the 64 x 64 synthesis ({n['iterations']} L-BFGS iterations, "
                  f"{n['evaluations']} evaluations): **{n['synthesis_seconds']:.1f} s** "
                  "(target 60 s).", ""]
    if "readers_run" in r:
        rr = r["readers_run"]
        lines += [f"`{rr['command']}`: {rr['seconds']:.0f} s of training, "
                  f"{rr['wall_seconds']:.0f} s in all; held-out loss ratio "
                  f"{rr['test_loss_ratio']:.2f}, "
                  f"{rr['test_fast_ms_256']:.1f} ms per picture.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
