"""Layers: :class:`~course_lib.numpy_nn.module.Module` wrappers around the functional pairs.

Each layer owns its :class:`Parameter` objects, calls ``*_forward`` in
``forward`` and keeps the returned cache in ``self.cache`` (``None`` until the
first forward pass), then calls ``*_backward`` in ``backward``, adds the
parameter gradients into ``.grad`` and returns the input gradient.

Parameters are float64 unless ``dtype=np.float32`` is passed; like the
functional layer, a forward pass computes in the common dtype of the input and
the parameters (float32 input and float32 layer: float32 out). Randomly
initialised layers take an explicit ``numpy.random.Generator``; without one
they draw from a fresh, unseeded ``np.random.default_rng()``, never from
NumPy's global state.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from course_lib.numpy_nn import init as nn_init
from course_lib.numpy_nn._validate import (
    IntPair,
    as_array,
    as_dout,
    as_input,
    as_int,
    as_pair,
    as_real,
    check_at_least,
)
from course_lib.numpy_nn.functional import activations as A
from course_lib.numpy_nn.functional.conv import conv2d_backward, conv2d_forward
from course_lib.numpy_nn.functional.linear import linear_backward, linear_forward
from course_lib.numpy_nn.functional.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from course_lib.numpy_nn.module import Module, Parameter

INITS = ("he", "he_uniform", "xavier", "xavier_normal", "torch")


def _make_rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {rng!r}")
    return rng


def _init_params(
    init: str, w_shape: tuple[int, ...], bias: bool, rng: np.random.Generator, dtype: Any
) -> tuple[Parameter, Parameter | None]:
    """Weight and bias for a layer; the bias is zero except in torch's default scheme.

    ``he``: He et al. 2015 normal, std sqrt(2 / fan_in), for ReLU networks.
    ``he_uniform``: the same variance, uniform. ``xavier``: Glorot & Bengio 2010
    uniform, bound sqrt(6 / (fan_in + fan_out)). ``xavier_normal``: the same
    variance, normal. ``torch``: what ``torch.nn.Linear``/``Conv2d`` do by
    default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    """
    kw = {"rng": rng, "dtype": dtype}
    if init == "he":
        w = nn_init.kaiming_normal(w_shape, nonlinearity="relu", **kw)
    elif init == "he_uniform":
        w = nn_init.kaiming_uniform(w_shape, nonlinearity="relu", **kw)
    elif init == "xavier":
        w = nn_init.xavier_uniform(w_shape, **kw)
    elif init == "xavier_normal":
        w = nn_init.xavier_normal(w_shape, **kw)
    elif init == "torch":  # kaiming_uniform_ with a = sqrt(5) gives bound 1/sqrt(fan_in)
        w = nn_init.kaiming_uniform(w_shape, a=math.sqrt(5), **kw)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    n_out = w_shape[1] if len(w_shape) == 2 else w_shape[0]  # (in, out) or (F, C, KH, KW)
    if not bias:
        return Parameter(w, name="weight"), None
    if init == "torch":
        bound = 1 / math.sqrt(nn_init.fan_in_and_fan_out(w_shape)[0])
        b = rng.uniform(-bound, bound, size=n_out).astype(dtype)
    else:
        b = nn_init.zeros((n_out,), dtype=dtype)
    return Parameter(w, name="weight"), Parameter(b, name="bias")


def _zero_bias(n: int, weight: Parameter) -> np.ndarray:
    """The bias of a layer built with ``bias=False``: zeros in the weight's dtype."""
    return np.zeros(n, weight.dtype)


def _positive(value: object, name: str) -> int:
    v = as_int(value, name)
    if v < 1:
        raise ValueError(f"{name} must be >= 1, got {v}")
    return v


class Linear(Module):
    """Fully connected layer ``out = x @ weight + bias``: x (N, in_features) -> (N, out_features).

    ``weight`` is ``(in_features, out_features)``, the transpose of
    ``torch.nn.Linear.weight`` (``(out, in)``); copy with ``.T`` either way.

    Args:
        in_features, out_features: D and M.
        bias: whether to add a learnable bias (M,); ``self.bias`` is None otherwise.
        rng: the Generator that draws the initial weights.
        init: ``"he"`` (default, for ReLU), ``"he_uniform"``, ``"xavier"``
            (uniform), ``"xavier_normal"`` or ``"torch"`` (PyTorch's default);
            every scheme but ``"torch"`` starts the bias at zero.
        dtype: of the parameters, float64 by default.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        init: str = "he",
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.in_features = _positive(in_features, "in_features")
        self.out_features = _positive(out_features, "out_features")
        shape = (self.in_features, self.out_features)
        self.weight, self.bias = _init_params(init, shape, bias, _make_rng(rng), dtype)
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_array(x, "x")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} expects input (N, {self.in_features}), got shape {x.shape}")
        b = self.bias.data if self.bias is not None else _zero_bias(self.out_features, self.weight)
        out, self.cache = linear_forward(x, self.weight.data, b)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = linear_backward(dout, self._require_cache())
        self.weight.accumulate_grad(dw)
        if self.bias is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " + (
            f"bias={self.bias is not None}"
        )


class Conv2d(Module):
    """2-D convolution (a cross-correlation): x (N, C, H, W) -> (N, F, H', W').

    ``weight`` is (F, C, KH, KW) and ``bias`` (F,), the same layout as ``torch.nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        *,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        init: str = "he",
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.in_channels = _positive(in_channels, "in_channels")
        self.out_channels = _positive(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride, self.padding = as_pair(stride, "stride"), as_pair(padding, "padding")
        self.dilation = as_pair(dilation, "dilation")
        check_at_least(self.kernel_size, 1, "kernel_size")
        check_at_least(self.stride, 1, "stride")
        check_at_least(self.padding, 0, "padding")
        check_at_least(self.dilation, 1, "dilation")
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight, self.bias = _init_params(init, shape, bias, _make_rng(rng), dtype)
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_array(x, "x")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r} expects input (N, {self.in_channels}, H, W), got shape {x.shape}"
            )
        b = self.bias.data if self.bias is not None else _zero_bias(self.out_channels, self.weight)
        out, self.cache = conv2d_forward(
            x, self.weight.data, b, stride=self.stride, padding=self.padding, dilation=self.dilation
        )
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = conv2d_backward(dout, self._require_cache())
        self.weight.accumulate_grad(dw)
        if self.bias is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )


