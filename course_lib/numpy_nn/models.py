"""Ready-made NumPy networks: the MLP of Chapters 2-3 and the small CNN of Chapter 5.

Both are plain :class:`~course_lib.numpy_nn.module.Sequential` stacks of the
library's layers, so their parameters are named as in ``torch.nn.Sequential``
(``"0.weight"``, ...) and can be copied into the same network in PyTorch
(``course_lib.torch_nn.cnn.SimpleCNN.load_numpy`` does it for the CNN).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_lib.numpy_nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from course_lib.numpy_nn.module import Module, Sequential

__all__ = ["mlp", "simple_cnn", "simple_cnn_feature_size"]


def _positive_ints(values: Sequence[int], name: str, length: int | None = None) -> tuple[int, ...]:
    values = tuple(values)
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must have {length} entries, got {values!r}")
    if not values or any(isinstance(v, bool) or int(v) != v or v < 1 for v in values):
        raise ValueError(f"{name} must be positive integers, got {values!r}")
    return tuple(int(v) for v in values)


def mlp(
    sizes: Sequence[int] = (784, 256, 128, 10),
    *,
    activation: Callable[[], Module] = ReLU,
    rng: np.random.Generator,
    init: str = "he",
    dtype: Any = np.float32,
) -> Sequential:
    """A multi-layer perceptron: Linear, activation, ..., Linear (no activation after the last).

    Args:
        sizes: ``(inputs, hidden..., outputs)``, at least two entries; the default is
            Chapter 2's 784-256-128-10 network (``make_mlp`` there builds the same one).
        activation: a layer class or factory, called once per hidden layer.
        rng: draws the initial weights, layer by layer in order.
        init: the weight initialisation of every Linear (see ``layers.Linear``), He by default.
        dtype: of the parameters.

    Input (N, sizes[0]) -> logits (N, sizes[-1]).
    """
    sizes = _positive_ints(sizes, "sizes")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least (inputs, outputs), got {sizes!r}")
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(n_in, n_out, rng=rng, init=init, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(activation())
    return Sequential(*layers)


def simple_cnn_feature_size(channels: Sequence[int] = (8, 16), image_size: int = 28) -> int:
    """Inputs of the final Linear of :func:`simple_cnn`: ``c2 * (S // 4)**2``.

    Each 3x3 convolution with padding 1 keeps the size; each 2x2 max-pool halves
    it, rounding down: S -> S // 2 -> (S // 2) // 2 = S // 4 (28 -> 14 -> 7).
    """
    c1, c2 = _positive_ints(channels, "channels", 2)
    side = int(image_size) // 2 // 2
    if side < 1:
        raise ValueError(f"image_size must be at least 4 for two 2x2 poolings, got {image_size}")
    return c2 * side * side


def simple_cnn(
    *,
    channels: Sequence[int] = (8, 16),
    num_classes: int = 10,
    image_size: int = 28,
    in_channels: int = 1,
    rng: np.random.Generator,
    init: str = "he",
    dtype: Any = np.float32,
) -> Sequential:
    """Chapter 5's NumPy CNN: two conv-ReLU-pool blocks and a linear classifier.

    ::

        Conv2d(in, c1, 3, padding=1)  ReLU  MaxPool2d(2)    (N, in, S, S) -> (N, c1, S/2, S/2)
        Conv2d(c1, c2, 3, padding=1)  ReLU  MaxPool2d(2)    -> (N, c2, S/4, S/4)
        Flatten  Linear(c2 * (S/4)**2, num_classes)         -> (N, num_classes) logits

    Layer indices 0, 3 and 7 hold the parameters (``"0.weight"``, ``"3.bias"``,
    ``"7.weight"``, ...), as in the same ``torch.nn.Sequential``.
    """
    c1, c2 = _positive_ints(channels, "channels", 2)
    (num_classes,) = _positive_ints((num_classes,), "num_classes")
    (in_channels,) = _positive_ints((in_channels,), "in_channels")
    kw = {"rng": rng, "init": init, "dtype": dtype}
    return Sequential(
        Conv2d(in_channels, c1, 3, padding=1, **kw),
        ReLU(),
        MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1, **kw),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(simple_cnn_feature_size((c1, c2), image_size), num_classes, **kw),
    )
