"""Texture synthesis by hand: match Gram matrices in a fixed random conv network (Chapter 8).

Gatys, Ecker & Bethge (2015) synthesise a texture by optimising the *pixels*
of an image until its Gram matrices, in several layers of a network, match
those of a texture photograph. Ustyuzhaninov et al. (2017) showed that the
network need not be trained: random filters suffice. Everything here is the
course's own NumPy: Chapter 1's ``conv2d_forward``/``conv2d_backward`` (now
for the gradient with respect to the *input*), ReLU and Chapter 4's Gram
matrix, with the whole image gradient assembled by hand;
SciPy's L-BFGS-B does the optimisation, with the pixels kept in [0, 1].

    net = RandomPyramidNet.create(seed=0)
    img, history = synthesize_texture(texture, net, size=64)    # texture float (H, W, 3)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from course_lib.numpy_nn.functional.activations import relu_backward, relu_forward
from course_lib.numpy_nn.functional.conv import conv2d_backward, conv2d_forward
from course_lib.numpy_nn.functional.style import gram_matrix_backward, gram_matrix_forward

__all__ = ["RandomPyramidNet", "TextureHistory", "halving_filter", "synthesize_texture",
           "texture_loss"]


class _LevelCache(NamedTuple):
    """One pyramid level's caches: the halving that made it (None at full size), conv, ReLU."""

    halve: object | None
    conv: object
    relu: object


def halving_filter(dtype: np.dtype = np.float64) -> np.ndarray:
    """(3, 3, 4, 4): a 4x4 binomial blur ([1, 3, 3, 1] / 8 in each direction) per colour channel.

    As a stride-2 convolution with padding 1 it halves a picture, smoothly:
    unlike 2x2 average pooling, the gradient that comes back through it from a
    coarse scale has no 2x2 (after three halvings, 8x8) blocks.
    """
    b = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    w = np.zeros((3, 3, 4, 4), dtype=dtype)
    for c in range(3):
        w[c, c] = np.outer(b, b)  # each channel blurred on its own
    return w


@dataclass(frozen=True)
class RandomPyramidNet:
    """One layer of random filters on an image pyramid, plus the pixels themselves.

    The single-layer, many-scales texture model of Ustyuzhaninov et al. (2017)
    made cheap: instead of filters as large as the structures (they go up to
    55 x 55), the same small filters ``weight`` (C, 3, k, k) see the picture
    halved ``levels - 1`` times by a fixed blur-and-subsample convolution
    (:func:`halving_filter`); the design of the PyTorch
    ``feature_network("random-multiscale")``. Level l's features are
    ``concat(pixel_scale * h_l, ReLU(conv(h_l)))`` (N, 3 + C, H / 2^l, W / 2^l)
    with ``h_l`` the centred picture ``x - 0.5`` at that scale: the three
    pixel channels put the colours' means and covariances, and their
    correlations with every filter, into the Gram matrix (without them the
    synthesis drifts in colour); ``pixel_scale`` gives them the size of the
    filter responses.
    """

    weight: np.ndarray
    levels: int
    pixel_scale: float = 4.0

    @property
    def min_size(self) -> int:
        return 2 ** (self.levels - 1) * (self.weight.shape[-1] // 2 + 1)

    @classmethod
    def create(cls, channels: int = 64, kernel: int = 5, levels: int = 4, *,
               seed: int = 0) -> RandomPyramidNet:
        """Zero-mean He-normal filters (He et al. 2015), the same for the same seed."""
        rng = np.random.default_rng(seed)
        fan_in = 3 * kernel * kernel
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(channels, 3, kernel, kernel))
        # zero-mean filters respond to structure, not to brightness (the pixels carry that)
        return cls(w - w.mean(axis=(1, 2, 3), keepdims=True), levels)

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[_LevelCache]]:
        """``x`` (N, 3, H, W) -> each level's features [(N, 3 + C, H / 2^l, W / 2^l)], caches."""
        feats, caches = [], []
        h = x - 0.5
        pad = self.weight.shape[-1] // 2
        bias = np.zeros(len(self.weight), dtype=x.dtype)
        blur, no_bias = halving_filter(x.dtype), np.zeros(3, dtype=x.dtype)
        for level in range(self.levels):
            halve = None
            if level:  # (N, 3, H / 2^l, W / 2^l)
                h, halve = conv2d_forward(h, blur, no_bias, stride=2, padding=1)
            z, conv = conv2d_forward(h, self.weight, bias, padding=pad)  # (N, C, ., .)
            f, relu = relu_forward(z)
            feats.append(np.concatenate([self.pixel_scale * h, f], axis=1))  # (N, 3 + C, ., .)
            caches.append(_LevelCache(halve, conv, relu))
        return feats, caches

    def backward(self, dfeats: list[np.ndarray], caches: list[_LevelCache]) -> np.ndarray:
        """Gradients with respect to each level's features -> gradient with respect to ``x``.

        At each level the filter channels' gradient goes through the ReLU and
        the convolution (its ``dx``, eq-ch08-conv-dx; the filters are fixed)
        and the pixel channels' is added directly; from the coarsest level
        down, a level's picture gradient goes back through the halving (a
        convolution too: its ``dx`` again) and is added to the next finer one's.
        """
        dh = None
        for level in reversed(range(self.levels)):
            cache, d = caches[level], dfeats[level]
            d_img, _, _ = conv2d_backward(relu_backward(d[:, 3:], cache.relu), cache.conv)
            d_img = d_img + self.pixel_scale * d[:, :3]
            dh = d_img if dh is None else dh + d_img
            if cache.halve is not None:
                dh, _, _ = conv2d_backward(dh, cache.halve)
        return dh  # d(x - 0.5)/dx = 1


