"""The GANs of Chapter 6: a DCGAN for 28 x 28 pictures, and its conditional version.

DCGAN (Radford, Metz & Chintala, ICLR 2016): transposed convolutions with
batch norm and ReLU in the generator, strided convolutions with LeakyReLU in
the discriminator, no pooling, a tanh output in [-1, 1]. Sized for Fashion-MNIST
at its native 28 x 28 (7 -> 14 -> 28), rather than resized to 64 x 64 as in
pytorch/examples, which would cost five times the compute for no extra detail.

With ``num_classes > 0`` both become conditional (Mirza & Osindero 2014): the
generator receives a learned embedding of the class next to its noise, and the
discriminator scores the pair (image, class) with a *projection* (Miyato &
Koyama, ICLR 2018), ``logit = w^T h + embed(y)^T h``, which trains faster and
follows the class better than concatenating a one-hot label to the image.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["GAN", "Discriminator", "Generator", "sample_images", "to_uint8"]

SIDE = 28  # the pictures' side; the networks go 7 -> 14 -> 28


def _check_labels(labels: torch.Tensor | None, n: int, num_classes: int, who: str) -> None:
    if num_classes == 0:
        if labels is not None:
            raise ValueError(f"this {who} is unconditional (num_classes=0) but got labels")
        return
    if labels is None:
        raise ValueError(f"this conditional {who} (num_classes={num_classes}) needs labels")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")


class Generator(nn.Module):
    """Noise (and a class) to a picture: z (N, latent_dim) -> (N, 1, 28, 28) in [-1, 1].

    Shapes for width w::

        z (N, L) [+ embed(y) (N, L)] -> Linear -> BN -> ReLU -> (N, 2w, 7, 7)
        ConvTranspose 4x4 stride 2 -> BN -> ReLU                -> (N, w, 14, 14)
        ConvTranspose 4x4 stride 2 -> BN -> ReLU                -> (N, w/2, 28, 28)
        Conv 3x3 -> tanh                                        -> (N, 1, 28, 28)

    The last 3 x 3 convolution at full resolution lets neighbouring output
    pixels share features; without it every output pixel is a single
    transposed-convolution tap away from 14 x 14 features, and the pictures
    come out grainy (measured in Chapter 6: after 3 epochs at width 32 the
    validation Frechet distance was 9.6 with it, 13.2 without).

    A 4 x 4 kernel with stride 2 covers every output pixel equally often, so
    the transposed convolutions do not print the checkerboard that a 3 x 3
    kernel with stride 2 does (Odena, Dumoulin & Olah 2016; Chapter 9).
    """

    def __init__(self, *, latent_dim: int = 64, width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        for name, v in (("latent_dim", latent_dim), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        self.latent_dim, self.width, self.num_classes = latent_dim, width, num_classes
        w, half = width, max(width // 2, 1)
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        # no bias before a batch norm: its shift (beta) takes the bias's place
        self.project = nn.Sequential(
            nn.Linear(in_dim, 2 * w * 7 * 7, bias=False), nn.BatchNorm1d(2 * w * 7 * 7), nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False),  # (N, w, 14, 14)
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, half, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(half),  # (N, w/2, 28, 28)
            nn.ReLU(),
            nn.Conv2d(half, 1, 3, padding=1),  # (N, 1, 28, 28)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        _check_labels(labels, len(z), self.num_classes, "generator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)  # (N, 2L)
        h = self.project(z).view(len(z), 2 * self.width, 7, 7)  # (N, 2w, 7, 7)
        return self.body(h)


class Discriminator(nn.Module):
    """A picture (and a class) to a logit: (N, 1, 28, 28) in [-1, 1] -> (N,).

    Shapes for width w::

        (N, 1, 28, 28) -> Conv 4x4 stride 2 -> LeakyReLU(0.2)        -> (N, w, 14, 14)
                       -> Conv 4x4 stride 2 -> BN -> LeakyReLU(0.2)  -> (N, 2w, 7, 7)
                       -> flatten h (N, 2w*49) -> Linear -> logit (N,)
                          [+ <embed(y), h>, the projection of Miyato & Koyama 2018]

    It returns logits, not probabilities: the losses take logits
    (``binary_cross_entropy_with_logits``), stable where a sigmoid saturates.
    """

    def __init__(self, *, width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        self.width, self.num_classes = width, num_classes
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 4, stride=2, padding=1),  # (N, w, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False),  # (N, 2w, 7, 7)
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (N, 2w*49)
        )
        self.head = nn.Linear(2 * w * 7 * 7, 1)
        self.embed = nn.Embedding(num_classes, 2 * w * 7 * 7) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)  # start close to unconditional

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, SIDE, SIDE):
            raise ValueError(f"x must have shape (N, 1, {SIDE}, {SIDE}), got {tuple(x.shape)}")
        _check_labels(labels, len(x), self.num_classes, "discriminator")
        h = self.features(x)  # (N, 2w*49)
        logit = self.head(h).squeeze(1)  # (N,)
        if self.embed is not None:
            logit = logit + (self.embed(labels) * h).sum(1)  # projection term
        return logit


class GAN(nn.Module):
    """Both players in one module, so one checkpoint holds the whole game.

    ``generator_ema`` (when ``ema=True``) is an exponential moving average of
    the generator's weights, which samples better than the last iterate of a
    game that oscillates (Yazici et al., ICLR 2019); it is not trained, only
    averaged (:meth:`update_ema`).
    """

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        width: int = 64,
        d_width: int | None = None,
        num_classes: int = 0,
        ema: bool = False,
    ) -> None:
        super().__init__()
        self.generator = Generator(latent_dim=latent_dim, width=width, num_classes=num_classes)
        self.discriminator = Discriminator(width=d_width or width, num_classes=num_classes)
        self.generator_ema = None
        if ema:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """ema <- decay * ema + (1 - decay) * current, for weights; buffers are copied."""
        if self.generator_ema is None:
            return
        ema = dict(self.generator_ema.named_parameters())
        for name, p in self.generator.named_parameters():
            ema[name].lerp_(p.detach(), 1.0 - decay)
        ema_buffers = dict(self.generator_ema.named_buffers())
        for name, b in self.generator.named_buffers():
            ema_buffers[name].copy_(b)

    def sampler(self) -> Generator:
        """The generator to sample from: the average when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Generator output (N, 1, H, W) in [-1, 1] -> uint8 (N, H, W), rounded and clipped."""
    x = ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8)[:, 0].numpy()


@torch.no_grad()
def sample_images(
    G: nn.Module,
    n: int,
    *,
    labels: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 1000,
    z: torch.Tensor | None = None,
) -> np.ndarray:
    """``n`` generated pictures, uint8 (n, 28, 28), deterministic in ``seed``.

    The noise is drawn on the CPU from ``torch.Generator().manual_seed(seed)``
    (or taken from ``z``, (n, latent_dim)) and moved to the generator's device,
    so the same seed gives the same pictures on every device up to rounding.
    ``labels`` (n,) is required by a conditional generator; when it is None,
    a conditional generator gets the classes in turn, 0, 1, ..., K-1, 0, ...
    The generator runs in eval mode (batch norm uses its running statistics).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    device = next(G.parameters()).device
    num_classes = getattr(G, "num_classes", 0)
    if z is None:
        z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))
    elif tuple(z.shape) != (n, G.latent_dim):
        raise ValueError(f"z must have shape ({n}, {G.latent_dim}), got {tuple(z.shape)}")
    y = None
    if num_classes:
        y = torch.arange(n) % num_classes if labels is None else torch.as_tensor(labels).long()
        if y.shape != (n,) or (n and (y.min() < 0 or y.max() >= num_classes)):
            raise ValueError(f"labels must be {n} classes in [0, {num_classes}), got {y}")
    elif labels is not None:
        raise ValueError("labels given to an unconditional generator (num_classes=0)")
    was_training = G.training
    G.eval()
    out = []
    for i in range(0, n, batch_size):
        zb = z[i : i + batch_size].to(device)
        yb = None if y is None else y[i : i + batch_size].to(device)
        out.append(to_uint8(G(zb, yb)))
    G.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, SIDE, SIDE), np.uint8)
