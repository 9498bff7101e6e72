"""Chapter 5 exercises: convolutional networks.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch05.py``.

Exercise ids, functions and the notebook that introduces each:

* ``ch05-ex-layer-table``: :func:`layer_table` (01, shapes and parameter counts)
* ``ch05-ex-class-weights``: :func:`balanced_class_weights` (04, class imbalance)
* ``ch05-ex-random-shift``: :func:`random_shift` (03, data augmentation)
* ``ch05-ex-macro-f1``: :func:`macro_f1` (03, per-class metrics)

Conventions are the book's: images and feature maps are ``(N, C, H, W)``
(batches of grey images may be ``(N, H, W)``); a confusion matrix ``cm`` has
the true class on the rows and the predicted class on the columns,
``cm[i, j]`` = number of examples of class ``i`` predicted as ``j``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "balanced_class_weights",
    "layer_table",
    "macro_f1",
    "random_shift",
]


def layer_table(
    spec: Sequence[Mapping[str, Any]], input_shape: tuple[int, int, int]
) -> list[tuple[tuple[int, ...], int]]:
    """The output shape and the number of parameters of every layer of a CNN.

    Exercise ``ch05-ex-layer-table``. ``spec`` lists the layers in order, each a
    dict with a ``"type"`` and its settings (the defaults are PyTorch's):

    * ``{"type": "conv", "out_channels": F, "kernel_size": K, "stride": 1,
      "padding": 0, "bias": True}``: ``torch.nn.Conv2d(C, F, K, stride, padding, bias=bias)``
      with ``C`` the channels of its input; square kernels, same stride and
      padding in both directions. Output side ``floor((S + 2 p - K) / s) + 1``
      (book equation ``eq-ch05-conv-size``); ``F*C*K*K`` weights plus ``F`` biases.
    * ``{"type": "maxpool", "kernel_size": K, "stride": K}``: ``torch.nn.MaxPool2d``
      without padding (the stride defaults to the kernel size); the same size formula
      with ``p = 0``; no parameters.
    * ``{"type": "relu"}``: shape unchanged, no parameters.
    * ``{"type": "flatten"}``: ``(C, H, W) -> (C*H*W,)``, no parameters.
    * ``{"type": "linear", "out_features": M, "bias": True}``: needs a flat input
      ``(D,)``; output ``(M,)``, ``D*M`` weights plus ``M`` biases.

    Args:
        spec: the layers, as above; missing optional keys take their defaults.
        input_shape: ``(C, H, W)`` of one input image (no batch axis).

    Returns:
        One ``(output shape, parameter count)`` pair per layer, shapes without the
        batch axis, as tuples of Python ints: e.g. ``((8, 28, 28), 80)`` for
        ``{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}`` on
        ``(1, 28, 28)``.

    Raises:
        ValueError: for an unknown layer type, a conv or pool whose output would
            be empty (kernel larger than the padded input), a conv or pool on a
            flat input, or a linear layer on an input that is not flat.
    """
    ### BEGIN SOLUTION
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    table: list[tuple[tuple[int, ...], int]] = []
    for i, layer in enumerate(spec):
        kind = layer["type"]
        params = 0
        if kind in ("conv", "maxpool"):
            if len(shape) != 3:
                raise ValueError(f"layer {i} ({kind}) needs a (C, H, W) input, got {shape}")
            c, h, w = shape
            k = int(layer["kernel_size"])
            if kind == "conv":
                s, p = int(layer.get("stride", 1)), int(layer.get("padding", 0))
                f = int(layer["out_channels"])
                params = f * c * k * k + (f if layer.get("bias", True) else 0)
            else:  # pooling keeps the channels; its stride defaults to its kernel size
                s, p, f = int(layer.get("stride", k)), 0, c
            if h + 2 * p < k or w + 2 * p < k:
                raise ValueError(f"layer {i} ({kind}): kernel {k} larger than input {shape}")
            h_out = (h + 2 * p - k) // s + 1  # eq-ch05-conv-size
            w_out = (w + 2 * p - k) // s + 1
            shape = (f, h_out, w_out)
        elif kind == "relu":
            pass
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "linear":
            if len(shape) != 1:
                raise ValueError(f"layer {i} (linear) needs a flat input, got {shape}")
            m = int(layer["out_features"])
            params = shape[0] * m + (m if layer.get("bias", True) else 0)
            shape = (m,)
        else:
            raise ValueError(f"layer {i}: unknown layer type {kind!r}")
        table.append((shape, params))
    return table
    ### END SOLUTION


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency class weights for a weighted cross-entropy.

    Exercise ``ch05-ex-class-weights``. With ``n_k`` examples of class ``k``
    among ``N`` labels, class ``k`` gets the weight ``w_k = N / (K' n_k)``
    (book equation ``eq-ch05-class-weights``), where ``K'`` is the number of
    classes that occur at least once; a class that does not occur gets weight 0.
    Then every present class carries the same total weight ``n_k w_k = N / K'``
    and the weights, summed over the ``N`` examples, add up to ``N``: the scale
    of the loss is unchanged, only its balance between the classes. (This is
    scikit-learn's ``class_weight="balanced"`` when every class occurs.)

    Args:
        labels: integer class labels, shape ``(N,)``, values in ``[0, num_classes)``.
        num_classes: ``K``.

    Returns:
        ``(K,)`` float64 weights.

    Raises:
        ValueError: if ``labels`` is not a non-empty 1-D integer array, or a label
            lies outside ``[0, num_classes)``.
    """
    ### BEGIN SOLUTION
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        lo, hi = labels.min(), labels.max()
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)  # n_k
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])  # eq-ch05-class-weights
    return weights
    ### END SOLUTION


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by a random whole number of pixels, filling with zeros.

    Exercise ``ch05-ex-random-shift``. For each image ``n`` draw
    ``dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)`` (in this order:
    image 0's pair first, then image 1's, ...) and move its content down by
    ``dy`` and right by ``dx`` rows and columns (negative: up or left):
    ``out[n, i, j] = images[n, i - dy, j - dx]`` where that index lies inside
    the image, and 0 where it does not. Pixels moved past the border are lost.
    This is the "pad by ``max_shift`` and crop a random window" augmentation.

    Args:
        images: ``(N, H, W)`` array of any dtype (``uint8`` typically); not modified.
        max_shift: the largest shift, ``0 <= max_shift``; 0 returns a copy.
        rng: the generator to draw the shifts from.

    Returns:
        A new array with the shape and dtype of ``images``.

    Raises:
        ValueError: if ``images`` is not 3-D or ``max_shift`` is negative.
    """
    ### BEGIN SOLUTION
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    n, h, w = images.shape
    out = np.zeros_like(images)
    for k in range(n):
        dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
        # destination rows [max(dy, 0), h + min(dy, 0)) come from source rows shifted by -dy
        out[k, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
            k, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return out
    ### END SOLUTION


def macro_f1(cm: np.ndarray) -> float:
    """The macro-averaged F1 score of a confusion matrix.

    Exercise ``ch05-ex-macro-f1``. For each class ``k``, with ``TP = cm[k, k]``,
    precision ``P_k = TP / (column sum k)`` (of the examples predicted as ``k``,
    the fraction that are ``k``), recall ``R_k = TP / (row sum k)`` (of the
    examples of class ``k``, the fraction found) and
    ``F1_k = 2 P_k R_k / (P_k + R_k)``, their harmonic mean (book equation
    ``eq-ch05-f1``). A ratio ``0 / 0`` counts as 0 (as in scikit-learn's
    ``zero_division=0``). The macro-F1 is the plain mean of ``F1_k`` over all
    ``K`` classes, each class counting equally whatever its size.

    Args:
        cm: ``(K, K)`` non-negative integer counts, rows = true class,
            columns = predicted class.

    Returns:
        The macro-F1 as a Python float in ``[0, 1]``.

    Raises:
        ValueError: if ``cm`` is not square, is empty, or has negative entries.
    """
    ### BEGIN SOLUTION
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0:
        raise ValueError(f"cm must be a non-empty square (K, K) matrix, got shape {cm.shape}")
    if (cm < 0).any():
        raise ValueError("cm must not have negative counts")
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())  # eq-ch05-f1, averaged over classes
    ### END SOLUTION
