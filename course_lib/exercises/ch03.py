"""Chapter 3 exercises: activation functions.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch03.py``.

Exercise ids, functions and the notebook that introduces each:

* ``ch03-ex-mish``: :func:`mish_forward_backward` (01, activations and their derivatives)
* ``ch03-ex-logsigmoid``: :func:`log_sigmoid` (02, numerical stability)
* ``ch03-ex-gain``: :func:`activation_gain` (03, saturation and initialisation)
* ``ch03-ex-dead-relus``: :func:`dead_relu_counts` (04, dead ReLUs)

Conventions are the book's: elementwise functions take arrays of any shape
and return arrays of the same shape and floating dtype (float32 stays
float32); the first axis of a batch is the example axis.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_lib.numpy_nn.layers import ReLU
from course_lib.numpy_nn.module import Sequential

__all__ = [
    "activation_gain",
    "dead_relu_counts",
    "log_sigmoid",
    "mish_forward_backward",
]


def _float_array(x: object) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a floating-point array, got dtype {x.dtype}")
    return x


def mish_forward_backward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mish, ``f(x) = x * tanh(softplus(x))`` with ``softplus(x) = log(1 + exp(x))``, and f'(x).

    Exercise ``ch03-ex-mish``. Mish (Misra 2019) is a smooth activation in the
    family of SiLU and GELU. Derive its derivative by hand with the product and
    chain rules (book, notebook 01: ``softplus'(x) = sigmoid(x)`` and
    ``tanh'(u) = 1 - tanh(u)^2``) and implement both, elementwise.

    The result must be finite and free of overflow warnings for every finite
    input, including ``x = +-1e4`` in float32 and float64: ``exp(x)`` itself
    must never be evaluated at a large positive ``x``. Use the stable
    softplus ``max(x, 0) + log1p(exp(-|x|))``.

    Args:
        x: a floating-point array of any shape.

    Returns:
        ``(out, dout_dx)``: ``f(x)`` and ``f'(x)``, both of the shape and dtype of ``x``.

    Raises:
        ValueError: if ``x`` is not a floating-point array.
    """
    ### BEGIN SOLUTION
    x = _float_array(x)
    softplus = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # log(1 + e^x), no overflow
    t = np.tanh(softplus)
    e = np.exp(-np.abs(x))  # sigmoid(x) = softplus'(x), computed without overflow
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    out = x * t
    grad = t + x * (1 - t * t) * sig  # product rule, then chain rule through tanh and softplus
    return out.astype(x.dtype, copy=False), grad.astype(x.dtype, copy=False)
    ### END SOLUTION


def log_sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(sigmoid(x)) = -log(1 + exp(-x))`` and its derivative, stable for every finite x.

    Exercise ``ch03-ex-logsigmoid``. The naive ``np.log(1 / (1 + np.exp(-x)))``
    overflows for ``x < -709`` (float64) and returns ``-inf`` where the true
    value is about ``x``. Rewrite it so that no ``exp`` of a positive number
    is ever computed (book, notebook 02: split on the sign of ``x`` as for the
    stable sigmoid, and use ``log1p``). The derivative is
    ``d/dx log(sigmoid(x)) = 1 - sigmoid(x) = sigmoid(-x)``; compute it
    without overflow too.

    Args:
        x: a floating-point array of any shape.

    Returns:
        ``(out, grad)``, both of the shape and dtype of ``x``: ``out`` is
        ``log(sigmoid(x))`` (always ``<= 0``, about ``x`` for ``x << 0``) and
        ``grad`` its derivative, in ``[0, 1]``.

    Raises:
        ValueError: if ``x`` is not a floating-point array.
    """
    ### BEGIN SOLUTION
    x = _float_array(x)
    e = np.exp(-np.abs(x))  # in (0, 1]
    out = np.minimum(x, 0) - np.log1p(e)  # x >= 0: -log(1 + e^-x); x < 0: x - log(1 + e^x)
    grad = np.where(x >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
    return out.astype(x.dtype, copy=False), grad.astype(x.dtype, copy=False)
    ### END SOLUTION


def activation_gain(f: Callable[[np.ndarray], np.ndarray], *, num_points: int = 101) -> float:
    """The weight gain that preserves the second moment through a layer with activation ``f``.

    Exercise ``ch03-ex-gain``. For ``z ~ N(0, 1)`` (a pre-activation of unit
    variance) the next layer's pre-activations have variance
    ``fan_in * Var(w) * E[f(z)^2]`` (book equation ``eq-ch03-second-moment``).
    With ``Var(w) = gain^2 / fan_in`` they keep unit variance when
    ``gain = 1 / sqrt(E[f(z)^2])``: ``sqrt(2)`` for ReLU (He et al. 2015),
    1 for the identity.

    Compute ``E[f(z)^2]`` with Gauss-Hermite quadrature for the standard
    normal: ``nodes, weights = np.polynomial.hermite_e.hermegauss(num_points)``
    gives ``sum(weights * g(nodes)) ~ integral of g(z) exp(-z^2 / 2) dz``, so
    divide by ``sqrt(2 pi)`` (the sum of the weights) to get an expectation.
    Evaluate ``f`` once, on the float64 array of nodes.

    Args:
        f: an elementwise activation, array in, array of the same shape out.
        num_points: number of quadrature nodes, an integer >= 2.

    Returns:
        The gain, a Python float.

    Raises:
        ValueError: if ``num_points < 2`` or ``E[f(z)^2]`` is zero or not finite.
    """
    ### BEGIN SOLUTION
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2, got {num_points!r}")
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_points)
    values = np.asarray(f(nodes), dtype=np.float64)
    second_moment = np.sum(weights * values**2) / np.sqrt(2 * np.pi)  # E[f(z)^2]
    if not np.isfinite(second_moment) or second_moment <= 0:
        raise ValueError(f"E[f(z)^2] must be positive and finite, got {second_moment}")
    return float(1 / np.sqrt(second_moment))
    ### END SOLUTION


def dead_relu_counts(model: Sequential, x: np.ndarray) -> list[int]:
    """For each ``ReLU`` layer of ``model``, the number of its units that are dead on ``x``.

    Exercise ``ch03-ex-dead-relus``. A unit (one entry of a layer's output for
    one example, e.g. one hidden neuron of an MLP, or one channel at one pixel
    of a CNN) is *dead on the batch* when its ReLU input is ``<= 0`` for every
    example of the batch: its output and its gradient are then 0 for all of
    them, so the weights feeding it get no gradient from this batch.

    Run ``x`` through the layers of ``model`` one at a time (a ``Sequential``
    iterates over its layers) and, at each ``course_lib.numpy_nn.layers.ReLU``
    (use ``isinstance``; other activations, LeakyReLU included, never die),
    count the dead units of the input it receives. Do not change the model's
    parameters.

    Args:
        model: a ``Sequential`` whose layers take the output of the previous one.
        x: a batch of inputs for the first layer, examples along axis 0 (N >= 1).

    Returns:
        One Python int per ReLU layer, in order; an empty list if there is none.

    Raises:
        ValueError: if ``x`` is empty along its first axis.
    """
    ### BEGIN SOLUTION
    h = np.asarray(x)
    if h.ndim == 0 or h.shape[0] == 0:
        raise ValueError(f"x must hold at least one example along axis 0, got shape {h.shape}")
    counts = []
    for layer in model:
        if isinstance(layer, ReLU):
            dead = np.all(h <= 0, axis=0)  # (units...): never positive on this batch
            counts.append(int(dead.sum()))
        h = layer(h)
    return counts
    ### END SOLUTION
