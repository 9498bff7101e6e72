"""Elementwise activation functions and their backward passes.

Each ``*_forward(x)`` returns ``(out, cache)`` with ``out`` of the shape and
float dtype of ``x``; each ``*_backward(dout, cache)`` returns ``dx``, the
upstream gradient times the local derivative f'(x), elementwise. The cache
keeps whichever of x or f(x) gives the derivative most cheaply.

Every function is finite and warning-free for any finite input, |x| = 1e4
included: no ``exp`` is ever evaluated at a large positive argument, even in
the branch of an ``np.where`` that is thrown away. Chapter 3 derives each
derivative. Inputs go through :func:`course_lib.numpy_nn._validate.as_input`:
bool and int arrays are computed in float64, and complex, string, empty or
non-finite ones raise ``ValueError`` naming the argument (as does a ``dout``
of the wrong shape or with a NaN). Softmax and log-softmax, which act on a
whole axis rather than elementwise, live in
:mod:`course_lib.numpy_nn.functional.softmax`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import special

from course_lib.numpy_nn._validate import as_dout_like, as_input, as_real

# DESIGN lists softmax with the activations; it has its own module (softmax.py,
# with log-softmax and the log-sum-exp) and is importable from here as well.
from course_lib.numpy_nn.functional.softmax import softmax_backward, softmax_forward  # noqa: F401

__all__ = [
    "GELU_APPROXIMATIONS",
    "ELUCache",
    "GELUCache",
    "LeakyReLUCache",
    "ReLUCache",
    "SiLUCache",
    "SigmoidCache",
    "TanhCache",
    "elu_backward",
    "elu_forward",
    "gelu_backward",
    "gelu_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "silu_backward",
    "silu_forward",
    "tanh_backward",
    "tanh_forward",
]

GELU_APPROXIMATIONS = ("none", "tanh")


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow (see :func:`sigmoid_forward`); dtype of ``x``."""
    e = np.exp(-np.abs(x))  # in (0, 1]; underflows harmlessly to 0
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- ReLU


class ReLUCache(NamedTuple):
    x: np.ndarray  # the input, any shape


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ReLUCache]:
    """``relu(x) = max(x, 0)``, elementwise; any shape."""
    x = as_input(x, "x")
    return np.maximum(x, 0), ReLUCache(x)


def relu_backward(dout: np.ndarray, cache: ReLUCache) -> np.ndarray:
    """``dx = dout * [x > 0]``. At the kink x = 0 we take the derivative 0, like PyTorch."""
    dout = as_dout_like(dout, cache, ReLUCache, "relu_forward")
    return np.where(cache.x > 0, dout, 0).astype(cache.x.dtype, copy=False)


# --------------------------------------------------------------------------- LeakyReLU


class LeakyReLUCache(NamedTuple):
    x: np.ndarray
    negative_slope: float


def leaky_relu_forward(
    x: np.ndarray, *, negative_slope: float = 0.01
) -> tuple[np.ndarray, LeakyReLUCache]:
    """``leaky_relu(x) = x if x > 0 else negative_slope * x`` (Maas et al. 2013); any shape."""
    slope = as_real(negative_slope, "negative_slope")
    x = as_input(x, "x")
    out = np.where(x > 0, x, slope * x).astype(x.dtype, copy=False)
    return out, LeakyReLUCache(x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """``dx = dout * (1 if x > 0 else negative_slope)``; at x = 0 the slope, like PyTorch."""
    dout = as_dout_like(dout, cache, LeakyReLUCache, "leaky_relu_forward")
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
    x = as_input(x, "x")
    out = _stable_sigmoid(x)
    return out, SigmoidCache(out)


def sigmoid_backward(dout: np.ndarray, cache: SigmoidCache) -> np.ndarray:
    """``dx = dout * s * (1 - s)`` with ``s = sigmoid(x)``: at most dout / 4, at x = 0."""
    dout = as_dout_like(dout, cache, SigmoidCache, "sigmoid_forward")
    s = cache.out
    return dout * s * (1 - s)


# --------------------------------------------------------------------------- tanh


class TanhCache(NamedTuple):
    out: np.ndarray  # tanh(x): the derivative is 1 - out**2


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, TanhCache]:
    """``tanh(x) = (e^x - e^-x) / (e^x + e^-x) = 2 sigmoid(2x) - 1``; any shape."""
    x = as_input(x, "x")
    out = np.tanh(x)
    return out, TanhCache(out)


def tanh_backward(dout: np.ndarray, cache: TanhCache) -> np.ndarray:
    """``dx = dout * (1 - tanh(x)**2)``: 1 at x = 0, vanishing as |x| grows."""
    dout = as_dout_like(dout, cache, TanhCache, "tanh_forward")
    t = cache.out
    return dout * (1 - t * t)


# --------------------------------------------------------------------------- ELU


class ELUCache(NamedTuple):
    x: np.ndarray
    alpha: float


