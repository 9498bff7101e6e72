"""Optimisers with the update rules of ``torch.optim``: SGD (momentum, Nesterov), RMSprop, Adam.

Each rule is written as in PyTorch's single-tensor code path (``torch/optim/sgd.py``,
``rmsprop.py``, ``adam.py``), with the same defaults and the same placement of
weight decay (added to the gradient, L2 style), momentum buffers, eps and bias
correction, so both libraries follow the same trajectory to round-off. Per-parameter
state lives in ``opt.state[p]`` under torch's names (``"momentum_buffer"``,
``"square_avg"``, ``"exp_avg"``, ...).

Every setting is checked at construction: a real, finite number (``lr=None``
or ``lr="0.1"`` is a ``ValueError`` saying so), ``>= 0`` where torch requires
it, with torch's messages; ``betas`` a pair in ``[0, 1)``; flags ``True`` or ``False``.

``step()`` refuses to run while any parameter has received no gradient since
construction or the last ``zero_grad()`` (see :attr:`Parameter.has_grad`): a
forgotten ``backward()`` raises instead of silently updating with zeros.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from course_lib.numpy_nn._validate import InputTypeError, as_bool, as_real
from course_lib.numpy_nn.module import Module, Parameter


class Optimizer:
    """Base class: holds the parameters and their state; subclasses implement ``_update``."""

    def __init__(self, params: Iterable[Parameter]) -> None:
        if isinstance(params, (Parameter, Module)):
            hint = "model.parameters()" if isinstance(params, Module) else "[p]"
            raise ValueError(f"params must be an iterable of Parameters, e.g. {hint}")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen: dict[int, int] = {}
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise ValueError(
                    f"params[{i}] is a {type(p).__name__}, not a Parameter; "
                    "wrap arrays as Parameter(array)"
                )
            if id(p) in seen:
                raise ValueError(f"params[{i}] is the same Parameter as params[{seen[id(p)]}]")
            seen[id(p)] = i
        self.params: list[Parameter] = params
        self.state: dict[Parameter, dict[str, Any]] = {p: {} for p in params}

    def zero_grad(self) -> None:
        """Zero every parameter's gradient (and clear its ``has_grad`` flag)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every parameter from its current ``.grad``."""
        missing = [f"params[{i}] {p!r}" for i, p in enumerate(self.params) if not p.has_grad]
        if missing:
            raise RuntimeError(
                f"step() called but {len(missing)} of {len(self.params)} parameters received "
                "no gradient since the optimiser was created or since the last zero_grad(): "
                + ", ".join(missing[:5])
                + (", ..." if len(missing) > 5 else "")
                + ". Run the backward pass (model.backward(dout)) before step(); to set a "
                "gradient by hand, assign p.grad = g or call p.accumulate_grad(g)."
            )
        for p in self.params:
            self._update(p, self.state[p])

    def _update(self, p: Parameter, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v}" for k, v in vars(self).items() if k not in ("params", "state")
        )
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


def _at_least_zero(**values: object) -> dict[str, float]:
    """Each setting as a finite float ``>= 0``, with torch's messages for a negative one.

    A wrong type (``lr=None``, ``lr="0.1"``) is a ValueError too, not the
    TypeError of comparing it with 0. Returns the settings as floats.
    """
    names = {"lr": "learning rate", "eps": "epsilon value"}
    out = {}
    for name, v in values.items():
        v = as_real(v, name)
        if not 0.0 <= v:
            what = names.get(name, name + " value")
            raise ValueError(f"Invalid {what}: {v} (expected {name} >= 0)")
        out[name] = v
    return out


