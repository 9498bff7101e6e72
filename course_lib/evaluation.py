"""Metrics of generative models on arrays: NumPy and SciPy only, no torch.

* :func:`mode_metrics`: modes captured, high-quality fraction and the KL of the
  mode histogram to uniform, for the 2-D toy mixtures (Srivastava et al. 2017).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mode_metrics"]


def _as_points(a: object, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def mode_metrics(
    samples: np.ndarray,
    centers: np.ndarray,
    std: float,
    *,
    k: float = 3.0,
    min_share: float = 0.2,
) -> dict[str, float]:
    """How well samples of a mixture of M equal Gaussians cover its modes.

    A sample is *high quality* when it lies within ``k * std`` of its nearest
    centre (Srivastava et al. 2017, VEEGAN, section 5.1). A mode is *captured*
    when at least ``min_share`` of its fair share ``N / M`` of the samples are
    high-quality samples nearest to it (with the defaults and 2,500 samples of
    the 25-mode grid: 20 samples, the threshold of Lin et al. 2018, PacGAN);
    requiring a share rather than one sample keeps a few strays from counting
    as a mode.

    Args:
        samples: float (N, D), N >= 1.
        centers: float (M, D), the mixture's means.
        std: the components' standard deviation, > 0.
        k: the radius of "high quality", in standard deviations.
        min_share: the fraction of N / M that makes a mode captured.

    Returns:
        ``{"modes": int, "high_quality": float in [0, 1], "kl": float}`` where
        ``kl`` is KL(p || uniform over the M modes) in nats of the histogram
        ``p`` of the high-quality samples over their nearest modes: 0 when they
        spread evenly, log M when they all sit on one mode; ``inf`` when there
        is no high-quality sample at all.
    """
    x = _as_points(samples, "samples")
    c = _as_points(centers, "centers")
    if len(x) == 0 or len(c) == 0:
        raise ValueError(f"need at least one sample and one centre, got {len(x)} and {len(c)}")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples {x.shape} and centers {c.shape} differ in dimension")
    if not std > 0 or not k > 0 or not 0 <= min_share:
        raise ValueError(f"need std > 0, k > 0, min_share >= 0; got {std}, {k}, {min_share}")
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)  # (N, M) squared distances
    nearest = d2.argmin(1)  # (N,)
    good = d2[np.arange(len(x)), nearest] <= (k * std) ** 2  # (N,)
    counts = np.bincount(nearest[good], minlength=len(c))  # (M,) high-quality samples per mode
    captured = int((counts >= max(1.0, min_share * len(x) / len(c))).sum())
    n_good = int(counts.sum())
    if n_good == 0:
        kl = math.inf
    else:
        p = counts[counts > 0] / n_good
        kl = float(np.sum(p * np.log(p * len(c))))
    return {"modes": captured, "high_quality": n_good / len(x), "kl": max(kl, 0.0)}
