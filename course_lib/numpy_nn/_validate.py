"""Input checks shared by the NumPy layers.

Every public forward/backward in ``numpy_nn`` checks its arguments with these
helpers before touching them, so a wrong shape fails loudly with a message that
names the argument, what was expected and what arrived, instead of broadcasting
silently into a wrong answer three cells later.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

IntPair = int | tuple[int, int]


def as_int(value: object, name: str) -> int:
    """``value`` as a Python int; bools and floats (even ``2.0``) are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def as_pair(value: IntPair | Sequence[int], name: str) -> tuple[int, int]:
    """An int or a (height, width) pair, as a (height, width) tuple of ints.

    >>> as_pair(3, "stride"), as_pair((1, 2), "stride")
    ((3, 3), (1, 2))
    """
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        return as_int(value[0], name), as_int(value[1], name)
    v = as_int(value, name)
    return v, v


def check_at_least(pair: tuple[int, int], minimum: int, name: str) -> None:
    """Raise unless both entries of ``pair`` are ``>= minimum``."""
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} in both directions, got {pair}")


def check_ndim(a: np.ndarray, ndim: int, name: str, layout: str) -> None:
    """Raise unless ``a`` has ``ndim`` axes; ``layout`` names them, e.g. ``"(N, C, H, W)"``."""
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {a.shape} ({a.ndim}-D)")


def check_shape(a: np.ndarray, expected: tuple[int, ...], name: str, why: str) -> None:
    """Raise unless ``a.shape == expected`` exactly (no broadcasting)."""
    if a.shape != tuple(expected):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(expected)} ({why})")


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype to compute in: the arrays' common dtype, at least float32.

    float32 inputs stay float32 and float64 stay float64; integer inputs are
    computed in float64 (NumPy's promotion of int with float32).
    """
    dtype = np.result_type(*(a.dtype for a in arrays), np.float32)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"expected real floating-point inputs, got dtype {dtype}")
    return dtype


def as_float_array(a: object, dtype: np.dtype) -> np.ndarray:
    """``a`` as an ndarray of ``dtype``; no copy when it already is one."""
    return np.asarray(a, dtype=dtype)
