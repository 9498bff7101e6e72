"""Metrics of generative models on arrays: NumPy and SciPy only, no torch.

* :func:`feature_statistics`: the mean and unbiased covariance of a set of
  feature vectors, the Gaussian that :func:`frechet_distance` compares.
* :func:`frechet_distance`: the Fréchet distance between two Gaussians, the FID
  when the features are Inception's (Heusel et al. 2017); exact and warning-free
  for singular covariances.
* :func:`mode_metrics`: modes captured, high-quality fraction and the KL of the
  mode histogram to uniform, for the 2-D toy mixtures (Srivastava et al. 2017).
* :func:`precision_recall`: the fraction of generated samples on the real
  manifold and of real samples on the generated one, each manifold a union of
  k-nearest-neighbour balls (Kynkäänniemi et al. 2019).
* :func:`calibration_sets`: the degraded copies of a set of real pictures
  (blur, noise, one class) that put a Fréchet distance on a scale (Chapter 6).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

__all__ = [
    "calibration_sets", "feature_statistics", "frechet_distance", "mode_metrics",
    "precision_recall",
]

# Entries of one (rows, M) block of squared distances: 2**21 float64 are 16 MiB, so
# precision_recall stays far below the 1 GB of a mybinder.org session at any N, M.
_BLOCK = 1 << 21


def _as_points(a: object, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def feature_statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean float64 (D,) and unbiased covariance float64 (D, D) of ``feats`` (N, D).

    The covariance is ``np.cov(feats, rowvar=False)``: divided by N - 1, so
    N >= 2 is required. D = 1 gives a (1, 1) matrix.
    """
    x = _as_points(feats, "feats")  # (N, D)
    n, d = x.shape
    if n < 2 or d < 1:
        raise ValueError(f"feats {x.shape}: an unbiased covariance needs N >= 2 samples and D >= 1")
    mu = x.mean(axis=0)  # (D,)
    sigma = np.cov(x, rowvar=False, ddof=1).reshape(d, d)  # (D, D); np.cov gives () when D = 1
    return mu, sigma


