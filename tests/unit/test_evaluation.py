"""The generative-model metrics of course_lib.evaluation against independent computations.

The Fréchet distance is checked against closed forms (1-D, commuting
covariances), ``scipy.linalg.sqrtm``, torchmetrics, and the nuclear norm of the
centred data's cross product (exact for singular covariances); precision and
recall against a brute-force k-NN on the full distance matrix and a 1-D
example worked by hand; the mode metrics on the toy mixtures. Nothing may warn.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ortho_group

from course_lib import evaluation
from course_lib.data import toy_2d, toy_2d_modes
from course_lib.evaluation import (
    feature_statistics,
    frechet_distance,
    mode_metrics,
    precision_recall,
)

pytestmark = pytest.mark.ch06


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # no sqrt of a negative, no complex cast, no singular warning
        return fn(*args, **kwargs)


def _fd_of_data(x: np.ndarray, y: np.ndarray) -> float:
    """The reference FD of two data sets, independent of any matrix square root.

    With centred data X (n1, D) and Y (n2, D), S1 S2 = X^T X Y^T Y / c and its
    nonzero eigenvalues are those of (X Y^T)(X Y^T)^T / c, c = (n1-1)(n2-1): so
    Tr (S1 S2)^{1/2} is the sum of the singular values of X Y^T / sqrt(c), exact
    whatever the ranks of S1 and S2.
    """
    xc, yc = x - x.mean(0), y - y.mean(0)
    c = (len(x) - 1) * (len(y) - 1)
    tr_sqrt = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / math.sqrt(c)
    tr = (xc**2).sum() / (len(x) - 1) + (yc**2).sum() / (len(y) - 1)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + tr - 2 * tr_sqrt)


def _scale(x: np.ndarray, y: np.ndarray) -> float:
    """The size of the terms of FD(x, y), for tolerances relative to it."""
    return float(np.var(x, 0).sum() + np.var(y, 0).sum() + ((x.mean(0) - y.mean(0)) ** 2).sum())


@st.composite
def data_pairs(draw, max_dim=12, max_n=30):
    """Two data sets (n1, D), (n2, D): often fewer samples than dimensions (singular S)."""
    d = draw(st.integers(1, max_dim))
    n1, n2 = draw(st.integers(2, max_n)), draw(st.integers(2, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    x = scale * (rng.standard_normal((n1, d)) * rng.uniform(0.1, 3, d) + rng.normal(size=d))
    y = scale * (rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) / math.sqrt(d))
    return x, y


# ---------------------------------------------------------------- feature_statistics


def test_feature_statistics_is_mean_and_unbiased_covariance():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == np.float64 and mu.shape == (4,) and sigma.shape == (4, 4)
    xc = x.astype(np.float64) - x.astype(np.float64).mean(0)
    np.testing.assert_allclose(mu, x.astype(np.float64).sum(0) / 50, rtol=1e-13)
    np.testing.assert_allclose(sigma, xc.T @ xc / 49, rtol=1e-12)  # divided by N - 1


def test_feature_statistics_in_one_dimension_gives_a_matrix():
    mu, sigma = feature_statistics(np.array([[1.0], [2.0], [4.0]]))
    assert mu.shape == (1,) and sigma.shape == (1, 1)
    np.testing.assert_allclose(sigma, [[np.var([1.0, 2.0, 4.0], ddof=1)]], rtol=1e-14)


@pytest.mark.parametrize(
    "feats", [np.zeros((1, 3)), np.zeros(5), np.zeros((2, 3, 1)), np.zeros((4, 0))]
)
def test_feature_statistics_rejects_bad_shapes(feats):
    with pytest.raises(ValueError, match=r"feats|2-D"):
        feature_statistics(feats)


def test_feature_statistics_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        feature_statistics(np.array([[0.0, np.nan], [1.0, 2.0]]))


# ---------------------------------------------------------------- frechet_distance


@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(0, 1e3), st.floats(0, 1e3))
def test_fd_in_one_dimension_is_the_closed_form(m1, m2, s1, s2):
    """W2^2 of two 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2, s the standard deviations."""
    fd = _no_warnings(frechet_distance, [m1], [[s1**2]], [m2], [[s2**2]])
    ref = (m1 - m2) ** 2 + (s1 - s2) ** 2
    assert type(fd) is float
    assert abs(fd - ref) <= 1e-12 * max(1.0, (m1 - m2) ** 2 + s1**2 + s2**2)


@given(st.integers(1, 16), st.integers(0, 2**32 - 1), st.booleans())
def test_fd_of_commuting_covariances(d, seed, rotate):
    """S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: FD = |dmu|^2 + sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 4, d), rng.uniform(0, 4, d)
    a[rng.random(d) < 0.3] = 0.0  # singular: some variances exactly 0
    q = ortho_group.rvs(d, random_state=rng) if rotate and d > 1 else np.eye(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    fd = _no_warnings(frechet_distance, m1, q * a @ q.T, m2, q * b @ q.T)
    ref = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert abs(fd - ref) <= 1e-12 * (1 + a.sum() + b.sum() + ((m1 - m2) ** 2).sum())


@pytest.mark.parametrize("seed", range(3))
def test_fd_matches_scipy_sqrtm_when_well_conditioned(seed):
    rng = np.random.default_rng(seed)
    d = 10
    g1, g2 = rng.normal(size=(d, 2 * d)), rng.normal(size=(d, 2 * d))
    s1, s2 = g1 @ g1.T / d + 0.5 * np.eye(d), g2 @ g2.T / d + 0.1 * np.eye(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    root = scipy.linalg.sqrtm(s1 @ s2).real  # the test may use it: well-conditioned, nonsingular
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root)
    np.testing.assert_allclose(frechet_distance(m1, s1, m2, s2), ref, rtol=1e-10)


@given(data_pairs())
def test_fd_of_data_matches_the_nuclear_norm_reference(pair):
    x, y = pair
    (m1, s1), (m2, s2) = feature_statistics(x), feature_statistics(y)
    fd = _no_warnings(frechet_distance, m1, s1, m2, s2)
    assert fd >= 0.0
    assert abs(fd - _fd_of_data(x, y)) <= 1e-10 * _scale(x, y)


@given(data_pairs())
def test_fd_is_symmetric_zero_on_itself_and_rotation_invariant(pair):
    x, y = pair
    (m1, s1), (m2, s2) = feature_statistics(x), feature_statistics(y)
    fd, tol = frechet_distance(m1, s1, m2, s2), 1e-10 * _scale(x, y)
    assert abs(frechet_distance(m2, s2, m1, s1) - fd) <= tol
    assert _no_warnings(frechet_distance, m1, s1, m1, s1) <= 1e-10 * _scale(x, x)
    d = x.shape[1]
    q = ortho_group.rvs(d, random_state=0) if d > 1 else np.array([[-1.0]])
    shift = np.arange(d, dtype=np.float64)  # and a common translation
    fd_rot = frechet_distance(q @ m1 + shift, q @ s1 @ q.T, q @ m2 + shift, q @ s2 @ q.T)
    assert abs(fd_rot - fd) <= tol


@pytest.mark.parametrize(("n1", "n2"), [(5, 7), (5, 5), (2, 30)])
def test_fd_of_singular_covariances_is_exact_and_warning_free(n1, n2):
    """5 samples in 20 dimensions: S1 has rank 4, and 16 zero eigenvalues."""
    rng = np.random.default_rng(n1 + 10 * n2)
    x, y = rng.normal(size=(n1, 20)), 2.0 + rng.normal(size=(n2, 20))
    (m1, s1), (m2, s2) = feature_statistics(x), feature_statistics(y)
    assert np.linalg.matrix_rank(s1) == n1 - 1
    fd = _no_warnings(frechet_distance, m1, s1, m2, s2)
    # Brute force on the r-dimensional range of S1 (basis U from the SVD of the centred data):
    # S1 = U B U^T, so the nonzero eigenvalues of S1 S2 are those of B (U^T S2 U), r x r.
    r = n1 - 1
    u = np.linalg.svd(x - m1, full_matrices=False)[2][:r].T  # (20, r)
    product = (u.T @ s1 @ u) @ (u.T @ s2 @ u)  # (r, r), nonsingular
    tr_sqrt = np.sqrt(np.linalg.eigvals(product).real).sum()
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    np.testing.assert_allclose(fd, ref, rtol=1e-11)
    np.testing.assert_allclose(fd, _fd_of_data(x, y), rtol=1e-11)


def test_fd_of_two_single_point_clouds_is_the_squared_distance():
    """Zero covariances (every eigenvalue 0): only the means count."""
    z = np.zeros((3, 3))
    assert _no_warnings(frechet_distance, [0.0, 0, 0], z, [1.0, 2, 2], z) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(3), np.eye(3), np.zeros(2), np.eye(2)), "differ in dimension"),
        ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"\(3,\) and \(2, 2\)"),
        ((np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), r"mu1 must be \(D,\)"),
        ((np.zeros(0), np.eye(0), np.zeros(0), np.eye(0)), "D >= 1"),
        ((np.zeros(2), np.eye(2), np.zeros(2), [[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        ((np.zeros(2), np.eye(2), np.array([0.0, np.inf]), np.eye(2)), "NaN or infinite"),
        ((np.zeros(2), np.full((2, 2), np.nan), np.zeros(2), np.eye(2)), "NaN or infinite"),
    ],
)
def test_fd_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


def test_fd_matches_torchmetrics_on_precomputed_features():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance, _compute_fid

    class PassThrough(torch.nn.Module):
        """Features in, the same features out: FID of precomputed features."""

        num_features = 16  # torchmetrics reads it instead of probing with a random image;
        # normalize=False: no version of torchmetrics casts a custom model's input to bytes

        def forward(self, feats):
            return feats

    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16)) + 0.5
    fake = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16)) / 4
    metric = FrechetInceptionDistance(feature=PassThrough(), normalize=False)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    ours = frechet_distance(*feature_statistics(real), *feature_statistics(fake))
    np.testing.assert_allclose(metric.compute().item(), ours, rtol=1e-9)
    stats = [torch.from_numpy(s) for s in (*feature_statistics(real), *feature_statistics(fake))]
    np.testing.assert_allclose(_compute_fid(*stats).item(), ours, rtol=1e-9)


