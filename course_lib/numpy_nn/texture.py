"""Texture synthesis by hand: match Gram matrices in a fixed random conv network (Chapter 8).

Gatys, Ecker & Bethge (2015) synthesise a texture by optimising the *pixels*
of an image until its Gram matrices, in several layers of a network, match
those of a texture photograph. Ustyuzhaninov et al. (2017) showed that the
network need not be trained: random filters suffice. Everything here is the
course's own NumPy: Chapter 1's ``conv2d_forward``/``conv2d_backward`` (now
for the gradient with respect to the *input*), ReLU, average pooling and
Chapter 4's Gram matrix, with the whole image gradient assembled by hand;
SciPy's L-BFGS-B does the optimisation, with the pixels kept in [0, 1].

    net = RandomTextureNet.create(seed=0)
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
from course_lib.numpy_nn.functional.pooling import avgpool2d_backward, avgpool2d_forward
from course_lib.numpy_nn.functional.style import gram_matrix_backward, gram_matrix_forward

__all__ = ["RandomTextureNet", "TextureHistory", "synthesize_texture", "texture_loss"]


class _StageCache(NamedTuple):
    """One stage's caches: [pool], conv, ReLU."""

    pool: object | None
    conv: object
    relu: object


@dataclass(frozen=True)
class RandomTextureNet:
    """A fixed conv network: stages of [avgpool 2x2] -> conv 3x3 (zero padding) -> ReLU.

    ``weights[l]`` (C_l, C_{l-1}, 3, 3); stage 1 has no pooling. Its ReLU
    outputs are the layers whose Gram matrices describe a texture. Inputs are
    centred pictures ``x - 0.5``, float64 (N, 3, H, W).
    """

    weights: tuple[np.ndarray, ...]

    @classmethod
    def create(cls, widths: tuple[int, ...] = (16, 32, 64), *, seed: int = 0) -> RandomTextureNet:
        """Zero-mean He-normal filters (He et al. 2015), the same for the same seed."""
        rng = np.random.default_rng(seed)
        weights, c_in = [], 3
        for c in widths:
            w = rng.normal(0.0, np.sqrt(2.0 / (9 * c_in)), size=(c, c_in, 3, 3))
            w -= w.mean(axis=(1, 2, 3), keepdims=True)  # respond to structure, not brightness
            weights.append(w)
            c_in = c
        return cls(tuple(weights))

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[_StageCache]]:
        """``x`` (N, 3, H, W) -> every stage's ReLU output [(N, C_l, H_l, W_l)] and the caches."""
        feats, caches = [], []
        h = x - 0.5
        for stage, w in enumerate(self.weights):
            pool = None
            if stage:
                h, pool = avgpool2d_forward(h, kernel_size=2)
            z, conv = conv2d_forward(h, w, np.zeros(len(w), dtype=x.dtype), padding=1)
            h, relu = relu_forward(z)
            feats.append(h)
            caches.append(_StageCache(pool, conv, relu))
        return feats, caches

    def backward(self, dfeats: list[np.ndarray], caches: list[_StageCache]) -> np.ndarray:
        """Gradients with respect to every stage's output -> gradient with respect to ``x``.

        Walking back from the last stage, each stage's own gradient is added to
        what flows down from above, then passed through ReLU, the convolution
        (its ``dx``; ``dw`` is not needed: the filters are fixed) and pooling.
        """
        dh = np.zeros_like(dfeats[-1])
        for stage in reversed(range(len(self.weights))):
            dh = dh + dfeats[stage]
            cache = caches[stage]
            dz = relu_backward(dh, cache.relu)
            dh, _, _ = conv2d_backward(dz, cache.conv)
            if cache.pool is not None:
                dh = avgpool2d_backward(dh, cache.pool)
        return dh  # d(x - 0.5)/dx = 1


def texture_loss(x: np.ndarray, net: RandomTextureNet, targets: list[np.ndarray]
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


def synthesize_texture(texture: np.ndarray, net: RandomTextureNet, *, size: int = 64,
                       steps: int = 300, seed: int = 0) -> tuple[np.ndarray, TextureHistory]:
    """A new ``size`` x ``size`` picture float64 (size, size, 3) with the texture's Gram matrices.

    ``texture`` float (H, W, 3) in [0, 1] (any size: Gram matrices do not
    depend on it). The synthesis starts from uniform noise (``seed``) and
    runs at most ``steps`` iterations of L-BFGS-B with bounds [0, 1].
    """
    texture = np.asarray(texture, dtype=np.float64)
    if texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture must be (H, W, 3), got {texture.shape}")
    if size < 2 ** (len(net.weights) - 1):
        raise ValueError(f"size {size} is too small for {len(net.weights)} stages")
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
