"""Batched data augmentation on the device, driven by an explicit ``torch.Generator``.

Every function takes a float batch ``x`` (N, C, H, W) in [0, 1] (0 = background,
so padding and erasing with 0 paint background, not the dataset mean) and
returns a new tensor; the input is never modified. The random choices are
drawn on the CPU from ``generator`` and then moved to ``x.device``, so the
same generator seed gives the same augmented batch on every device, and a
resumed run can replay them exactly.

References: random shifts/crops and horizontal flips as in Krizhevsky et al.
(2012); random erasing from Zhong et al. (2020), "Random Erasing Data
Augmentation", AAAI.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Augment", "random_erasing", "random_hflip", "random_shift"]


def _check(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a float batch in [0, 1], got dtype {x.dtype}")


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


def random_hflip(
    x: torch.Tensor, *, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``: (N, C, H, W) -> same."""
    _check(x)
    flip = _rand(len(x), generator, x.device) < p  # (N,)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_shift(
    x: torch.Tensor, *, max_shift: int = 2, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Translate each image by (dy, dx), each uniform in [-max_shift, max_shift].

    Equivalent to zero-padding by ``max_shift`` and cropping an H x W window at
    a random offset (the "pad and random crop" of Krizhevsky et al. 2012),
    done for the whole batch with one gather.
    """
    _check(x)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0:
        return x.clone()
    n, _, h, w = x.shape
    s = max_shift
    offsets = torch.randint(0, 2 * s + 1, (n, 2), generator=generator).to(x.device)  # (N, 2)
    padded = torch.nn.functional.pad(x, (s, s, s, s))  # (N, C, H+2s, W+2s), zeros
    rows = torch.arange(h, device=x.device)[None, :] + offsets[:, :1]  # (N, H)
    cols = torch.arange(w, device=x.device)[None, :] + offsets[:, 1:]  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # advanced indexing puts the broadcast (N, H, W) axes first: (N, H, W, C)
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_erasing(
    x: torch.Tensor,
    *,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.2),
    ratio: tuple[float, float] = (0.3, 3.3),
    value: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability ``p`` per image, fill one random rectangle with ``value``.

    The rectangle covers a fraction of the image uniform in ``scale`` and has
    an aspect ratio h/w log-uniform in ``ratio`` (Zhong et al. 2020), clipped to
    the image; its top-left corner is uniform over the positions where it fits.
    """
    _check(x)
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < lo <= hi, got {ratio}")
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=generator)  # apply?, area, log-ratio, top, left
    apply = u[:, 0] < p
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u[:, 1])
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 2]
    r = torch.exp(log_r)
    eh = torch.sqrt(area * r).round().clamp(1, h).long()  # (N,) rectangle heights
    ew = torch.sqrt(area / r).round().clamp(1, w).long()
    top = (u[:, 3] * (h - eh + 1)).floor().long()  # in [0, h - eh]
    left = (u[:, 4] * (w - ew + 1)).floor().long()
    rr = torch.arange(h)[None, :]
    cc = torch.arange(w)[None, :]
    in_rows = (rr >= top[:, None]) & (rr < (top + eh)[:, None])  # (N, H)
    in_cols = (cc >= left[:, None]) & (cc < (left + ew)[:, None])  # (N, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :]) & apply[:, None, None]  # (N, H, W)
    return x.masked_fill(mask[:, None].to(x.device), value)


class Augment:
    """Flip, shift and erase, in that order; set a probability or size to 0 to skip a step.

    >>> aug = Augment(hflip=0.5, shift=2, erase=0.25)
    >>> aug(torch.zeros(4, 1, 28, 28), generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 1, 28, 28])
    """

    def __init__(self, *, hflip: float = 0.5, shift: int = 2, erase: float = 0.25) -> None:
        self.hflip, self.shift, self.erase = hflip, shift, erase

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.hflip > 0:
            x = random_hflip(x, p=self.hflip, generator=generator)
        if self.shift > 0:
            x = random_shift(x, max_shift=self.shift, generator=generator)
        if self.erase > 0:
            x = random_erasing(x, p=self.erase, generator=generator)
        return x

    def __repr__(self) -> str:
        return f"Augment(hflip={self.hflip}, shift={self.shift}, erase={self.erase})"
