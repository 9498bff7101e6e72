"""Training loop for the NumPy networks: mini-batches, ``fit``, ``evaluate``, input scaling.

Chapter 2 writes this loop out by hand (``book/ch02/04_training_an_mlp.ipynb``)
and derives each piece; from Chapter 3 on the library version is used instead.
It is the same loop::

    for each epoch:
        for each shuffled mini-batch (xb, yb):
            opt.zero_grad()
            loss, dlogits = cross_entropy_loss(model(transform(xb)), yb)
            model.backward(dlogits)
            opt.step()

The datasets stay ``uint8`` (47 MB for the Fashion-MNIST training set) and only
the batch in use is converted to floating point by ``transform``
(:func:`to_inputs` by default), which keeps the memory use small.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from course_lib.numpy_nn.functional.losses import cross_entropy_loss
from course_lib.numpy_nn.module import Module

__all__ = [
    "FASHION_MEAN",
    "FASHION_STD",
    "History",
    "evaluate",
    "fit",
    "minibatches",
    "predict",
    "to_inputs",
]

# Mean and standard deviation of all 60,000 x 784 Fashion-MNIST *training* pixels scaled
# to [0, 1] (computed in float64; Chapter 2's pixel_statistics gives the same numbers).
FASHION_MEAN = 0.2860405969887955
FASHION_STD = 0.35302424451492254

Transform = Callable[[np.ndarray], np.ndarray]


def to_inputs(
    images: np.ndarray,
    *,
    mean: float = FASHION_MEAN,
    std: float = FASHION_STD,
    dtype: Any = np.float32,
    flatten: bool = False,
) -> np.ndarray:
    """Images -> standardised network inputs: ``(x / 255 - mean) / std``.

    Args:
        images: ``uint8`` (N, H, W) in [0, 255], or floating (N, H, W) already in [0, 1].
        mean, std: of the training pixels in [0, 1]; Fashion-MNIST's by default.
        dtype: of the result, float32 by default.
        flatten: return rows (N, H*W) for an MLP instead of (N, 1, H, W) for a CNN.

    Returns:
        (N, 1, H, W), or (N, H*W) with ``flatten=True``, of ``dtype``; a new array.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be 3-D (N, H, W), got shape {images.shape}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    x = images.astype(dtype)  # a copy: the caller's array is never modified
    if images.dtype == np.uint8:
        x /= dtype.type(255)  # [0, 255] -> [0, 1]
    elif not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be uint8 or floating, got dtype {images.dtype}")
    x -= dtype.type(mean)
    x /= dtype.type(std)
    n, h, w = images.shape
    return x.reshape(n, h * w) if flatten else x.reshape(n, 1, h, w)


