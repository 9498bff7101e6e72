"""ReLU, LeakyReLU, sigmoid and tanh forward/backward against torch (float64) and numerics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.numpy_nn.functional import activations as A
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

pytestmark = pytest.mark.ch02
TOL = {"rtol": 1e-12, "atol": 1e-13}

# name -> (forward, backward, torch function, keyword settings)
ACTS = {
    "relu": (A.relu_forward, A.relu_backward, TF.relu, {}),
    "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward, TF.leaky_relu, {}),
    "leaky_relu_0.2": (
        A.leaky_relu_forward,
        A.leaky_relu_backward,
        TF.leaky_relu,
        {"negative_slope": 0.2},
    ),
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward, torch.sigmoid, {}),
    "tanh": (A.tanh_forward, A.tanh_backward, torch.tanh, {}),
}


@st.composite
def arrays(draw, scale=3.0, max_dims=4, max_side=5):
    """(x, dout) of any shape up to 4-D; x has exact zeros, the kink of (leaky) ReLU."""
    shape = draw(array_shapes(min_dims=1, max_dims=max_dims, max_side=max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = scale * rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0.0
    return x, rng.standard_normal(shape)


def _torch(name, x, dout):
    _, _, fn, kw = ACTS[name]
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, **kw)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("name", ACTS)
@given(case=arrays())
def test_matches_torch(name, case):
    x, dout = case
    fwd, bwd, _, kw = ACTS[name]
    out, cache = fwd(x, **kw)
    out_t, dx_t = _torch(name, x, dout)
    np.testing.assert_allclose(out, out_t, **TOL)
    np.testing.assert_allclose(bwd(dout, cache), dx_t, **TOL)


@pytest.mark.parametrize("name", ACTS)
@given(case=arrays(scale=1.5, max_dims=3, max_side=3))
def test_backward_matches_numerical_gradient(name, case):
    x, dout = case
    fwd, bwd, _, kw = ACTS[name]
    # Central differences see sum(f(x) * dout), whose round-off (~1e-16 |sum| / h) must stay
    # far below the smallest entry of dx: small arrays, |dout| in [0.5, 1.5], |x| not huge.
    dout = np.sign(dout) * (0.5 + np.abs(dout) % 1.0)
    # central differences straddling the kink at 0 are wrong; keep |x| >= 1e-3 > h = 1e-5
    x = np.where(np.abs(x) < 1e-3, 1e-3, x)
    dx = bwd(dout, fwd(x, **kw)[1])
    assert rel_error(dx, numerical_gradient(lambda x_: fwd(x_, **kw)[0], x, dout)) < 1e-6


def test_sigmoid_is_stable_at_extremes():
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow in exp would be a RuntimeWarning
        out, cache = A.sigmoid_forward(x)
        dx = A.sigmoid_backward(np.ones_like(x), cache)
        out32, _ = A.sigmoid_forward(x.astype(np.float32))
    np.testing.assert_allclose(out, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-14, atol=0)
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5
    assert np.all(np.isfinite(dx)) and dx[3] == 0.25
    assert np.all((out32 >= 0) & (out32 <= 1)) and out32.dtype == np.float32


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_and_inputs_not_mutated(name, dtype):
    fwd, bwd, _, kw = ACTS[name]
    x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    x_copy = x.copy()
    out, cache = fwd(x, **kw)
    dout = np.ones((3, 4))  # float64
    dx = bwd(dout, cache)
    assert out.dtype == dtype and dx.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, np.ones((3, 4)))


def test_known_values_at_the_kink():
    x = np.array([-2.0, 0.0, 3.0])
    _, c = A.relu_forward(x)
    np.testing.assert_array_equal(A.relu_backward(np.ones(3), c), [0.0, 0.0, 1.0])
    out, c = A.leaky_relu_forward(x, negative_slope=0.1)
    np.testing.assert_allclose(out, [-0.2, 0.0, 3.0])
    np.testing.assert_allclose(A.leaky_relu_backward(np.ones(3), c), [0.1, 0.1, 1.0])
    out, c = A.tanh_forward(np.zeros(2))
    np.testing.assert_array_equal(A.tanh_backward(np.ones(2), c), [1.0, 1.0])


@pytest.mark.parametrize("name", ACTS)
def test_backward_rejects_wrong_dout_shape(name):
    fwd, bwd, _, kw = ACTS[name]
    _, cache = fwd(np.zeros((2, 3)), **kw)
    with pytest.raises(ValueError, match=r"dout has shape \(3,\), expected \(2, 3\)"):
        bwd(np.zeros(3), cache)


def test_leaky_relu_rejects_bad_slope():
    with pytest.raises(ValueError, match="negative_slope must be a real number"):
        A.leaky_relu_forward(np.zeros(2), negative_slope="0.1")
