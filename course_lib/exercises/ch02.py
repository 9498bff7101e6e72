"""Chapter 2 exercises: backpropagation.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch02.py``.

Exercise ids, functions and the notebook that introduces each:

* ``ch02-ex-jacobian-vjp``: :func:`jacobian_by_vjp` (01, forward and reverse mode)
* ``ch02-ex-value-sigmoid``: :func:`value_sigmoid` (02, the scalar engine)
* ``ch02-ex-linear-backward``: :func:`linear_backward` (03, the linear layer)
* ``ch02-ex-gradient-check``: :func:`gradient_check` (03, gradient checking)
* ``ch02-ex-fit-linear``: :func:`fit_linear_mse` (03, the seed's gradient corrected)

Conventions are the book's: a batch of ``N`` row vectors ``x`` of shape
``(N, D)``, weights ``w`` of shape ``(D, M)`` so that a linear layer is
``x @ w + b``, and ``dout`` the gradient of a scalar loss with respect to a
function's output (the upstream gradient).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from course_lib.numpy_nn.autograd import Value

__all__ = [
    "fit_linear_mse",
    "gradient_check",
    "jacobian_by_vjp",
    "linear_backward",
    "value_sigmoid",
]


def jacobian_by_vjp(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of ``f: R^n -> R^m`` at ``x``, one row per reverse-mode pass.

    Exercise ``ch02-ex-jacobian-vjp``. Reverse mode computes vector-Jacobian
    products ``u^T J`` (book equation ``eq-ch02-vjp``); with ``u = e_i``, the
    ``i``-th unit vector of ``R^m``, the product is row ``i`` of ``J``. Call
    ``torch.func.vjp(f, x)`` once: it evaluates ``f`` and returns
    ``(y, vjp_fn)``, where ``vjp_fn(u)`` returns the 1-tuple ``(u^T J,)``. Then
    call ``vjp_fn`` once per output, ``m`` times in all, and stack the rows.
    Do not use ``torch.func.jacrev``, ``torch.func.jacfwd`` or
    ``torch.autograd.functional.jacobian``.

    Args:
        f: a differentiable function taking a 1-D tensor of shape ``(n,)`` and
            returning either a 1-D tensor of shape ``(m,)`` or a 0-D tensor
            (a scalar, ``m = 1``).
        x: a 1-D floating-point tensor of shape ``(n,)``.

    Returns:
        ``J`` of shape ``(m, n)``, ``J[i, j] = d f(x)[i] / d x[j]``, with the
        dtype and device of ``f(x)``. For a scalar ``f`` the shape is ``(1, n)``.

    Raises:
        ValueError: if ``x`` is not a 1-D floating-point tensor, or ``f(x)``
            has more than one axis.
    """
    ### BEGIN SOLUTION
    if not isinstance(x, torch.Tensor) or x.ndim != 1 or not x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a 1-D floating-point tensor (n,), got {got}")
    y, vjp_fn = torch.func.vjp(f, x)
    if y.ndim > 1:
        raise ValueError(f"f(x) must be a scalar or a 1-D tensor (m,), got shape {tuple(y.shape)}")
    m = y.numel()
    eye = torch.eye(m, dtype=y.dtype, device=y.device)  # (m, m): the unit vectors e_i
    # One reverse pass per output: e_i^T J is row i of J.
    rows = [vjp_fn(eye[i].reshape(y.shape))[0] for i in range(m)]  # m tensors (n,)
    return torch.stack(rows)  # (m, n)
    ### END SOLUTION


def value_sigmoid(v: Value) -> Value:
    """The logistic sigmoid as a new operation of the scalar engine ``Value``.

    Exercise ``ch02-ex-value-sigmoid``. Return a new ``Value`` ``out`` with

    * ``out.data = s = 1 / (1 + exp(-v.data))``, computed without overflow for
      any finite ``v.data`` (``math.exp`` raises ``OverflowError`` above about
      709: for a negative argument use ``exp(x) / (1 + exp(x))``);
    * ``v`` as its only child and ``"sigmoid"`` as its operation name, given
      to the constructor as ``Value(s, (v,), "sigmoid")``;
    * a backward closure, stored in ``out._backward``, that *adds*
      ``s * (1 - s) * out.grad`` to ``v.grad`` (book equation
      ``eq-ch02-sigmoid-grad``). Add, never assign: ``v`` may feed several
      operations, and the chain rule sums their contributions.

    Afterwards ``value_sigmoid(v).backward()`` must work like the built-in
    operations, also inside larger expressions that use ``v`` several times.

    Args:
        v: a ``course_lib.numpy_nn.autograd.Value``.

    Returns:
        The new ``Value``; ``v`` itself is not changed by the call.

    Raises:
        TypeError: if ``v`` is not a ``Value``.
    """
    ### BEGIN SOLUTION
    if not isinstance(v, Value):
        raise TypeError(f"value_sigmoid needs a Value, got {type(v).__name__}")
    x = v.data
    if x >= 0:
        s = 1.0 / (1.0 + math.exp(-x))
    else:  # exp(-x) could overflow; exp(x) cannot
        e = math.exp(x)
        s = e / (1.0 + e)
    out = Value(s, (v,), "sigmoid")

    def _backward() -> None:
        v.grad += s * (1.0 - s) * out.grad  # eq-ch02-sigmoid-grad: sigma (1 - sigma)

    out._backward = _backward
    return out
    ### END SOLUTION