def test_torchmetrics_fid_needs_no_network_and_evaluation_no_torch():
    """Run in a fresh interpreter with every socket refused: nothing is downloaded."""
    pytest.importorskip("torchmetrics")
    script = textwrap.dedent(
        """
        import socket, sys, urllib.request
        import course_lib.evaluation
        assert "torch" not in sys.modules, "course_lib.evaluation imported torch"

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = socket.create_connection = urllib.request.urlopen = refuse
        import torch
        from torchmetrics.image.fid import FrechetInceptionDistance

        class PassThrough(torch.nn.Module):
            num_features = 3

            def forward(self, feats):
                return feats

        metric = FrechetInceptionDistance(feature=PassThrough(), normalize=False)
        metric.update(torch.eye(3, dtype=torch.float64), real=True)
        metric.update(torch.eye(3, dtype=torch.float64) + 1, real=False)
        print(metric.compute().item())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(3.0)  # same covariance, means 1 apart in 3-D


# ---------------------------------------------------------------- precision_recall


def _brute_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019 on the full distance matrices, sorted."""

    def dists(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # (len(a), len(b))

    def radii(a):
        d = dists(a, a)
        np.fill_diagonal(d, np.inf)  # the sample itself is not a neighbour
        return np.sort(d, axis=1)[:, k - 1]

    d_fr = dists(fake, real)  # (M, N)
    precision = (d_fr <= radii(real)[None, :]).any(1).mean()
    recall = (d_fr.T <= radii(fake)[None, :]).any(1).mean()
    return float(precision), float(recall)


def test_identical_sets_give_one_and_far_sets_zero():
    x = np.random.default_rng(0).normal(size=(100, 5))
    assert _no_warnings(precision_recall, x, x.copy()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_one_dimensional_example_worked_by_hand():
    """k = 1. Real balls: 0 [-1, 1], 1 [0, 2], 3 [1, 5], 7 [3, 11], 39 [7, 71].
    Fake balls: -2 [-4.5, 0.5], 0.5 [-2, 3], 6 [0.5, 11.5], 12 [6, 18], 20 [12, 28].
    Fakes on the real manifold: 0.5, 6, 12, 20 (not -2): precision 4/5. Reals on the
    fake one: 0, 1, 3 (exactly on the boundary of 0.5's ball), 7 (not 39): recall 4/5.
    """
    real = np.array([[0.0], [1.0], [3.0], [7.0], [39.0]])
    fake = np.array([[-2.0], [0.5], [6.0], [12.0], [20.0]])
    p, r = precision_recall(real, fake, k=1)
    assert (p, r) == (0.8, 0.8) and type(p) is float and type(r) is float
    # k = 2: real radii 3, 2, 3, 6, 36 cover [-3, 75]: every fake; fake radii
    # 8, 5.5, 6, 8, 14 cover [-10, 34]: every real but 39.
    assert precision_recall(real, fake, k=2) == (1.0, 0.8)
    # k = 4: fake radii 22, 19.5, 14, 14, 22 cover [-24, 42], 39 included.
    assert precision_recall(real, fake, k=4) == (1.0, 1.0)


@given(
    st.integers(1, 5),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
)
def test_precision_recall_matches_brute_force(k, extra_n, extra_m, d, seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(k + 1 + extra_n, d))
    fake = rng.normal(size=(k + 1 + extra_m, d)) * rng.uniform(0.3, 2) + rng.normal(0, 0.5, d)
    ours = _no_warnings(precision_recall, real, fake, k=k)
    assert ours == _brute_precision_recall(real, fake, k)
    assert precision_recall(fake, real, k=k) == ours[::-1]  # swapping the roles swaps them


@pytest.mark.parametrize("block", [1, 17 * 5, 17 * 5 + 3, 23 * 4 - 1])
def test_precision_recall_blocks_need_not_divide_the_sizes(monkeypatch, block):
    """Blocks of 1 row (block < M), 5 rows of 17, 4 rows of 23: 23 = 4 * 5 + 3, 17 = 4 * 4 + 1."""
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(23, 3)), rng.normal(size=(17, 3)) + 0.7
    ref = _brute_precision_recall(real, fake, 3)
    assert 0 < ref[0] < 1 and 0 < ref[1] < 1  # a case where blocks can get rows wrong
    monkeypatch.setattr(evaluation, "_BLOCK", block)
    assert precision_recall(real, fake) == ref
    assert precision_recall(fake, real) == ref[::-1]


def test_half_the_modes_give_precision_one_and_recall_one_half():
    """Fakes from 4 of the ring's 8 modes: all on the real manifold, half of it covered."""
    centers, std = toy_2d_modes("ring")
    real = toy_2d("ring", 2000, seed=0)
    rng = np.random.default_rng(1)
    fake = centers[rng.integers(0, 4, 1000)] + std * rng.standard_normal((1000, 2))
    p, r = precision_recall(real, fake, k=3)
    share = (np.linalg.norm(real[:, None] - centers[None], axis=2).argmin(1) < 4).mean()
    assert p > 0.95  # k-NN balls miss a few percent of the tails even of the same law
    assert 0.9 * share < r <= share  # no real sample of the 4 other modes is covered
    assert abs(share - 0.5) < 0.05


def test_precision_recall_is_bounded_in_memory(monkeypatch):
    """Memory grows with the block, never with N * M: here 512 KiB blocks, a 48 MB matrix."""
    import tracemalloc

    monkeypatch.setattr(evaluation, "_BLOCK", 1 << 16)
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2000, 16)), rng.normal(size=(3000, 16))
    tracemalloc.start()
    try:
        result = precision_recall(real, fake)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    full = 2000 * 3000 * 8
    assert peak < full / 10, f"peak {peak / 2**20:.1f} MiB of a {full / 2**20:.0f} MiB matrix"
    monkeypatch.setattr(evaluation, "_BLOCK", full // 8)  # one block: the whole matrix
    assert precision_recall(real, fake) == result


@pytest.mark.parametrize(
    ("real", "fake", "k", "match"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), 3, "differ in dimension"),
        (np.zeros(5), np.zeros((5, 1)), 3, "2-D"),
        (np.zeros((3, 2)), np.zeros((5, 2)), 3, r"k \+ 1 = 4"),
        (np.zeros((5, 2)), np.zeros((4, 2)), 4, r"k \+ 1 = 5"),
        (np.zeros((5, 2)), np.zeros((5, 2)), 0, "k must be an int >= 1"),
        (np.zeros((5, 2)), np.zeros((5, 2)), 2.0, "k must be an int >= 1"),
        (np.zeros((5, 2)), np.zeros((5, 2)), True, "k must be an int >= 1"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), 3, "NaN"),
    ],
)
def test_precision_recall_rejects_bad_arguments(real, fake, k, match):
    with pytest.raises(ValueError, match=match):
        precision_recall(real, fake, k=k)