def minibatches(
    n: int, batch_size: int, *, rng: np.random.Generator | None = None
) -> Iterator[np.ndarray]:
    """Index arrays of one epoch: ``ceil(n / batch_size)`` batches covering ``range(n)`` once.

    In order when ``rng`` is None, else in the order of ``rng.permutation(n)``
    (sampling without replacement); the last batch holds the remainder.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = np.arange(n) if rng is None else rng.permutation(int(n))
    for start in range(0, int(n), int(batch_size)):
        yield order[start : start + int(batch_size)]


@dataclass
class History:
    """What :func:`fit` measured.

    Per optimiser step: ``step`` (1, 2, ...) and ``loss``, the training
    mini-batch loss. Per epoch: ``epoch`` (1, 2, ...), ``train_loss`` and
    ``train_accuracy`` (the means over the epoch's mini-batches, in training
    mode, as the weights moved), ``test_loss`` and ``test_accuracy`` (of
    :func:`evaluate` on ``eval_data`` after the epoch; NaN without it) and
    ``seconds`` (wall time of the epoch's training steps, evaluation excluded).
    An epoch cut short by ``max_steps`` is recorded as an epoch.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _check_data(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or images.ndim < 1 or len(images) != len(labels):
        raise ValueError(
            f"images {images.shape} and labels {labels.shape} must hold the same number "
            "of examples: labels (N,) for images (N, ...)"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if len(labels) == 0:
        raise ValueError("got an empty data set")
    return images, labels


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def predict(
    model: Module,
    images: np.ndarray,
    *,
    transform: Transform | None = to_inputs,
    batch_size: int = 1000,
) -> np.ndarray:
    """Logits (N, K) of ``model`` in evaluation mode, ``batch_size`` images at a time."""
    images = np.asarray(images)
    transform = transform or _identity
    was_training = model.training
    model.eval()
    try:
        out = [model(transform(images[idx])) for idx in minibatches(len(images), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def evaluate(
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    transform: Transform | None = to_inputs,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` of ``model`` on a data set, in evaluation mode.

    The mean is over examples (each batch's mean weighted by its size); the
    model's training/evaluation mode is restored afterwards.
    """
    images, labels = _check_data(images, labels)
    transform = transform or _identity
    was_training = model.training
    model.eval()  # dropout off, batch norm on its running statistics
    total_loss, correct = 0.0, 0
    try:
        for idx in minibatches(len(labels), batch_size):
            logits = model(transform(images[idx]))  # (B, K)
            loss, _ = cross_entropy_loss(logits, labels[idx])
            total_loss += float(loss) * len(idx)
            correct += int(np.sum(logits.argmax(axis=1) == labels[idx]))
    finally:
        model.train(was_training)
    return total_loss / len(labels), correct / len(labels)


def fit(
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    optimizer: Any,
    epochs: int,
    batch_size: int = 64,
    rng: np.random.Generator,
    transform: Transform | None = to_inputs,
    max_steps: int | None = None,
    eval_data: tuple[np.ndarray, np.ndarray] | None = None,
    eval_transform: Transform | None = None,
    callback: Callable[[int, Module, float], None] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with softmax cross-entropy by mini-batch gradient descent.

    Args:
        model: a NumPy :class:`Module` mapping ``transform(batch)`` to logits (B, K).
        images, labels: the training set, (N, ...) (``uint8`` (N, 28, 28) for
            Fashion-MNIST, kept as it is) and integer labels (N,).
        optimizer: a :mod:`course_lib.numpy_nn.optim` optimiser over ``model.parameters()``.
        epochs: passes over the training set.
        batch_size: examples per step; the last batch of an epoch may be smaller.
        rng: shuffles the training set each epoch (the only randomness here), so
            the same model, optimiser and seed give the same run.
        transform: uint8 batch -> float input (:func:`to_inputs`, i.e. (B, 1, 28, 28);
            ``functools.partial(to_inputs, flatten=True)`` for an MLP); None: identity.
        max_steps: stop after this many optimiser steps in total (tests, smoke runs).
        eval_data: ``(images, labels)`` evaluated after each epoch.
        eval_transform: the transform for ``eval_data``; None: ``transform``. Give one
            when ``transform`` augments (random shifts, ...) and evaluation must not.
        callback: ``callback(step, model, loss)`` after every optimiser step.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`History`. The model is left in training mode.
    """
    images, labels = _check_data(images, labels)
    if eval_data is not None:
        eval_data = _check_data(*eval_data)
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if max_steps is not None and (int(max_steps) != max_steps or max_steps < 0):
        raise ValueError(f"max_steps must be a non-negative integer or None, got {max_steps!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
    transform = transform or _identity
    eval_transform = eval_transform or transform
    steps_per_epoch = math.ceil(len(labels) / batch_size)
    total = int(epochs) * steps_per_epoch
    if max_steps is not None:
        total = min(total, int(max_steps))

    history = History()
    step = 0
    model.train()
    with tqdm(total=total, disable=not progress, unit="step", leave=False) as bar:
        for epoch in range(1, int(epochs) + 1):
            if step >= total:
                break
            start = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0, 0
            for idx in minibatches(len(labels), batch_size, rng=rng):
                xb, yb = transform(images[idx]), labels[idx]
                optimizer.zero_grad()
                logits = model(xb)  # (B, K)
                loss, dlogits = cross_entropy_loss(logits, yb)
                model.backward(dlogits)  # fills every p.grad
                optimizer.step()
                step += 1
                loss = float(loss)
                history.step.append(step)
                history.loss.append(loss)
                loss_sum += loss * len(idx)
                correct += int(np.sum(logits.argmax(axis=1) == yb))
                seen += len(idx)
                if callback is not None:
                    callback(step, model, loss)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}", refresh=False)
                if step >= total:
                    break
            history.seconds.append(time.perf_counter() - start)
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(correct / seen)
            if eval_data is not None:
                test_loss, test_acc = evaluate(model, *eval_data, transform=eval_transform)
            else:
                test_loss = test_acc = math.nan
            history.test_loss.append(test_loss)
            history.test_accuracy.append(test_acc)
    model.train()
    return history
