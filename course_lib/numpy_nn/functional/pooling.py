"""2-D max and average pooling, NCHW, with their backward passes.

Both slide a KH x KW window with a stride (by default the window size, so the
windows tile the input) over each channel separately, without padding, like
``torch.nn.functional.max_pool2d`` / ``avg_pool2d`` with their defaults:

    max: out[n, c, i, j] = max_{p, q} x[n, c, i*sh + p, j*sw + q]
    avg: out[n, c, i, j] = mean_{p, q} x[n, c, i*sh + p, j*sw + q]

The windows are a strided view of the input (``sliding_window_view``), so the
forward copies nothing it does not need. The backward passes scatter the
gradient back with one vectorised strided add per window offset (p, q), so
overlapping windows (stride < kernel_size) accumulate their contributions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.numpy_nn._validate import (
    IntPair,
    as_array,
    as_dout,
    as_input,
    as_pair,
    check_at_least,
    check_cache,
    check_ndim,
)

__all__ = [
    "AvgPool2dCache",
    "MaxPool2dCache",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
]


class MaxPool2dCache(NamedTuple):
    """What ``maxpool2d_backward`` needs: where each window's maximum was."""

    argmax: np.ndarray  # (N, C, H', W') int, row-major index p*KW + q inside the window
    x_shape: tuple[int, int, int, int]  # (N, C, H, W)
    dtype: np.dtype
    kernel_size: tuple[int, int]
    stride: tuple[int, int]


class AvgPool2dCache(NamedTuple):
    """What ``avgpool2d_backward`` needs: only the geometry."""

    x_shape: tuple[int, int, int, int]  # (N, C, H, W)
    out_shape: tuple[int, int, int, int]  # (N, C, H', W')
    dtype: np.dtype
    kernel_size: tuple[int, int]
    stride: tuple[int, int]


def _pool_windows(
    x: object, kernel_size: IntPair, stride: IntPair | None
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """Validate and return the windows view (N, C, H', W', KH, KW), kernel and stride pairs."""
    x = as_array(x, "x")
    check_ndim(x, 4, "x", "(N, C, H, W)")
    k = as_pair(kernel_size, "kernel_size")
    s = k if stride is None else as_pair(stride, "stride")
    check_at_least(k, 1, "kernel_size")
    check_at_least(s, 1, "stride")
    H, W = x.shape[2:]
    if k[0] > H or k[1] > W:
        raise ValueError(f"pooling window {k} is larger than the input {(H, W)} (x {x.shape})")
    x = as_input(x, "x", layout="(N, C, H, W)")  # N = 0 or C = 0 is an error, not an empty output
    windows = sliding_window_view(x, k, axis=(2, 3))  # (N, C, H-KH+1, W-KW+1, KH, KW), a view
    return windows[:, :, :: s[0], :: s[1]], k, s  # (N, C, H', W', KH, KW)


def _scatter_add(
    dx: np.ndarray,
    grad_at: Callable[[int, int], np.ndarray],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
) -> None:
    """dx[n, c, i*sh + p, j*sw + q] += grad_at(p, q)[n, c, i, j] for every offset (p, q).

    ``grad_at(p, q)`` is the (N, C, H', W') gradient that the windows send to
    their element at offset (p, q). One strided add per offset, so windows
    that overlap add up instead of overwriting each other.
    """
    (KH, KW), (sh, sw) = kernel_size, stride
    for p in range(KH):
        for q in range(KW):
            g = grad_at(p, q)  # (N, C, H', W')
            Ho, Wo = g.shape[2:]
            dx[:, :, p : p + sh * (Ho - 1) + 1 : sh, q : q + sw * (Wo - 1) + 1 : sw] += g


def maxpool2d_forward(
    x: np.ndarray, *, kernel_size: IntPair, stride: IntPair | None = None
) -> tuple[np.ndarray, MaxPool2dCache]:
    """Max pooling: x (N, C, H, W) -> out (N, C, H', W'), H' = (H - KH) // sh + 1.

    ``stride`` defaults to ``kernel_size``. The cache records which element of
    each window was the maximum: the *first* one in row-major order on ties,
    which is where PyTorch routes the gradient too.
    """
    windows, k, s = _pool_windows(x, kernel_size, stride)
    N, C, Ho, Wo = windows.shape[:4]
    flat = windows.reshape(N, C, Ho, Wo, k[0] * k[1])  # (N, C, H', W', KH*KW), copies the view
    argmax = flat.argmax(axis=-1)  # (N, C, H', W'); first maximum on ties (and first NaN)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]  # (N, C, H', W')
    x_shape = tuple(np.shape(x))
    return out, MaxPool2dCache(argmax, x_shape, out.dtype, k, s)


def maxpool2d_backward(dout: np.ndarray, cache: MaxPool2dCache) -> np.ndarray:
    """Gradient of max pooling: dout (N, C, H', W') -> dx (N, C, H, W).

    The max is locally the identity on the winning element and constant in the
    others, so each window's gradient goes entirely to its argmax; an element
    that wins several overlapping windows collects all their gradients.
    """
    check_cache(cache, MaxPool2dCache, "maxpool2d_forward")
    dout = as_dout(dout, cache.argmax.shape, cache.dtype, "maxpool2d_forward")
    KW = cache.kernel_size[1]
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)  # (N, C, H, W)
    _scatter_add(
        dx,
        lambda p, q: np.where(cache.argmax == p * KW + q, dout, 0),
        cache.kernel_size,
        cache.stride,
    )
    return dx


def avgpool2d_forward(
    x: np.ndarray, *, kernel_size: IntPair, stride: IntPair | None = None
) -> tuple[np.ndarray, AvgPool2dCache]:
    """Average pooling: x (N, C, H, W) -> out (N, C, H', W'), H' = (H - KH) // sh + 1.

    ``stride`` defaults to ``kernel_size``.
    """
    windows, k, s = _pool_windows(x, kernel_size, stride)
    out = windows.mean(axis=(-2, -1))  # (N, C, H', W')
    x_shape = tuple(np.shape(x))
    return out, AvgPool2dCache(x_shape, out.shape, out.dtype, k, s)


def avgpool2d_backward(dout: np.ndarray, cache: AvgPool2dCache) -> np.ndarray:
    """Gradient of average pooling: dout (N, C, H', W') -> dx (N, C, H, W).

    Every element of a window has weight 1/(KH*KW) in its mean, so each
    window's gradient is spread evenly over it; overlapping windows accumulate.
    """
    check_cache(cache, AvgPool2dCache, "avgpool2d_forward")
    dout = as_dout(dout, cache.out_shape, cache.dtype, "avgpool2d_forward")
    KH, KW = cache.kernel_size
    share = dout / (KH * KW)  # (N, C, H', W')
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)  # (N, C, H, W)
    _scatter_add(dx, lambda p, q: share, cache.kernel_size, cache.stride)
    return dx
