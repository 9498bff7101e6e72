"""conv2d: forward, naive loops and backward against torch (float64) and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given
from hypothesis import strategies as st
from settings_strategies import as_pair, int_or_pair

from course_lib.numpy_nn.functional import (
    Conv2dCache,
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv_output_size,
)
from course_lib.numpy_nn.functional import conv as conv_module
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

pytestmark = pytest.mark.ch01
TOL = {"rtol": 1e-10, "atol": 1e-10}  # float64 against torch


@st.composite
def conv_cases(draw, max_batch=3, max_ch=4, max_size=9, max_kernel=4, max_dil=3):
    """(x, w, b, settings) with a non-empty output, float64 standard normal values."""
    N, C, F = (
        draw(st.integers(1, max_batch)),
        draw(st.integers(1, max_ch)),
        draw(st.integers(1, max_ch)),
    )
    H, W = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    KH, KW = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    stride, padding, dilation = (
        int_or_pair(draw, 1, 3),
        int_or_pair(draw, 0, 2),
        int_or_pair(draw, 1, max_dil),
    )
    (ph, pw), (dh, dw) = as_pair(padding), as_pair(dilation)
    assume(dh * (KH - 1) + 1 <= H + 2 * ph and dw * (KW - 1) + 1 <= W + 2 * pw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, w, b = (
        rng.standard_normal((N, C, H, W)),
        rng.standard_normal((F, C, KH, KW)),
        rng.standard_normal(F),
    )
    return x, w, b, {"stride": stride, "padding": padding, "dilation": dilation}


def _torch_conv(x, w, b, settings, dout=None):
    """torch forward (and gradients if dout is given), as NumPy float64."""
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = TF.conv2d(xt, wt, bt, **settings)
    if dout is None:
        return out.detach().numpy()
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@given(conv_cases())
def test_forward_matches_torch(case):
    x, w, b, settings = case
    out, cache = conv2d_forward(x, w, b, **settings)
    expected = _torch_conv(x, w, b, settings)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOL)
    assert isinstance(cache, Conv2dCache)


@given(conv_cases())
def test_output_size_matches_forward(case):
    x, w, b, settings = case
    out, _ = conv2d_forward(x, w, b, **settings)
    (sh, sw), (ph, pw), (dh, dw) = (as_pair(settings[k]) for k in ("stride", "padding", "dilation"))
    H_out = conv_output_size(x.shape[2], w.shape[2], stride=sh, padding=ph, dilation=dh)
    W_out = conv_output_size(x.shape[3], w.shape[3], stride=sw, padding=pw, dilation=dw)
    assert out.shape == (x.shape[0], w.shape[0], H_out, W_out)


@given(conv_cases(max_batch=2, max_size=7))
def test_naive_equals_vectorised(case):
    x, w, b, settings = case
    np.testing.assert_allclose(
        conv2d_naive(x, w, b, **settings), conv2d_forward(x, w, b, **settings)[0], **TOL
    )


@given(conv_cases())
def test_backward_matches_torch(case):
    x, w, b, settings = case
    out, cache = conv2d_forward(x, w, b, **settings)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    _, dx_t, dw_t, db_t = _torch_conv(x, w, b, settings, dout)
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, dx_t, **TOL)
    np.testing.assert_allclose(dw, dw_t, **TOL)
    np.testing.assert_allclose(db, db_t, **TOL)


@given(conv_cases(max_batch=2, max_ch=2, max_size=5, max_kernel=3, max_dil=2))
def test_backward_matches_numerical_gradient(case):
    x, w, b, settings = case
    out, cache = conv2d_forward(x, w, b, **settings)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    assert (
        rel_error(
            dx, numerical_gradient(lambda x_: conv2d_forward(x_, w, b, **settings)[0], x, dout)
        )
        < 1e-6
    )
    assert (
        rel_error(
            dw, numerical_gradient(lambda w_: conv2d_forward(x, w_, b, **settings)[0], w, dout)
        )
        < 1e-6
    )
    assert (
        rel_error(
            db, numerical_gradient(lambda b_: conv2d_forward(x, w, b_, **settings)[0], b, dout)
        )
        < 1e-6
    )


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 7 * 7 * 18 * 8])  # one image per chunk; 3 per chunk
def test_batch_chunking_does_not_change_results(monkeypatch, chunk_bytes):
    # The vectorised conv works a few images at a time; uneven last chunks must be handled.
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(2)
    x, w, b = (
        rng.standard_normal((7, 2, 7, 7)),
        rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal(3),
    )
    settings = {"stride": 1, "padding": 1, "dilation": 1}
    out, cache = conv2d_forward(x, w, b, **settings)
    dout = rng.standard_normal(out.shape)
    expected = _torch_conv(x, w, b, settings, dout)
    for got, want in zip((out, *conv2d_backward(dout, cache)), expected, strict=True):
        np.testing.assert_allclose(got, want, **TOL)


def test_known_values():
    # A 3x3 input of 1..9, a 2x2 kernel of ones: each output is the sum of a 2x2 block, plus b.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out, _ = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    np.testing.assert_array_equal(out, [[[[12.5, 16.5], [24.5, 28.5]]]])
    # Cross-correlation, not convolution: the kernel is not flipped.
    k = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(conv2d_forward(x, k, np.zeros(1))[0], [[[[1, 2], [4, 5]]]])


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d", "expected"),
    [
        (28, 3, 1, 1, 1, 28),
        (7, 3, 2, 1, 1, 4),
        (9, 3, 1, 0, 2, 5),
        (5, 2, 2, 0, 1, 2),
        (1, 3, 1, 1, 1, 1),
    ],
)
def test_conv_output_size(size, k, s, p, d, expected):
    assert conv_output_size(size, k, stride=s, padding=p, dilation=d) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((2, 3, 6, 5), (4, 3, 3, 2), (4,)))
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1)
    assert out.dtype == dtype
    grads = conv2d_backward(np.ones(out.shape), cache)  # float64 dout: grads still follow x
    assert [g.dtype for g in grads] == [dtype] * 3
    assert conv2d_naive(x, w, b).dtype == dtype


def test_inputs_are_not_mutated():
    rng = np.random.default_rng(4)
    x, w, b = (
        rng.standard_normal((2, 3, 6, 6)),
        rng.standard_normal((2, 3, 3, 3)),
        rng.standard_normal(2),
    )
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv2d_forward(x, w, b, padding=2, dilation=2)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    conv2d_backward(dout, cache)
    conv2d_naive(x, w, b, padding=2, dilation=2)
    for a, c in zip((x, w, b, dout), (*copies, dout_copy), strict=True):
        np.testing.assert_array_equal(a, c)


X, W, B = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((3, 5, 5)), W, B), {}, r"x must be 4-D.*\(3, 5, 5\)"),
        ((X, np.zeros((4, 3, 3)), B), {}, r"w must be 4-D.*\(4, 3, 3\)"),
        ((X, W, np.zeros((4, 1))), {}, r"b must be 1-D.*\(4, 1\)"),
        (
            (X, np.zeros((4, 2, 3, 3)), B),
            {},
            r"channel mismatch.*C=3.*\(2, 3, 5, 5\).*C=2.*\(4, 2, 3, 3\)",
        ),
        ((X, W, np.zeros(3)), {}, r"\(3,\), expected \(4,\).*\(4, 3, 3, 3\)"),
        (
            (X, np.zeros((4, 3, 6, 3)), B),
            {},
            r"larger than the padded input \(5, 5\).*\(2, 3, 5, 5\)",
        ),
        ((X, W, B), {"dilation": 3}, r"dilated kernel \(7, 7\).*padded input \(5, 5\)"),
        ((X, W, B), {"stride": 0}, r"stride must be >= 1.*\(0, 0\)"),
        ((X, W, B), {"stride": (1, 0)}, r"stride must be >= 1.*\(1, 0\)"),
        ((X, W, B), {"padding": -1}, r"padding must be >= 0.*\(-1, -1\)"),
        ((X, W, B), {"dilation": 0}, r"dilation must be >= 1"),
        ((X, W, B), {"stride": 1.5}, r"stride must be an integer.*1\.5"),
        ((X, W, B), {"padding": 1.0}, r"padding must be an integer"),
        ((X, W, B), {"stride": (1, 2, 3)}, r"stride must be an int or a \(height, width\) pair"),
    ],
)
@pytest.mark.parametrize("fn", [conv2d_forward, conv2d_naive])
def test_bad_input_raises(fn, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


def test_backward_rejects_wrong_dout_shape():
    out, cache = conv2d_forward(X, W, B, padding=1)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 4, 5, 4\), expected \(2, 4, 5, 5\)"):
        conv2d_backward(np.zeros((2, 4, 5, 4)), cache)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 5, 5\)"):
        conv2d_backward(np.zeros((4, 5, 5)), cache)  # no silent broadcast of a missing batch axis


def test_conv_output_size_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"dilated kernel size 5 .* padded input size 4"):
        conv_output_size(4, 3, dilation=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv_output_size(4, 3, stride=0)
    with pytest.raises(ValueError, match="size must be an integer"):
        conv_output_size(4.0, 3)
    with pytest.raises(ValueError, match=r"size must be an integer, got \(5, 6\)"):
        conv_output_size((5, 6), 3)  # one axis at a time
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        conv_output_size(4, 3, padding=-1)
