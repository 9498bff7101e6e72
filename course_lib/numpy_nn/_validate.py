"""Input checks shared by the NumPy layers: the one validation path of ``numpy_nn``.

Every public forward/backward, layer, optimiser and the scalar engine check
their arguments with these helpers before touching them, so that bad input
fails loudly with a ``ValueError`` that names the argument, what was expected
and what arrived, instead of turning into a wrong answer three cells later.

The rules, by kind of argument:

- **array inputs** (:func:`as_input`): real numbers only. Complex arrays
  (whose imaginary part a cast would drop), strings (which NumPy would parse:
  ``"1"`` becomes 1.0), objects (None, ragged lists) and other dtypes are
  refused. Boolean and integer arrays are computed in float64; float32 stays
  float32 and float64 stays float64 (:func:`float_dtype`). NaN and infinite
  entries are refused, and so is an empty array, with the axis that is empty.
- **upstream gradients** (:func:`as_dout`): the same, plus exactly the shape of
  the forward's output (nothing is broadcast), cast to the forward's dtype.
- **caches** (:func:`check_cache`): the NamedTuple that the matching forward
  returned, not None or a hand-made tuple.
- **settings** (:func:`as_int`, :func:`as_pair`, :func:`as_real`,
  :func:`as_bool`): Python numbers of the right kind; ``True`` is not 1 and
  ``"0.1"`` is not 0.1.

A wrong type or dtype raises :class:`InputTypeError`, which is a
``ValueError`` like every other bad input and also a ``TypeError``, Python's
usual error for a wrong type (as NumPy's ``AxisError`` is both a ``ValueError``
and an ``IndexError``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

IntPair = int | tuple[int, int]

# dtype kinds that hold real numbers: bool, signed and unsigned int, float
_REAL_KINDS = "biuf"
_FLOAT_EXPECTED = "a real floating-point array (integer and boolean arrays are computed in float64)"


class InputTypeError(ValueError, TypeError):
    """An argument of the wrong type or dtype: a ``ValueError`` that is also a ``TypeError``."""


# --------------------------------------------------------------------------- settings


def as_int(value: object, name: str) -> int:
    """``value`` as a Python int; bools and floats (even ``2.0``) are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
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


def as_real(value: object, name: str) -> float:
    """``value`` as a finite Python float; ints and NumPy scalars are fine, bools and strings not.

    The range is the caller's to check: its message knows what the number means.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputTypeError(
            f"{name} must be a real number, and finite, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a real number, and finite, got {value!r}")
    return float(value)


def as_bool(value: object, name: str) -> bool:
    """``value`` as a bool; only ``True``/``False`` (or NumPy's), never a truthy string or int."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(
            f"{name} must be True or False, got {value!r} ({type(value).__name__})"
        )
    return bool(value)


# --------------------------------------------------------------------------- arrays


def as_array(a: object, name: str, expected: str = _FLOAT_EXPECTED) -> np.ndarray:
    """``a`` as an ndarray of real numbers (bool, int or float), not cast, not copied.

    Raises :class:`InputTypeError` for complex, string, object and other dtypes,
    and a ``ValueError`` naming ``name`` when NumPy cannot build an array at
    all (a ragged list). ``expected`` says what the argument should have been.
    """
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as err:  # e.g. a ragged nested list
        raise InputTypeError(f"{name} must be {expected}; NumPy cannot read it: {err}") from err
    if arr.dtype.kind not in _REAL_KINDS:
        raise InputTypeError(f"{name} must be {expected}, got {_describe(a, arr)}")
    return arr