def linear_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of the linear layer ``out = x @ w + b``.

    Exercise ``ch02-ex-linear-backward``. Given the upstream gradient
    ``dout = dL/dout`` return, as derived in the book (equation
    ``eq-ch02-linear-grads``)::

        dx = dout @ w.T        # (N, D)
        dw = x.T @ dout        # (D, M)
        db = dout summed over the batch axis   # (M,)

    ``b`` is not needed: the gradients do not depend on it.

    Args:
        dout: array ``(N, M)``.
        x: the layer's input, array ``(N, D)``.
        w: the weights, array ``(D, M)``.

    Returns:
        ``(dx, dw, db)`` with the shapes of ``x``, ``w`` and ``(M,)``, all of
        dtype ``np.result_type(dout.dtype, x.dtype, w.dtype)``.

    Raises:
        ValueError: if an argument is not 2-D, or the shapes do not fit
            together (``x.shape[1] != w.shape[0]``, ``dout.shape[0] != x.shape[0]``
            or ``dout.shape[1] != w.shape[1]``); the message names the shapes.
    """
    ### BEGIN SOLUTION
    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    if dout.ndim != 2 or x.ndim != 2 or w.ndim != 2:
        raise ValueError(
            f"expected 2-D dout (N, M), x (N, D), w (D, M); got {dout.shape}, {x.shape}, {w.shape}"
        )
    n, d = x.shape
    if w.shape[0] != d or dout.shape != (n, w.shape[1]):
        raise ValueError(
            f"shapes do not fit out = x @ w + b: x {x.shape}, w {w.shape}, dout {dout.shape}"
        )
    dtype = np.result_type(dout.dtype, x.dtype, w.dtype)
    dout, x, w = (a.astype(dtype, copy=False) for a in (dout, x, w))
    dx = dout @ w.T  # (N, M) @ (M, D) -> (N, D)
    dw = x.T @ dout  # (D, N) @ (N, M) -> (D, M): sums the N outer products x_n dout_n^T
    db = dout.sum(axis=0)  # (M,): b is added to every row
    return dx, dw, db
    ### END SOLUTION


def gradient_check(
    loss: Callable[[], float],
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    *,
    h: float = 1e-5,
) -> dict[str, float]:
    """Check analytic gradients against central differences, parameter by parameter.

    Exercise ``ch02-ex-gradient-check``. ``loss()`` evaluates a scalar loss
    that reads the arrays in ``params`` (through a closure). For every entry
    ``k`` of every parameter ``p``, perturb it *in place* and evaluate the
    central difference (book equation ``eq-ch02-central-difference``)::

        num[k] = (loss() with p[k] + h  -  loss() with p[k] - h) / (2 h)

    then put back the saved original value exactly (assign the saved number;
    do not add and subtract ``h``). Call ``loss`` exactly twice per entry and
    at no other time. The error of parameter ``name`` is the largest relative
    error over its entries (book equation ``eq-ch02-rel-error``)::

        max_k |g[k] - num[k]| / max(1e-8, |g[k]| + |num[k]|)     with g = grads[name]

    Write the differences yourself; do not call
    ``course_lib.numpy_nn.gradcheck.numerical_gradient``.

    Args:
        loss: a function of no arguments returning a float.
        params: name -> floating-point ndarray (float64 for a meaningful check).
        grads: name -> the analytic gradient, same names and shapes as ``params``.
        h: the step, a positive float.

    Returns:
        ``{name: max relative error}``, a float for every parameter, in the
        order of ``params``. When ``loss`` returns, every parameter holds
        exactly its original values.

    Raises:
        ValueError: if the names of ``params`` and ``grads`` differ, a gradient's
            shape differs from its parameter's, a parameter is not a
            floating-point ndarray, or ``h`` is not positive.
    """
    ### BEGIN SOLUTION
    if set(params) != set(grads):
        raise ValueError(
            f"params and grads name different arrays: {sorted(params)} vs {sorted(grads)}"
        )
    if not h > 0:
        raise ValueError(f"the step h must be positive, got {h}")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ValueError(f"parameter {name!r} must be a floating-point ndarray")
        if np.shape(grads[name]) != p.shape:
            raise ValueError(
                f"grads[{name!r}] has shape {np.shape(grads[name])}, parameter has {p.shape}"
            )
    errors = {}
    for name, p in params.items():
        num = np.zeros(p.shape, dtype=np.float64)
        for idx in np.ndindex(*p.shape):
            old = p[idx]
            try:
                p[idx] = old + h
                plus = float(loss())
                p[idx] = old - h
                minus = float(loss())
            finally:
                p[idx] = old  # the saved value: old + h - h need not equal old
            num[idx] = (plus - minus) / (2 * h)  # eq-ch02-central-difference
        g = np.asarray(grads[name], dtype=np.float64)
        rel = np.abs(g - num) / np.maximum(1e-8, np.abs(g) + np.abs(num))  # eq-ch02-rel-error
        errors[name] = float(rel.max()) if rel.size else 0.0
    return errors
    ### END SOLUTION


def fit_linear_mse(
    x: np.ndarray,
    y: np.ndarray,
    w0: np.ndarray,
    b0: np.ndarray,
    *,
    lr: float,
    steps: int,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Fit a linear model to ``y`` by gradient descent on the mean squared error.

    Exercise ``ch02-ex-fit-linear``: the seed's ``grad`` and
    ``backpropagation`` functions, corrected. The model and loss are::

        y_pred = x @ w + b                        # (N, M)
        L = mean((y_pred - y) ** 2)               # the mean over all N*M entries

    with the gradient derived in the book (equation ``eq-ch02-mse-linear-grad``)::

        g  = 2 (y_pred - y) / (N * M)             # dL/dy_pred, (N, M)
        dw = x.T @ g,   db = g summed over the batch axis

    Starting from ``w = w0``, ``b = b0``, take ``steps`` steps of plain
    gradient descent, ``w <- w - lr * dw`` and ``b <- b - lr * db``, each with
    the gradient at the current parameters. This is exactly what
    ``torch.optim.SGD([w, b], lr=lr)`` does on the same loss.

    Args:
        x: inputs, array ``(N, D)``.
        y: targets, array ``(N, M)``.
        w0: initial weights ``(D, M)``; not modified.
        b0: initial bias ``(M,)``; not modified.
        lr: the learning rate, a positive float.
        steps: the number of steps, an int ``>= 0``.

    Returns:
        ``(w, b, losses)``: new float64 arrays with the final parameters, and
        the list of the ``steps`` losses (floats), each evaluated *before* its
        step. ``w0``, ``b0``, ``x`` and ``y`` are left unchanged.

    Raises:
        ValueError: if the shapes do not fit (named in the message), ``lr`` is
            not positive or ``steps`` is negative.
    """
    ### BEGIN SOLUTION
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w, b = np.array(w0, dtype=np.float64), np.array(b0, dtype=np.float64)  # copies: no mutation
    if x.ndim != 2 or y.ndim != 2 or w.ndim != 2 or b.ndim != 1:
        raise ValueError(
            f"expected x (N, D), y (N, M), w0 (D, M), b0 (M,); got {x.shape}, {y.shape}, "
            f"{w.shape}, {b.shape}"
        )
    if w.shape[0] != x.shape[1] or y.shape != (x.shape[0], w.shape[1]) or b.shape != (w.shape[1],):
        raise ValueError(
            f"shapes do not fit y = x @ w + b: x {x.shape}, w0 {w.shape}, b0 {b.shape}, y {y.shape}"
        )
    if not lr > 0 or steps < 0:
        raise ValueError(f"need lr > 0 and steps >= 0, got lr={lr}, steps={steps}")
    losses = []
    for _ in range(steps):
        residual = x @ w + b - y  # (N, M)
        losses.append(float(np.mean(residual**2)))
        # dL/dy_pred with the 1/(N*M) of the mean (eq-ch02-mse-linear-grad)
        g = 2.0 * residual / residual.size  # (N, M)
        dw = x.T @ g  # (D, M): depends on the inputs, not on w
        db = g.sum(axis=0)  # (M,)
        w = w - lr * dw  # descent: minus the gradient, on new arrays
        b = b - lr * db
    return w, b, losses
    ### END SOLUTION
