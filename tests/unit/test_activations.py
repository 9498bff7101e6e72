"""The activations against torch (float64), finite differences and at extreme inputs.

ReLU, LeakyReLU, sigmoid and tanh (Chapter 2) and ELU, GELU (exact and tanh),
SiLU, softmax and log-softmax with their layers (Chapter 3).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.functional import activations as A
from course_lib.numpy_nn.functional import softmax as S
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

pytestmark = [pytest.mark.ch02, pytest.mark.ch03]
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
    "elu": (A.elu_forward, A.elu_backward, TF.elu, {}),
    "elu_0.5": (A.elu_forward, A.elu_backward, TF.elu, {"alpha": 0.5}),
    "gelu": (A.gelu_forward, A.gelu_backward, TF.gelu, {}),
    "gelu_tanh": (A.gelu_forward, A.gelu_backward, TF.gelu, {"approximate": "tanh"}),
    "silu": (A.silu_forward, A.silu_backward, TF.silu, {}),
}
# The smooth ones have no kink, so their central differences need no care at 0.
SMOOTH = ("gelu", "gelu_tanh", "silu", "sigmoid", "tanh")


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
    num = numerical_gradient(lambda x_: fwd(x_, **kw)[0], x, dout)
    # Relative error, except where the derivative itself nearly vanishes (GELU has a zero
    # near x = -0.75): there an absolute 1e-8 covers the round-off of the differences.
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)
    assert rel_error(dx, num) < 1e-6 or np.abs(dx - num).max() < 1e-8


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


# --------------------------------------------------------------------------- extremes

EXTREMES = np.array([-1e4, -1e3, -100.0, -40.0, -8.0, -1e-8, 0.0, 1e-8, 8.0, 40.0, 100.0, 1e3, 1e4])


@st.composite
def extreme_arrays(draw):
    """(x, dout) whose entries are drawn from EXTREMES and small normals, any shape up to 3-D."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, max_side=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.where(rng.random(shape) < 0.7, rng.choice(EXTREMES, shape), rng.standard_normal(shape))
    return x, rng.standard_normal(shape)


@pytest.mark.parametrize("name", ACTS)
@given(case=extreme_arrays())
def test_matches_torch_at_extremes_without_warnings(name, case):
    x, dout = case
    fwd, bwd, _, kw = ACTS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow, invalid value, divide by zero
        out, cache = fwd(x, **kw)
        dx = bwd(dout, cache)
        out32, cache32 = fwd(x.astype(np.float32), **kw)
        dx32 = bwd(dout.astype(np.float32), cache32)
    out_t, dx_t = _torch(name, x, dout)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-12, atol=1e-13)
    for a in (out32, dx32):
        assert a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_allclose(out32, out_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx32, dx_t, rtol=1e-5, atol=1e-6)


def test_known_values_of_the_smooth_activations():
    out, c = A.elu_forward(np.array([-1e4, 0.0, 2.0]), alpha=0.7)
    np.testing.assert_allclose(out, [-0.7, 0.0, 2.0])
    np.testing.assert_allclose(A.elu_backward(np.ones(3), c), [0.0, 0.7, 1.0])
    for approximate in A.GELU_APPROXIMATIONS:
        out, c = A.gelu_forward(np.array([-1e4, 0.0, 1e4]), approximate=approximate)
        np.testing.assert_array_equal(out, [0.0, 0.0, 1e4])
        np.testing.assert_array_equal(A.gelu_backward(np.ones(3), c), [0.0, 0.5, 1.0])
    out, c = A.silu_forward(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 1e4])
    np.testing.assert_array_equal(A.silu_backward(np.ones(3), c), [0.0, 0.5, 1.0])


def test_exact_gelu_keeps_its_digits_in_the_left_tail():
    # x Phi(x) at x = -10 is about -7.6e-23: 1 + erf(x / sqrt 2) would round it to 0 or to
    # a multiple of 1e-16; the erfc form keeps the relative precision.
    from scipy import stats

    x = np.array([-10.0, -20.0, -30.0])
    out, _ = A.gelu_forward(x)
    np.testing.assert_allclose(out, x * stats.norm.cdf(x), rtol=1e-12)
    assert np.all(out < 0)


