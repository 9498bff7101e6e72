"""2-D convolution, NCHW: the naive loops, the im2col forward and its backward.

Like ``torch.nn.functional.conv2d`` (and every deep-learning library) this
computes a *cross-correlation*: the kernel is not flipped,

    out[n, f, i, j] = b[f] + sum_{c, p, q} x_pad[n, c, i*sh + p*dh, j*sw + q*dw] * w[f, c, p, q]

with ``x_pad`` the input zero-padded by ``padding`` on each side. Output size
per spatial axis: ``floor((size + 2*pad - dil*(k - 1) - 1) / stride) + 1``.

The vectorised forward gathers every receptive field into one row of a matrix
(*im2col*) so the whole sum becomes a matrix product that BLAS runs near peak.
Internally the columns are laid out channels-last, one row per output pixel
``(N*H'*W', KH*KW*C)``: with the pixels as the long side and the short
``KH*KW*C`` and ``F`` sides inside, all three products of forward and backward
run at matmul speed, which the ``(C*KH*KW, H'*W')`` layout does not (see
``benchmarks/README.md``). The batch is processed a few images at a time so the
column buffer stays in cache instead of streaming tens of MB through memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.numpy_nn._validate import (
    IntPair,
    as_array,
    as_dout,
    as_input,
    as_int,
    as_pair,
    check_at_least,
    check_cache,
    check_ndim,
    check_nonempty,
    float_dtype,
)

__all__ = [
    "Conv2dCache",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive",
    "conv_output_size",
]

# Bytes of im2col buffer per batch chunk: about an L2 cache, so the buffer is
# still in cache when the matmul reads it (bench_conv.py layer: 2 images of
# 0.9 MB; 1.2x faster than 16 images, 1.4x faster than one batch-wide buffer).
_CHUNK_BYTES = 2 * 2**20

_Pair = tuple[int, int]


class Conv2dCache(NamedTuple):
    """What ``conv2d_backward`` needs from the forward pass."""

    x_padded: np.ndarray  # (N, H + 2*ph, W + 2*pw, C), zero-padded, channels-last
    w: np.ndarray  # (F, C, KH, KW)
    out_shape: tuple[int, int, int, int]  # (N, F, H', W')
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def conv_output_size(
    size: int, kernel_size: int, *, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length along one axis: ``floor((size + 2p - d(k-1) - 1) / s) + 1``.

    Raises ``ValueError`` for non-integer or out-of-range settings and when the
    dilated kernel ``d(k-1) + 1`` is larger than the padded input ``size + 2p``.
    """
    size, k = as_int(size, "size"), as_int(kernel_size, "kernel_size")
    s, p, d = as_int(stride, "stride"), as_int(padding, "padding"), as_int(dilation, "dilation")
    for name, value, lowest in (
        ("kernel_size", k, 1),
        ("stride", s, 1),
        ("padding", p, 0),
        ("dilation", d, 1),
    ):
        if value < lowest:
            raise ValueError(f"{name} must be >= {lowest}, got {value}")
    span = d * (k - 1) + 1
    if span > size + 2 * p:
        raise ValueError(
            f"dilated kernel size {span} (kernel_size {k}, dilation {d}) is larger than "
            f"the padded input size {size + 2 * p} (size {size}, padding {p})"
        )
    return (size + 2 * p - span) // s + 1


