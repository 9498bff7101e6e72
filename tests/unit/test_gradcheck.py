"""numerical_gradient on functions with known gradients; rel_error's properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error

RNG = np.random.default_rng(0)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def test_sum_of_squares():
    x = RNG.standard_normal((3, 4))
    g = numerical_gradient(lambda v: np.sum(v**2), x)
    assert g.shape == x.shape
    assert rel_error(g, 2 * x) < 1e-8


def test_array_output_without_dout_is_gradient_of_the_sum():
    x = RNG.standard_normal(5)
    assert rel_error(numerical_gradient(lambda v: v**3, x), 3 * x**2) < 1e-8


def test_matrix_product_with_dout():
    # f(x) = x @ A, so d sum(f(x) * dout) / dx = dout @ A.T
    x, A, dout = (
        RNG.standard_normal((3, 4)),
        RNG.standard_normal((4, 2)),
        RNG.standard_normal((3, 2)),
    )
    assert rel_error(numerical_gradient(lambda v: v @ A, x, dout), dout @ A.T) < 1e-8


def test_elementwise_nonlinear_with_dout():
    x, dout = RNG.standard_normal((2, 3, 2)), RNG.standard_normal((2, 3, 2))
    g = numerical_gradient(np.tanh, x, dout)
    assert rel_error(g, dout * (1 - np.tanh(x) ** 2)) < 1e-7


def test_closure_over_x_sees_the_perturbation():
    # f ignores its argument and reads x through a closure (the CS231n pattern).
    x = RNG.standard_normal(4)
    g = numerical_gradient(lambda _: np.sum(np.exp(x)), x)
    assert rel_error(g, np.exp(x)) < 1e-8


def test_x_is_not_modified_even_when_f_raises():
    x = RNG.standard_normal((2, 3))
    x_copy = x.copy()
    numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_array_equal(x, x_copy)

    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 4:  # fails mid-way, with an entry perturbed
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(failing, x)
    np.testing.assert_array_equal(x, x_copy)


def test_dtype_follows_x():
    x = RNG.standard_normal(3).astype(np.float32)
    assert numerical_gradient(lambda v: np.sum(v * v), x, h=1e-2).dtype == np.float32


def test_bad_input_raises():
    with pytest.raises(ValueError, match="floating-point ndarray.*int64"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="floating-point ndarray.*list"):
        numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"dout has shape \(3,\) but f\(x\) has shape \(2, 3\)"):
        numerical_gradient(lambda v: v, np.zeros((2, 3)), np.ones(3))  # no broadcasting


def test_rel_error_known_values():
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)  # the 1e-8 floor
    assert rel_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(1 / 201)
    # Elementwise, then max: a small entry that is badly wrong is not hidden by large ones.
    assert rel_error(np.array([1e3, 1e-3]), np.array([1e3, 2e-3])) == pytest.approx(1 / 3)
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_rel_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3,\)"):
        rel_error(np.zeros((2, 3)), np.zeros(3))


@given(arrays(np.float64, array_shapes(max_dims=3, max_side=4), elements=finite))
def test_rel_error_of_identical_arrays_is_zero(a):
    assert rel_error(a, a.copy()) == 0.0


@given(st.data())
def test_rel_error_is_symmetric_bounded_and_scale_free(data):
    shape = data.draw(array_shapes(max_dims=3, max_side=4))
    a = data.draw(arrays(np.float64, shape, elements=finite))
    b = data.draw(arrays(np.float64, shape, elements=finite))
    e = rel_error(a, b)
    assert e == rel_error(b, a)
    assert 0.0 <= e <= 1.0  # |a - b| <= |a| + |b|
    # Scaling both by 1e3 changes nothing except where the 1e-8 floor was active.
    if np.all(np.abs(a) + np.abs(b) >= 1e-8):
        assert rel_error(1e3 * a, 1e3 * b) == pytest.approx(e, rel=1e-12, abs=1e-15)
