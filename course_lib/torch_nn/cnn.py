"""Convolutional classifiers for Fashion-MNIST: the NumPy network in torch, then a better one.

:class:`SimpleCNN` is the NumPy ``course_lib.numpy_nn.models.simple_cnn`` layer
for layer (same layer sizes, same parameter layouts except the transposed
linear weight), so :meth:`SimpleCNN.load_numpy` makes the two compute the
same logits and the same gradients (tests/torch/test_cnn.py asserts both).

:class:`FashionCNN` adds what Chapter 5 measures one by one: batch
normalisation after every convolution (Ioffe and Szegedy 2015), two
convolutions per resolution (as in VGG, Simonyan and Zisserman 2015), max
pooling, dropout before the head (Srivastava et al. 2014) and a small linear
head. Every size is an argument.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["FashionCNN", "SimpleCNN", "build_model", "MODELS", "count_parameters"]


class SimpleCNN(nn.Module):
    """conv3x3-ReLU-pool, conv3x3-ReLU-pool, linear: (N, C, H, W) -> logits (N, K).

    The same layers, in the same order, as the NumPy ``simple_cnn``::

        Conv2d(C, c1, 3, padding=1) ReLU MaxPool2d(2)      (N, c1, H/2, W/2)
        Conv2d(c1, c2, 3, padding=1) ReLU MaxPool2d(2)     (N, c2, H/4, W/4)
        Flatten Linear(c2 * H/4 * W/4, K)

    ``net`` is an ``nn.Sequential`` whose indices match the NumPy Sequential's.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        channels: tuple[int, int] = (8, 16),
        num_classes: int = 10,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if image_size < 4:
            raise ValueError(f"image_size must be at least 4 for two 2x2 pools, got {image_size}")
        c1, c2 = channels
        side = image_size // 2 // 2  # each pool halves, rounding down, as in NumPy
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),  # (N, c2, side, side) -> (N, c2*side*side), C order as in NumPy
            nn.Linear(c2 * side * side, num_classes),
        )

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.net[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def load_numpy(self, model: Any) -> SimpleCNN:
        """Copy the weights of a NumPy ``simple_cnn`` (a ``Sequential``); return ``self``.

        Conv weights are (F, C, KH, KW) on both sides; the NumPy linear weight is
        (in, out), torch's (out, in), hence the transpose. The dtype of this
        module is kept (call ``.double()`` first to compare in float64).
        """
        layers = getattr(model, "layers", None)
        if layers is None or len(layers) != len(self.net):
            raise ValueError(
                f"expected a NumPy Sequential of {len(self.net)} layers like simple_cnn, "
                f"got {type(model).__name__} with {len(layers) if layers is not None else '?'}"
            )
        for i, (mine, theirs) in enumerate(zip(self.net, layers, strict=True)):
            if not isinstance(mine, (nn.Conv2d, nn.Linear)):
                continue
            w = torch.as_tensor(theirs.weight.data)
            if isinstance(mine, nn.Linear):
                w = w.T  # NumPy (in, out) -> torch (out, in)
            if w.shape != mine.weight.shape:
                raise ValueError(
                    f"layer {i}: NumPy weight {tuple(w.shape)} does not fit torch "
                    f"{tuple(mine.weight.shape)}"
                )
            mine.weight.copy_(w)
            if theirs.bias is None:
                mine.bias.zero_()
            else:
                mine.bias.copy_(torch.as_tensor(theirs.bias.data))
        return self


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    # no conv bias: the batch norm's shift (beta) takes its place
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class FashionCNN(nn.Module):
    """Two blocks of (conv-BN-ReLU) x 2 + max-pool, dropout and a small linear head.

    Shapes for a 28 x 28 input and width w::

        features    (N, 1, 28, 28) -> (N, w, 14, 14) -> (N, 2w, 7, 7)
        classifier  flatten (N, 2w*49) -> dropout -> Linear(2w*49, hidden) -> ReLU
                    -> dropout -> Linear(hidden, K)

    Args:
        in_channels, num_classes: C and K.
        width: channels of the first block; the second has twice as many.
        dropout: probability used before each linear layer (0 disables it).
        hidden: units of the hidden linear layer.
        image_size: side of the (square) input, a multiple of 4.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        dropout: float = 0.3,
        hidden: int = 128,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two pools), got {image_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        w, side = width, image_size // 4
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, w),
            *_conv_bn_relu(w, w),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w, 2 * w),
            *_conv_bn_relu(2 * w, 2 * w),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * w * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.features[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


MODELS: dict[str, type[nn.Module]] = {"simple": SimpleCNN, "fashion": FashionCNN}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build any model of the course by name (``"simple"``, ``"fashion"``, ...) with keyword sizes.

    The same as :func:`course_lib.torch_nn.zoo.build_model`, which lists every name.
    """
    from course_lib.torch_nn.zoo import build_model as build

    return build(name, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