def _check_conv_args(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: IntPair,
    padding: IntPair,
    dilation: IntPair,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate conv2d arguments; returns (stride, padding, dilation, (H', W')) as pairs."""
    check_ndim(x, 4, "x", "(N, C, H, W)")
    check_ndim(w, 4, "w", "(F, C, KH, KW)")
    check_ndim(b, 1, "b", "(F,)")
    # an empty batch or channel axis would return the bias (or nothing) without complaint
    check_nonempty(x, "x", "(N, C, H, W)")
    check_nonempty(w, "w", "(F, C, KH, KW)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"channel mismatch: x has C={x.shape[1]} channels (shape {x.shape}) but "
            f"w expects C={w.shape[1]} (shape {w.shape})"
        )
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"bias b has shape {b.shape}, expected ({w.shape[0]},) for w {w.shape}")
    s, p, d = as_pair(stride, "stride"), as_pair(padding, "padding"), as_pair(dilation, "dilation")
    check_at_least(s, 1, "stride")
    check_at_least(p, 0, "padding")
    check_at_least(d, 1, "dilation")
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    spans = (d[0] * (KH - 1) + 1, d[1] * (KW - 1) + 1)
    if spans[0] > H + 2 * p[0] or spans[1] > W + 2 * p[1]:
        raise ValueError(
            f"dilated kernel {spans} (w {w.shape}, dilation {d}) is larger than the padded "
            f"input {(H + 2 * p[0], W + 2 * p[1])} (x {x.shape}, padding {p})"
        )
    out_hw = ((H + 2 * p[0] - spans[0]) // s[0] + 1, (W + 2 * p[1] - spans[1]) // s[1] + 1)
    return s, p, d, out_hw


def _conv_inputs(
    x: object, w: object, b: object, stride: IntPair, padding: IntPair, dilation: IntPair
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Pair, _Pair, _Pair, _Pair]:
    """x, w, b checked and cast to their common float dtype, and the geometry of
    :func:`_check_conv_args`: (x, w, b, stride, padding, dilation, (H', W'))."""
    x, w, b = as_array(x, "x"), as_array(w, "w"), as_array(b, "b")
    s, p, d, out_hw = _check_conv_args(x, w, b, stride, padding, dilation)
    dtype = float_dtype(x, w, b)
    x, w, b = (as_input(a, name, dtype=dtype) for a, name in ((x, "x"), (w, "w"), (b, "b")))
    return x, w, b, s, p, d, out_hw


def _im2col_view(
    xp: np.ndarray,
    kernel: tuple[int, int],
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Every receptive field of channels-last ``xp`` (N, Hp, Wp, C), as a view.

    Returns (N, H', W', KH, KW, C): entry [n, i, j] is the window that output
    pixel (i, j) of image n sees. No data is copied (only strides change);
    copying a chunk of it into a contiguous buffer gives the im2col rows.
    """
    (KH, KW), (Ho, Wo), (sh, sw), (dh, dw) = kernel, out_hw, stride, dilation
    span = (dh * (KH - 1) + 1, dw * (KW - 1) + 1)
    # every span-sized window: (N, Hp-spanH+1, Wp-spanW+1, C, spanH, spanW)
    windows = sliding_window_view(xp, span, axis=(1, 2))
    # keep every stride-th window and every dilation-th tap: (N, H', W', C, KH, KW)
    windows = windows[:, : sh * (Ho - 1) + 1 : sh, : sw * (Wo - 1) + 1 : sw, :, ::dh, ::dw]
    return windows.transpose(0, 1, 2, 4, 5, 3)  # (N, H', W', KH, KW, C), C innermost


def _col2im_matmul(
    d_mat: np.ndarray,
    w_t: np.ndarray,
    dxp: np.ndarray,
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    tmp: np.ndarray,
) -> None:
    """``dxp += col2im(d_mat @ w_mat.T)``, one kernel offset (p, q) at a time.

    d_mat (n*H'*W', F) is dout channels-last, w_t (KH, KW, F, C) the filters,
    dxp (n, Hp, Wp, C) the padded input gradient, tmp an (n*H'*W', C) buffer.
    The block of columns for offset (p, q) is ``d_mat @ w[:, :, p, q]``, a 1x1
    convolution with the filters transposed (F in, C out); it lands on input
    pixels (i*sh + p*dh, j*sw + q*dw), and overlapping windows *accumulate*.
    One product per offset keeps each block contiguous, so the scatter-add is
    a strided add over whole rows rather than over C-long pieces of one
    (n*H'*W', KH*KW*C) product: the dx step is ~1.2x faster (benchmarks/README.md).
    """
    n, C, (KH, KW) = dxp.shape[0], dxp.shape[3], w_t.shape[:2]
    (Ho, Wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    for p in range(KH):
        for q in range(KW):
            block = np.matmul(d_mat, w_t[p, q], out=tmp)  # (n*H'*W', C)
            rows = slice(p * dh, p * dh + sh * (Ho - 1) + 1, sh)
            cols = slice(q * dw, q * dw + sw * (Wo - 1) + 1, sw)
            dxp[:, rows, cols, :] += block.reshape(n, Ho, Wo, C)  # (n, H', W', C)


def _batch_chunk(n_rows_per_image: int, row_bytes: int) -> int:
    """How many images per chunk keep the im2col buffer under ``_CHUNK_BYTES``."""
    return max(1, _CHUNK_BYTES // max(1, n_rows_per_image * row_bytes))


def conv2d_naive(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> np.ndarray:
    """Convolution with explicit loops over (n, f, i, j): slow, but it *is* the formula.

    x (N, C, H, W), w (F, C, KH, KW), b (F,) -> out (N, F, H', W'), same numbers
    as :func:`conv2d_forward` (kept for teaching and for testing it).
    """
    x, w, b, (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _conv_inputs(
        x, w, b, stride, padding, dilation
    )
    dtype = x.dtype
    N, F, (KH, KW) = x.shape[0], w.shape[0], w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H+2ph, W+2pw)
    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    # the receptive field of out[n, f, i, j]: every dh-th row, every dw-th column
                    window = xp[
                        n,
                        :,
                        i * sh : i * sh + dh * (KH - 1) + 1 : dh,
                        j * sw : j * sw + dw * (KW - 1) + 1 : dw,
                    ]  # (C, KH, KW)
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    *,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[np.ndarray, Conv2dCache]:
    """Vectorised convolution: im2col, then one matrix product per batch chunk.

    Args:
        x: input (N, C, H, W).
        w: filters (F, C, KH, KW).
        b: bias (F,).
        stride, padding, dilation: an int or an (h, w) pair; padding is zeros
            on both sides.

    Returns:
        out (N, F, H', W') with H' = floor((H + 2ph - dh(KH-1) - 1)/sh) + 1
        (same for W'), and the cache for :func:`conv2d_backward`.

    In matrix form, with ``cols`` (N*H'*W', KH*KW*C) the im2col matrix and
    ``w_mat`` (KH*KW*C, F) the filters flattened in the same order:
    ``out = cols @ w_mat + b``, reshaped to (N, H', W', F) and moved to NCHW.
    """
    x, w, b, s, pad, d, (Ho, Wo) = _conv_inputs(x, w, b, stride, padding, dilation)
    dtype = x.dtype
    (N, C, H, W), (F, _, KH, KW) = x.shape, w.shape
    K = KH * KW * C

    # Zero-pad and go channels-last in one copy; the input itself is never written.
    xp = np.zeros((N, H + 2 * pad[0], W + 2 * pad[1], C), dtype=dtype)  # (N, Hp, Wp, C)
    xp[:, pad[0] : pad[0] + H, pad[1] : pad[1] + W, :] = x.transpose(0, 2, 3, 1)
    # w[f, c, p, q] -> w_mat[(p, q, c), f], the row order of the im2col columns
    w_mat = w.transpose(2, 3, 1, 0).reshape(K, F)  # (KH*KW*C, F)

    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    nb = min(N, _batch_chunk(Ho * Wo, K * dtype.itemsize))
    windows = _im2col_view(xp, (KH, KW), (Ho, Wo), s, d)  # (N, H', W', KH, KW, C), a view
    buf = np.empty((nb, Ho, Wo, KH, KW, C), dtype=dtype)  # im2col of one chunk
    obuf = np.empty((nb * Ho * Wo, F), dtype=dtype)  # its output, channels-last
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        np.copyto(buf[:m], windows[n0 : n0 + m])  # the one copy of the input im2col makes
        cols = buf[:m].reshape(m * Ho * Wo, K)  # (m*H'*W', KH*KW*C)
        o = np.matmul(cols, w_mat, out=obuf[: m * Ho * Wo])  # (m*H'*W', F)
        o += b  # one contiguous pass; adding it during the transpose is slower
        # back to NCHW while the chunk is still in cache
        out[n0 : n0 + m] = o.reshape(m, Ho, Wo, F).transpose(0, 3, 1, 2)  # (m, F, H', W')
    return out, Conv2dCache(xp, w, (N, F, Ho, Wo), s, pad, d)


def conv2d_backward(
    dout: np.ndarray, cache: Conv2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss L with respect to x, w and b, given dout = dL/dout.

    Args:
        dout: upstream gradient (N, F, H', W').
        cache: from :func:`conv2d_forward`.

    Returns:
        dx (N, C, H, W), dw (F, C, KH, KW), db (F,), in the forward's dtype.

    Derivation, from ``out = cols @ w_mat + b`` (shapes as in the forward):

    - ``db = sum of dout over n, i, j``: b is added to every output pixel.
    - ``dw_mat = cols.T @ dout_mat`` (KH*KW*C, F). Written out, dw[f, c, p, q] =
      sum_{n,i,j} dout[n, f, i, j] * x_pad[n, c, i*sh + p*dh, j*sw + q*dw]: a
      correlation of the input with dout (dout acting as the kernel).
    - ``dcols = dout_mat @ w_mat.T`` (N*H'*W', KH*KW*C), then *col2im* adds each
      row back onto the input pixels its window came from (overlaps add up).
      Written out, that is a transposed convolution: the full correlation of
      dout (dilated by the stride, i.e. sh-1 zeros between rows) with the
      kernel flipped in space and its in/out channels swapped,
      w[f, c, ::-1, ::-1] -> (C, F, KH, KW). ``_col2im_matmul`` computes it
      offset by offset, never building the zero-dilated dout.
    """
    check_cache(cache, Conv2dCache, "conv2d_forward")
    xp, w = cache.x_padded, cache.w
    dtype = xp.dtype
    dout = as_dout(dout, cache.out_shape, dtype, "conv2d_forward")
    (N, Hp, Wp, C), (F, _, KH, KW), (_, _, Ho, Wo) = xp.shape, w.shape, cache.out_shape
    (ph, pw), K = cache.padding, KH * KW * C

    db = dout.sum(axis=(0, 2, 3))  # (F,); a contiguous, pairwise sum
    w_t = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (KH, KW, F, C)

    dw_mat = np.zeros((K, F), dtype=dtype)
    dx = np.empty((N, C, Hp - 2 * ph, Wp - 2 * pw), dtype=dtype)
    nb = min(N, _batch_chunk(Ho * Wo, K * dtype.itemsize))
    windows = _im2col_view(xp, (KH, KW), (Ho, Wo), cache.stride, cache.dilation)
    buf = np.empty((nb, Ho, Wo, KH, KW, C), dtype=dtype)  # im2col of one chunk
    dbuf = np.empty((nb, Ho, Wo, F), dtype=dtype)  # its dout, channels-last
    dxp = np.empty((nb, Hp, Wp, C), dtype=dtype)  # its padded dx, channels-last
    tmp = np.empty((nb * Ho * Wo, C), dtype=dtype)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        # Recomputing the columns chunk by chunk is cheaper than caching the
        # whole (N*H'*W', K) matrix: the chunk never leaves the cache.
        np.copyto(buf[:m], windows[n0 : n0 + m])
        cols = buf[:m].reshape(m * Ho * Wo, K)  # (m*H'*W', KH*KW*C)
        dbuf[:m] = dout[n0 : n0 + m].transpose(0, 2, 3, 1)  # (m, H', W', F)
        d_mat = dbuf[:m].reshape(m * Ho * Wo, F)  # (m*H'*W', F)
        dw_mat += cols.T @ d_mat  # (KH*KW*C, F)
        dxp[:m] = 0
        _col2im_matmul(
            d_mat, w_t, dxp[:m], (Ho, Wo), cache.stride, cache.dilation, tmp[: m * Ho * Wo]
        )
        # crop the padding, back to NCHW
        dx[n0 : n0 + m] = dxp[:m, ph : Hp - ph, pw : Wp - pw, :].transpose(0, 3, 1, 2)

    dw = dw_mat.reshape(KH, KW, C, F).transpose(3, 2, 0, 1)  # (F, C, KH, KW)
    return dx, np.ascontiguousarray(dw), db
