"""The feature networks of style transfer: VGG-19 when its weights are on disk, else offline ones.

Gatys et al. (2016) measure content and style in the feature maps of VGG-19
(Simonyan & Zisserman 2015) trained on ImageNet. Those weights (548 MB) come
from a download that an air-gapped classroom, CI, or a dead link does not
allow, so the course also builds networks that need nothing from outside:

* ``"random-vgg"``: VGG's shape (3x3 convolutions, ReLU, average pooling,
  five stages) with *random* weights, one convolution per stage and fewer
  channels (32 to 256). Random filters suffice for textures (Ustyuzhaninov et
  al. 2017; He, Wang & Hopcroft 2016).
* ``"random-vgg-softmax"``: the same, with a softmax over each layer's
  activations before the Gram matrix (Wang, Li & Vasconcelos 2021, SWAG),
  which raises their entropy.
* ``"random-multiscale"``: one layer of random 5x5 filters applied to an image
  pyramid (1, 1/2, 1/4, 1/8, antialiased), the single-layer, many-scales
  network of Ustyuzhaninov et al. (2017) made cheap, with the pixels stacked
  on the filter responses so that the Gram matrices hold the colours too.
* ``"fashion-cnn"``: the convolutional layers of the course's own Chapter 5
  classifier, trained on grey 28x28 clothes, run on each colour channel.

Chapter 8 chooses among them by measurement (``book/ch08``, the selection is
in :data:`OFFLINE_CHOICE`); :func:`feature_network` with ``name="auto"``
returns VGG-19 when torchvision's weight file is already on disk and the
chosen offline network otherwise, and never downloads unless asked.
Every network takes pictures float (N, 3, H, W) in [0, 1] and returns
``{layer name: features (N, C, H', W')}``; ``net.name`` says which it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import registry

__all__ = [
    "NETWORKS",
    "OFFLINE_CHOICE",
    "VGG19_FILE",
    "VGG19_URL",
    "FeatureNetwork",
    "feature_network",
    "vgg19_weights_path",
]

# torchvision's IMAGENET1K_V1 weights, as the asset registry lists them
_VGG19_ENTRY = registry.weights("vgg19-imagenet")
VGG19_URL: str = _VGG19_ENTRY["urls"][0]
VGG19_FILE: str = _VGG19_ENTRY["file"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# VGG-19's convolutions (torchvision's ``features`` indices), "M" a pooling layer
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512)
NETWORKS = ("vgg19", "random-vgg", "random-vgg-softmax", "random-multiscale", "fashion-cnn")
# Chosen by the measurement of book/ch08/02_gatys (texture synthesis judged in the other
# networks, spectra and colour histograms): see the benchmarks appendix.
OFFLINE_CHOICE = "random-multiscale"


class FeatureNetwork(nn.Module):
    """A frozen network that maps pictures to named feature maps.

    ``body`` is run layer by layer and the outputs of the layers in ``taps``
    (name -> index in ``body``) are returned; ``style_layers`` and
    ``content_layer`` are the defaults of :func:`~course_lib.torch_nn.style.stylize`.
    Input pictures float (N, 3, H, W) in [0, 1] are normalised with ``mean``
    and ``std`` first. ``transform`` (e.g. the softmax of SWAG) is applied to
    every returned map. Parameters never require gradients: only the image is
    optimised.
    """

    def __init__(self, name: str, body: nn.Sequential, taps: dict[str, int], *,
                 style_layers: Sequence[str], content_layer: str,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.25, 0.25, 0.25),
                 transform: str | None = None, pyramid: int = 0,
                 per_channel: bool = False, style_weight: float = 1e5,
                 tv_weight: float = 1.0) -> None:
        super().__init__()
        unknown = [k for k in (*style_layers, content_layer) if k not in taps]
        if unknown:
            raise ValueError(f"layers {unknown} are not among the taps {sorted(taps)}")
        self.name, self.body, self.taps = name, body, dict(taps)
        self.style_layers, self.content_layer = tuple(style_layers), content_layer
        self.transform, self.pyramid, self.per_channel = transform, pyramid, per_channel
        # the objective's default weights for this network (its features have their own scale)
        self.style_weight, self.tv_weight = style_weight, tv_weight
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.taps)

    def train(self, mode: bool = True) -> FeatureNetwork:
        return super().train(False)  # always eval: a fixed measuring instrument

    def forward(self, images: torch.Tensor, layers: Iterable[str] | None = None
                ) -> dict[str, torch.Tensor]:
        """``images`` (N, 3, H, W) in [0, 1] -> ``{layer: (N, C, H', W')}`` for ``layers``."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected pictures (N, 3, H, W), got {tuple(images.shape)}")
        wanted = set(self.taps) if layers is None else set(layers)
        missing = wanted - set(self.taps)
        if missing:
            raise ValueError(f"{self.name} has no layers {sorted(missing)}; it has {self.layers}")
        x = (images - self.mean) / self.std
        n = len(x)
        if self.per_channel:  # a grey network on each colour: (N, 3, H, W) -> (3N, 1, H, W)
            x = x.reshape(3 * n, 1, *x.shape[2:])
        if self.pyramid:
            return self._pyramid(x, wanted)
        by_index = {i: k for k, i in self.taps.items() if k in wanted}
        out: dict[str, torch.Tensor] = {}
        last = max(by_index) if by_index else -1
        for i, layer in enumerate(self.body):
            if i > last:
                break
            x = layer(x)
            if i in by_index:
                f = x.reshape(n, -1, *x.shape[2:]) if self.per_channel else x  # (N, 3C, H', W')
                out[by_index[i]] = self._transform(f)
        return out

    def _pyramid(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        # the same single layer on the picture at scales 1, 1/2, 1/4, ..., with the pixels
        # themselves stacked on (the colours' means and covariances enter the Gram matrix)
        out = {}
        for level in range(self.pyramid):
            name = f"scale{2 ** level}"
            if name in wanted:
                out[name] = self._transform(torch.cat([x, self.body(x)], dim=1))  # (N, 3 + C, ., .)
            if level + 1 < self.pyramid:
                # antialiased bilinear halving: a smooth filter, so the gradient that comes back
                # from a coarse scale is smooth too (2x2 average pooling leaves 8x8 blocks)
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True,
                                  align_corners=False)
        return out

    def _transform(self, f: torch.Tensor) -> torch.Tensor:
        if self.transform != "softmax":
            return f
        # SWAG (Wang, Li & Vasconcelos 2021): a softmax over each picture's C*H*W activations,
        # times C*H*W so the entries average 1 (a constant that the style weight would absorb)
        n = f[0].numel()
        return torch.softmax(f.flatten(1), dim=1).view_as(f) * n