def _betas(betas: object) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``: a pair of real numbers in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise InputTypeError(
            f"betas must be a pair (beta1, beta2) of numbers in [0, 1), got {betas!r}"
        )
    pair = (as_real(betas[0], "betas[0]"), as_real(betas[1], "betas[1]"))
    for i, beta in enumerate(pair):
        if not 0.0 <= beta < 1.0:
            raise ValueError(
                f"Invalid beta parameter at index {i}: {beta} (expected 0 <= beta < 1)"
            )
    return pair


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and weight decay.

    With ``g = grad + weight_decay * p`` and buffer ``b`` (``b = g`` on the first step):

        b <- momentum * b + (1 - dampening) * g
        p <- p - lr * b                        (classical momentum, Polyak 1964)
        p <- p - lr * (g + momentum * b)       (nesterov=True, Sutskever et al. 2013)

    Note PyTorch's convention: lr multiplies the *buffer*, not each gradient.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        h = _at_least_zero(lr=lr, momentum=momentum, weight_decay=weight_decay)
        dampening, nesterov = as_real(dampening, "dampening"), as_bool(nesterov, "nesterov")
        if nesterov and (h["momentum"] <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params)
        self.lr, self.momentum, self.dampening = h["lr"], h["momentum"], dampening
        self.weight_decay, self.nesterov = h["weight_decay"], nesterov

    def _update(self, p: Parameter, state: dict[str, Any]) -> None:
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data  # L2 penalty (wd/2)|p|^2 added to the loss
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()  # first step: no dampening
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        data = p.data
        data -= self.lr * g  # in place: references to p.data stay valid


class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e, 2012), as in ``torch.optim.RMSprop``.

    With ``g = grad + weight_decay * p``:

        v <- alpha * v + (1 - alpha) * g^2                     running mean of g^2
        (centered: m <- alpha * m + (1 - alpha) * g, and v - m^2 replaces v: a variance)
        d <- g / (sqrt(v) + eps)                               eps *outside* the root
        p <- p - lr * d, or with momentum: b <- momentum * b + d, p <- p - lr * b
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        h = _at_least_zero(
            lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha
        )
        centered = as_bool(centered, "centered")
        super().__init__(params)
        self.lr, self.alpha, self.eps = h["lr"], h["alpha"], h["eps"]
        self.weight_decay, self.momentum, self.centered = h["weight_decay"], h["momentum"], centered

    def _update(self, p: Parameter, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if self.momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if self.centered:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        v = state["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        if self.centered:
            m = state["grad_avg"]
            m += (1 - self.alpha) * (g - m)  # = alpha m + (1 - alpha) g (torch's lerp)
            avg = np.sqrt(v - m * m)
        else:
            avg = np.sqrt(v)
        avg += self.eps
        data = p.data
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            data -= self.lr * buf
        else:
            data -= self.lr * (g / avg)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), as in ``torch.optim.Adam``.

    With ``g = grad + weight_decay * p`` (L2 style: *not* AdamW's decoupled decay)
    and step count t:

        m <- beta1 * m + (1 - beta1) * g                    first moment
        v <- beta2 * v + (1 - beta2) * g^2                  second moment
        (amsgrad, Reddi et al. 2018: v_max <- max(v_max, v), used instead of v)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    i.e. ``m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected moments; eps
    is added after the square root and after the bias correction.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        h = _at_least_zero(lr=lr, eps=eps, weight_decay=weight_decay)
        betas, amsgrad = _betas(betas), as_bool(amsgrad, "amsgrad")
        super().__init__(params)
        self.lr, self.betas, self.eps = h["lr"], betas, h["eps"]
        self.weight_decay, self.amsgrad = h["weight_decay"], amsgrad

    def _update(self, p: Parameter, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t, (beta1, beta2) = state["step"], self.betas
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)  # = beta1 m + (1 - beta1) g (torch's lerp)
        v *= beta2
        v += (1 - beta2) * g * g
        step_size = self.lr / (1 - beta1**t)  # bias correction of m folded into the step
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        if self.amsgrad:
            v_max = state["max_exp_avg_sq"]
            np.maximum(v_max, v, out=v_max)
            denom = np.sqrt(v_max) / bias_correction2_sqrt + self.eps
        else:
            denom = np.sqrt(v) / bias_correction2_sqrt + self.eps
        data = p.data
        data -= step_size * (m / denom)