def _describe(a: object, arr: np.ndarray) -> str:
    """What arrived, in words: the dtype, and why it cannot be used."""
    kind = arr.dtype.kind
    if kind == "c":
        return f"dtype {arr.dtype} (the imaginary part would be dropped)"
    if kind in "US":
        return f"dtype {arr.dtype} (strings are not numbers, even when they read like one)"
    if kind == "O":
        if a is None or arr.ndim == 0:
            return f"{a!r} ({type(a).__name__})"
        return "dtype object (None, a ragged list or values of mixed types)"
    return f"dtype {arr.dtype}"


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype to compute in: the arrays' common dtype, at least float32.

    float32 inputs stay float32 and float64 stay float64; boolean and integer
    inputs count as float64, whatever their width (an int8 array is computed
    in float64, as an int64 one is), so mixing them with float32 gives float64.
    """
    for a in arrays:
        if a.dtype.kind not in _REAL_KINDS:
            raise InputTypeError(f"expected real floating-point inputs, got dtype {a.dtype}")
    floats = [a.dtype if a.dtype.kind == "f" else np.dtype(np.float64) for a in arrays]
    return np.result_type(*floats, np.float32)


def _axis_names(layout: str | None, ndim: int) -> list[str]:
    """``"(N, C, H, W)"`` -> ``["N", "C", "H", "W"]``; ``axis i`` where there is no layout."""
    names = [s.strip() for s in layout.strip("()").split(",")] if layout else []
    names = [s for s in names if s and s != "..."]
    return names if len(names) == ndim else [f"axis {i}" for i in range(ndim)]


def check_nonempty(a: np.ndarray, name: str, layout: str | None = None) -> None:
    """Raise unless ``a`` has at least one element, naming the axes of size 0.

    ``layout`` names the axes, e.g. ``"(N, C, H, W)"``: an empty batch is
    ``N = 0``, an empty feature axis ``C = 0``.
    """
    if a.size:
        return
    axes = zip(_axis_names(layout, a.ndim), a.shape, strict=True)
    empty = [f"{ax} = 0" for ax, n in axes if n == 0]
    where = f" {layout}" if layout else ""
    raise ValueError(f"{name}{where} must be non-empty, got shape {a.shape} ({', '.join(empty)})")


def check_finite(a: np.ndarray, name: str) -> None:
    """Raise unless every entry of ``a`` is finite, naming how many are not and the first."""
    if a.dtype.kind != "f":
        return  # bool and int arrays hold no NaN or inf
    with np.errstate(all="ignore"):
        # A finite sum proves every entry finite in one pass without a temporary;
        # a sum that overflowed falls through to the exact count below.
        if np.isfinite(np.sum(a)):
            return
    bad = ~np.isfinite(a)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return
    first = np.unravel_index(int(np.argmax(bad)), a.shape) if a.ndim else ()
    index = tuple(int(i) for i in first)
    raise ValueError(
        f"{name} {a.shape} contains {count} NaN or infinite value(s) among its {a.size} "
        f"entries, expected finite numbers; the first is {a[index]} at index {index}"
    )


def check_ndim(a: np.ndarray, ndim: int, name: str, layout: str) -> None:
    """Raise unless ``a`` has ``ndim`` axes; ``layout`` names them, e.g. ``"(N, C, H, W)"``."""
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {a.shape} ({a.ndim}-D)")


def check_shape(a: np.ndarray, expected: tuple[int, ...], name: str, why: str) -> None:
    """Raise unless ``a.shape == expected`` exactly (no broadcasting)."""
    if a.shape != tuple(expected):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(expected)} ({why})")


def check_batch_axis(a: np.ndarray, name: str) -> None:
    """Raise unless ``a`` is (N, D) or (N, ...): at least two axes, the batch first."""
    if a.ndim < 2:
        raise ValueError(
            f"{name} must be (N, D) with a batch axis first, got shape {a.shape} ({a.ndim}-D)"
        )


def check_unit_interval(a: np.ndarray, name: str) -> None:
    """Raise unless every entry of (non-empty) ``a`` lies in ``[0, 1]``."""
    if a.min() < 0 or a.max() > 1:
        raise ValueError(
            f"{name} {a.shape} must lie in [0, 1], got values in [{a.min()}, {a.max()}]"
        )


def check_exp_range(a: np.ndarray, name: str, scale: float = 1.0) -> None:
    """Raise if ``exp(scale * a)`` overflows ``a``'s dtype somewhere (a log-variance, say).

    The limit is ``log(finfo.max)``: about 709.8 in float64 and 88.7 in float32.
    """
    limit = float(np.log(np.finfo(a.dtype).max))
    top = float(a.max()) * scale
    if top > limit:
        raise ValueError(
            f"{name} {a.shape} has a maximum of {a.max()}, where exp({scale:g} * {name}) "
            f"overflows {a.dtype}: expected {name} <= {limit / scale:.4g}"
        )


def as_input(
    a: object,
    name: str,
    *,
    dtype: Any = None,
    layout: str | None = None,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """``a`` checked and cast: the one entry point for an array argument.

    Args:
        a: anything NumPy can read; its dtype must hold real numbers.
        name: the argument's name, for the messages.
        dtype: the floating dtype to compute in; by default :func:`float_dtype`
            of ``a`` (bool and int -> float64, float32 and float64 kept).
        layout: the axes' names, e.g. ``"(N, C, H, W)"``, for the messages.
        allow_empty: accept an array with no elements.
        finite: refuse NaN and infinite entries.

    Returns:
        An ndarray of ``dtype``; ``a`` itself when it already is one (no copy).
    """
    arr = as_array(a, name)
    if not allow_empty:
        check_nonempty(arr, name, layout)
    arr = arr.astype(float_dtype(arr) if dtype is None else dtype, copy=False)
    if finite:
        check_finite(arr, name)
    return arr


def as_same_shape(a: object, b: object, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two finite, non-empty float arrays of exactly one shape (a prediction and its target).

    The dtype is that of ``a`` (at least float32), promoted only by a floating
    ``b``: an integer or boolean ``b`` (0/1 labels) does not turn float32 into float64.
    """
    a, b = as_array(a, names[0]), as_array(b, names[1])
    if a.shape != b.shape:
        raise ValueError(
            f"{names[1]} has shape {b.shape}, expected {a.shape} like {names[0]} "
            "(shapes must match exactly; nothing is broadcast)"
        )
    check_nonempty(a, names[0])
    dtype = float_dtype(a, b) if b.dtype.kind == "f" else float_dtype(a)
    return as_input(a, names[0], dtype=dtype), as_input(b, names[1], dtype=dtype)


def as_dout(
    dout: object, shape: tuple[int, ...], dtype: Any, source: str, name: str = "dout"
) -> np.ndarray:
    """An upstream gradient: real, finite, of exactly ``shape`` (that of ``source``'s output),
    cast to ``dtype`` (the forward's)."""
    arr = as_array(dout, name)
    check_shape(arr, shape, name, f"the shape of {source}'s output")
    return as_input(arr, name, dtype=dtype, allow_empty=True)


def as_dout_like(dout: object, cache: object, cls: type, source: str) -> np.ndarray:
    """``dout`` for an op whose output has the shape and dtype of its cache's first array.

    ``cache`` must be the ``cls`` that ``source`` returned; its first field (the
    input x or the output f(x) of an elementwise or softmax-like op) gives the
    shape and dtype that :func:`as_dout` checks ``dout`` against.
    """
    check_cache(cache, cls, source)
    ref = cache[0]
    return as_dout(dout, ref.shape, ref.dtype, source)


def check_cache(cache: object, cls: type, source: str) -> None:
    """Raise unless ``cache`` is the ``cls`` NamedTuple that ``source`` returns."""
    if not isinstance(cache, cls):
        raise InputTypeError(
            f"cache must be the {cls.__name__} returned by {source}, got {type(cache).__name__}"
        )
