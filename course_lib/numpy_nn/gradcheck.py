"""Gradient checking: central-difference gradients and the relative error.

Every hand-derived backward in the course is checked against
``numerical_gradient`` on small inputs in float64 (and against
``torch.autograd``). The idea, for a scalar L(x):

    dL/dx[k] ~= (L(x + h e_k) - L(x - h e_k)) / (2h)

whose error is O(h^2) (the h and h^3 terms of the Taylor series cancel),
against O(h) for the one-sided difference. With h = 1e-5 in float64 the
truncation error (~h^2) and the rounding error (~eps/h) are both around 1e-10.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    dout: np.ndarray | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Args:
        f: function of ``x`` returning an array or a scalar. It may also read
            ``x`` through a closure: each entry is perturbed in place and put
            back exactly before the next one.
        x: point to differentiate at, a floating ndarray of any shape. Use
            float64: in float32 a step of 1e-5 is lost in rounding.
        dout: upstream gradient with the shape of ``f(x)``; ``None`` means all
            ones (the gradient of ``sum(f(x))``, or of ``f(x)`` itself when it
            is a scalar).
        h: step size.

    Returns:
        The gradient, same shape and dtype as ``x``. ``x`` is left unchanged,
        even when ``f`` raises.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a floating-point ndarray (perturbed in place), got {got}")
    if dout is not None:
        dout = np.asarray(dout, dtype=np.float64)

    def scalar_loss() -> float:
        y = np.asarray(f(x), dtype=np.float64)
        if dout is None:
            return float(y.sum())
        if y.shape != dout.shape:
            raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {y.shape}")
        return float(np.sum(y * dout))

    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        try:
            x[idx] = old + h
            plus = scalar_loss()
            x[idx] = old - h
            minus = scalar_loss()
        finally:
            x[idx] = old  # restore exactly: the saved value, not old + h - h
        grad[idx] = (plus - minus) / (2 * h)
    return grad.astype(x.dtype, copy=False)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    Scale-free, so one threshold serves every layer: in float64 a correct
    backward gives ~1e-8 or less against ``numerical_gradient``, a wrong one
    ~1e-2 or more. The 1e-8 floor stops two near-zero entries from dividing
    by zero. ``a`` and ``b`` must have the same shape (no broadcasting).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
