"""Chapter 9 exercises: image restoration.

Each docstring is the complete task. The reference solution sits between the
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the student edition
replaces it with ``raise NotImplementedError``. Graded tests:
``tests/exercises/test_ch09.py``.

Exercise ids, functions and the book equation each implements:

* ``ch09-ex-psnr``: :func:`psnr` (``eq-ch09-psnr``)
* ``ch09-ex-pixel-shuffle``: :func:`pixel_shuffle` and its inverse
  :func:`pixel_unshuffle` (``eq-ch09-pixel-shuffle``)
* ``ch09-ex-masked-loss``: :func:`masked_reconstruction_loss`, the data term
  of inpainting (``eq-ch09-inpaint``)

Every exercise says "NumPy only" and names what it may not call: the graded
tests check both, and a solution that uses torch, SciPy or scikit-image loses
those points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["masked_reconstruction_loss", "pixel_shuffle", "pixel_unshuffle", "psnr"]


def _finite(a: object, name: str) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    if out.size == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be non-empty and finite, got shape {out.shape}")
    return out


def _factor(r: object) -> int:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"the upscale factor r must be an int >= 1, got {r!r}")
    return int(r)


def psnr(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0) -> float | np.ndarray:
    """Peak signal-to-noise ratio, in dB, of each restored picture against the clean one.

    Exercise ``ch09-ex-psnr``. For a picture ``x_hat`` and its clean original
    ``x``, both of H x W pixels whose values span ``data_range`` (1 for grey
    levels in [0, 1], 255 for 8-bit pictures), from the definition
    (``eq-ch09-psnr``)::

        MSE  = mean over the H W pixels of (x_hat - x)^2
        PSNR = 10 log10(data_range^2 / MSE)

    A stack of pictures gets one value *per picture* (the book's tables are
    means of these, as papers report them), never one for the whole stack. A
    picture restored exactly has MSE 0 and an infinite PSNR: return ``+inf``
    without a division warning. **NumPy only**, without calling
    ``skimage.metrics`` or the library's ``course_lib.restoration.psnr``.

    Args:
        restored: (H, W) one picture, or (N, H, W) a stack.
        clean: the same shape as ``restored``.
        data_range: the peak-to-peak range of the pixel values, positive.

    Returns:
        For (H, W) pictures a float; for (N, H, W) stacks a float64 array
        (N,) of per-picture values.

    Raises:
        ValueError: if the shapes differ, are not (H, W) or (N, H, W), a
            value is not finite, or ``data_range`` is not a positive number.
    """
    ### BEGIN SOLUTION
    r, c = _finite(restored, "restored"), _finite(clean, "clean")
    if r.shape != c.shape:
        raise ValueError(f"restored {r.shape} and clean {c.shape} must have the same shape")
    if r.ndim not in (2, 3):
        raise ValueError(f"pictures must be (H, W) or (N, H, W), got shape {r.shape}")
    if not (np.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    mse = ((r - c) ** 2).mean(axis=(-2, -1))  # () or (N,): one per picture
    with np.errstate(divide="ignore"):  # MSE 0: data_range^2 / 0 = +inf, log10(inf) = inf
        out = 10.0 * np.log10(data_range**2 / mse)
    return float(out) if r.ndim == 2 else out
    ### END SOLUTION


def pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """The sub-pixel rearrangement of ESPCN (Shi et al. 2016): channels to an r x r block.

    Exercise ``ch09-ex-pixel-shuffle``. Each group of r^2 channels of a
    low-resolution map becomes one channel r times larger in each direction
    (``eq-ch09-pixel-shuffle``)::

        y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]    0 <= i, j < r

    exactly as ``torch.nn.functional.pixel_shuffle``. Write it with
    ``reshape`` and ``transpose`` only, no Python loop: split the channel
    axis, move the two sub-pixel axes next to the spatial ones, merge.
    **NumPy only**, without calling torch.

    Args:
        x: (N, C r^2, H, W), any dtype.
        r: the upscale factor, an int >= 1.

    Returns:
        (N, C, r H, r W), the dtype of ``x``.

    Raises:
        ValueError: if ``x`` is not 4-D, ``r`` is not an int >= 1, or the
            channels are not a multiple of ``r^2``.
    """
    ### BEGIN SOLUTION
    a = np.asarray(x)
    r = _factor(r)
    if a.ndim != 4:
        raise ValueError(f"x must be (N, C*r^2, H, W), got shape {a.shape}")
    n, cr2, h, w = a.shape
    if cr2 % (r * r):
        raise ValueError(f"{cr2} channels are not a multiple of r^2 = {r * r}")
    c = cr2 // (r * r)
    split = a.reshape(n, c, r, r, h, w)  # (N, C, r_i, r_j, H, W): channel c r^2 + i r + j
    moved = split.transpose(0, 1, 4, 2, 5, 3)  # (N, C, H, r_i, W, r_j)
    return moved.reshape(n, c, h * r, w * r)  # row h r + i, column w r + j
    ### END SOLUTION


def pixel_unshuffle(y: np.ndarray, r: int) -> np.ndarray:
    """The inverse of :func:`pixel_shuffle`: each r x r block of pixels to r^2 channels.

    Exercise ``ch09-ex-pixel-shuffle``, second half::

        x[n, c r^2 + i r + j, h, w] = y[n, c, h r + i, w r + j]    0 <= i, j < r

    exactly as ``torch.nn.functional.pixel_unshuffle``, so that
    ``pixel_unshuffle(pixel_shuffle(x, r), r) == x``. A permutation of the
    entries, its inverse is also its transpose: ``pixel_unshuffle`` is the
    backward pass of ``pixel_shuffle``. With ``reshape`` and ``transpose``
    only, no Python loop. **NumPy only**, without calling torch.

    Args:
        y: (N, C, r H, r W), any dtype.
        r: the downscale factor, an int >= 1.

    Returns:
        (N, C r^2, H, W), the dtype of ``y``.

    Raises:
        ValueError: if ``y`` is not 4-D, ``r`` is not an int >= 1, or a side
            is not a multiple of ``r``.
    """
    ### BEGIN SOLUTION
    a = np.asarray(y)
    r = _factor(r)
    if a.ndim != 4:
        raise ValueError(f"y must be (N, C, r*H, r*W), got shape {a.shape}")
    n, c, hr, wr = a.shape
    if hr % r or wr % r:
        raise ValueError(f"the sides {hr} x {wr} are not multiples of r = {r}")
    h, w = hr // r, wr // r
    split = a.reshape(n, c, h, r, w, r)  # (N, C, H, r_i, W, r_j): row h r + i, column w r + j
    moved = split.transpose(0, 1, 3, 5, 2, 4)  # (N, C, r_i, r_j, H, W): the inverse permutation
    return moved.reshape(n, c * r * r, h, w)
    ### END SOLUTION


def masked_reconstruction_loss(x_hat: np.ndarray, x: np.ndarray,
                               mask: np.ndarray) -> tuple[float, np.ndarray]:
    """The data term of inpainting: half the mean squared error over the known pixels.

    Exercise ``ch09-ex-masked-loss``. Only the known pixels of the damaged
    picture ``x`` (``mask`` 1) say anything about the restoration ``x_hat``;
    the hole (``mask`` 0) is what is being filled, and must not pull on it
    (the data term of ``eq-ch09-inpaint``)::

        L = (1/2) sum m (x_hat - x)^2 / sum m        sums over every entry

    the mean over the known pixels, however many of them there are. Return
    ``L`` and its gradient ``dL/dx_hat = m (x_hat - x) / sum m``, the same
    shape as ``x_hat``, zero in the hole whatever ``x`` holds there.
    **NumPy only**, without autograd.

    Args:
        x_hat: the restoration, any shape, e.g. (N, 1, H, W).
        x: the damaged picture, the shape of ``x_hat``; its hole may hold anything finite.
        mask: the shape of ``x_hat``, only 0 (unknown) and 1 (known); bools are fine.

    Returns:
        ``(L, dx_hat)``: a Python float and a float64 array shaped like ``x_hat``.

    Raises:
        ValueError: if the shapes differ, a value is not finite, ``mask``
            holds a value other than 0 and 1, or no pixel is known.
    """
    ### BEGIN SOLUTION
    xh, xt, m = _finite(x_hat, "x_hat"), _finite(x, "x"), _finite(mask, "mask")
    if not xh.shape == xt.shape == m.shape:
        raise ValueError(f"x_hat {xh.shape}, x {xt.shape} and mask {m.shape} must have the "
                         "same shape")
    if not np.all((m == 0) | (m == 1)):
        raise ValueError("mask must hold only 0 (unknown) and 1 (known)")
    n_known = m.sum()
    if n_known == 0:
        raise ValueError("mask has no known pixel: the loss is a mean over none")
    diff = xh - xt  # the residual everywhere, the hole included
    loss = 0.5 * float(np.sum(m * diff * diff)) / float(n_known)
    grad = m * diff / n_known  # d/dx_hat of (1/2) m d^2 is m d: zero in the hole
    return loss, grad
    ### END SOLUTION