def elu_forward(x: np.ndarray, *, alpha: float = 1.0) -> tuple[np.ndarray, ELUCache]:
    """``elu(x) = x if x > 0 else alpha * (exp(x) - 1)`` (Clevert et al. 2016); any shape.

    ``alpha >= 0`` is the value the function saturates to, ``-alpha``, as x -> -inf.
    ``expm1`` keeps ``exp(x) - 1`` accurate for small |x|, and it only ever sees
    ``min(x, 0)``: ``exp(1e4)`` would overflow in the discarded branch.
    """
    alpha = as_real(alpha, "alpha")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (ELU saturates at -alpha), got {alpha}")
    x = as_input(x, "x")
    neg = alpha * np.expm1(np.minimum(x, 0))  # (exp(x) - 1) * alpha where x <= 0
    return np.where(x > 0, x, neg).astype(x.dtype, copy=False), ELUCache(x, alpha)


def elu_backward(dout: np.ndarray, cache: ELUCache) -> np.ndarray:
    """``dx = dout * (1 if x > 0 else alpha * exp(x))``; at x = 0, alpha, like PyTorch.

    For x <= 0 the derivative ``alpha * exp(x)`` equals ``elu(x) + alpha``; with
    alpha = 1 it is continuous at 0, which is ELU's point against ReLU.
    """
    dout = as_dout_like(dout, cache, ELUCache, "elu_forward")
    local = np.where(cache.x > 0, 1, cache.alpha * np.exp(np.minimum(cache.x, 0)))
    return (dout * local).astype(cache.x.dtype, copy=False)


# --------------------------------------------------------------------------- GELU

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715  # Hendrycks & Gimpel 2016, the cubic of the tanh approximation
_GELU_CLIP = 50.0  # beyond |x| = 50, Phi(x), tanh(u) and phi(x) are exactly 0 or 1 in float64


class GELUCache(NamedTuple):
    x: np.ndarray
    approximate: str  # "none" (exact, x * Phi(x)) or "tanh"


def _check_approximate(approximate: object) -> str:
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"approximate must be one of {GELU_APPROXIMATIONS}, got {approximate!r}")
    return str(approximate)


def _gelu_tanh_inner(x: np.ndarray) -> np.ndarray:
    """``u = sqrt(2/pi) (x + 0.044715 x^3)`` on x clipped to +-50 (tanh(u) is +-1 there already),
    so that the cube cannot overflow in float32."""
    xc = np.clip(x, -_GELU_CLIP, _GELU_CLIP)
    return _SQRT_2_OVER_PI * (xc + _GELU_C * xc**3)


def gelu_forward(x: np.ndarray, *, approximate: str = "none") -> tuple[np.ndarray, GELUCache]:
    """``gelu(x) = x * Phi(x)`` (Hendrycks & Gimpel 2016), Phi the standard normal CDF; any shape.

    ``approximate="none"``: exact, ``Phi(x) = erfc(-x / sqrt 2) / 2``. The
    textbook ``(1 + erf(x / sqrt 2)) / 2`` is the same number but loses every
    digit for x < -6 (1 plus something close to -1); ``erfc`` keeps them.
    ``approximate="tanh"``: ``x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``,
    as in ``torch.nn.functional.gelu(x, approximate="tanh")`` and GPT-2.
    """
    approximate = _check_approximate(approximate)
    x = as_input(x, "x")
    if approximate == "none":
        out = x * (0.5 * special.erfc(-x / math.sqrt(2)))
    else:
        out = 0.5 * x * (1 + np.tanh(_gelu_tanh_inner(x)))
    return out.astype(x.dtype, copy=False), GELUCache(x, approximate)


def gelu_backward(dout: np.ndarray, cache: GELUCache) -> np.ndarray:
    """``dx = dout * gelu'(x)``.

    Exact: ``gelu'(x) = Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2/2) / sqrt(2 pi)``
    (the product rule; Phi' = phi). Tanh form, with ``t = tanh(u)``:
    ``gelu'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)``.
    Both are 1/2 at x = 0, dip slightly below 0 near x = -0.75 and tend to 0
    and 1 at -inf and +inf.
    """
    dout = as_dout_like(dout, cache, GELUCache, "gelu_forward")
    x = cache.x
    xc = np.clip(x, -_GELU_CLIP, _GELU_CLIP)  # x*x cannot overflow; phi(50) is already 0
    if cache.approximate == "none":
        pdf = np.exp(-0.5 * xc * xc) / math.sqrt(2 * math.pi)  # phi(x)
        local = 0.5 * special.erfc(-x / math.sqrt(2)) + xc * pdf
    else:
        t = np.tanh(_gelu_tanh_inner(x))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * xc * xc)  # du/dx
        local = 0.5 * (1 + t) + 0.5 * xc * (1 - t * t) * du
    return (dout * local).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- SiLU


class SiLUCache(NamedTuple):
    x: np.ndarray
    sig: np.ndarray  # sigmoid(x)


def silu_forward(x: np.ndarray) -> tuple[np.ndarray, SiLUCache]:
    """``silu(x) = x * sigmoid(x)`` (Elfwing et al. 2018; "swish" with beta = 1); any shape."""
    x = as_input(x, "x")
    sig = _stable_sigmoid(x)
    return x * sig, SiLUCache(x, sig)


def silu_backward(dout: np.ndarray, cache: SiLUCache) -> np.ndarray:
    """``dx = dout * s (1 + x (1 - s))``, ``s = sigmoid(x)``: the product rule, s' = s (1 - s)."""
    dout = as_dout_like(dout, cache, SiLUCache, "silu_forward")
    x, s = cache
    return (dout * (s * (1 + x * (1 - s)))).astype(x.dtype, copy=False)
