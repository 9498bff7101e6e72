"""Datasets, the Batches iterator (shuffling, sharding, replay) and the batched augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import data
from course_lib.torch_nn import datasets
from course_lib.torch_nn.augment import Augment, random_erasing, random_hflip, random_shift
from course_lib.torch_nn.datasets import Batches, fashion_mnist, make_imbalanced, normalize


def test_fake_data_is_uint8_and_reproducible():
    x, y = fashion_mnist("train", fake=True)
    assert x.shape == (512, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    x2, _ = fashion_mnist("train", fake=True)
    assert torch.equal(x, x2)
    assert fashion_mnist("test", limit=10, fake=True)[0].shape == (10, 28, 28)
    with pytest.raises(ValueError, match="split"):
        fashion_mnist("valid", fake=True)


def test_real_data_limit_and_statistics():
    try:
        x, y = fashion_mnist("train", limit=2000)
    except data.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not available on this machine")
    assert x.shape == (2000, 28, 28) and x.dtype == torch.uint8 and y.max() <= 9
    z = normalize(x)
    assert z.shape == (2000, 1, 28, 28) and z.dtype == torch.float32
    # FASHION_MEAN/STD are the whole training set's; 2,000 pictures come within a few percent
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1) < 0.05


def test_normalize_is_the_standardisation():
    x = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    expected = (torch.tensor([0.0, 1.0]) - datasets.FASHION_MEAN) / datasets.FASHION_STD
    torch.testing.assert_close(normalize(x).flatten(), expected)


def test_make_imbalanced_keeps_fractions():
    labels = torch.arange(10).repeat(100)  # 100 per class
    images = torch.zeros(1000, 28, 28, dtype=torch.uint8)
    xi, yi = make_imbalanced(images, labels, keep={3: 0.1, 5: 0.0}, seed=1)
    counts = torch.bincount(yi, minlength=10)
    assert counts[3] == 10 and counts[5] == 0 and counts[0] == 100 and len(xi) == len(yi)
    with pytest.raises(ValueError, match="fraction"):
        make_imbalanced(images, labels, keep={1: 1.5})


def test_batches_cover_each_picture_once_per_epoch():
    x, y = fashion_mnist("train", limit=100, fake=True)
    b = Batches(x, y, batch_size=32, shuffle=True, seed=5)
    assert len(b) == 4
    seen = torch.cat([yb for _, yb in b])
    assert sorted(seen.tolist()) == sorted(y.tolist())
    first = b.indices().clone()
    b.set_epoch(1)
    assert not torch.equal(first, b.indices())  # a new order each epoch
    b.set_epoch(0)
    assert torch.equal(first, b.indices())  # ... and the same one when replayed
    xb, yb = next(iter(b))
    assert xb.shape == (32, 1, 28, 28) and xb.dtype == torch.float32
    torch.testing.assert_close(xb, normalize(x[first[:32]]))
    assert len(Batches(x, y, batch_size=32, shuffle=False, drop_last=True)) == 3


@settings(max_examples=20)
@given(n=st.integers(1, 50), world=st.integers(1, 4), seed=st.integers(0, 100))
def test_shards_are_disjoint_and_cover_the_epoch(n, world, seed):
    x = torch.zeros(n, 28, 28, dtype=torch.uint8)
    y = torch.arange(n)
    shards = [Batches(x, y, batch_size=4, shuffle=True, seed=seed, rank=r, world_size=world)
              for r in range(world)]
    idx = [s.indices() for s in shards]
    assert len({len(i) for i in idx}) == 1  # equal lengths: every process takes as many steps
    allidx = torch.cat(idx)
    assert set(allidx.tolist()) == set(range(n))
    assert len(allidx) - n < world  # at most world-1 pictures repeated to pad the shards
    if n % world == 0:
        assert len(set(allidx.tolist())) == len(allidx)  # disjoint


def test_iter_from_replays_the_rest_of_an_epoch():
    x, y = fashion_mnist("train", limit=96, fake=True)
    b = Batches(x, y, batch_size=16, shuffle=True, augment=Augment(), seed=2)
    full = list(b)
    rest = list(b.iter_from(3))
    assert len(rest) == 3
    for (xa, ya), (xb, yb) in zip(full[3:], rest, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)  # augmentation replayed exactly


def test_bad_batches():
    x, y = fashion_mnist("train", limit=10, fake=True)
    with pytest.raises(ValueError, match="labels"):
        Batches(x, y[:5], batch_size=2, shuffle=False)
    with pytest.raises(ValueError, match="rank"):
        Batches(x, y, batch_size=2, shuffle=False, rank=2, world_size=2)
    with pytest.raises(ValueError, match="drop_last"):
        Batches(x, y, batch_size=32, shuffle=False, drop_last=True)


# ---------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_hflip_extremes_and_input_untouched():
    x = torch.rand(5, 2, 4, 6)
    before = x.clone()
    assert torch.equal(random_hflip(x, p=1.0), x.flip(-1))
    assert torch.equal(random_hflip(x, p=0.0), x)
    assert torch.equal(x, before)


@given(max_shift=st.integers(0, 3), h=st.integers(1, 8), w=st.integers(1, 8),
       seed=st.integers(0, 99))
def test_shift_is_pad_then_crop(max_shift, h, w, seed):
    x = torch.rand(4, 2, h, w)
    out = random_shift(x, max_shift=max_shift, generator=gen(seed))
    if max_shift == 0:
        assert torch.equal(out, x)
        return
    off = torch.randint(0, 2 * max_shift + 1, (4, 2), generator=gen(seed))  # the same draws
    s = max_shift
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    for i in range(4):
        dy, dx = off[i].tolist()
        assert torch.equal(out[i], padded[i, :, dy : dy + h, dx : dx + w])


def test_erasing_rectangle_sizes():
    x = torch.ones(2000, 1, 28, 28)
    out = random_erasing(x, p=0.5, scale=(0.02, 0.2), generator=gen())
    erased = (out == 0).float().mean(dim=(1, 2, 3))
    applied = erased > 0
    assert 0.45 < applied.float().mean() < 0.55
    # rounding the sides to whole pixels and clipping move the area a little
    assert erased[applied].min() >= 0.01 and erased[applied].max() <= 0.25
    for img in out[applied][:20, 0]:  # each erased region is one rectangle
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert area == len(rows)
    with pytest.raises(ValueError, match="scale"):
        random_erasing(x, scale=(0.5, 0.1))


def test_augment_is_reproducible_and_keeps_dtype():
    x = torch.rand(8, 1, 28, 28)
    aug = Augment(hflip=0.5, shift=2, erase=0.5)
    a, b = aug(x, generator=gen(3)), aug(x, generator=gen(3))
    assert torch.equal(a, b) and a.dtype == torch.float32 and not torch.equal(a, x)
    assert torch.equal(Augment(hflip=0, shift=0, erase=0)(x), x)
    with pytest.raises(ValueError, match="float"):
        aug(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="N, C, H, W"):
        aug(torch.zeros(4, 4))
    assert "shift=2" in repr(aug)


def test_augmentation_keeps_pixels_in_range():
    x = torch.rand(64, 1, 28, 28)
    out = Augment(hflip=0.5, shift=3, erase=1.0)(x, generator=gen(1))
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out.shape, x.shape)
