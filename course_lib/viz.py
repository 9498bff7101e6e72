"""Figures for the book: images, image grids, kernels, timings, curves, convolution diagrams.

Every helper builds a :class:`matplotlib.figure.Figure` directly, without
``pyplot``, and returns it. Nothing is shown, registered or restyled globally,
so the helpers work headless (CI, scripts, the book build) and importing this
module changes no state. In a notebook the returned figure displays itself
when it is the last expression of a cell; in a script call
``fig.savefig("out.png")``.

Images may be NumPy arrays or torch tensors (on any device) in one of the
layouts ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` with ``C`` in ``{1, 3, 4}``;
batches are ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or a list of
images. A 3-D array is ambiguous: one whose last axis is 3 or 4, or whose first
axis is 3 or 4 and last axis longer, is read as *one* colour image; pass a list
to show three or four grey images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullLocator

__all__ = [
    "conv_diagram",
    "image_grid",
    "make_grid",
    "plot_curves",
    "plot_timings",
    "show_images",
    "show_kernels",
]


# --------------------------------------------------------------------------- helpers


def _to_numpy(a: Any) -> np.ndarray:
    """A NumPy view of ``a``; torch tensors are detached and moved to the CPU first."""
    if hasattr(a, "detach"):  # torch.Tensor, without importing torch here
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _as_image(a: Any) -> np.ndarray:
    """Return ``a`` as ``(H, W)`` or ``(H, W, 3|4)`` for ``imshow``."""
    img = _to_numpy(a)
    if img.ndim == 2:
        return img
    if img.ndim == 3:
        if img.shape[-1] in (1, 3, 4):
            return img[..., 0] if img.shape[-1] == 1 else img
        if img.shape[0] in (1, 3, 4):  # (C, H, W), the torch layout
            img = np.moveaxis(img, 0, -1)
            return img[..., 0] if img.shape[-1] == 1 else img
    raise ValueError(
        f"expected an image of shape (H, W), (H, W, C) or (C, H, W) with C in {{1, 3, 4}}, "
        f"got shape {img.shape}"
    )


def _as_batch(images: Any) -> list[np.ndarray]:
    """Split a 3-D/4-D array or a sequence of images into a list of images."""
    if isinstance(images, (list, tuple)):
        return [_as_image(im) for im in images]
    arr = _to_numpy(images)
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 3:
        # One colour image or a batch of grey images? Colour if a channel axis is obvious.
        if arr.shape[-1] in (3, 4) or arr.shape[0] in (3, 4) and arr.shape[-1] > 4:
            return [_as_image(arr)]
        return [arr[i] for i in range(arr.shape[0])]
    if arr.ndim == 4:
        return [_as_image(arr[i]) for i in range(arr.shape[0])]
    raise ValueError(f"expected one image or a batch of images, got shape {arr.shape}")


def _grid_shape(n: int, ncols: int | None) -> tuple[int, int]:
    if n < 1:
        raise ValueError("nothing to show: got an empty list of images")
    ncols = min(n, ncols) if ncols else min(n, 4)
    return math.ceil(n / ncols), ncols


def _per_image(value: Any, n: int, name: str) -> list[Any]:
    """Broadcast a per-figure setting to one value per image."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: got {len(value)} values for {n} images")
        return list(value)
    return [value] * n


def _new_figure(nrows: int, ncols: int, panel: tuple[float, float], **kwargs: Any) -> Figure:
    return Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained", **kwargs)