def test_gelu_tanh_approximation_is_close_to_exact():
    x = np.linspace(-6, 6, 2001)
    exact, _ = A.gelu_forward(x)
    approx, _ = A.gelu_forward(x, approximate="tanh")
    assert 1e-5 < np.abs(exact - approx).max() < 1e-3  # close, but not the same function


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"alpha": "1"}, "alpha must be a real number"),
        ({"alpha": True}, "alpha must be a real number"),
        ({"alpha": float("nan")}, "alpha must be a real number"),
        ({"alpha": -0.5}, "alpha must be >= 0"),
    ],
)
def test_elu_rejects_bad_alpha(kw, match):
    with pytest.raises(ValueError, match=match):
        A.elu_forward(np.zeros(2), **kw)


@pytest.mark.parametrize("approximate", ["exact", "Tanh", None, 1])
def test_gelu_rejects_unknown_approximation(approximate):
    with pytest.raises(ValueError, match="approximate must be one of"):
        A.gelu_forward(np.zeros(2), approximate=approximate)


@pytest.mark.parametrize("name", ACTS)
def test_rejects_non_real_input(name):
    fwd, _, _, kw = ACTS[name]
    with pytest.raises(ValueError, match="real floating-point"):
        fwd(np.zeros(2, dtype=complex), **kw)


def test_integer_input_is_computed_in_float64():
    out, _ = A.gelu_forward(np.arange(-2, 3))
    assert out.dtype == np.float64


# --------------------------------------------------------------------------- softmax

SOFTMAXES = {
    "softmax": (S.softmax_forward, S.softmax_backward, torch.softmax),
    "log_softmax": (S.log_softmax_forward, S.log_softmax_backward, torch.log_softmax),
}


@st.composite
def arrays_and_axis(draw, extremes=False):
    x, dout = draw(extreme_arrays() if extremes else arrays(max_dims=3, max_side=6))
    return x, dout, draw(st.integers(-x.ndim, x.ndim - 1))


def _torch_softmax(name, x, dout, axis):
    xt = torch.tensor(x, requires_grad=True)
    out = SOFTMAXES[name][2](xt, dim=axis)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("extremes", [False, True])
@given(data=st.data())
def test_softmax_matches_torch(name, extremes, data):
    x, dout, axis = data.draw(arrays_and_axis(extremes))
    fwd, bwd, _ = SOFTMAXES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = fwd(x, axis=axis)
        dx = bwd(dout, cache)
    out_t, dx_t = _torch_softmax(name, x, dout, axis)
    # log-softmax of 1e4-sized logits is itself ~1e4: an absolute 1e-13 is below its ulp
    atol = 1e-13 * max(1.0, np.abs(out_t).max())
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=atol)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(dout).max()))
    probs = out if name == "softmax" else np.exp(out)
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=1e-12)
    assert np.all((probs >= 0) & (probs <= 1))


@pytest.mark.parametrize("name", SOFTMAXES)
@given(data=st.data())
def test_softmax_backward_matches_numerical_gradient(name, data):
    x, dout, axis = data.draw(arrays_and_axis())
    fwd, bwd, _ = SOFTMAXES[name]
    dx = bwd(dout, fwd(x, axis=axis)[1])
    num = numerical_gradient(lambda x_: fwd(x_, axis=axis)[0], x, dout)
    # dx sums to zero along the axis, so entries near 0 are common: absolute tolerance
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@given(data=st.data())
def test_logsumexp_matches_torch(data):
    x, _, axis = data.draw(arrays_and_axis(extremes=True))
    got = S.logsumexp(x, axis=axis)
    want = torch.logsumexp(torch.tensor(x), dim=axis, keepdim=True).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_softmax_at_plus_minus_1000_and_1e4():
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float32, np.float64):
            s, cache = S.softmax_forward(x.astype(dtype))
            ls, lcache = S.log_softmax_forward(x.astype(dtype))
            assert s.dtype == ls.dtype == dtype
            np.testing.assert_allclose(s, [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]])
            np.testing.assert_allclose(ls[0], [0, -1000, -2000])
            assert np.all(np.isfinite(ls))
            for bwd, c in ((S.softmax_backward, cache), (S.log_softmax_backward, lcache)):
                dx = bwd(np.ones((3, 3), dtype=dtype), c)
                assert dx.dtype == dtype and np.all(np.isfinite(dx))


