"""Elementwise activation functions and their backward passes.

Each ``*_forward(x)`` returns ``(out, cache)`` with ``out`` of the shape and
float dtype of ``x``; each ``*_backward(dout, cache)`` returns ``dx``, the
upstream gradient times the local derivative f'(x), elementwise. The cache
keeps whichever of x or f(x) gives the derivative most cheaply.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from course_lib.numpy_nn._validate import as_float_array, check_shape, float_dtype

__all__ = [
    "LeakyReLUCache",
    "ReLUCache",
    "SigmoidCache",
    "TanhCache",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]


def _as_float(x: object) -> np.ndarray:
    x = np.asarray(x)
    return as_float_array(x, float_dtype(x))


def _check_dout(dout: object, ref: np.ndarray, name: str) -> np.ndarray:
    dout = np.asarray(dout)
    check_shape(dout, ref.shape, "dout", f"the shape of {name}'s output")
    return as_float_array(dout, ref.dtype)


# --------------------------------------------------------------------------- ReLU


class ReLUCache(NamedTuple):
    x: np.ndarray  # the input, any shape


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ReLUCache]:
    """``relu(x) = max(x, 0)``, elementwise; any shape."""
    x = _as_float(x)
    return np.maximum(x, 0), ReLUCache(x)


def relu_backward(dout: np.ndarray, cache: ReLUCache) -> np.ndarray:
    """``dx = dout * [x > 0]``. At the kink x = 0 we take the derivative 0, like PyTorch."""
    dout = _check_dout(dout, cache.x, "relu_forward")
    return np.where(cache.x > 0, dout, 0).astype(cache.x.dtype, copy=False)


# --------------------------------------------------------------------------- LeakyReLU


class LeakyReLUCache(NamedTuple):
    x: np.ndarray
    negative_slope: float


def leaky_relu_forward(
    x: np.ndarray, *, negative_slope: float = 0.01
) -> tuple[np.ndarray, LeakyReLUCache]:
    """``leaky_relu(x) = x if x > 0 else negative_slope * x`` (Maas et al. 2013); any shape."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise ValueError(f"negative_slope must be a real number, got {negative_slope!r}")
    x = _as_float(x)
    slope = float(negative_slope)
    out = np.where(x > 0, x, slope * x).astype(x.dtype, copy=False)
    return out, LeakyReLUCache(x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """``dx = dout * (1 if x > 0 else negative_slope)``; at x = 0 the slope, like PyTorch."""
    dout = _check_dout(dout, cache.x, "leaky_relu_forward")
    dx = np.where(cache.x > 0, dout, cache.negative_slope * dout)
    return dx.astype(cache.x.dtype, copy=False)


# --------------------------------------------------------------------------- sigmoid


class SigmoidCache(NamedTuple):
    out: np.ndarray  # sigmoid(x): the derivative is out * (1 - out)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, SigmoidCache]:
    """``sigmoid(x) = 1 / (1 + exp(-x))``, computed without overflow for any x.

    ``exp(-x)`` overflows for x < -709 (float64) or x < -88 (float32). With
    ``e = exp(-|x|)``, which is always in (0, 1], the two equal forms
    ``1 / (1 + e)`` (x >= 0) and ``e / (1 + e)`` (x < 0) never overflow.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))  # in (0, 1]; underflows harmlessly to 0
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out, SigmoidCache(out)


def sigmoid_backward(dout: np.ndarray, cache: SigmoidCache) -> np.ndarray:
    """``dx = dout * s * (1 - s)`` with ``s = sigmoid(x)``: at most dout / 4, at x = 0."""
    s = cache.out
    dout = _check_dout(dout, s, "sigmoid_forward")
    return dout * s * (1 - s)


# --------------------------------------------------------------------------- tanh


class TanhCache(NamedTuple):
    out: np.ndarray  # tanh(x): the derivative is 1 - out**2


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, TanhCache]:
    """``tanh(x) = (e^x - e^-x) / (e^x + e^-x) = 2 sigmoid(2x) - 1``; any shape."""
    x = _as_float(x)
    out = np.tanh(x)
    return out, TanhCache(out)


def tanh_backward(dout: np.ndarray, cache: TanhCache) -> np.ndarray:
    """``dx = dout * (1 - tanh(x)**2)``: 1 at x = 0, vanishing as |x| grows."""
    t = cache.out
    dout = _check_dout(dout, t, "tanh_forward")
    return dout * (1 - t * t)
