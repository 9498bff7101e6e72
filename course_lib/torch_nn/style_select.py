"""How the offline feature network of Chapter 8 was chosen: texture synthesis, judged from outside.

    python -m course_lib.torch_nn.style_select            # ~4 minutes on 2 CPU cores
    python -m course_lib.torch_nn.style_select --out course_lib/assets/style_selection.json

Without VGG-19 there is no agreed instrument to say which network measures
style best, so each candidate synthesises the same textures (from noise,
style loss only, as Gatys et al. 2015 did with VGG) and the results are
judged three ways that the candidate does not control:

* **judged by the others**: the style distance of the synthesis in each
  *other* candidate network, divided by the distance of a second, disjoint
  crop of the same real texture (1.0: as close to the texture as another
  piece of it; a network that matches only its own statistics scores badly
  elsewhere);
* **spectrum**: the mean absolute difference of the log radial power spectra
  (the spatial scales of the texture) between synthesis and texture, over
  that of the second crop;
* **colour**: the mean 1-D Wasserstein distance of the R, G and B histograms,
  over that of the second crop.

The lowest mean of the three logs wins; the time per step is recorded too.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import wasserstein_distance

from course_lib.torch_nn.style import gram_matrix, stylize
from course_lib.torch_nn.style_networks import FeatureNetwork, feature_network

__all__ = ["CANDIDATES", "TEXTURES", "colour_distance", "judged_distance", "selection_study",
           "spectrum_distance", "texture_crops"]

CANDIDATES = ("random-vgg", "random-vgg-softmax", "random-multiscale", "fashion-cnn")
TEXTURES = ("brick", "gravel", "grass", "immunohistochemistry")


def texture_crops(name: str, size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint crops (1, 3, size, size) of a sample picture with its short side at 2*size."""
    from course_lib.data import sample_image

    img = torch.from_numpy(sample_image(name)).permute(2, 0, 1)[None]  # (1, C, H, W)
    img = img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img
    scale = 2 * size / min(img.shape[2:])
    img = F.interpolate(img, scale_factor=scale, mode="bilinear", antialias=True)
    a = img[:, :, :size, :size]
    b = img[:, :, -size:, -size:]
    return a.clamp(0, 1).contiguous(), b.clamp(0, 1).contiguous()


@torch.no_grad()
def style_distance(net: FeatureNetwork, x: torch.Tensor, y: torch.Tensor) -> float:
    """``sum_l mean((G_l(x) - G_l(y))^2) / mean(G_l(y)^2)`` over the network's style layers."""
    fx, fy = net(x, net.style_layers), net(y, net.style_layers)
    total = 0.0
    for k in net.style_layers:
        gx, gy = gram_matrix(fx[k]), gram_matrix(fy[k])
        total += float(((gx - gy) ** 2).mean() / (gy**2).mean())
    return total


def judged_distance(judge: FeatureNetwork, synth: torch.Tensor, texture: torch.Tensor,
                    other_crop: torch.Tensor) -> float:
    """Style distance of ``synth`` to ``texture`` in ``judge``, over the second crop's."""
    return style_distance(judge, synth, texture) / style_distance(judge, other_crop, texture)


def _log_spectrum(x: torch.Tensor, bins: int = 24) -> np.ndarray:
    g = x.mean(1)[0].double().numpy()  # (H, W) grey
    g = g - g.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    h, w = g.shape
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h // 2, xx - w // 2)
    edges = np.linspace(1, min(h, w) // 2, bins + 1)
    idx = np.digitize(r.ravel(), edges)
    radial = np.array([power.ravel()[idx == i].mean() for i in range(1, bins + 1)])
    return np.log10(radial + 1e-12)


def spectrum_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean |log10 P_x(f) - log10 P_y(f)| over 24 radial frequency bands of the grey pictures."""
    return float(np.mean(np.abs(_log_spectrum(x) - _log_spectrum(y))))


def colour_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over R, G, B of the Wasserstein distance between the two pictures' pixel histograms."""
    return float(np.mean([wasserstein_distance(x[0, c].flatten().numpy(), y[0, c].flatten().numpy())
                          for c in range(3)]))


def selection_study(*, candidates: tuple[str, ...] = CANDIDATES,
                    textures: tuple[str, ...] = TEXTURES, size: int = 128, steps: int = 200,
                    progress: bool = False) -> dict[str, Any]:
    """Synthesise every texture with every candidate; the three judgements and the time per step.

    Returns ``{"settings", "rows": [{network, texture, judged, spectrum, colour,
    seconds_per_step}], "summary": {network: {means of the logs, score}}, "choice"}``.
    """
    nets = {name: feature_network(name) for name in candidates}
    rows = []
    for tex in textures:
        target, other = texture_crops(tex, size)
        for name, net in nets.items():
            # style only; the weight sets the objective's scale, which L-BFGS hardly minds
            synth, hist = stylize(target, target, network=net, steps=steps, content_weight=0.0,
                                  style_weight=1e3, tv_weight=0.0, init="noise",
                                  progress=progress)
            judges = [judged_distance(j, synth, target, other)
                      for jn, j in nets.items() if jn != name]
            rows.append({
                "network": name, "texture": tex,
                "judged": float(np.exp(np.mean(np.log(judges)))),  # geometric mean over judges
                "spectrum": spectrum_distance(synth, target) / spectrum_distance(other, target),
                "colour": colour_distance(synth, target) / colour_distance(other, target),
                "seconds_per_step": hist.seconds / len(hist.loss),
            })
    summary = {}
    for name in candidates:
        mine = [r for r in rows if r["network"] == name]
        logs = {k: float(np.mean([math.log10(r[k]) for r in mine]))
                for k in ("judged", "spectrum", "colour")}
        summary[name] = {**logs, "score": float(np.mean(list(logs.values()))),
                         "seconds_per_step": float(np.mean([r["seconds_per_step"] for r in mine]))}
    choice = min(summary, key=lambda k: summary[k]["score"])
    return {"settings": {"size": size, "steps": steps, "textures": list(textures),
                         "torch_threads": torch.get_num_threads()},
            "rows": rows, "summary": summary, "choice": choice}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_lib.torch_nn.style_select",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    res = selection_study(size=args.size, steps=args.steps, progress=True)
    for name, s in res["summary"].items():
        print(f"{name:20s} " + " ".join(f"{k}={v:.3f}" for k, v in s.items()))
    print(f"choice={res['choice']}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
