"""Fashion-MNIST as torch tensors, and a minibatch iterator that works on the device.

The pictures stay uint8 (47 MB for the training set) until a batch is drawn;
:class:`Batches` then converts, augments and normalises only that batch, on
the device, so the CPU never holds a float copy of the dataset and a GPU is
fed without a ``DataLoader``'s worker processes (the whole dataset fits in
its memory).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from course_lib import data

__all__ = [
    "FASHION_MEAN",
    "FASHION_STD",
    "Batches",
    "fashion_mnist",
    "make_imbalanced",
    "normalize",
    "standardize",
    "to_signed",
    "to_unit",
    "train_val_split",
]

# Mean and standard deviation of the 60,000 training pictures' pixels in [0, 1]
# (0.28604 and 0.35302, computed in float64); the test set is normalised with
# the same numbers, as it must be.
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530

FAKE_SIZES = {"train": 512, "test": 256}


def fashion_mnist(
    split: str, *, limit: int | None = None, fake: bool = False, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of Fashion-MNIST: images uint8 (N, 28, 28) and labels int64 (N,).

    ``limit`` keeps the first N pictures (the files are already in random
    class order). ``fake=True`` returns random pictures with random labels
    (512 for train, 256 for test, or ``limit``) drawn from ``seed``, for tests
    and for trying the machinery without the data set.
    """
    if split not in data.SPLITS:
        raise ValueError(f"split must be one of {data.SPLITS}, got {split!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if fake:
        n = limit or FAKE_SIZES[split]
        g = torch.Generator().manual_seed(seed + (0 if split == "train" else 1))
        images = torch.randint(0, 256, (n, *data.IMAGE_SIZE), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, data.NUM_CLASSES, (n,), generator=g)
        return images, labels
    images, labels = data.load_fashion_mnist(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def make_imbalanced(
    images: torch.Tensor, labels: torch.Tensor, *, keep: dict[int, float], seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep a random fraction ``keep[c]`` of each class c (classes not named are kept whole).

    Used to build the imbalanced training set of Chapter 5 (seed 001 section 8.3).
    The kept pictures keep their original order.
    """
    g = torch.Generator().manual_seed(seed)
    keep_mask = torch.ones(len(labels), dtype=torch.bool)
    for c, frac in keep.items():
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"keep[{c}] must be a fraction in [0, 1], got {frac}")
        idx = torch.nonzero(labels == c).flatten()
        drop = idx[torch.randperm(len(idx), generator=g)[round(frac * len(idx)) :]]
        keep_mask[drop] = False
    return images[keep_mask], labels[keep_mask]


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1]."""
    if images.ndim == 3:
        images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
    if images.ndim != 4:
        raise ValueError(f"expected images (N, H, W) or (N, C, H, W), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return images.float()


def standardize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std with the training-set statistics."""
    return (x - FASHION_MEAN) / FASHION_STD


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], the range of a generator's tanh output (Radford et al. 2016)."""
    return 2.0 * x - 1.0


def train_val_split(
    images: torch.Tensor, labels: torch.Tensor, *, val_size: int, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Carve a validation split off a training set: ``(train, val)``, each ``(images, labels)``.

    ``val_size`` pictures drawn at random (a permutation from ``seed``) form
    the validation split; the rest, in their original order, the training
    split. The test set is never involved: models are monitored, stopped and
    tuned on ``val``, and the test set is touched once, for the final figure.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in 1..{n - 1} for {n} pictures, got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx = perm[:val_size].sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[val_idx] = False
    return (images[keep], labels[keep]), (images[val_idx], labels[val_idx])


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised with FASHION_MEAN/STD."""
    return standardize(to_unit(torch.as_tensor(images_uint8)))


class Batches:
    """Minibatches ``(x, y)``: x float32 (B, 1, 28, 28) normalised on ``device``, y int64 (B,).

    Each epoch's order is a permutation drawn from ``seed + epoch`` (call
    :meth:`set_epoch`), so every process of a distributed run draws the same
    permutation and takes its own shard ``perm[rank::world_size]`` (padded by
    wrapping around so all shards have equal length, as ``DistributedSampler``
    does). ``augment(x, generator)`` is applied to the [0, 1] batch before
    normalising, with a generator seeded from ``(seed, epoch, batch, rank)``,
    so a batch's augmentation can be replayed without replaying the ones before.
    ``transform`` maps the [0, 1] batch to the model's input range: by default
    :func:`standardize` (the classifiers); :func:`to_signed` for generators with
    a tanh output.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        device: torch.device | str = "cpu",
        augment: Callable[..., torch.Tensor] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        self.device = torch.device(device)
        # uint8 stays uint8 on the device: 47 MB for the training set
        self.images = torch.as_tensor(images).to(self.device)
        self.labels = torch.as_tensor(labels).to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.transform = standardize if transform is None else transform
        self.seed, self.drop_last = seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        if self.shard_size < (batch_size if drop_last else 1):
            raise ValueError(
                f"{len(images)} pictures over {world_size} process(es) do not fill one batch "
                f"of {batch_size} with drop_last=True"
            )

    @property
    def shard_size(self) -> int:
        """Pictures this process sees per epoch."""
        return math.ceil(len(self.images) / self.world_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self.shard_size // self.batch_size
        return math.ceil(self.shard_size / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        """This process's picture indices for the current epoch, in order."""
        n = len(self.images)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(n, generator=g)
        else:
            perm = torch.arange(n)
        total = self.shard_size * self.world_size
        if total > n:  # wrap around so every shard has the same length
            perm = torch.cat([perm, perm[: total - n]])
        return perm[self.rank :: self.world_size]

    def batch(self, idx: torch.Tensor, number: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of picture indices ``idx``; ``number`` seeds its augmentation."""
        idx = idx.to(self.device)
        x = to_unit(self.images[idx])  # (B, 1, 28, 28) in [0, 1], on the device
        if self.augment is not None:
            g = torch.Generator().manual_seed(
                hash((self.seed, self.epoch, number, self.rank)) & 0x7FFF_FFFF_FFFF_FFFF
            )
            x = self.augment(x, generator=g)
        return self.transform(x), self.labels[idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield from self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches from batch number ``start`` on (for resuming mid-epoch)."""
        order = self.indices()
        for b in range(start, len(self)):
            yield self.batch(order[b * self.batch_size : (b + 1) * self.batch_size], b)
