"""Classical restoration and its measures (NumPy, SciPy, scikit-image, bm3d): Chapter 9's baselines.

Every learned method of Chapter 9 is measured against the best classical
method on the same pictures, with the same measures:

- :func:`psnr` and :func:`ssim` per picture (``skimage.metrics``, data range 1);
- denoisers :data:`DENOISERS`: Gaussian and median filters (Chapter 1), total
  variation (Chapter 4; Chambolle's algorithm) and BM3D (Dabov et al. 2007,
  the ``bm3d`` package), each with the one parameter it is tuned over;
  :func:`tune` picks that parameter on *validation* pictures, so the test
  pictures judge a baseline as fairly as the network they are compared with;
- :func:`biharmonic_inpaint` and the masks of inpainting
  (:func:`centre_mask`, :func:`random_mask`).

Pictures are float arrays in [0, 1], one (H, W) or a stack (N, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "BASELINE_GRIDS",
    "DENOISERS",
    "biharmonic_inpaint",
    "centre_mask",
    "denoise",
    "psnr",
    "random_mask",
    "ssim",
    "tune",
]


def _stack(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be pictures (H, W) or (N, H, W), got shape {a.shape}")
    return a


def _pair(restored: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, c = _stack(restored, "restored"), _stack(clean, "clean")
    if r.shape != c.shape:
        raise ValueError(f"restored {r.shape} and clean {c.shape} differ in shape")
    return r, c


def psnr(restored: np.ndarray, clean: np.ndarray, *, where: np.ndarray | None = None
         ) -> np.ndarray:
    """Peak signal-to-noise ratio per picture, dB: ``10 log10(1 / MSE)`` (eq-ch09-psnr), (N,).

    ``where`` (1 = counted; the pictures' shape or one (H, W)) restricts the
    mean squared error to some pixels: the hole of an inpainting. A picture
    restored exactly has an infinite PSNR; the figures of the book are means
    over pictures of the per-picture values, as papers report them.
    """
    r, c = _pair(restored, clean)
    if where is None:
        mse = ((r - c) ** 2).mean((1, 2))
    else:
        w = np.broadcast_to(np.asarray(where, dtype=np.float64), r.shape)
        if (w.sum((1, 2)) == 0).any():
            raise ValueError("where selects no pixel of some picture")
        mse = (((r - c) ** 2) * w).sum((1, 2)) / w.sum((1, 2))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / mse)


def ssim(restored: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Structural similarity per picture, (N,) (Wang et al. 2004; ``skimage.metrics``, 7 x 7)."""
    from skimage.metrics import structural_similarity

    r, c = _pair(restored, clean)
    pairs = zip(r, c, strict=True)
    return np.array([structural_similarity(a, b, data_range=1.0) for a, b in pairs])


# ---------------------------------------------------------------------------
# Classical denoisers
# ---------------------------------------------------------------------------


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, sigma, mode="reflect")


def _median(img: np.ndarray, size: float) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(img, size=int(size), mode="reflect")


def _tv(img: np.ndarray, weight: float) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(img, weight=weight)


def _bm3d(img: np.ndarray, sigma: float) -> np.ndarray:
    try:
        import bm3d
    except ImportError as err:  # pragma: no cover - bm3d is in the book's and tests' extras
        raise ImportError("BM3D needs the bm3d package: pip install bm3d") from err
    return np.asarray(bm3d.bm3d(img, sigma_psd=sigma), dtype=np.float64)


# name -> (function(picture, parameter), what the parameter is)
DENOISERS: dict[str, tuple[Callable[[np.ndarray, float], np.ndarray], str]] = {
    "gaussian": (_gaussian, "standard deviation of the Gaussian filter, pixels"),
    "median": (_median, "side of the median filter's window, pixels"),
    "tv": (_tv, "weight of the total variation (Chambolle)"),
    "bm3d": (_bm3d, "noise standard deviation BM3D assumes ([0, 1] scale)"),
}

