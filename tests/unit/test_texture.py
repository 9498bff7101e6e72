"""Chapter 8's NumPy texture synthesis: the image gradient through a random conv network.

The loss and its gradient with respect to the *pixels* are rebuilt in torch
from their definitions (course_lib.torch_nn.texture_reference) and
differentiated by autograd in float64, on shapes
drawn by hypothesis, and checked by central differences; the synthesis must
actually lower the loss and keep the pixels in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn.functional import gram_matrix_forward
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_nn.texture import (
    RandomPyramidNet,
    halving_filter,
    synthesize_texture,
    texture_loss,
)
from course_lib.torch_nn.texture_reference import torch_texture_loss

pytestmark = pytest.mark.ch08

BLUR = torch.from_numpy(halving_filter())  # the fixed halving convolution, (3, 3, 4, 4)


def _targets(net: RandomPyramidNet, texture: np.ndarray) -> list[np.ndarray]:
    return [gram_matrix_forward(f)[0] for f in net.forward(texture)[0]]


@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 6), kernel=st.sampled_from([1, 3, 5]), levels=st.integers(1, 3),
       extra=st.integers(0, 5), seed=st.integers(0, 2**31 - 1))
def test_image_gradient_equals_torch_autograd_in_float64(channels, kernel, levels, extra, seed):
    net = RandomPyramidNet.create(channels, kernel, levels, seed=seed)
    rng = np.random.default_rng(seed)
    side = 2 ** (levels - 1) * 2 + extra
    x = rng.random((1, 3, side, side))
    targets = _targets(net, rng.random((1, 3, side + 3, side + 1)))
    loss, dx = texture_loss(x, net, targets)
    ref_loss, ref_dx = torch_texture_loss(x, net, targets)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-300)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert rel_error(dx, ref_dx) < 1e-10


def test_image_gradient_equals_central_differences():
    net = RandomPyramidNet.create(4, 3, 2, seed=1)
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 6, 6))
    targets = _targets(net, rng.random((1, 3, 8, 8)))
    _, dx = texture_loss(x, net, targets)
    numeric = numerical_gradient(lambda a: texture_loss(a, net, targets)[0], x)
    assert rel_error(dx, numeric) < 1e-6


def test_halving_is_a_normalised_blur_per_channel():
    w = halving_filter()
    assert np.allclose(w.sum(axis=(2, 3)), np.eye(3))  # a constant stays constant, no mixing
    out = F.conv2d(torch.ones(1, 3, 8, 8, dtype=torch.float64), BLUR, stride=2, padding=1)
    assert out.shape == (1, 3, 4, 4) and torch.allclose(out[:, :, 1:-1, 1:-1], torch.tensor(1.0,
                                                                                          dtype=torch.float64))


def test_network_is_fixed_by_its_seed_and_filters_are_zero_mean():
    a, b = RandomPyramidNet.create(seed=3), RandomPyramidNet.create(seed=3)
    assert np.array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, RandomPyramidNet.create(seed=4).weight)
    assert np.allclose(a.weight.mean(axis=(1, 2, 3)), 0, atol=1e-15)
    feats, _ = a.forward(np.full((1, 3, 16, 16), 0.5))
    assert [f.shape for f in feats] == [(1, 67, s, s) for s in (16, 8, 4, 2)]


def test_synthesis_lowers_the_loss_and_stays_in_range():
    rng = np.random.default_rng(0)
    stripes = np.tile((np.arange(24) % 6 < 3)[None, :, None], (24, 1, 3)).astype(float)
    texture = 0.2 + 0.6 * stripes + 0.05 * rng.random((24, 24, 3))
    net = RandomPyramidNet.create(8, 3, 2, seed=0)
    img, hist = synthesize_texture(texture, net, size=16, steps=40)
    assert img.shape == (16, 16, 3) and img.min() >= 0 and img.max() <= 1
    targets = _targets(net, texture.transpose(2, 0, 1)[None])
    start = texture_loss(np.random.default_rng(0).random((1, 3, 16, 16)), net, targets)[0]
    end = texture_loss(img.transpose(2, 0, 1)[None], net, targets)[0]
    assert end < 0.05 * start and hist.loss[-1] == pytest.approx(end, rel=1e-6)
    assert len(hist.loss) <= 40 and hist.evaluations >= len(hist.loss)


def test_bad_texture_is_refused():
    net = RandomPyramidNet.create()
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        synthesize_texture(np.zeros((8, 8)), net)
    with pytest.raises(ValueError, match="too small"):
        synthesize_texture(np.zeros((8, 8, 3)), net, size=2)