def texture_loss(x: np.ndarray, net: RandomPyramidNet, targets: list[np.ndarray]
                 ) -> tuple[float, np.ndarray]:
    """``sum_l (C_l^2 / 4) mean((G_l(x) - A_l)^2)`` and its gradient with respect to ``x``.

    ``x`` (1, 3, H, W); ``targets[l]`` the texture's Gram matrices (1, C_l, C_l)
    (eq-ch08-style-layer, with equal layer weights). The gradient of a layer's
    term with respect to its Gram matrix is ``(C_l^2 / 4) * 2 (G - A) / C_l^2
    = (G - A) / 2``, which ``gram_matrix_backward`` carries to the features.
    """
    feats, caches = net.forward(x)
    loss, dfeats = 0.0, []
    for f, target in zip(feats, targets, strict=True):
        gram, gcache = gram_matrix_forward(f)  # (1, C, C)
        c = gram.shape[-1]
        diff = gram - target
        loss += c * c / 4 * float(np.mean(diff * diff))
        dfeats.append(gram_matrix_backward(diff / 2, gcache))  # (C^2/4) * 2 diff / C^2
    return loss, net.backward(dfeats, caches)


@dataclass
class TextureHistory:
    loss: list[float] = field(default_factory=list)  # after each L-BFGS iteration
    evaluations: int = 0
    seconds: float = 0.0


def synthesize_texture(texture: np.ndarray, net: RandomPyramidNet, *, size: int = 64,
                       steps: int = 300, seed: int = 0) -> tuple[np.ndarray, TextureHistory]:
    """A new ``size`` x ``size`` picture float64 (size, size, 3) with the texture's Gram matrices.

    ``texture`` float (H, W, 3) in [0, 1] (any size: Gram matrices do not
    depend on it). The synthesis starts from uniform noise (``seed``) and
    runs at most ``steps`` iterations of L-BFGS-B with bounds [0, 1].
    """
    texture = np.asarray(texture, dtype=np.float64)
    if texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture must be (H, W, 3), got {texture.shape}")
    if size < net.min_size:
        raise ValueError(f"size {size} is too small for the network (at least {net.min_size})")
    t = texture.transpose(2, 0, 1)[None]  # (1, 3, H, W)
    targets = [gram_matrix_forward(f)[0] for f in net.forward(t)[0]]
    shape = (1, 3, size, size)
    x0 = np.random.default_rng(seed).random(shape).ravel()
    hist = TextureHistory()
    last = [np.inf]

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        hist.evaluations += 1
        loss, dx = texture_loss(flat.reshape(shape), net, targets)
        last[0] = loss
        return loss, dx.ravel()

    tic = time.perf_counter()
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * x0.size,
                   # the line search ends on the accepted point, so the last value is its loss
                   callback=lambda xk: hist.loss.append(last[0]),
                   # no tolerances: the loss is small in absolute terms, stop on the step count
                   options={"maxiter": steps, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})

    hist.seconds = time.perf_counter() - tic
    return res.x.reshape(shape)[0].transpose(1, 2, 0), hist