def _zero_round_off(w: np.ndarray) -> np.ndarray:
    """Eigenvalues (D,) of a symmetric PSD matrix, those below ``D * eps * max(w)`` set to 0.

    Round-off leaves the zero eigenvalues of a singular matrix at about
    +-eps * max(w), and their square roots at sqrt(eps) ~ 1e-8 of the scale.
    """
    return np.where(w > len(w) * np.finfo(np.float64).eps * max(w.max(), 0.0), w, 0.0)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root (D, D) of a symmetric PSD (D, D), by ``eigh``.

    Eigenvalues within round-off of zero (negative ones included) are set to 0,
    so a singular matrix keeps its exact null space.
    """
    w, v = np.linalg.eigh(s)  # (D,), (D, D)
    w = _zero_round_off(w)
    return (v * np.sqrt(w)) @ v.T  # V diag(sqrt w) V^T


def _gaussian(mu: object, sigma: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(mu, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if m.ndim != 1 or len(m) == 0 or s.shape != (len(m), len(m)):
        raise ValueError(
            f"mu{name} must be (D,) and sigma{name} (D, D) with D >= 1, got {m.shape} and {s.shape}"
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ValueError(f"mu{name} or sigma{name} contains NaN or infinite values")
    if np.abs(s - s.T).max(initial=0.0) > 1e-8 * np.abs(s).max(initial=0.0):
        raise ValueError(f"sigma{name} {s.shape} is not symmetric")
    return m, (s + s.T) / 2  # exactly symmetric, for eigh


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    r"""The Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    .. math::
        d^2 = \|\mu_1 - \mu_2\|^2
              + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    (Dowson & Landau 1982; the FID of Heusel et al. 2017, when the
    statistics are those of Inception features, :func:`feature_statistics`).

    Method: :math:`\Sigma_1 \Sigma_2` is not symmetric, and ``scipy.linalg.sqrtm``
    of it returns complex round-off and warns when it is singular. But with
    :math:`A = \Sigma_1^{1/2}` (symmetric PSD, by ``eigh``), :math:`\Sigma_1 \Sigma_2
    = A (A \Sigma_2)` has the eigenvalues of :math:`A \Sigma_2 A`, a symmetric PSD
    matrix, so :math:`\operatorname{Tr}(\Sigma_1 \Sigma_2)^{1/2}` is the sum of the
    square roots of its eigenvalues (``eigvalsh``). Eigenvalues within round-off
    of zero are set to 0 (no square root of a negative number, no noise of
    order sqrt(eps) from the null space): exact for singular covariances, e.g.
    of fewer samples than dimensions.

    Args:
        mu1, mu2: float (D,) means.
        sigma1, sigma2: float (D, D) symmetric PSD covariances.

    Returns:
        d^2 as a Python float, >= 0 (clipped: round-off can make it -1e-15).
    """
    m1, s1 = _gaussian(mu1, sigma1, "1")
    m2, s2 = _gaussian(mu2, sigma2, "2")
    if len(m1) != len(m2):
        raise ValueError(f"the two Gaussians differ in dimension: mu1 {m1.shape}, mu2 {m2.shape}")
    a = _psd_sqrt(s1)  # (D, D), A = S1^{1/2}
    ev = _zero_round_off(np.linalg.eigvalsh(a @ s2 @ a))  # (D,) the eigenvalues of S1 S2
    tr_sqrt = float(np.sqrt(ev).sum())  # Tr (S1 S2)^{1/2}
    d2 = float(np.sum((m1 - m2) ** 2)) + float(np.trace(s1) + np.trace(s2)) - 2.0 * tr_sqrt
    return max(d2, 0.0)


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


def _sq_dist_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Blocks ``(rows, d2)`` of the squared distances of ``a`` (N, D) to ``b`` (M, D).

    ``d2`` is float64 (len(rows), M) of ``||a_i||^2 + ||b_j||^2 - 2 a_i . b_j``, all
    three terms in one matrix product of the rows augmented with their squared norm
    and a 1 (no pass over the block after it). Round-off can leave entries of about
    -eps * ||a_i||^2 where the distance is 0: the callers only rank them or compare
    them with radii >= 0, where such an entry acts as the 0 it stands for. The
    full (N, M) matrix is never held.
    """
    ones_a, ones_b = np.ones((len(a), 1)), np.ones((len(b), 1))
    sq_a = np.einsum("nd,nd->n", a, a)[:, None]  # (N, 1)
    sq_b = np.einsum("md,md->m", b, b)[:, None]  # (M, 1)
    a_aug = np.hstack([a, sq_a, ones_a])  # (N, D + 2): [a_i, ||a_i||^2, 1]
    b_aug = np.hstack([-2.0 * b, ones_b, sq_b])  # (M, D + 2): [-2 b_j, 1, ||b_j||^2]
    step = max(1, _BLOCK // len(b))
    for start in range(0, len(a), step):
        rows = slice(start, min(start + step, len(a)))
        yield rows, a_aug[rows] @ b_aug.T  # (rows, M)


def _knn_radii2(x: np.ndarray, k: int) -> np.ndarray:
    """(N,) squared distance of each row of ``x`` (N, D) to its k-th nearest other row."""
    radii2 = np.empty(len(x))
    for rows, d2 in _sq_dist_blocks(x, x):
        local = np.arange(rows.stop - rows.start)
        d2[local, rows.start + local] = np.inf  # a sample is not its own neighbour
        d2.partition(k - 1, axis=1)  # in place: the k smallest first, the k-th at k - 1
        radii2[rows] = d2[:, k - 1]
    return np.maximum(radii2, 0.0)  # clipped after ranking: the same k-th neighbour


def precision_recall(
    real_feats: np.ndarray, fake_feats: np.ndarray, *, k: int = 3
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, section 2).

    Each set's manifold is the union of balls around its samples, the radius
    of a sample being its distance to its k-th nearest neighbour in the same
    set (itself excluded). Precision is the fraction of fake samples inside the
    real manifold (within the radius of at least one real sample), recall the
    fraction of real samples inside the fake manifold.

    Distances are Euclidean, computed in blocks of rows (memory O(M) per row,
    about 16 MiB a block, never the (N, M) matrix).

    Args:
        real_feats: float (N, D), N >= k + 1.
        fake_feats: float (M, D), M >= k + 1.
        k: the neighbour that sets the radius, >= 1 (the paper uses 3).

    Returns:
        ``(precision, recall)``, Python floats in [0, 1].
    """
    real = _as_points(real_feats, "real_feats")  # (N, D)
    fake = _as_points(fake_feats, "fake_feats")  # (M, D)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_feats {real.shape} and fake_feats {fake.shape} differ in dimension")
    if min(len(real), len(fake)) < k + 1:
        raise ValueError(
            f"k = {k} needs at least k + 1 = {k + 1} samples in each set, "
            f"got real_feats {real.shape} and fake_feats {fake.shape}"
        )
    # A common shift leaves distances unchanged and keeps ||a||^2 + ||b||^2 - 2ab
    # from cancelling catastrophically when the features sit far from 0 (ReLU outputs).
    shift = real.mean(axis=0)  # (D,)
    real, fake = real - shift, fake - shift
    real_r2 = _knn_radii2(real, k)  # (N,)
    fake_r2 = _knn_radii2(fake, k)  # (M,)
    fake_in_real = np.zeros(len(fake), dtype=bool)  # (M,)
    real_in_fake = np.zeros(len(real), dtype=bool)  # (N,)
    for rows, d2 in _sq_dist_blocks(fake, real):  # d2 (rows of fake, N): one pass for both
        fake_in_real[rows] = (d2 <= real_r2[None, :]).any(axis=1)
        real_in_fake |= (d2 <= fake_r2[rows, None]).any(axis=0)
    return float(fake_in_real.mean()), float(real_in_fake.mean())


def calibration_sets(
    images: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    *,
    blur_sigma: float = 1.0,
    noise_sigma: float = 25.0,
    single_class: int = 0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Sets of uint8 pictures whose distance to ``images`` calibrates a metric.

    Given real pictures ``images`` uint8 (N, H, W) with ``labels`` (N,), and
    ``reference``, N *other* real pictures (e.g. N training pictures against N
    test pictures), returns N pictures each of:

    * ``"floor"``: ``reference``; what two samples of the data score, the best
      a generator can hope for at this N;
    * ``"blur"``: ``images`` blurred by a Gaussian of std ``blur_sigma`` pixels;
    * ``"noise"``: ``images`` plus Gaussian noise of std ``noise_sigma`` grey
      levels (25 of 255 by default), clipped;
    * ``"single class"``: the pictures of class ``single_class`` repeated to N,
      a perfect generator of one class: total mode collapse.

    Degraded pictures are rounded to uint8, as a generator's are.
    """
    from scipy.ndimage import gaussian_filter

    x = np.asarray(images)
    y = np.asarray(labels)
    ref = np.asarray(reference)
    if x.dtype != np.uint8 or x.ndim != 3 or ref.dtype != np.uint8 or ref.shape != x.shape:
        raise ValueError(f"images and reference must be uint8 (N, H, W) of one shape, got "
                         f"{x.dtype} {x.shape} and {ref.dtype} {ref.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {y.shape}")
    one = x[y == single_class]
    if len(one) == 0:
        raise ValueError(f"no picture of class {single_class} among the labels")
    blurred = gaussian_filter(x.astype(np.float64), sigma=(0, blur_sigma, blur_sigma))
    noisy = x + np.random.default_rng(seed).normal(0.0, noise_sigma, size=x.shape)
    return {
        "floor": ref,
        "blur": np.clip(np.round(blurred), 0, 255).astype(np.uint8),
        "noise": np.clip(np.round(noisy), 0, 255).astype(np.uint8),
        "single class": np.resize(one, x.shape),  # repeated to N pictures
    }
