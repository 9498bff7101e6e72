"""Chapter 9's comparisons: every learned method against the classical ones on the same pictures.

The notebooks run these on a few pictures, ``benchmarks/bench_restore.py``
on the first 500 test pictures (the figures of the issue and of the
benchmarks appendix); both call the same functions. Pictures are NumPy
float arrays (N, H, W) in [0, 1]. Each function returns a
:class:`Comparison`: one row per method (and setting) with its mean PSNR
and SSIM, and the restored pictures, for figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import restoration as R
from course_lib.torch_nn.restore import bicubic_upscale2x, downscale2x, inpaint
from course_lib.torch_nn.restore_training import EVAL_SIGMAS, noisy

__all__ = ["Comparison", "denoising_comparison", "format_table", "inpainting_comparison",
           "sr_comparison"]

CLASSICAL = ("gaussian", "median", "tv", "bm3d")


@dataclass
class Comparison:
    """Rows ``{method, setting, psnr, ssim, ...}``; the pictures ``outputs[(method, setting)]``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[tuple[str, Any], np.ndarray] = field(default_factory=dict)

    def value(self, method: str, setting: Any, key: str = "psnr") -> float:
        for r in self.rows:
            if r["method"] == method and r["setting"] == setting:
                return r[key]
        raise KeyError(f"no row for {method!r} at {setting!r}")

    def add(self, method: str, setting: Any, out: np.ndarray, clean: np.ndarray, *,
            where: np.ndarray | None = None, **extra: Any) -> None:
        row = {"method": method, "setting": setting,
               "psnr": float(R.psnr(out, clean, where=where).mean()), **extra}
        if where is None:
            row["ssim"] = float(R.ssim(out, clean).mean())
        self.rows.append(row)
        self.outputs[(method, setting)] = out


@torch.no_grad()
def _net(model: nn.Module, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """A network on pictures (N, H, W) -> its outputs (N, H', W'), NumPy float64."""
    device = next(model.parameters()).device
    t = torch.from_numpy(np.asarray(x, np.float32))[:, None]
    out = [model.eval()(b.to(device)).cpu() for b in t.split(batch_size)]
    return torch.cat(out)[:, 0].double().numpy()


def _noisy(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return noisy(torch.from_numpy(np.asarray(clean, np.float32))[:, None], sigma,
                 seed=seed)[:, 0].double().numpy()


def denoising_comparison(
    clean: np.ndarray,
    *,
    model: nn.Module | None,
    val_clean: np.ndarray,
    sigmas: Sequence[float] = EVAL_SIGMAS,
    methods: Sequence[str] = CLASSICAL,
    grids: Mapping[str, Sequence[float]] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Comparison:
    """The noisy input, the classical ``methods`` and the network ``model`` at each σ (0..255).

    Noise drawn with :func:`~course_lib.torch_nn.restore_training.noisy` from
    ``seed``. Each classical method's parameter is tuned per σ on
    ``val_clean`` (validation pictures, noise seed ``seed + 1``) with
    :func:`course_lib.restoration.tune` over ``grids[method]`` (default
    :data:`~course_lib.restoration.BASELINE_GRIDS`; BM3D's grid multiplies the
    true σ, which it is told). Rows carry the chosen ``param``; settings are the σ values.
    """
    comp = Comparison()
    grids = dict(grids or {})
    for s in sigmas:
        y = _noisy(clean, s, seed)
        comp.add("noisy", s, y, clean)
        val_y = _noisy(val_clean, s, seed + 1)
        for m in methods:
            grid = grids.get(m, R.BASELINE_GRIDS[m])
            if len(grid) == 1:  # nothing to tune
                param = grid[0] * (s / 255.0 if m == "bm3d" else 1.0)
            else:
                param, _ = R.tune(m, val_clean, val_y, sigma=s / 255.0, grid=grid)
            comp.add(m, s, R.denoise(m, y, param, progress=progress), clean, param=param)
        if model is not None:
            comp.add("dncnn", s, _net(model, y), clean)
    return comp


def sr_comparison(clean: np.ndarray, *, model: nn.Module | None) -> Comparison:
    """×2 from ``downscale2x`` of pictures (N, H, W) (H, W even): bicubic and ``model``.

    Settings are ``"x2"``; ``outputs[("input", "x2")]`` holds the low-resolution pictures.
    """
    comp = Comparison()
    hr = torch.from_numpy(np.asarray(clean, np.float32))[:, None]
    lr = downscale2x(hr)
    comp.outputs[("input", "x2")] = lr[:, 0].double().numpy()
    comp.add("bicubic", "x2", bicubic_upscale2x(lr)[:, 0].double().numpy(), clean)
    if model is not None:
        comp.add("espcn", "x2", _net(model, lr[:, 0].numpy()), clean)
    return comp


def inpainting_comparison(
    clean: np.ndarray,
    *,
    masks: Mapping[str, np.ndarray],
    models: Mapping[str, nn.Module],
    steps: int = 200,
    restarts: int = 4,
    seed: int = 0,
) -> Comparison:
    """Biharmonic filling and latent-code inpainting with each of ``models``, for each mask.

    ``masks`` name -> (H, W) mask (1 = known) shared by all pictures. The
    PSNR is over the hole only (known pixels are exact for every method), so
    it measures the filling alone. Settings are the masks' names.
    """
    comp = Comparison()
    x = torch.from_numpy(np.asarray(clean, np.float32))[:, None]
    for name, mask in masks.items():
        hole = 1.0 - np.asarray(mask, np.float64)
        comp.add("biharmonic", name, R.biharmonic_inpaint(clean, mask), clean, where=hole)
        for label, model in models.items():
            device = next(model.parameters()).device
            out = inpaint(model, x.to(device), torch.from_numpy(np.asarray(mask, np.float32)),
                          steps=steps, restarts=restarts, seed=seed)
            comp.add(label, name, out[:, 0].double().cpu().numpy(), clean, where=hole)
    return comp


def format_table(rows: Sequence[Mapping[str, Any]], *, value: str = "psnr",
                 digits: int = 2) -> str:
    """A text table: one line per method, one column per setting, ``value`` in each cell."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    cells = {(r["method"], r["setting"]): r.get(value) for r in rows}
    width = max(len(m) for m in methods) + 2
    head = " " * width + "".join(f"{str(s):>10}" for s in settings)
    lines = [head]
    for m in methods:
        vals = [cells.get((m, s)) for s in settings]
        lines.append(f"{m:<{width}}" + "".join(
            f"{v:>10.{digits}f}" if v is not None else f"{'':>10}" for v in vals))
    return "\n".join(lines)
