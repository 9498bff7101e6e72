"""Weight initialisation: Xavier/Glorot and Kaiming/He, like ``torch.nn.init``.

Both schemes pick the scale of the random weights so that the variance of the
signal stays about the same from layer to layer. For a layer with ``fan_in``
inputs and weights of variance ``Var(w)``, the forward variance is multiplied
by ``fan_in * Var(w)`` (the backward one by ``fan_out * Var(w)``):

- Glorot & Bengio 2010 (eq. 12 and 16) compromise between the two,
  ``Var(w) = gain^2 * 2 / (fan_in + fan_out)``, derived for tanh-like units;
- He et al. 2015 (eq. 10) keep the forward variance for ReLU, which zeroes half
  of its inputs: ``Var(w) = gain^2 / fan``, with ``gain^2 = 2`` for ReLU.

A uniform ``U(-a, a)`` has variance ``a^2 / 3``, hence the ``sqrt(3)`` in the
bounds below.

**Layouts.** Our linear weights are ``(in_features, out_features)`` = ``(D, M)``
(``x @ w``), the transpose of torch's ``(out, in)``; conv weights are
``(F, C, KH, KW)`` as in torch. :func:`fan_in_and_fan_out` handles both.

Every function takes the shape, an explicit ``numpy.random.Generator`` and a
dtype, and returns a new array; nothing here touches a global random state.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np

Shape = Sequence[int]
Mode = Literal["fan_in", "fan_out"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain of ``torch.nn.init.calculate_gain``: the std multiplier that a nonlinearity needs.

    ``linear``, ``conv*d``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu`` with slope ``param`` (default 0.01): sqrt(2 / (1 + param^2));
    ``selu``: 3/4.
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, in *our* layouts.

    - 2-D ``(D, M)`` linear weight (in, out): ``fan_in = D``, ``fan_out = M``.
    - k-D conv weight ``(F, C, *kernel)``: ``fan_in = C * prod(kernel)``,
      ``fan_out = F * prod(kernel)``, exactly like torch.

    For a linear weight this equals torch's ``_calculate_fan_in_and_fan_out``
    on the *transposed* ``(M, D)`` tensor.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 axes, got {shape}")
    if len(shape) == 2:
        d_in, d_out = shape  # ours is (in, out); torch's linear weight is (out, in)
        return d_in, d_out
    receptive_field = math.prod(shape[2:])  # KH * KW for a 2-D conv
    return shape[1] * receptive_field, shape[0] * receptive_field


def _check(shape: Shape, rng: np.random.Generator) -> tuple[int, ...]:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {rng!r}"
        )
    return tuple(int(s) for s in shape)


def _fan(shape: Shape, mode: Mode) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform(
    shape: Shape, *, rng: np.random.Generator, gain: float = 1.0, dtype: type = np.float64
) -> np.ndarray:
    """``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010, eq. 16)."""
    shape = _check(shape, rng)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def xavier_normal(
    shape: Shape, *, rng: np.random.Generator, gain: float = 1.0, dtype: type = np.float64
) -> np.ndarray:
    """``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    shape = _check(shape, rng)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (std * rng.standard_normal(shape)).astype(dtype)


def kaiming_uniform(
    shape: Shape,
    *,
    rng: np.random.Generator,
    a: float = 0.0,
    mode: Mode = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype: type = np.float64,
) -> np.ndarray:
    """``U(-b, b)`` with ``b = gain * sqrt(3 / fan)`` (He et al. 2015, eq. 10, uniform form).

    Same defaults as ``torch.nn.init.kaiming_uniform_``: leaky ReLU with slope
    ``a = 0``, i.e. ReLU, gain sqrt(2). ``mode="fan_in"`` preserves the forward
    variance, ``"fan_out"`` the backward one.
    """
    shape = _check(shape, rng)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_normal(
    shape: Shape,
    *,
    rng: np.random.Generator,
    a: float = 0.0,
    mode: Mode = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype: type = np.float64,
) -> np.ndarray:
    """``N(0, std^2)``, ``std = gain / sqrt(fan)`` (He et al. 2015, eq. 10): ReLU sqrt(2/fan_in)."""
    shape = _check(shape, rng)
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return (std * rng.standard_normal(shape)).astype(dtype)


def zeros(
    shape: Shape, *, rng: np.random.Generator | None = None, dtype: type = np.float64
) -> np.ndarray:
    """All zeros: the usual bias initialisation (random weights already break the symmetry).

    ``rng`` is accepted and unused, so every initialiser here can be called the
    same way, ``init_fn(shape, rng=rng, dtype=dtype)``.
    """
    return np.zeros(tuple(int(s) for s in shape), dtype=dtype)
