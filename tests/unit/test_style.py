"""Gram matrix, style loss and total-variation loss (numpy_nn.functional.style) against torch.

The references are written in torch from their definitions and differentiated
by autograd in float64; shapes and values are drawn by hypothesis, and the
gradients are also checked by central differences.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from course_lib.numpy_nn.functional import (
    gram_matrix_backward,
    gram_matrix_forward,
    style_loss,
    tv_loss,
)
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error


def torch_gram(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), F F^T / (C H W): the definition, in torch."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def torch_tv(x: torch.Tensor, p: int) -> torch.Tensor:
    dv = x[:, :, 1:, :] - x[:, :, :-1, :]
    dh = x[:, :, :, 1:] - x[:, :, :, :-1]
    if p == 2:
        return (dv**2).mean() + (dh**2).mean()
    return dv.abs().mean() + dh.abs().mean()


@st.composite
def feature_maps(draw, min_side: int = 1, max_scale: float = 100.0):
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 4)),
        draw(st.integers(min_side, 5)),
        draw(st.integers(min_side, 5)),
    )
    scale = draw(st.sampled_from([s for s in (1e-3, 1.0, 10.0, 100.0) if s <= max_scale]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    return scale * rng.normal(size=shape), rng


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-12) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.abs(a - b).max() <= 1e-300 + rtol * np.abs(b).max()


def _close_numeric(analytic: np.ndarray, numeric: np.ndarray) -> None:
    """Central differences in float64 with h = 1e-5 agree to ~1e-10 of the largest entry."""
    assert np.abs(analytic - numeric).max() <= 1e-8 * max(1.0, np.abs(numeric).max())


@given(feature_maps())
def test_gram_forward_and_backward_match_autograd(case) -> None:
    x, rng = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gram, cache = gram_matrix_forward(x)
        dG = rng.normal(size=gram.shape)  # not symmetric: the backward must symmetrise it
        dx = gram_matrix_backward(dG, cache)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_gram(xt)
    ref.backward(torch.from_numpy(dG))
    _close(gram, ref.detach().numpy())
    _close(dx, xt.grad.numpy())
    np.testing.assert_allclose(gram, gram.transpose(0, 2, 1), rtol=1e-14)


@given(feature_maps(max_scale=1.0))  # central differences lose ~eps * x**2 / h
def test_gram_backward_matches_central_differences(case) -> None:
    x, rng = case
    gram, cache = gram_matrix_forward(x)
    dG = rng.normal(size=gram.shape)
    numeric = numerical_gradient(lambda a: gram_matrix_forward(a)[0], x.copy(), dout=dG)
    _close_numeric(gram_matrix_backward(dG, cache), numeric)


@given(feature_maps(), st.booleans())
def test_style_loss_matches_torch(case, shared_target) -> None:
    x, rng = case
    n, c = x.shape[:2]
    target = rng.normal(size=(c, c) if shared_target else (n, c, c))
    target = target @ target.swapaxes(-1, -2)  # a Gram matrix is symmetric positive semi-definite
    loss, dx = style_loss(x, target)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.mse_loss(torch_gram(xt), torch.from_numpy(target).expand(n, c, c))
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12 * max(1.0, abs(ref.item()))
    _close(dx, xt.grad.numpy())


def test_style_loss_is_zero_at_the_target_and_positive_elsewhere() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4))
    gram, _ = gram_matrix_forward(x)
    loss, dx = style_loss(x, gram)
    assert loss == 0.0 and not dx.any()
    assert style_loss(x, gram[0])[0] > 0  # the second image has another style


@pytest.mark.parametrize("p", [1, 2])
@given(case=feature_maps(min_side=2))
def test_tv_loss_matches_autograd(p, case) -> None:
    x, rng = case
    if rng.random() < 0.3:  # flat regions: zero differences, the kink of |.|
        x[:, :, :2, :] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dx = tv_loss(x, p=p)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_tv(xt, p)
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12 * max(1.0, abs(ref.item()))
    _close(dx, xt.grad.numpy())


@pytest.mark.parametrize("p", [1, 2])
@given(case=feature_maps(min_side=2, max_scale=10.0))
def test_tv_loss_gradient_matches_central_differences(p, case) -> None:
    x, _ = case
    if p == 1:  # keep every neighbour difference away from 0 (the kink): a ramp plus noise
        x = x * 1e-3 + np.arange(x.shape[2])[:, None] + 0.37 * np.arange(x.shape[3])
    numeric = numerical_gradient(lambda a: tv_loss(a, p=p)[0], x.copy())
    _close_numeric(tv_loss(x, p=p)[1], numeric)


def test_tv_loss_of_a_constant_image_is_zero_and_of_a_ramp_is_known() -> None:
    assert tv_loss(np.ones((1, 3, 4, 5)))[0] == 0.0
    ramp = np.broadcast_to(np.arange(5.0), (1, 1, 4, 5))  # horizontal steps of 1, vertical 0
    assert tv_loss(ramp, p=1)[0] == 1.0 and tv_loss(ramp, p=2)[0] == 1.0
    assert tv_loss(2 * ramp, p=1)[0] == 2.0 and tv_loss(2 * ramp, p=2)[0] == 4.0


@pytest.mark.parametrize(
    "call",
    [
        lambda x: gram_matrix_forward(x),
        lambda x: gram_matrix_backward(np.ones((2, 3, 3), x.dtype), gram_matrix_forward(x)[1]),
        lambda x: style_loss(x, np.eye(3, dtype=x.dtype)),
        lambda x: tv_loss(x),
        lambda x: tv_loss(x, p=1),
    ],
)
def test_float32_stays_float32_and_input_is_not_mutated(call) -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
    before = x.copy()
    out32, out64 = call(x), call(x.astype(np.float64))
    np.testing.assert_array_equal(x, before)
    out32 = out32 if isinstance(out32, tuple) else (out32,)
    out64 = out64 if isinstance(out64, tuple) else (out64,)
    for a, b in zip(out32, out64, strict=True):
        if isinstance(a, np.ndarray | np.floating):
            assert a.dtype == np.float32 and b.dtype == np.float64
            assert rel_error(np.asarray(a, np.float64), b) < 1e-5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: gram_matrix_forward(np.ones((3, 4, 5))),
            r"4-D \(N, C, H, W\), got shape \(3, 4, 5\)",
        ),
        (lambda: gram_matrix_forward(np.ones((1, 0, 2, 2))), "non-empty"),
        (lambda: gram_matrix_forward(np.full((1, 1, 2, 2), np.nan)), "NaN"),
        (
            lambda: gram_matrix_backward(
                np.ones((1, 3, 3)), gram_matrix_forward(np.ones((1, 2, 2, 2)))[1]
            ),
            r"dG has shape \(1, 3, 3\), expected \(1, 2, 2\)",
        ),
        (
            lambda: style_loss(np.ones((2, 3, 4, 4)), np.ones((2, 3))),
            r"target_gram has shape \(2, 3\)",
        ),
        (lambda: style_loss(np.ones((2, 3, 4, 4)), np.ones((3, 3, 3))), r"expected \(2, 3, 3\)"),
        (lambda: tv_loss(np.ones((1, 1, 1, 4))), "at least 2x2"),
        (lambda: tv_loss(np.ones((4, 4))), "4-D"),
        (lambda: tv_loss(np.ones((1, 1, 3, 3)), p=3), "p must be 1"),
    ],
)
def test_bad_input_raises_value_error(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()
