"""Chapter 8 exercises: style transfer.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch08.py``.

Exercise ids, functions and the book equation each implements:

* ``ch08-ex-style-gradient``: :func:`style_layer_gradient` (``eq-ch08-style-grad``)
* ``ch08-ex-conv-input-gradient``: :func:`conv_input_gradient` (``eq-ch08-conv-dx``)
* ``ch08-ex-instance-norm``: :func:`instance_norm` (``eq-ch08-instance-norm``)

Every exercise says "NumPy only" and names what it may not call: the graded
tests check both, and a solution that uses torch, SciPy or the library's own
backward passes loses those points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_input_gradient", "instance_norm", "style_layer_gradient"]


def _finite(a: object, name: str, ndim: int) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    if out.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {out.shape}")
    if out.size == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be non-empty and finite, got shape {out.shape}")
    return out


def style_layer_gradient(feats: np.ndarray, target_gram: np.ndarray) -> tuple[float, np.ndarray]:
    """Gatys' style loss of one layer and its gradient with respect to the features.

    Exercise ``ch08-ex-style-gradient``. For features ``F_n`` (C, H*W) of each
    of N pictures, the Gram matrix ``G_n = F_n F_n^T / (C H W)`` (book
    equation ``eq-ch04-gram``) and a target ``A`` (C, C), the layer's loss is
    (``eq-ch08-style-layer``)::

        E = (C^2 / 4) * mean over n, c, d of (G_n[c, d] - A[c, d])^2

    Return ``E`` and ``dE/dfeats`` (``eq-ch08-style-grad``), in **NumPy
    only**, without calling the library's ``gram_matrix_backward`` or
    ``style_loss``: the point is to carry the gradient through ``F F^T``
    yourself (both factors depend on ``F``).

    Args:
        feats: (N, C, H, W) features.
        target_gram: (C, C) the style's Gram matrix, symmetric.

    Returns:
        ``(E, dfeats)``: a Python float and a float64 array (N, C, H, W).

    Raises:
        ValueError: if ``feats`` is not 4-D, ``target_gram`` not (C, C), or a
            value is not finite.
    """
    ### BEGIN SOLUTION
    f = _finite(feats, "feats", 4)
    a = _finite(target_gram, "target_gram", 2)
    n, c, h, w = f.shape
    if a.shape != (c, c):
        raise ValueError(f"target_gram must be ({c}, {c}) for feats {f.shape}, got {a.shape}")
    flat = f.reshape(n, c, h * w)  # (N, C, HW)
    gram = flat @ flat.transpose(0, 2, 1) / (c * h * w)  # (N, C, C)
    diff = gram - a
    loss = c * c / 4 * float(np.mean(diff * diff))
    d_gram = c * c / 4 * 2 * diff / diff.size  # dE/dG, (N, C, C)
    # G = F F^T / (CHW): dF = (dG + dG^T) F / (CHW), both factors of the product
    dflat = (d_gram + d_gram.transpose(0, 2, 1)) @ flat / (c * h * w)
    return loss, dflat.reshape(n, c, h, w)
    ### END SOLUTION


def conv_input_gradient(dout: np.ndarray, w: np.ndarray, *, padding: int = 0) -> np.ndarray:
    """The gradient of a stride-1 convolution's output with respect to its input.

    Exercise ``ch08-ex-conv-input-gradient``. The layer is Chapter 1's
    ``out = conv2d(x, w, b, stride=1, padding=padding)`` (a cross-correlation,
    zero padding): ``out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v]
    xp[n, c, i + u, j + v]`` with ``xp`` the padded input. Given the upstream
    gradient ``dout = dL/dout``, return ``dL/dx`` (``eq-ch08-conv-dx``): a
    *full* convolution of ``dout`` with the filters flipped in both spatial
    axes and their channel axes swapped, with the ``padding`` rows and columns
    cropped off each side. **NumPy only**, without calling ``conv2d_backward``
    (or any library convolution).

    Args:
        dout: (N, F, H_out, W_out) upstream gradient.
        w: (F, C, KH, KW) filters.
        padding: the forward pass's zero padding, ``0 <= padding < min(KH, KW)``.

    Returns:
        ``dx`` float64 (N, C, H, W) with ``H = H_out + KH - 1 - 2 padding``
        (and the same for W).

    Raises:
        ValueError: if an array is not 4-D, ``dout`` has not F channels, a
            value is not finite, or ``padding`` is out of range.
    """
    ### BEGIN SOLUTION
    g = _finite(dout, "dout", 4)
    k = _finite(w, "w", 4)
    n, f, h_out, w_out = g.shape
    f_w, c, kh, kw = k.shape
    if f != f_w:
        raise ValueError(f"dout has {f} channels but w has {f_w} filters")
    if not (isinstance(padding, int) and 0 <= padding < min(kh, kw)):
        raise ValueError(f"padding must be an int in [0, {min(kh, kw)}), got {padding!r}")
    # the gradient with respect to the padded input: every output position sends
    # w[f, c, u, v] * dout back to input position (i + u, j + v)
    dxp = np.zeros((n, c, h_out + kh - 1, w_out + kw - 1))
    for u in range(kh):
        for v in range(kw):
            tap = k[:, :, u, v]  # (F, C): the filters' weights at offset (u, v)
            # (N, F, H_out, W_out) x (F, C) -> (N, C, H_out, W_out)
            dxp[:, :, u:u + h_out, v:v + w_out] += np.einsum("nfij,fc->ncij", g, tap)
    hp, wp = dxp.shape[2:]
    return dxp[:, :, padding:hp - padding, padding:wp - padding]
    ### END SOLUTION


def instance_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, *,
                  eps: float = 1e-5) -> np.ndarray:
    """Instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016), the forward pass.

    Exercise ``ch08-ex-instance-norm``. Each channel of each picture is
    normalised by its own mean and variance over the H x W positions, then
    scaled and shifted per channel (``eq-ch08-instance-norm``)::

        y[n, c] = weight[c] * (x[n, c] - mean[n, c]) / sqrt(var[n, c] + eps) + bias[c]

    with the *biased* variance (divided by H W), as ``torch.nn.InstanceNorm2d``
    in training and in evaluation alike. Unlike batch normalisation nothing
    is shared between the pictures of a batch: a picture's output does not
    depend on the others. **NumPy only**.

    Args:
        x: (N, C, H, W).
        weight, bias: (C,).
        eps: a positive number added to the variance.

    Returns:
        float64 (N, C, H, W).

    Raises:
        ValueError: if ``x`` is not 4-D, ``weight`` or ``bias`` not (C,), a
            value is not finite, or ``eps <= 0``.
    """
    ### BEGIN SOLUTION
    a = _finite(x, "x", 4)
    g, b = _finite(weight, "weight", 1), _finite(bias, "bias", 1)
    c = a.shape[1]
    if g.shape != (c,) or b.shape != (c,):
        raise ValueError(f"weight and bias must be ({c},), got {g.shape} and {b.shape}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    mean = a.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1): per picture and channel
    var = a.var(axis=(2, 3), keepdims=True)  # biased: divided by H W
    x_hat = (a - mean) / np.sqrt(var + eps)
    return g[None, :, None, None] * x_hat + b[None, :, None, None]
    ### END SOLUTION
