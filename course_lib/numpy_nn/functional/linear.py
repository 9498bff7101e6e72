"""The fully connected (affine) layer and its backward pass.

    out = x @ w + b        x (N, D), w (D, M), b (M,) -> out (N, M)

Our weight is stored ``(in_features, out_features)`` so that the forward is a
plain ``x @ w``; ``torch.nn.Linear`` stores the transpose, ``(out, in)``, and
computes ``x @ weight.T``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_lib.numpy_nn._validate import (
    as_array,
    as_dout,
    as_input,
    check_cache,
    check_ndim,
    check_nonempty,
    check_shape,
    float_dtype,
)

__all__ = [
    "LinearCache",
    "linear_backward",
    "linear_forward",
]


class LinearCache(NamedTuple):
    """What ``linear_backward`` needs from the forward pass."""

    x: np.ndarray  # (N, D)
    w: np.ndarray  # (D, M)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """Affine map ``out = x @ w + b``.

    Args:
        x: inputs (N, D), one row per example.
        w: weights (D, M).
        b: bias (M,), added to every row.

    Returns:
        out (N, M) in the inputs' dtype, and the cache for :func:`linear_backward`.
    """
    x, w, b = as_array(x, "x"), as_array(w, "w"), as_array(b, "b")
    check_ndim(x, 2, "x", "(N, D)")
    check_ndim(w, 2, "w", "(D, M)")
    check_ndim(b, 1, "b", "(M,)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has shape {x.shape} (D={x.shape[1]}) but w has shape {w.shape} "
            f"(expects D={w.shape[0]} input features)"
        )
    check_shape(b, (w.shape[1],), "b", f"one bias per output column of w {w.shape}")
    # D = 0 would return the bias for every row; N = 0 or M = 0 an empty output
    check_nonempty(x, "x", "(N, D)")
    check_nonempty(w, "w", "(D, M)")
    dtype = float_dtype(x, w, b)
    x, w, b = (as_input(a, name, dtype=dtype) for a, name in ((x, "x"), (w, "w"), (b, "b")))
    out = x @ w + b  # (N, M); b broadcasts over the rows
    return out, LinearCache(x, w)


def linear_backward(
    dout: np.ndarray, cache: LinearCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a loss L with respect to x, w and b, given ``dout = dL/dout`` (N, M).

    Returns dx (N, D), dw (D, M), db (M,). From ``out[n, m] = sum_d x[n, d] w[d, m] + b[m]``:

    - ``dx = dout @ w.T``: each input feeds every output through its row of w;
    - ``dw = x.T @ dout``: a sum over the batch of outer products x[n] dout[n];
    - ``db = dout.sum(axis=0)``: the bias is added to every row.

    Each is the only product of the available shapes that gives the right shape,
    a handy check when deriving it by hand.
    """
    check_cache(cache, LinearCache, "linear_forward")
    x, w = cache
    dout = as_dout(dout, (x.shape[0], w.shape[1]), x.dtype, "linear_forward")
    dx = dout @ w.T  # (N, M) @ (M, D) -> (N, D)
    dw = x.T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)  # (M,)
    return dx, dw, db
