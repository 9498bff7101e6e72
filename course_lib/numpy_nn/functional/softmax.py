"""Softmax and log-softmax along one axis, and their backward passes.

Unlike the elementwise activations, every output of a softmax depends on every
input along ``axis``, so the derivative is a Jacobian per slice; the backward
passes below apply it to ``dout`` without ever building it (Chapter 3,
``eq-ch03-softmax-vjp``). Both forwards subtract the maximum along ``axis``
first: softmax is unchanged by adding a constant to every input, and after the
shift the largest exponent is ``exp(0) = 1``, so nothing overflows at any finite
input (logits of +-1e4 included). The cross-entropy loss of Chapter 4 is
``-log_softmax`` at the label.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_lib.numpy_nn._validate import as_array, as_dout_like, as_input, as_int

__all__ = [
    "LogSoftmaxCache",
    "SoftmaxCache",
    "log_softmax_backward",
    "log_softmax_forward",
    "logsumexp",
    "softmax_backward",
    "softmax_forward",
]


def _prepare(x: object, axis: object, name: str) -> tuple[np.ndarray, int]:
    """``x`` as a finite, non-empty float array with at least one axis, and ``axis`` as a
    non-negative int.

    Infinite logits are refused, not softmaxed: ``[1, inf]`` would give
    ``inf - inf = NaN`` after the shift, a wrong answer with only a warning.
    """
    x = as_array(x, "x")
    axis = as_int(axis, "axis")
    if x.ndim == 0:
        raise ValueError(f"{name} needs an array with at least one axis, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape} ({x.ndim}-D)")
    if x.shape[axis] == 0:
        raise ValueError(f"{name} over an empty axis: x has shape {x.shape}, axis {axis}")
    return as_input(x, "x"), axis % x.ndim


def logsumexp(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """``log sum_j exp(x_j)`` along ``axis`` (kept, size 1), computed as ``m + log sum exp(x - m)``.

    ``m = max_j x_j``; the shifted exponents lie in (0, 1] and one of them is 1,
    so the sum is in [1, K]: no overflow, and no ``log 0``.
    """
    x, axis = _prepare(x, axis, "logsumexp")
    m = x.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


# --------------------------------------------------------------------------- softmax


class SoftmaxCache(NamedTuple):
    out: np.ndarray  # s = softmax(x): the Jacobian is diag(s) - s s^T
    axis: int  # non-negative


def softmax_forward(x: np.ndarray, *, axis: int = -1) -> tuple[np.ndarray, SoftmaxCache]:
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``axis``; any shape, at least 1-D.

    Computed as ``exp(x - max x) / sum exp(x - max x)``: the same number, no overflow.
    """
    x, axis = _prepare(x, axis, "softmax_forward")
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # in (0, 1], the max is exactly 1
    out = e / e.sum(axis=axis, keepdims=True)
    return out, SoftmaxCache(out, axis)


def softmax_backward(dout: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """``dx = s * (dout - sum_j dout_j s_j)`` along the axis.

    That is ``J^T dout`` with ``J = diag(s) - s s^T``, in O(K) per slice
    instead of the O(K^2) of forming J.
    """
    dout = as_dout_like(dout, cache, SoftmaxCache, "softmax_forward")
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))


# --------------------------------------------------------------------------- log-softmax


class LogSoftmaxCache(NamedTuple):
    out: np.ndarray  # log softmax(x); exp(out) is the softmax
    axis: int  # non-negative


def log_softmax_forward(x: np.ndarray, *, axis: int = -1) -> tuple[np.ndarray, LogSoftmaxCache]:
    """``log_softmax(x)_i = x_i - logsumexp(x)`` along ``axis``; any shape, at least 1-D.

    Not ``log(softmax(x))``: a probability that underflows to 0 would give
    ``-inf``, whereas ``x_i - logsumexp(x)`` is finite for every finite input.
    """
    x, axis = _prepare(x, axis, "log_softmax_forward")
    shifted = x - x.max(axis=axis, keepdims=True)  # the max along the axis is 0
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out, LogSoftmaxCache(out, axis)


def log_softmax_backward(dout: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """``dx = dout - softmax(x) * sum_j dout_j`` along the axis.

    The Jacobian of ``x_i - logsumexp(x)`` is ``I - 1 s^T``; its transpose times
    ``dout``. With ``dout = -onehot(y)`` this is ``s - onehot(y)``, the gradient
    of the cross-entropy.
    """
    dout = as_dout_like(dout, cache, LogSoftmaxCache, "log_softmax_forward")
    out, axis = cache
    return dout - np.exp(out) * dout.sum(axis=axis, keepdims=True)
