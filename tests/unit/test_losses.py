"""The losses of numpy_nn.functional.losses against torch in float64.

Hypothesis draws shapes and values, including extremes (logits of +-1e4,
probabilities of exactly 0 and 1); every loss and gradient must equal torch's
(``torch.nn.functional``, ``torch.distributions``, autograd) to round-off, and
nothing may warn. Gradients are also checked by central differences.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.numpy_nn.functional import (
    bce_loss,
    bce_with_logits_loss,
    cross_entropy_loss,
    gan_discriminator_loss,
    gan_generator_loss,
    gaussian_kl,
    huber_loss,
    l1_loss,
    log_sigmoid,
    mse_loss,
)
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

SCALES = (1e-3, 1.0, 3.0, 30.0, 1e3, 1e4)


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, underflow or divide warnings
        return fn(*args, **kwargs)


def _torch(fn, *arrays: np.ndarray):
    """``fn(*tensors)`` and the gradients of it with respect to every array, by autograd."""
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss = fn(*leaves)
    loss.backward()
    return loss.item(), [leaf.grad.numpy() for leaf in leaves]


def _assert_matches(loss, grads, ref_loss, ref_grads, rtol: float = 1e-12) -> None:
    """Equal to round-off: relative to the loss and to each gradient's largest entry.

    The absolute 1e-15 admits the round-off of ``sigmoid(z) - 1`` near 0 (e.g. at
    z = 125 torch gives -2e-55 where 1 - 1 gives 0): the gradients are O(1/n).
    """
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)
    assert abs(loss - ref_loss) <= rtol * max(1.0, abs(ref_loss))
    for g, r in zip(grads, ref_grads, strict=True):
        assert g.shape == r.shape and g.dtype == r.dtype
        assert np.abs(g - r).max() <= 1e-15 + rtol * np.abs(r).max()


@st.composite
def scaled(draw, max_scale: float = 1e4, min_dims: int = 1):
    """(a, rng): an array of a drawn shape and scale, and a generator for companions."""
    shape = draw(array_shapes(min_dims=min_dims, max_dims=4, max_side=5))
    scale = draw(st.sampled_from([s for s in SCALES if s <= max_scale]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    return scale * rng.normal(size=shape), rng


@st.composite
def logits_and_labels(draw, max_scale: float = 1e4):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([s for s in SCALES if s <= max_scale]))
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=(n, k)), rng.integers(0, k, size=n)


# --------------------------------------------------------------------------- cross-entropy


@given(logits_and_labels())
def test_cross_entropy_matches_torch_float64_without_warnings(case) -> None:
    logits, labels = case
    loss, dlogits = _no_warnings(cross_entropy_loss, logits, labels)
    ref = _torch(lambda z: F.cross_entropy(z, torch.from_numpy(labels)), logits)
    _assert_matches(loss, [dlogits], *ref)


@given(logits_and_labels(), st.booleans(), st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.data())
def test_cross_entropy_weight_and_label_smoothing_match_torch(case, weighted, eps, data) -> None:
    logits, labels = case
    k = logits.shape[1]
    weight = None
    if weighted:
        weight = np.array(data.draw(st.lists(st.floats(0.0, 5.0), min_size=k, max_size=k)))
        weight[labels[0]] = max(weight[labels[0]], 0.5)  # the targets' weights cannot sum to 0
    loss, dlogits = _no_warnings(
        cross_entropy_loss, logits, labels, weight=weight, label_smoothing=eps
    )
    w = None if weight is None else torch.from_numpy(weight)
    ref = _torch(
        lambda z: F.cross_entropy(z, torch.from_numpy(labels), weight=w, label_smoothing=eps),
        logits,
    )
    _assert_matches(loss, [dlogits], *ref, rtol=1e-11)


def test_weighted_cross_entropy_is_the_weighted_mean() -> None:
    # Two examples, weights 1 and 3 for their classes: loss = (1 l_0 + 3 l_1) / 4.
    logits = np.array([[2.0, 0.0], [0.5, 1.5]])
    labels = np.array([0, 1])
    per_example = [cross_entropy_loss(logits[i : i + 1], labels[i : i + 1])[0] for i in range(2)]
    loss, _ = cross_entropy_loss(logits, labels, weight=np.array([1.0, 3.0]))
    assert np.isclose(loss, (per_example[0] + 3 * per_example[1]) / 4, rtol=1e-14)


@given(logits_and_labels(max_scale=3.0), st.sampled_from([0.0, 0.2]))
def test_cross_entropy_gradient_matches_central_differences(case, eps) -> None:
    logits, labels = case
    weight = np.linspace(0.5, 2.0, logits.shape[1])
    _, dlogits = cross_entropy_loss(logits, labels, weight=weight, label_smoothing=eps)
    numeric = numerical_gradient(
        lambda z: cross_entropy_loss(z, labels, weight=weight, label_smoothing=eps)[0],
        logits.copy(),
    )
    assert np.abs(dlogits - numeric).max() < 1e-8


# --------------------------------------------------------------------------- regression losses

REGRESSION = {
    "mse": (mse_loss, F.mse_loss),
    "l1": (l1_loss, F.l1_loss),
    "huber": (huber_loss, F.huber_loss),
    "huber_0.3": (
        lambda p, t: huber_loss(p, t, delta=0.3),
        lambda p, t: F.huber_loss(p, t, delta=0.3),
    ),
}


@pytest.mark.parametrize("name", REGRESSION)
@given(case=scaled(), target_scale=st.sampled_from(SCALES))
def test_regression_losses_match_torch(name, case, target_scale) -> None:
    ours, theirs = REGRESSION[name]
    pred, rng = case
    target = target_scale * rng.normal(size=pred.shape)
    if rng.random() < 0.3:  # some ties pred == target (the kink of l1 and huber's centre)
        target.flat[::2] = pred.flat[::2]
    loss, dpred = _no_warnings(ours, pred, target)
    ref = _torch(lambda p: theirs(p, torch.from_numpy(target)), pred)
    _assert_matches(loss, [dpred], *ref)


@pytest.mark.parametrize("name", REGRESSION)
@given(case=scaled(max_scale=3.0))
def test_regression_gradients_match_central_differences(name, case) -> None:
    ours, _ = REGRESSION[name]
    pred, rng = case
    # keep |pred - target| away from the kinks (0 for l1, delta for huber) by more than h
    gap = rng.uniform(0.05, 0.25, size=pred.shape) * rng.choice([-1, 1], size=pred.shape)
    gap += rng.choice([0.0, 2.0], size=pred.shape) * np.sign(gap)
    target = pred - gap
    _, dpred = ours(pred, target)
    numeric = numerical_gradient(lambda p: ours(p, target)[0], pred.copy())
    assert np.abs(dpred - numeric).max() < 1e-8


def test_huber_is_quadratic_inside_and_linear_outside() -> None:
    d = np.array([0.5, -2.0])
    loss, dpred = huber_loss(d, np.zeros(2), delta=1.0)
    assert np.isclose(loss, (0.5 * 0.25 + 1.0 * (2.0 - 0.5)) / 2)
    np.testing.assert_allclose(dpred, [0.25, -0.5])


# --------------------------------------------------------------------------- binary cross-entropy


@given(case=scaled(max_scale=1.0), hard=st.booleans())
def test_bce_on_probabilities_matches_torch_including_0_and_1(case, hard) -> None:
    a, rng = case
    probs = 1 / (1 + np.exp(-a))
    probs.flat[::3] = rng.choice([0.0, 1.0], size=probs.flat[::3].shape)  # exact 0 and 1
    target = rng.integers(0, 2, size=a.shape).astype(float) if hard else rng.random(a.shape)
    loss, dprobs = _no_warnings(bce_loss, probs, target)
    ref = _torch(lambda p: F.binary_cross_entropy(p, torch.from_numpy(target)), probs)
    _assert_matches(loss, [dprobs], *ref)


@given(case=scaled(), hard=st.booleans(), weighted=st.booleans())
def test_bce_with_logits_matches_torch_up_to_1e4(case, hard, weighted) -> None:
    logits, rng = case
    target = (
        rng.integers(0, 2, size=logits.shape).astype(float) if hard else rng.random(logits.shape)
    )
    pos_weight = rng.uniform(0.0, 5.0, size=logits.shape[-1:]) if weighted else None
    loss, dlogits = _no_warnings(bce_with_logits_loss, logits, target, pos_weight=pos_weight)
    pw = None if pos_weight is None else torch.from_numpy(pos_weight)
    ref = _torch(
        lambda z: F.binary_cross_entropy_with_logits(z, torch.from_numpy(target), pos_weight=pw),
        logits,
    )
    _assert_matches(loss, [dlogits], *ref, rtol=1e-11)


@given(case=scaled(max_scale=3.0), weighted=st.booleans())
def test_bce_gradients_match_central_differences(case, weighted) -> None:
    logits, rng = case
    target = rng.random(logits.shape)
    pos_weight = rng.uniform(0.5, 3.0, size=logits.shape) if weighted else None
    _, dlogits = bce_with_logits_loss(logits, target, pos_weight=pos_weight)
    numeric = numerical_gradient(
        lambda z: bce_with_logits_loss(z, target, pos_weight=pos_weight)[0], logits.copy()
    )
    assert np.abs(dlogits - numeric).max() < 1e-8
    probs = np.clip(1 / (1 + np.exp(-logits)), 0.05, 0.95)  # away from the poles of 1/p
    _, dprobs = bce_loss(probs, target)
    numeric = numerical_gradient(lambda p: bce_loss(p, target)[0], probs.copy())
    assert np.abs(dprobs - numeric).max() < 1e-6  # h**2 f''' is ~1e-7 at p = 0.05


def test_log_sigmoid_is_stable_and_matches_torch() -> None:
    z = np.array([-1e4, -800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e4])
    ours = _no_warnings(log_sigmoid, z)
    np.testing.assert_allclose(ours, F.logsigmoid(torch.from_numpy(z)).numpy(), rtol=1e-15)


# --------------------------------------------------------------------------- Gaussian KL


@given(case=scaled(max_scale=30.0, min_dims=2), logvar_scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_gaussian_kl_matches_torch_distributions(case, logvar_scale) -> None:
    mu, rng = case
    logvar = logvar_scale * rng.normal(size=mu.shape)
    kl, dmu, dlogvar = _no_warnings(gaussian_kl, mu, logvar)
    latent_axes = tuple(range(1, mu.ndim))

    def reference(m, lv):
        q = torch.distributions.Normal(m, torch.exp(0.5 * lv))
        p = torch.distributions.Normal(torch.zeros_like(m), torch.ones_like(m))
        return torch.distributions.kl_divergence(q, p).sum(latent_axes).mean()

    _assert_matches(kl, [dmu, dlogvar], *_torch(reference, mu, logvar), rtol=1e-10)


@given(case=scaled(max_scale=3.0, min_dims=2))
def test_gaussian_kl_gradients_match_central_differences(case) -> None:
    mu, rng = case
    logvar = rng.normal(size=mu.shape)
    _, dmu, dlogvar = gaussian_kl(mu, logvar)
    assert (
        np.abs(dmu - numerical_gradient(lambda m: gaussian_kl(m, logvar)[0], mu.copy())).max()
        < 1e-8
    )
    numeric = numerical_gradient(lambda v: gaussian_kl(mu, v)[0], logvar.copy())
    assert np.abs(dlogvar - numeric).max() < 1e-8


def test_gaussian_kl_is_zero_only_at_the_prior() -> None:
    assert gaussian_kl(np.zeros((3, 4)), np.zeros((3, 4)))[0] == 0.0
    assert gaussian_kl(np.full((1, 1), 0.1), np.zeros((1, 1)))[0] > 0


# --------------------------------------------------------------------------- GAN losses


def _bce_torch(z, value: float):
    return F.binary_cross_entropy_with_logits(z, torch.full_like(z, value))


@given(real=scaled(), fake=scaled())
def test_gan_discriminator_loss_matches_torch(real, fake) -> None:
    (r, _), (f, _) = real, fake
    loss, dreal, dfake = _no_warnings(gan_discriminator_loss, r, f)
    ref = _torch(lambda a, b: _bce_torch(a, 1.0) + _bce_torch(b, 0.0), r, f)
    _assert_matches(loss, [dreal, dfake], *ref, rtol=1e-11)


@pytest.mark.parametrize("non_saturating", [True, False])
@given(fake=scaled())
def test_gan_generator_losses_match_torch(non_saturating, fake) -> None:
    f, _ = fake
    loss, dfake = _no_warnings(gan_generator_loss, f, non_saturating=non_saturating)
    if non_saturating:  # -mean log D(G(z))
        ref = _torch(lambda z: -F.logsigmoid(z).mean(), f)
    else:  # mean log(1 - D(G(z))) = mean log sigmoid(-z)
        ref = _torch(lambda z: F.logsigmoid(-z).mean(), f)
    _assert_matches(loss, [dfake], *ref, rtol=1e-11)


def test_minimax_generator_gradient_saturates_where_non_saturating_does_not() -> None:
    z = np.array([-20.0])  # D(G(z)) ~ 2e-9: the discriminator rejects the fake
    _, d_minimax = gan_generator_loss(z, non_saturating=False)
    _, d_ns = gan_generator_loss(z)
    assert abs(d_minimax[0]) < 1e-8 and np.isclose(d_ns[0], -1.0)


# --------------------------------------------------------------------------- dtypes, inputs, errors

FLOAT_CALLS = {
    "mse": lambda a, b: mse_loss(a, b),
    "l1": lambda a, b: l1_loss(a, b),
    "huber": lambda a, b: huber_loss(a, b, delta=0.5),
    "bce": lambda a, b: bce_loss(1 / (1 + np.exp(-a)), (b > 0).astype(a.dtype)),
    "bce_logits": lambda a, b: bce_with_logits_loss(a, (b > 0).astype(np.int64)),
    "bce_logits_pw": lambda a, b: bce_with_logits_loss(
        a, (b > 0).astype(a.dtype), pos_weight=np.full(a.shape[-1], 2.0, dtype=a.dtype)
    ),
    "kl": lambda a, b: gaussian_kl(a, b),
    "ce": lambda a, b: cross_entropy_loss(a, np.arange(len(a)) % a.shape[1], weight=b[0] ** 2),
    "gan_d": lambda a, b: gan_discriminator_loss(a, b),
    "gan_g": lambda a, b: gan_generator_loss(a, non_saturating=False),
}


@pytest.mark.parametrize("name", FLOAT_CALLS)
def test_float32_stays_float32_and_inputs_are_not_mutated(name) -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2))
    before = (a.copy(), b.copy())
    out32 = FLOAT_CALLS[name](a, b)
    out64 = FLOAT_CALLS[name](a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])
    for x32, x64 in zip(out32, out64, strict=True):
        assert x32.dtype == np.float32 and x64.dtype == np.float64
        assert rel_error(np.asarray(x32, dtype=np.float64), x64) < 1e-5


BAD = [
    (cross_entropy_loss, (np.zeros(3), np.array([0])), {}, r"2-D \(N, K\), got shape \(3,\)"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([0, 1, 2])), {}, r"labels has shape \(3,\)"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([0.0, 1.0])), {}, "labels must be integers"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([0, 3])), {}, r"\[0, 3\) for logits"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([-1, 0])), {}, r"got values in \[-1, 0\]"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([0, 1])), {"weight": np.ones(2)}, r"\(2,\)"),
    (cross_entropy_loss, (np.zeros((2, 3)), np.array([0, 1])), {"weight": -np.ones(3)}, "negat"),
    (
        cross_entropy_loss,
        (np.zeros((2, 3)), np.array([0, 0])),
        {"weight": np.eye(3)[1]},
        "sum to 0",
    ),
    (cross_entropy_loss, (np.zeros((1, 2)), np.array([0])), {"label_smoothing": 1.5}, "smoothing"),
    (cross_entropy_loss, (np.array([[np.nan, 0.0]]), np.array([0])), {}, "NaN"),
    (mse_loss, (np.zeros((2, 3)), np.zeros((3, 2))), {}, r"shape \(3, 2\), expected \(2, 3\)"),
    (mse_loss, (np.zeros((2, 3)), np.zeros(3)), {}, "nothing is broadcast"),
    (mse_loss, (np.zeros((2, 1)), np.zeros((2,))), {}, "nothing is broadcast"),
    (mse_loss, (np.zeros(0), np.zeros(0)), {}, "non-empty"),
    (l1_loss, (np.array([np.inf]), np.zeros(1)), {}, "NaN or infinite"),
    (huber_loss, (np.zeros(2), np.zeros(2)), {"delta": 0.0}, "delta must be positive"),
    (huber_loss, (np.zeros(2), np.zeros(3)), {}, "expected"),
    (bce_loss, (np.array([0.5, 1.2]), np.array([0.0, 1.0])), {}, r"probs \(2,\) must lie in"),
    (bce_loss, (np.array([0.5, -0.1]), np.array([0.0, 1.0])), {}, r"must lie in \[0, 1\]"),
    (bce_loss, (np.array([0.5, 0.5]), np.array([0.0, 2.0])), {}, r"target \(2,\) must lie"),
    (bce_loss, (np.array([0.5, 0.5]), np.array([1.0])), {}, "shapes must match"),
    (bce_with_logits_loss, (np.zeros(2), np.array([0.0, -1.0])), {}, "target"),
    (
        bce_with_logits_loss,
        (np.zeros((2, 3)), np.zeros((2, 3))),
        {"pos_weight": np.ones(2)},
        "pos_w",
    ),
    (
        bce_with_logits_loss,
        (np.zeros((2, 3)), np.zeros((2, 3))),
        {"pos_weight": -np.ones(3)},
        "non-n",
    ),
    (bce_with_logits_loss, (np.zeros((2, 3)), np.zeros((3, 2))), {}, "expected"),
    (gaussian_kl, (np.zeros(3), np.zeros(3)), {}, r"\(N, D\)"),
    (gaussian_kl, (np.zeros((2, 3)), np.zeros((2, 4))), {}, "logvar has shape"),
    (gan_discriminator_loss, (np.zeros(2), np.zeros(0)), {}, "fake_logits must be non-empty"),
]


@pytest.mark.parametrize(("fn", "args", "kwargs", "match"), BAD)
def test_bad_input_raises_value_error(fn, args, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)
