"""Style-transfer losses: the Gram matrix, the style loss and the total-variation loss.

The Gram matrix of a layer's feature maps records which channels fire
together, whatever the position, and is the "style" of Gatys et al. (2016);
the total-variation (TV) loss penalises differences between neighbouring
pixels and removes high-frequency noise from generated images (Mahendran &
Vedaldi 2015; Johnson et al. 2016). Chapter 4 derives them (``eq-ch04-gram*``,
``eq-ch04-style``, ``eq-ch04-tv``); Chapter 8 uses them for style transfer.
Shapes are NCHW; every loss is a mean and matches torch's autograd.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_lib.numpy_nn._validate import (
    as_array,
    as_dout,
    as_input,
    as_int,
    check_cache,
    check_ndim,
)

__all__ = [
    "GramCache",
    "gram_matrix_backward",
    "gram_matrix_forward",
    "style_loss",
    "tv_loss",
]


class GramCache(NamedTuple):
    """What ``gram_matrix_backward`` needs: the flattened features and the input shape."""

    flat: np.ndarray  # (N, C, H*W)
    shape: tuple[int, int, int, int]  # (N, C, H, W)


def _features(feats: object, name: str = "feats") -> np.ndarray:
    """Feature maps or images (N, C, H, W): real, finite, non-empty, as floats."""
    feats = as_array(feats, name)
    check_ndim(feats, 4, name, "(N, C, H, W)")
    return as_input(feats, name, layout="(N, C, H, W)")


def gram_matrix_forward(feats: np.ndarray) -> tuple[np.ndarray, GramCache]:
    """Gram matrices of feature maps, normalised by the number of entries (eq-ch04-gram).

    ``feats`` (N, C, H, W) -> ``G`` (N, C, C) with
    ``G[n, c, d] = sum_{i,j} feats[n, c, i, j] feats[n, d, i, j] / (C H W)``:
    with ``F_n`` the (C, H*W) matrix of example n, ``G_n = F_n F_n^T / (C H W)``.
    Dividing by ``C H W`` makes the size of the entries independent of the
    layer's size, so the same style weight fits every layer.
    """
    feats = _features(feats)
    n, c, h, w = feats.shape
    flat = feats.reshape(n, c, h * w)  # (N, C, H*W)
    gram = flat @ flat.transpose(0, 2, 1) / feats.dtype.type(c * h * w)  # (N, C, C)
    return gram, GramCache(flat, (n, c, h, w))


def gram_matrix_backward(dG: np.ndarray, cache: GramCache) -> np.ndarray:
    """Gradient of the Gram matrix with respect to the features (eq-ch04-gram-grad).

    ``dG`` (N, C, C) upstream gradient -> ``dfeats`` (N, C, H, W):
    ``dF_n = (dG_n + dG_n^T) F_n / (C H W)``. Both factors of ``F F^T``
    depend on ``F``, hence the symmetrised ``dG``.
    """
    check_cache(cache, GramCache, "gram_matrix_forward")
    n, c, h, w = cache.shape
    dG = as_dout(dG, (n, c, c), cache.flat.dtype, "gram_matrix_forward", name="dG")
    dflat = (dG + dG.transpose(0, 2, 1)) @ cache.flat / cache.flat.dtype.type(c * h * w)
    return dflat.reshape(n, c, h, w)  # (N, C, H*W) -> (N, C, H, W)


def style_loss(feats: np.ndarray, target_gram: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Mean squared error between the Gram matrices of ``feats`` and a target (eq-ch04-style).

    ``feats`` (N, C, H, W); ``target_gram`` (N, C, C), or (C, C) for one
    style shared by the whole batch (the style image's Gram matrix), computed
    with the same normalisation (:func:`gram_matrix_forward`). Returns
    ``(loss, dfeats)`` with ``loss = mean((G - target)**2)`` over the N C C
    entries, as ``F.mse_loss(gram(feats), target)`` in the PyTorch
    style-transfer tutorial; Gatys et al.'s ``1 / (4 N_l^2 M_l^2)`` is the same
    loss with another constant.
    """
    gram, cache = gram_matrix_forward(feats)
    n, c = gram.shape[:2]
    target = as_array(target_gram, "target_gram")
    if target.shape not in ((n, c, c), (c, c)):
        raise ValueError(
            f"target_gram has shape {target.shape}, expected {(n, c, c)} or {(c, c)} "
            f"for feats {cache.shape}"
        )
    target = as_input(target, "target_gram", dtype=gram.dtype)
    diff = gram - target  # (N, C, C); a (C, C) target is the same for every n
    loss = np.mean(diff * diff)
    dG = 2 * diff / gram.dtype.type(diff.size)
    return gram.dtype.type(loss), gram_matrix_backward(dG, cache)


def tv_loss(img: np.ndarray, *, p: int = 2) -> tuple[np.floating, np.ndarray]:
    """Total-variation loss of images (eq-ch04-tv) and its gradient.

    ``img`` (N, C, H, W) with ``H, W >= 2``. With the vertical and horizontal
    neighbour differences ``dv = img[..., 1:, :] - img[..., :-1, :]``
    (N, C, H-1, W) and ``dh = img[..., :, 1:] - img[..., :, :-1]`` (N, C, H, W-1)::

        p = 2 (default): mean(dv**2) + mean(dh**2)
        p = 1:           mean(|dv|) + mean(|dh|)

    each a mean over its own differences, so the loss does not grow with the
    image size. ``p = 2``, the squared (``beta = 2``) TV regulariser of
    Mahendran & Vedaldi (2015), is what Johnson et al. (2016) use for style
    transfer: smooth, it removes the checkerboard noise of generated images.
    ``p = 1`` is the anisotropic TV of image denoising (Rudin, Osher & Fatemi
    1992), which keeps edges sharp; at a zero difference its subgradient is 0,
    as torch's ``abs``. Returns ``(loss, dimg)``.
    """
    p = as_int(p, "p")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 (absolute) or 2 (squared differences), got {p!r}")
    x = _features(img, "img")
    if min(x.shape[2:]) < 2:
        raise ValueError(f"img must be at least 2x2 pixels, got shape {x.shape}")
    dv = x[:, :, 1:, :] - x[:, :, :-1, :]  # (N, C, H-1, W)
    dh = x[:, :, :, 1:] - x[:, :, :, :-1]  # (N, C, H, W-1)
    if p == 2:
        loss = np.mean(dv * dv) + np.mean(dh * dh)
        gv, gh = 2 * dv / dv.dtype.type(dv.size), 2 * dh / dh.dtype.type(dh.size)
    else:
        loss = np.mean(np.abs(dv)) + np.mean(np.abs(dh))
        gv, gh = np.sign(dv) / dv.dtype.type(dv.size), np.sign(dh) / dh.dtype.type(dh.size)
    # Each difference x[i+1] - x[i] sends +g to pixel i+1 and -g to pixel i.
    dimg = np.zeros_like(x)
    dimg[:, :, 1:, :] += gv
    dimg[:, :, :-1, :] -= gv
    dimg[:, :, :, 1:] += gh
    dimg[:, :, :, :-1] -= gh
    return x.dtype.type(loss), dimg