@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_dtype_axis_and_no_mutation(name, dtype):
    fwd, bwd, _ = SOFTMAXES[name]
    x = np.linspace(-3, 3, 24, dtype=dtype).reshape(2, 3, 4)
    x_copy = x.copy()
    for axis in (0, 1, 2, -1, -3):
        out, cache = fwd(x, axis=axis)
        assert out.dtype == dtype and out.shape == x.shape
        assert bwd(np.ones(x.shape), cache).dtype == dtype
        # the axis matters: softmax along axis 1 = softmax of the transposed array along -1
        moved, _ = fwd(np.moveaxis(x, axis, -1))
        np.testing.assert_allclose(np.moveaxis(out, axis, -1), moved, rtol=1e-6)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_rejects_bad_input(name):
    fwd, bwd, _ = SOFTMAXES[name]
    with pytest.raises(ValueError, match="axis 2 is out of range for x of shape"):
        fwd(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="axis must be an integer"):
        fwd(np.zeros((2, 3)), axis=1.0)
    with pytest.raises(ValueError, match="at least one axis"):
        fwd(np.float64(1.0))
    with pytest.raises(ValueError, match="empty axis"):
        fwd(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="real floating-point"):
        fwd(np.zeros(3, dtype=complex))
    _, cache = fwd(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\), expected \(2, 3\)"):
        bwd(np.zeros((3, 2)), cache)


# --------------------------------------------------------------------------- layers

LAYERS = {
    "ELU": (lambda: L.ELU(), lambda: torch.nn.ELU()),
    "ELU_0.3": (lambda: L.ELU(alpha=0.3), lambda: torch.nn.ELU(alpha=0.3)),
    "GELU": (lambda: L.GELU(), lambda: torch.nn.GELU()),
    "GELU_tanh": (lambda: L.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "SiLU": (lambda: L.SiLU(), lambda: torch.nn.SiLU()),
    "Softmax": (lambda: L.Softmax(axis=1), lambda: torch.nn.Softmax(dim=1)),
    "LogSoftmax": (lambda: L.LogSoftmax(), lambda: torch.nn.LogSoftmax(dim=-1)),
}


@pytest.mark.parametrize("name", LAYERS)
@given(case=arrays(max_dims=3, max_side=5))
def test_layers_match_torch_modules(name, case):
    x, dout = case
    x, dout = x.reshape(1, *x.shape), dout.reshape(1, *dout.shape)  # at least 2-D for axis=1
    ours, theirs = (make() for make in LAYERS[name])
    out = ours(x)
    dx = ours.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    out_t = theirs(xt)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert ours.parameters() == []


def test_layers_repr_settings_and_errors():
    assert repr(L.ELU(0.5)) == "ELU(alpha=0.5)"
    assert repr(L.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(L.SiLU()) == "SiLU()" and repr(L.Softmax(axis=0)) == "Softmax(axis=0)"
    assert L.ELU(0.5).alpha == 0.5 and L.GELU().approximate == "none"
    with pytest.raises(ValueError, match="approximate must be one of"):
        L.GELU("exact")  # refused when built, not at the first forward pass
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        L.ELU(-1.0)
    with pytest.raises(RuntimeError, match="before forward"):
        L.SiLU().backward(np.ones(3))
    from course_lib.numpy_nn import activation_layers

    assert L.GELU is activation_layers.GELU


def test_layers_keep_float32():
    x = np.linspace(-4, 4, 12, dtype=np.float32).reshape(3, 4)
    for make, _ in LAYERS.values():
        layer = make()
        assert layer(x).dtype == np.float32
        assert layer.backward(np.ones((3, 4), dtype=np.float32)).dtype == np.float32