# ---------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------


def _vgg19_body(pool: str) -> tuple[nn.Sequential, dict[str, int]]:
    """torchvision's ``vgg19().features`` layout, so its state dict loads by index."""
    layers: list[nn.Module] = []
    taps: dict[str, int] = {}
    c, stage, conv = 3, 1, 1
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
            stage, conv = stage + 1, 1
            continue
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
        taps[f"relu{stage}_{conv}"] = len(layers) - 1
        c, conv = v, conv + 1
    return nn.Sequential(*layers), taps


def vgg19_weights_path() -> Path:
    """Where torchvision keeps the ImageNet VGG-19 weights (``$TORCH_HOME``/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def _vgg19(download: bool, pool: str = "avg") -> FeatureNetwork:
    path = vgg19_weights_path()
    if not path.exists():
        if not download:
            raise FileNotFoundError(
                f"VGG-19's ImageNet weights are not at {path}; call "
                f"feature_network('vgg19', download=True) to fetch them from {VGG19_URL} "
                "(548 MB), or use feature_network('auto') for the offline network"
            )
        torch.hub.load_state_dict_from_url(VGG19_URL, progress=True, check_hash=True)
    state = torch.load(path, map_location="cpu", weights_only=True)
    body, taps = _vgg19_body(pool)
    features = {k.removeprefix("features."): v for k, v in state.items()
                if k.startswith("features.")}
    body.load_state_dict(features)
    # Gatys et al. 2016: average pooling, style from relu1_1..relu5_1, content from relu4_2
    return FeatureNetwork("vgg19", body, taps,
                          style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                          content_layer="relu4_2", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          # not tuned here (no weights on the course's machines): the balance of
                          # the PyTorch tutorial's 1e6, rescaled by our per-layer C_l^2 / 4 / 5
                          style_weight=1e3, tv_weight=1.0)


def _random_conv(c_in: int, c_out: int, k: int, g: torch.Generator) -> nn.Conv2d:
    """A conv with zero-mean He-normal filters (He et al. 2015) and no bias.

    The He scale keeps the activations' size through depth; each filter's
    mean is removed so that it responds to structure, not to brightness.
    """
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, padding_mode="reflect", bias=False)
    w = torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (c_in * k * k))
    w -= w.mean(dim=(1, 2, 3), keepdim=True)
    conv.weight.data.copy_(w)
    return conv


def _random_vgg(seed: int, widths: Sequence[int], softmax: bool) -> FeatureNetwork:
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    taps: dict[str, int] = {}
    c = 3
    for stage, w in enumerate(widths, start=1):
        if stage > 1:
            layers.append(nn.AvgPool2d(2))
        layers += [_random_conv(c, w, 3, g), nn.ReLU()]
        taps[f"relu{stage}_1"] = len(layers) - 1
        c = w
    name = "random-vgg-softmax" if softmax else "random-vgg"
    return FeatureNetwork(name, nn.Sequential(*layers), taps, style_layers=tuple(taps),
                          content_layer="relu3_1", transform="softmax" if softmax else None)


def _random_multiscale(seed: int, channels: int = 96, levels: int = 4) -> FeatureNetwork:
    g = torch.Generator().manual_seed(seed)
    body = nn.Sequential(_random_conv(3, channels, 5, g), nn.ReLU())
    taps = {f"scale{2 ** i}": i for i in range(levels)}
    return FeatureNetwork("random-multiscale", body, taps, style_layers=tuple(taps),
                          # content at 1/4 scale leaves the fine scales to the style (book/ch08/02
                          # compares 1/2 and 1/4 over a range of style weights)
                          content_layer="scale4", pyramid=levels)


def _fashion_cnn() -> FeatureNetwork:
    from course_lib.torch_nn.checkpoint import load_pretrained
    from course_lib.torch_nn.datasets import FASHION_MEAN, FASHION_STD

    features = load_pretrained("cnn").features  # (conv, BN, ReLU) x 2, pool, x 2, pool
    taps = {"relu1_1": 2, "relu1_2": 5, "relu2_1": 9, "relu2_2": 12}
    return FeatureNetwork("fashion-cnn", features, taps, style_layers=tuple(taps),
                          content_layer="relu2_1", mean=(FASHION_MEAN,) * 3,
                          std=(FASHION_STD,) * 3, per_channel=True)


def feature_network(name: str = "auto", *, download: bool = False, seed: int = 0,
                    device: torch.device | str | None = None) -> FeatureNetwork:
    """The network in which style and content are measured; ``net.name`` says which.

    ``"auto"``: ``"vgg19"`` when torchvision's ImageNet weights are already on
    disk (:func:`vgg19_weights_path`), else :data:`OFFLINE_CHOICE`. ``"vgg19"``
    raises ``FileNotFoundError`` without the file unless ``download=True``.
    The random networks are the same for the same ``seed`` on every machine
    (their filters are drawn on the CPU from a seeded generator).
    ``$COURSE_STYLE_NETWORK`` overrides ``"auto"``.
    """
    if name == "auto":
        name = os.environ.get("COURSE_STYLE_NETWORK") or (
            "vgg19" if vgg19_weights_path().exists() else OFFLINE_CHOICE)
    if name not in NETWORKS:
        raise ValueError(f"unknown feature network {name!r}; choose 'auto' or one of {NETWORKS}")
    if name == "vgg19":
        net = _vgg19(download)
    elif name == "random-multiscale":
        net = _random_multiscale(seed)
    elif name == "fashion-cnn":
        net = _fashion_cnn()
    else:
        net = _random_vgg(seed, (32, 64, 128, 256, 256), softmax=name.endswith("softmax"))
    return net.to(device or "cpu")
