"""Max and average pooling against torch (float64) and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given
from hypothesis import strategies as st
from settings_strategies import as_pair, int_or_pair

from course_lib.numpy_nn.functional import (
    AvgPool2dCache,
    MaxPool2dCache,
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

pytestmark = pytest.mark.ch01
TOL = {"rtol": 1e-10, "atol": 1e-10}
POOLS = {
    "max": (maxpool2d_forward, maxpool2d_backward, TF.max_pool2d, MaxPool2dCache),
    "avg": (avgpool2d_forward, avgpool2d_backward, TF.avg_pool2d, AvgPool2dCache),
}


@st.composite
def pool_cases(draw, max_size=9, integer_valued=False):
    """(x, settings): kernel 1-4 fitting in x, stride 1-3 or None (= kernel_size)."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kernel = int_or_pair(draw, 1, 4)
    stride = draw(st.none() | st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    KH, KW = as_pair(kernel)
    assume(KH <= H and KW <= W)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Small integers make ties in max pooling common: the routing must still match torch.
    x = (
        rng.integers(-2, 3, (N, C, H, W)).astype(np.float64)
        if integer_valued
        else rng.standard_normal((N, C, H, W))
    )
    return x, {"kernel_size": kernel, "stride": stride}


def _torch_pool(kind, x, settings, dout):
    xt = torch.tensor(x, requires_grad=True)
    # torch's stride=None also means "stride = kernel_size"
    out = POOLS[kind][2](xt, settings["kernel_size"], settings["stride"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(case=pool_cases())
def test_forward_and_backward_match_torch(kind, case):
    x, settings = case
    forward, backward, _, cache_type = POOLS[kind]
    out, cache = forward(x, **settings)
    assert isinstance(cache, cache_type)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    out_t, dx_t = _torch_pool(kind, x, settings, dout)
    assert out.shape == out_t.shape
    np.testing.assert_allclose(out, out_t, **TOL)
    np.testing.assert_allclose(backward(dout, cache), dx_t, **TOL)


@given(case=pool_cases(integer_valued=True))
def test_maxpool_ties_route_like_torch(case):
    x, settings = case
    out, cache = maxpool2d_forward(x, **settings)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    np.testing.assert_allclose(
        maxpool2d_backward(dout, cache), _torch_pool("max", x, settings, dout)[1], **TOL
    )


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(case=pool_cases(max_size=6))
def test_backward_matches_numerical_gradient(kind, case):
    x, settings = case
    forward, backward, _, _ = POOLS[kind]
    out, cache = forward(x, **settings)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    num = numerical_gradient(lambda x_: forward(x_, **settings)[0], x, dout)
    assert rel_error(backward(dout, cache), num) < 1e-6


def test_maxpool_tie_goes_to_first_element_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    out, cache = maxpool2d_forward(x, kernel_size=2)
    np.testing.assert_array_equal(
        maxpool2d_backward(np.ones_like(out), cache), [[[[0, 1], [0, 0]]]]
    )


def test_overlapping_windows_accumulate():
    # 3x3 input, 2x2 windows, stride 1: the centre sits in all four windows.
    x = np.array([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]])
    out, cache = maxpool2d_forward(x, kernel_size=2, stride=1)
    np.testing.assert_array_equal(
        maxpool2d_backward(np.ones_like(out), cache)[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]]
    )
    out, cache = avgpool2d_forward(np.ones((1, 1, 3, 3)), kernel_size=2, stride=1)
    expected = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    np.testing.assert_array_equal(avgpool2d_backward(np.ones_like(out), cache)[0, 0], expected)


def test_stride_defaults_to_kernel_size():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = maxpool2d_forward(x, kernel_size=2)
    np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])
    out, _ = avgpool2d_forward(x, kernel_size=2)
    np.testing.assert_array_equal(out, [[[[2.5, 4.5], [10.5, 12.5]]]])


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_and_inputs_not_mutated(kind, dtype):
    forward, backward, _, _ = POOLS[kind]
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6)).astype(dtype)
    x_copy = x.copy()
    out, cache = forward(x, kernel_size=3, stride=2)
    dout = np.ones(out.shape)  # float64 dout: dx still follows x
    dout_copy = dout.copy()
    dx = backward(dout, cache)
    assert out.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros((3, 4, 4)), {"kernel_size": 2}, r"x must be 4-D.*\(3, 4, 4\)"),
        (
            np.zeros((1, 1, 4, 4)),
            {"kernel_size": 5},
            r"window \(5, 5\) is larger than the input \(4, 4\).*\(1, 1, 4, 4\)",
        ),
        (np.zeros((1, 1, 4, 4)), {"kernel_size": 0}, r"kernel_size must be >= 1.*\(0, 0\)"),
        (np.zeros((1, 1, 4, 4)), {"kernel_size": 2, "stride": 0}, r"stride must be >= 1.*\(0, 0\)"),
        (np.zeros((1, 1, 4, 4)), {"kernel_size": 2.0}, r"kernel_size must be an integer"),
        (
            np.zeros((1, 1, 4, 4)),
            {"kernel_size": 2, "stride": (1, 1.5)},
            r"stride must be an integer",
        ),
    ],
)
def test_bad_input_raises(kind, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        POOLS[kind][0](x, **kwargs)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_backward_rejects_wrong_dout_shape(kind):
    forward, backward, _, _ = POOLS[kind]
    _, cache = forward(np.zeros((2, 3, 6, 6)), kernel_size=2)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 3\), expected \(2, 3, 3, 3\)"):
        backward(np.zeros((2, 3, 3)), cache)