# the parameters tune() tries; BM3D's is a multiple of the true sigma (see tune)
# (BM3D: clipping to [0, 1] removes part of the noise on black and white pixels, so a
# sigma a little below the true one does better; measured in benchmarks/bench_restore.py)
BASELINE_GRIDS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.3, 0.4, 0.5, 0.7, 1.0, 1.4, 2.0),
    "median": (3, 5),
    "tv": (0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.27),
    "bm3d": (0.7, 0.8, 0.9, 1.0),
}


def denoise(method: str, noisy: np.ndarray, param: float, *,
            progress: bool = False) -> np.ndarray:
    """Denoise pictures (N, H, W) or (H, W) with a classical ``method`` of :data:`DENOISERS`.

    The output is clipped to [0, 1] and has the input's shape.
    """
    if method not in DENOISERS:
        raise ValueError(f"unknown denoiser {method!r}; known: {', '.join(DENOISERS)}")
    fn = DENOISERS[method][0]
    arr = np.asarray(noisy)
    stack = _stack(arr, "noisy")
    if progress:
        from tqdm import tqdm

        it = tqdm(stack, desc=method, unit="picture", leave=False)
    else:
        it = stack
    out = np.clip(np.stack([fn(img, param) for img in it]), 0.0, 1.0)
    return out.reshape(arr.shape)


def tune(method: str, clean: np.ndarray, noisy: np.ndarray, *, sigma: float | None = None,
         grid: Sequence[float] | None = None) -> tuple[float, dict[float, float]]:
    """The parameter of ``method`` with the best mean PSNR on validation pictures.

    ``clean`` and ``noisy`` (N, H, W) are *validation* pictures, never the
    test ones. For BM3D the grid multiplies the true ``sigma`` (BM3D is told
    the noise level; the blind network is not). Returns ``(best parameter,
    {parameter: mean PSNR})``.
    """
    grid = tuple(grid if grid is not None else BASELINE_GRIDS[method])
    if method == "bm3d":
        if sigma is None:
            raise ValueError("tuning BM3D needs the true noise level sigma")
        grid = tuple(g * sigma for g in grid)
    scores = {float(p): float(psnr(denoise(method, noisy, p), clean).mean()) for p in grid}
    return max(scores, key=scores.get), scores


# ---------------------------------------------------------------------------
# Inpainting
# ---------------------------------------------------------------------------


def centre_mask(side: int, hole: int) -> np.ndarray:
    """float32 (side, side): 1 = known, 0 in a centred ``hole`` x ``hole`` square."""
    if not 0 < hole <= side:
        raise ValueError(f"hole must be in 1..{side}, got {hole}")
    m = np.ones((side, side), np.float32)
    a = (side - hole) // 2
    m[a : a + hole, a : a + hole] = 0.0
    return m


def random_mask(shape: tuple[int, ...], known: float, *, seed: int = 0) -> np.ndarray:
    """float32 mask of ``shape``: each pixel known (1) with probability ``known``, seeded."""
    if not 0.0 < known < 1.0:
        raise ValueError(f"known must be a fraction in (0, 1), got {known}")
    return (np.random.default_rng(seed).random(shape) < known).astype(np.float32)


def biharmonic_inpaint(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``skimage.restoration.inpaint_biharmonic`` per picture: the smoothest fill of the hole.

    ``images`` (N, H, W) or (H, W) in [0, 1]; ``mask`` 1 = known, of the
    pictures' shape or one (H, W) for all. Known pixels are returned exactly.
    """
    from skimage.restoration import inpaint_biharmonic

    arr = np.asarray(images, dtype=np.float64)
    stack = _stack(arr, "images")
    m = np.broadcast_to(np.asarray(mask), stack.shape)
    out = np.stack([inpaint_biharmonic(img, mk == 0) for img, mk in zip(stack, m, strict=True)])
    out = np.where(m == 1, stack, np.clip(out, 0.0, 1.0))
    return out.reshape(arr.shape)