# ---------------------------------------------------------------- mode_metrics


@pytest.mark.parametrize(("name", "n"), [("ring", 20_000), ("grid", 20_000)])
def test_a_perfect_sampler_captures_every_mode(name, n):
    """In 2-D, |z|^2 of a standard normal z is chi^2_2: P(|z| <= 3) = 1 - exp(-9/2)."""
    centers, std = toy_2d_modes(name)
    m = mode_metrics(toy_2d(name, n, seed=3), centers, std, k=3.0)
    p = 1 - math.exp(-4.5)
    assert m["modes"] == len(centers)
    assert abs(m["high_quality"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert 0 <= m["kl"] < 0.01  # counts within a few percent of uniform


def test_mode_collapse_gives_one_mode_and_kl_log_m():
    centers, std = toy_2d_modes("grid")
    samples = centers[7] + 0.1 * std * np.random.default_rng(0).standard_normal((500, 2))
    m = mode_metrics(samples, centers, std)
    assert m == {"modes": 1, "high_quality": 1.0, "kl": pytest.approx(math.log(25))}


def test_kl_of_an_uneven_histogram():
    """30 and 10 samples on two of 8 modes: KL = sum p log(8 p), p = (3/4, 1/4)."""
    centers, std = toy_2d_modes("ring")
    samples = np.repeat(centers[[2, 5]], [30, 10], axis=0)
    m = mode_metrics(samples, centers, std)
    ref = 0.75 * math.log(6) + 0.25 * math.log(2)
    assert m["modes"] == 2 and m["high_quality"] == 1.0 and m["kl"] == pytest.approx(ref)


def test_no_high_quality_sample_gives_infinite_kl():
    centers, std = toy_2d_modes("ring")
    m = mode_metrics(np.zeros((100, 2)), centers, std)  # the ring's centre: 2 from every mode
    assert m["modes"] == 0 and m["high_quality"] == 0.0 and m["kl"] == math.inf


def test_min_share_drops_modes_with_a_few_strays():
    """2,500 samples on the 25-mode grid: a mode needs 0.2 * 100 = 20 of them."""
    centers, std = toy_2d_modes("grid")
    samples = np.concatenate([np.repeat(centers[:24], 104, axis=0), np.repeat(centers[24:], 4, 0)])
    assert len(samples) == 2500
    assert mode_metrics(samples, centers, std)["modes"] == 24
    assert mode_metrics(samples, centers, std, min_share=0.0)["modes"] == 25


@pytest.mark.parametrize(
    ("samples", "centers", "std", "match"),
    [
        (np.zeros(4), np.zeros((3, 2)), 0.1, "samples must be a 2-D array"),
        (np.zeros((4, 2)), np.zeros((3, 3)), 0.1, "differ in dimension"),
        (np.zeros((0, 2)), np.zeros((3, 2)), 0.1, "at least one sample"),
        (np.zeros((4, 2)), np.zeros((3, 2)), 0.0, "std > 0"),
        (np.full((4, 2), np.inf), np.zeros((3, 2)), 0.1, "NaN or infinite"),
    ],
)
def test_mode_metrics_rejects_bad_arguments(samples, centers, std, match):
    with pytest.raises(ValueError, match=match):
        mode_metrics(samples, centers, std)


def test_calibration_sets_degrade_as_documented() -> None:
    from scipy.ndimage import gaussian_filter

    from course_lib.evaluation import calibration_sets

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
    labels = np.arange(12) % 3
    reference = rng.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
    sets = calibration_sets(images, labels, reference, noise_sigma=10.0, single_class=2)
    assert set(sets) == {"floor", "blur", "noise", "single class"}
    assert all(v.dtype == np.uint8 and v.shape == images.shape for v in sets.values())
    assert np.array_equal(sets["floor"], reference)
    expected = gaussian_filter(images[3].astype(float), 1.0)  # one picture alone: no mixing
    assert np.abs(sets["blur"][3].astype(float) - expected).max() <= 0.5 + 1e-9
    residual = sets["noise"].astype(float) - images
    inside = (sets["noise"] > 0) & (sets["noise"] < 255)
    assert 8.0 < residual[inside].std() < 12.0
    assert np.array_equal(sets["single class"][:4], images[labels == 2])
    assert np.array_equal(sets["single class"][4:8], images[labels == 2])
    with pytest.raises(ValueError, match="no picture of class 7"):
        calibration_sets(images, labels, reference, single_class=7)
    with pytest.raises(ValueError, match="uint8"):
        calibration_sets(images.astype(float), labels, reference)