# --------------------------------------------------------------------------- images


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    cmap: str | Sequence[str] = "gray",
    vmin: float | Sequence[float | None] | None = None,
    vmax: float | Sequence[float | None] | None = None,
    colorbar: bool = False,
    frame: bool = False,
    panel_size: float = 3.0,
    suptitle: str | None = None,
) -> Figure:
    """Show images side by side, one per panel, and return the figure.

    ``images`` is one image or a sequence/batch of them (see the module
    docstring for layouts). Grey images use ``cmap``; with ``vmin``/``vmax``
    left as ``None`` each grey panel is scaled to its own range. ``cmap``,
    ``vmin`` and ``vmax`` may also be sequences with one entry per image, e.g.
    a diverging map with ``vmin=-v, vmax=v`` for a signed filter response
    next to a photograph. Float colour images are clipped to ``[0, 1]``.
    ``ncols`` defaults to ``min(len(images), 4)``. ``frame`` draws a thin
    border around each image (useful when its edges are white).
    """
    imgs = _as_batch(images)
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(imgs)} images but {len(titles)} titles")
    cmaps, vmins, vmaxs = (
        _per_image(v, len(imgs), name)
        for v, name in ((cmap, "cmap"), (vmin, "vmin"), (vmax, "vmax"))
    )
    nrows, ncols_ = _grid_shape(len(imgs), ncols)
    # Keep each panel's aspect ratio close to the images'.
    h, w = imgs[0].shape[:2]
    panel = (panel_size, panel_size * h / w + (0.3 if titles else 0.0))
    fig = _new_figure(nrows, ncols_, panel)
    axes = fig.subplots(nrows, ncols_, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(imgs) or not frame:
            ax.set_axis_off()
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        if k >= len(imgs):
            continue
        img = imgs[k]
        if img.ndim == 3:
            if np.issubdtype(img.dtype, np.floating):
                img = np.clip(img, 0.0, 1.0)
            im = ax.imshow(img, interpolation="nearest")
        else:
            im = ax.imshow(
                img, cmap=cmaps[k], vmin=vmins[k], vmax=vmaxs[k], interpolation="nearest"
            )
            if colorbar:
                fig.colorbar(im, ax=ax, shrink=0.8)
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def make_grid(
    images: Any, *, nrow: int = 8, padding: int = 2, pad_value: float = 1.0
) -> np.ndarray:
    """Tile a batch of images into one array, like ``torchvision.utils.make_grid``.

    ``images``: ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or a sequence of
    equally sized images. Returns ``(rows*(H+padding)+padding, nrow*(W+padding)+padding)``
    (grey) or the same with a trailing channel axis (colour), with ``nrow``
    images per row and ``pad_value`` between them.
    """
    imgs = _as_batch(images)
    shape = imgs[0].shape
    if any(im.shape != shape for im in imgs):
        raise ValueError(f"all images must have the same shape, got {[im.shape for im in imgs]}")
    n = len(imgs)
    ncols = min(nrow, n)
    nrows = math.ceil(n / ncols)
    h, w = shape[:2]
    out_shape = (nrows * (h + padding) + padding, ncols * (w + padding) + padding) + shape[2:]
    dtype = np.result_type(imgs[0].dtype, np.float32)
    grid = np.full(out_shape, pad_value, dtype=dtype)
    for k, im in enumerate(imgs):
        r, c = divmod(k, ncols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = im
    return grid


def image_grid(
    images: Any,
    *,
    nrow: int = 8,
    padding: int = 2,
    pad_value: float = 1.0,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    width: float = 8.0,
) -> Figure:
    """Show a batch of images as one tiled grid (see :func:`make_grid`) and return the figure."""
    imgs = _as_batch(images)
    # uint8 colour stays uint8 (0..255, drawn as is), with the padding scaled to
    # match; only float colour is clipped to [0, 1] below.
    uint8_colour = imgs[0].ndim == 3 and all(im.dtype == np.uint8 for im in imgs)
    grid = make_grid(imgs, nrow=nrow, padding=padding,
                     pad_value=pad_value * 255 if uint8_colour else pad_value)
    if uint8_colour:
        grid = grid.astype(np.uint8)
    h, w = grid.shape[:2]
    fig = Figure(figsize=(width, width * h / w + (0.4 if title else 0.0)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    if grid.ndim == 3:
        ax.imshow(grid if grid.dtype == np.uint8 else np.clip(grid, 0.0, 1.0),
                  interpolation="nearest")
    else:
        ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- kernels


def show_kernels(
    kernels: Any,
    titles: Sequence[str] | None = None,
    *,
    annotate: bool | None = None,
    cmap: str = "RdBu_r",
    ncols: int | None = None,
    panel_size: float = 2.2,
    fmt: str = ".2g",
    suptitle: str | None = None,
) -> Figure:
    """Draw convolution kernels as colour-coded grids and return the figure.

    ``kernels`` is a sequence of 2-D arrays, a ``(K, KH, KW)`` stack, or a
    ``(F, C, KH, KW)`` weight tensor (drawn as ``F * C`` panels titled
    ``f, c``). Each panel has a colour scale symmetric about zero, so
    positive weights are red and negative ones blue. With ``annotate``
    (default: kernels of at most 7x7) every cell shows its value in ``fmt``.
    """
    if isinstance(kernels, (list, tuple)):
        ks = [_to_numpy(k) for k in kernels]
        auto_titles = None
    else:
        arr = _to_numpy(kernels)
        if arr.ndim == 2:
            ks, auto_titles = [arr], None
        elif arr.ndim == 3:
            ks, auto_titles = list(arr), None
        elif arr.ndim == 4:
            pairs = [(f, c) for f in range(arr.shape[0]) for c in range(arr.shape[1])]
            ks = [arr[f, c] for f, c in pairs]
            auto_titles = [f"f={f}, c={c}" for f, c in pairs]
            if ncols is None:
                ncols = arr.shape[1] if arr.shape[1] > 1 else min(arr.shape[0], 6)
        else:
            raise ValueError(f"expected kernels of rank 2, 3 or 4, got shape {arr.shape}")
    if any(k.ndim != 2 for k in ks):
        raise ValueError(f"every kernel must be 2-D, got shapes {[k.shape for k in ks]}")
    titles = titles if titles is not None else auto_titles
    if titles is not None and len(titles) != len(ks):
        raise ValueError(f"got {len(ks)} kernels but {len(titles)} titles")
    nrows, ncols_ = _grid_shape(len(ks), ncols)
    fig = _new_figure(nrows, ncols_, (panel_size, panel_size + (0.3 if titles else 0.0)))
    axes = fig.subplots(nrows, ncols_, squeeze=False)
    for idx, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if idx >= len(ks):
            continue
        k = ks[idx].astype(np.float64)
        lim = float(np.max(np.abs(k))) or 1.0
        ax.imshow(k, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        show_values = annotate if annotate is not None else max(k.shape) <= 7
        if show_values:
            for (r, c), v in np.ndenumerate(k):
                colour = "white" if abs(v) > 0.6 * lim else "black"
                ax.text(c, r, format(v, fmt), ha="center", va="center", fontsize=8, color=colour)
        if titles is not None:
            ax.set_title(titles[idx], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# --------------------------------------------------------------------------- curves


def plot_timings(
    sizes: Sequence[float],
    timings: Mapping[str, Sequence[float | None]],
    *,
    xlabel: str = "input size",
    ylabel: str = "time per call (s)",
    title: str | None = None,
    logx: bool = True,
    logy: bool = True,
    figsize: tuple[float, float] = (6.5, 4.2),
) -> Figure:
    """Plot one line per method: ``timings[label][k]`` is the time at ``sizes[k]``.

    Missing measurements (``None`` or NaN, e.g. a slow method skipped at large
    sizes) are left out of that method's line.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    markers = "osD^v<>p*h"
    for k, (label, values) in enumerate(timings.items()):
        if len(values) != len(sizes):
            raise ValueError(f"{label!r}: {len(values)} timings for {len(sizes)} sizes")
        pts = [(s, v) for s, v in zip(sizes, values, strict=True) if v is not None and v == v]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker=markers[k % len(markers)], label=label)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    # Label the measured sizes themselves rather than powers of ten.
    ax.set_xticks(list(sizes), [format(s, "g") for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_curves(
    curves: Mapping[str, Any],
    *,
    xlabel: str = "step",
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = False,
    figsize: tuple[float, float] = (6.5, 4.2),
) -> Figure:
    """Plot named curves; each value is a sequence ``y`` or a pair ``(x, y)``."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for label, curve in curves.items():
        if isinstance(curve, tuple) and len(curve) == 2:
            x, y = _to_numpy(curve[0]), _to_numpy(curve[1])
        else:
            y = _to_numpy(curve)
            x = np.arange(len(y))
        ax.plot(x, y, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- diagrams


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if np.isscalar(v) else tuple(v)
    if len(pair) != 2 or any(int(p) != p for p in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(pair[0]), int(pair[1])


def conv_diagram(
    input_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    outputs: Sequence[tuple[int, int]] | None = None,
    title: str | None = None,
    cell: float = 0.32,
) -> Figure:
    """Draw which input pixels feed which output pixels of a 2-D convolution.

    Left: the padded input, padding cells hatched, the taps of each output in
    ``outputs`` (default: the first and the last output of the first row)
    marked in its own colour. Right: the output grid with those outputs
    filled. Output (i, j) reads padded input rows ``s*i + d*m`` for
    ``m = 0..KH-1`` and columns likewise, as in the book's equation
    ``eq-ch01-xcorr-general``.
    """
    (h, w), (kh, kw) = _pair(input_size, "input_size"), _pair(kernel_size, "kernel_size")
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    hp, wp = h + 2 * ph, w + 2 * pw
    if dh * (kh - 1) + 1 > hp or dw * (kw - 1) + 1 > wp:
        raise ValueError(
            f"dilated kernel {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)} is larger than the "
            f"padded input {(hp, wp)}"
        )
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    if outputs is None:
        outputs = [(0, 0)] if wo == 1 else [(0, 0), (0, wo - 1)]
    colours = ["tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:red"]

    fig = Figure(figsize=(cell * (wp + wo + 3) + 0.4, cell * max(hp, ho) + 0.9))
    gs = fig.add_gridspec(1, 2, width_ratios=[wp, wo], wspace=0.15)
    ax_in, ax_out = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    in_name = "padded input" if ph or pw else "input"
    for ax, (rows, cols), name in ((ax_in, (hp, wp), in_name), (ax_out, (ho, wo), "output")):
        ax.set_xlim(0, cols)
        ax.set_ylim(rows, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name} {rows}x{cols}", fontsize=9)
        for r in range(rows):
            for c in range(cols):
                pad = ax is ax_in and not (ph <= r < ph + h and pw <= c < pw + w)
                ax.add_patch(
                    Rectangle(
                        (c, r),
                        1,
                        1,
                        facecolor="0.92" if pad else "white",
                        edgecolor="0.6",
                        hatch="///" if pad else None,
                        linewidth=0.5,
                    )
                )
    for k, (i, j) in enumerate(outputs):
        if not (0 <= i < ho and 0 <= j < wo):
            raise ValueError(f"output {(i, j)} is outside the output grid {(ho, wo)}")
        colour = colours[k % len(colours)]
        for m in range(kh):
            for n in range(kw):
                r, c = sh * i + dh * m, sw * j + dw * n  # eq-ch01-xcorr-general
                # Later outputs get smaller marks, so taps shared by two outputs show both.
                inset = 0.1 + 0.12 * k
                ax_in.add_patch(
                    Rectangle(
                        (c + inset, r + inset),
                        1 - 2 * inset,
                        1 - 2 * inset,
                        facecolor=colour,
                        alpha=0.85,
                    )
                )
        ax_out.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, alpha=0.85))

    def show(pair: tuple[int, int]) -> str:
        return str(pair[0]) if pair[0] == pair[1] else str(pair)

    if title is None:
        title = (
            f"kernel {kh}x{kw}, stride {show((sh, sw))}, padding {show((ph, pw))}, "
            f"dilation {show((dh, dw))}"
        )
    fig.suptitle(title, fontsize=10)
    return fig
