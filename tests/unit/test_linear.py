"""linear_forward / linear_backward against torch (float64) and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

from course_lib.numpy_nn.functional import LinearCache, linear_backward, linear_forward
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

pytestmark = pytest.mark.ch02
TOL = {"rtol": 1e-10, "atol": 1e-10}


@st.composite
def linear_cases(draw, max_n=5, max_d=6):
    N, D, M = (
        draw(st.integers(1, max_n)),
        draw(st.integers(1, max_d)),
        draw(st.integers(1, max_d)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        rng.standard_normal((N, D)),
        rng.standard_normal((D, M)),
        rng.standard_normal(M),
        rng.standard_normal((N, M)),
    )


@given(linear_cases())
def test_forward_and_backward_match_torch(case):
    x, w, b, dout = case
    out, cache = linear_forward(x, w, b)
    assert isinstance(cache, LinearCache)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    # torch.nn.functional.linear takes the weight as (out, in): ours transposed
    out_t = TF.linear(xt, wt.T, bt)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    for got, want in zip(linear_backward(dout, cache), (xt.grad, wt.grad, bt.grad), strict=True):
        np.testing.assert_allclose(got, want.numpy(), **TOL)


@given(linear_cases(max_n=3, max_d=4))
def test_backward_matches_numerical_gradient(case):
    x, w, b, dout = case
    dx, dw, db = linear_backward(dout, linear_forward(x, w, b)[1])
    assert rel_error(dx, numerical_gradient(lambda x_: linear_forward(x_, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, numerical_gradient(lambda w_: linear_forward(x, w_, b)[0], w, dout)) < 1e-7
    assert rel_error(db, numerical_gradient(lambda b_: linear_forward(x, w, b_)[0], b, dout)) < 1e-7


def test_known_values():
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])
    out, cache = linear_forward(x, w, np.array([0.5, 0.0, -1.0]))
    np.testing.assert_array_equal(out, [[1.5, 2.0, 7.0]])
    dx, dw, db = linear_backward(np.array([[1.0, 0.0, 1.0]]), cache)
    np.testing.assert_array_equal(dx, [[3.0, 3.0]])
    np.testing.assert_array_equal(dw, [[1.0, 0.0, 1.0], [2.0, 0.0, 2.0]])
    np.testing.assert_array_equal(db, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_and_inputs_not_mutated(dtype):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((4, 3), (3, 2), (2,)))
    copies = [a.copy() for a in (x, w, b)]
    out, cache = linear_forward(x, w, b)
    assert out.dtype == dtype
    dout = np.ones(out.shape)  # float64 dout: the gradients still follow x
    grads = linear_backward(dout, cache)
    assert [g.dtype for g in grads] == [dtype] * 3
    for a, c in zip((x, w, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, np.ones(out.shape))


X, W, B = np.zeros((4, 3)), np.zeros((3, 2)), np.zeros(2)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((4, 3, 1)), W, B), r"x must be 2-D \(N, D\), got shape \(4, 3, 1\)"),
        ((np.zeros(3), W, B), r"x must be 2-D"),
        ((X, np.zeros(3), B), r"w must be 2-D \(D, M\)"),
        ((X, W, np.zeros((1, 2))), r"b must be 1-D"),
        ((X, np.zeros((2, 3)), np.zeros(3)), r"x has shape \(4, 3\) \(D=3\).*\(2, 3\)"),
        ((X, W, np.zeros(3)), r"b has shape \(3,\), expected \(2,\)"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        linear_forward(*args)


def test_backward_rejects_wrong_dout_shape():
    _, cache = linear_forward(X, W, B)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 3\), expected \(4, 2\)"):
        linear_backward(np.zeros((4, 3)), cache)
    with pytest.raises(ValueError, match=r"dout has shape \(2,\)"):
        linear_backward(np.zeros(2), cache)  # no silent broadcast over the batch
