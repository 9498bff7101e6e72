"""Layers for Chapter 3's activations: ``ELU``, ``GELU``, ``SiLU``, ``Softmax``, ``LogSoftmax``.

Module wrappers around the functional pairs, like ``ReLU`` and ``Sigmoid`` in
:mod:`course_lib.numpy_nn.layers` (which re-exports these, so
``from course_lib.numpy_nn.layers import GELU`` works). Each keeps the cache of
its last forward pass in ``self.cache`` and has no parameters. The settings are
those of the ``torch.nn`` modules of the same names.

This module imports only :mod:`course_lib.numpy_nn.module`, never ``layers``,
so that ``layers`` can import it at its end without a circular import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.numpy_nn.functional import activations as A
from course_lib.numpy_nn.functional import softmax as S
from course_lib.numpy_nn.module import Module

__all__ = ["ELU", "GELU", "LogSoftmax", "SiLU", "Softmax"]


class _Stateless(Module):
    """A parameter-free layer over ``forward(x, **settings)`` / ``backward(dout, cache)``."""

    _forward: Any
    _backward: Any

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = settings
        for name, value in settings.items():  # e.g. layer.alpha, as in torch.nn.ELU
            setattr(self, name, value)
        self.cache = None
        # Fail at construction, not at the first forward pass, on a bad setting.
        type(self)._forward(np.zeros((1, 1)), **settings)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = type(self)._forward(x, **self.settings)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return type(self)._backward(dout, self._require_cache())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.settings.items())


class ELU(_Stateless):
    """``x if x > 0 else alpha * (exp(x) - 1)``, elementwise (``torch.nn.ELU``)."""

    _forward = staticmethod(A.elu_forward)
    _backward = staticmethod(A.elu_backward)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class GELU(_Stateless):
    """``x * Phi(x)``, exact or (``approximate="tanh"``) approximated (``torch.nn.GELU``)."""

    _forward = staticmethod(A.gelu_forward)
    _backward = staticmethod(A.gelu_backward)

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(approximate=approximate)


class SiLU(_Stateless):
    """``x * sigmoid(x)``, elementwise (``torch.nn.SiLU``)."""

    _forward = staticmethod(A.silu_forward)
    _backward = staticmethod(A.silu_backward)

    def __init__(self) -> None:
        super().__init__()


class Softmax(_Stateless):
    """``exp(x_i) / sum_j exp(x_j)`` along ``axis`` (``torch.nn.Softmax(dim=axis)``)."""

    _forward = staticmethod(S.softmax_forward)
    _backward = staticmethod(S.softmax_backward)

    def __init__(self, axis: int = -1) -> None:
        super().__init__(axis=axis)


class LogSoftmax(_Stateless):
    """``x_i - logsumexp(x)`` along ``axis`` (``torch.nn.LogSoftmax(dim=axis)``)."""

    _forward = staticmethod(S.log_softmax_forward)
    _backward = staticmethod(S.log_softmax_backward)

    def __init__(self, axis: int = -1) -> None:
        super().__init__(axis=axis)