class _Pool2d(Module):
    _forward = staticmethod(maxpool2d_forward)
    _backward = staticmethod(maxpool2d_backward)

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride")
        check_at_least(self.kernel_size, 1, "kernel_size")
        check_at_least(self.stride, 1, "stride")
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = self._forward(x, kernel_size=self.kernel_size, stride=self.stride)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, self._require_cache())

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max pooling, no padding; ``stride`` defaults to ``kernel_size``."""


class AvgPool2d(_Pool2d):
    """Average pooling, no padding; ``stride`` defaults to ``kernel_size``."""

    _forward = staticmethod(avgpool2d_forward)
    _backward = staticmethod(avgpool2d_backward)


class FlattenCache(NamedTuple):
    x_shape: tuple[int, ...]  # (N, C, H, W) or any (N, ...)
    dtype: np.dtype  # the float dtype the forward computed in


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...), like ``torch.nn.Flatten()``; backward reshapes back."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"Flatten expects input (N, ...) with at least 2 axes, got {x.shape}")
        x = as_input(x, "x")
        self.cache = FlattenCache(x.shape, x.dtype)
        return x.reshape(x.shape[0], -1)  # (N, C*H*W)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype = self._require_cache()
        expected = (x_shape[0], math.prod(x_shape[1:]))
        dout = as_dout(dout, expected, dtype, "Flatten.forward")
        return dout.reshape(x_shape)  # (N, C, H, W)


class _Activation(Module):
    """An elementwise layer over a functional ``*_forward``/``*_backward`` pair."""

    _forward = staticmethod(A.relu_forward)
    _backward = staticmethod(A.relu_backward)

    def __init__(self) -> None:
        super().__init__()
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = self._forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, self._require_cache())


class ReLU(_Activation):
    """``max(x, 0)``, elementwise."""


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))``, elementwise and overflow-free."""

    _forward = staticmethod(A.sigmoid_forward)
    _backward = staticmethod(A.sigmoid_backward)


class Tanh(_Activation):
    """``tanh(x)``, elementwise."""

    _forward = staticmethod(A.tanh_forward)
    _backward = staticmethod(A.tanh_backward)


class LeakyReLU(_Activation):
    """``x if x > 0 else negative_slope * x``, elementwise."""

    _backward = staticmethod(A.leaky_relu_backward)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        # checked here, not at the first forward pass: LeakyReLU("x") must not construct
        self.negative_slope = as_real(negative_slope, "negative_slope")

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = A.leaky_relu_forward(x, negative_slope=self.negative_slope)
        return out

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class DropoutCache(NamedTuple):
    mask: np.ndarray | None  # 0 or 1/(1-p) per element; None in eval mode (identity)
    x_shape: tuple[int, ...]  # the input's shape, which dout must have in both modes
    dtype: np.dtype  # the float dtype of the output


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014): zero each element with probability ``p``.

    In training mode the kept elements are scaled by ``1/(1-p)``, so the
    expected output equals the input and evaluation needs no rescaling: in
    eval mode the layer is the identity. The backward pass multiplies by the
    *same* mask as the forward pass. ``rng`` is required, so that every random
    draw of a model is reproducible from the seeds its author chose.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability p must be between 0 and 1, got {p!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                f"Dropout needs rng=np.random.default_rng(seed) (a Generator), got {rng!r}"
            )
        self.p, self.rng = float(p), rng
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(x, "x")
        if not self.training:
            self.cache = DropoutCache(None, x.shape, x.dtype)
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p  # True with probability 1 - p
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)  # p = 1 drops everything
        mask = keep.astype(x.dtype) * scale
        self.cache = DropoutCache(mask, x.shape, x.dtype)
        return x * mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask, x_shape, dtype = self._require_cache()
        # the identity in eval mode still checks dout: a wrong shape is a bug either way
        dout = as_dout(dout, x_shape, dtype, "Dropout.forward")
        if mask is None:
            return dout.copy()
        return (dout * mask).astype(dtype, copy=False)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# The activations of Chapter 3 live in their own module (this file stays short).
from course_lib.numpy_nn.activation_layers import ELU, GELU, LogSoftmax, SiLU, Softmax  # noqa: E402, F401
