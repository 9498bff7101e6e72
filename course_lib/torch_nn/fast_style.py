"""A feed-forward stylisation network (Johnson, Alahi & Fei-Fei 2016) and its training step.

Gatys' method optimises every picture anew, hundreds of forward and backward
passes; Johnson et al. train a network ``T`` once, for one style, to
minimise the same perceptual loss over many content pictures, and then
stylise with one forward pass:

    min_T  E_x [ a * content(T(x), x) + b * sum_l w_l E_l(T(x), style) + c * TV(T(x)) ]

with the losses of :mod:`course_lib.torch_nn.style` measured in the same
fixed feature network. :class:`TransformerNet` follows their architecture
with three changes the field adopted since: instance normalisation instead of
batch normalisation (Ulyanov, Vedaldi & Lempitsky 2016), which normalises
each picture's contrast away; reflection padding, which avoids dark borders;
and nearest-neighbour upsampling followed by a convolution instead of a
transposed convolution, which avoids checkerboard artefacts (Odena, Dumoulin
& Olah 2016).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib.torch_nn.style import content_loss, style_losses, tv_loss
from course_lib.torch_nn.style_networks import FeatureNetwork

__all__ = ["ResidualBlock", "StyleLoss", "TransformerNet"]


def _conv(c_in: int, c_out: int, k: int, *, stride: int = 1, upsample: bool = False,
          norm: bool = True, relu: bool = True) -> nn.Sequential:
    """[nearest x2] -> reflection pad -> conv -> [instance norm] -> [ReLU]."""
    layers: list[nn.Module] = []
    if upsample:  # resize-then-convolve: every output pixel gets the same number of inputs
        layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    layers += [nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride=stride)]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out, affine=True))
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """``x + IN(conv(ReLU(IN(conv(x)))))``, 3x3 convolutions (He et al. 2016; Johnson et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 3),
                                  _conv(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Pictures (N, 3, H, W) in [0, 1] -> stylised pictures, same shape, in [0, 1].

    ``width`` w is the number of channels at full resolution::

        conv k x k, w                    (N, w, H, W)
        conv 3x3 stride 2, 2w            (N, 2w, H/2, W/2)
        conv 3x3 stride 2, 4w            (N, 4w, H/4, W/4)
        ``blocks`` residual blocks, 4w   (N, 4w, H/4, W/4)
        up x2, conv 3x3, 2w              (N, 2w, H/2, W/2)
        up x2, conv 3x3, w               (N, w, H, W)
        conv k x k, 3, then sigmoid      (N, 3, H, W)

    with ``k = edge_kernel``. Johnson et al. use ``width=32, blocks=5,
    edge_kernel=9``; the shipped network is smaller, to stylise a 256 x 256
    picture in tens of milliseconds on two CPU cores. H and W must be
    multiples of 4.
    """

    def __init__(self, width: int = 32, *, blocks: int = 5, edge_kernel: int = 9) -> None:
        super().__init__()
        if width < 1 or blocks < 0 or edge_kernel < 1 or edge_kernel % 2 == 0:
            raise ValueError(f"need width >= 1, blocks >= 0 and an odd edge_kernel, got {width}, "
                             f"{blocks}, {edge_kernel}")
        w, k = width, edge_kernel
        self.width, self.blocks, self.edge_kernel = width, blocks, edge_kernel
        self.net = nn.Sequential(
            _conv(3, w, k),                               # (N, w, H, W)
            _conv(w, 2 * w, 3, stride=2),                 # (N, 2w, H/2, W/2)
            _conv(2 * w, 4 * w, 3, stride=2),             # (N, 4w, H/4, W/4)
            *[ResidualBlock(4 * w) for _ in range(blocks)],
            _conv(4 * w, 2 * w, 3, upsample=True),        # (N, 2w, H/2, W/2)
            _conv(2 * w, w, 3, upsample=True),            # (N, w, H, W)
            _conv(w, 3, k, norm=False, relu=False),       # (N, 3, H, W) logits
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"expected pictures (N, 3, H, W) with H and W multiples of 4, "
                             f"got {tuple(x.shape)}")
        return torch.sigmoid(self.net(x))


@dataclass
class StyleLoss:
    """The perceptual loss of one style in one feature network (eq-ch08-total).

    ``targets`` are the style picture's Gram matrices ``{layer: (C, C)}``,
    ``weights`` the per-layer ``w_l``. Calling it on a batch of outputs and
    their content pictures returns the weighted terms ``(total, content,
    style, tv)``, each a mean over the batch, exactly the objective that
    :func:`~course_lib.torch_nn.style.stylize` minimises for one picture.
    """

    net: FeatureNetwork
    targets: Mapping[str, torch.Tensor]
    weights: Mapping[str, float]
    content_layer: str
    content_weight: float = 1.0
    style_weight: float = 1e5
    tv_weight: float = 1.0
    layers: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.layers = list({*self.weights, self.content_layer})

    def __call__(self, out: torch.Tensor, content: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.net(out, self.layers)
        with torch.no_grad():
            p = self.net(content, [self.content_layer])[self.content_layer]
        c = self.content_weight * content_loss(feats[self.content_layer], p)
        # the style loss per picture, then the batch mean: as stylize's for each picture
        s = self.style_weight * style_losses(feats, self.targets, self.weights)
        t = self.tv_weight * tv_loss(out)
        return c + s + t, c, s, t
