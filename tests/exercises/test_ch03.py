"""Graded tests of the Chapter 3 exercises (course_lib/exercises/ch03.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch's activations and autograd in float64, a
trapezoid rule on a fine grid for the expectations, PyTorch forward hooks for
the dead units, and small cases worked by hand. Only NumPy, PyTorch and
pytest (and the course's NumPy layers, which the dead-unit exercise walks
through) are needed, so the tests run in the grading environment. The tests
between the HIDDEN TESTS markers are left out of the student edition.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from course_lib.exercises import ch03
from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.module import Sequential

pytestmark = pytest.mark.ch03

MISH = "ch03-ex-mish"
LOGSIGMOID = "ch03-ex-logsigmoid"
GAIN = "ch03-ex-gain"
DEAD = "ch03-ex-dead-relus"

EXTREMES = np.array([-1e4, -1e3, -710.0, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 710.0, 1e4])


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _torch_value_and_grad(fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fn(x) and its elementwise derivative, by torch autograd in float64."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = fn(xt)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def _no_warnings(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


# --------------------------------------------------------------------------- Mish


@pytest.mark.points(2)
@pytest.mark.exercise(MISH)
def test_mish_value_and_derivative_match_torch() -> None:
    x = 3 * _rng(1).standard_normal((4, 5))
    out, grad = ch03.mish_forward_backward(x)
    out_t, grad_t = _torch_value_and_grad(TF.mish, x)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10, atol=1e-13)


@pytest.mark.points(1)
@pytest.mark.exercise(MISH)
def test_mish_known_values() -> None:
    out, grad = ch03.mish_forward_backward(np.array([0.0]))
    # f(0) = 0; f'(0) = tanh(log 2) + 0 = 3/5
    np.testing.assert_allclose(out, [0.0], atol=1e-15)
    np.testing.assert_allclose(grad, [0.6], rtol=1e-14)


@pytest.mark.points(2)
@pytest.mark.exercise(MISH)
def test_mish_is_stable_at_extremes() -> None:
    out, grad = _no_warnings(ch03.mish_forward_backward, EXTREMES)
    out_t, grad_t = _torch_value_and_grad(TF.mish, EXTREMES)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- log-sigmoid


@pytest.mark.points(2)
@pytest.mark.exercise(LOGSIGMOID)
def test_log_sigmoid_matches_torch() -> None:
    x = 4 * _rng(2).standard_normal((3, 7))
    out, grad = ch03.log_sigmoid(x)
    out_t, grad_t = _torch_value_and_grad(TF.logsigmoid, x)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-12, atol=1e-14)


@pytest.mark.points(2)
@pytest.mark.exercise(LOGSIGMOID)
def test_log_sigmoid_at_extremes() -> None:
    out, grad = _no_warnings(ch03.log_sigmoid, EXTREMES)
    out_t, grad_t = _torch_value_and_grad(TF.logsigmoid, EXTREMES)
    assert np.all(np.isfinite(out)) and np.all(out <= 0)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-12, atol=1e-14)
    assert out[0] == -1e4  # log sigmoid(x) ~ x far to the left, not -inf


@pytest.mark.points(1)
@pytest.mark.exercise(LOGSIGMOID)
def test_log_sigmoid_keeps_float32() -> None:
    x = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4], dtype=np.float32)
    out, grad = _no_warnings(ch03.log_sigmoid, x)
    assert out.dtype == np.float32 and grad.dtype == np.float32
    out_t, grad_t = _torch_value_and_grad(TF.logsigmoid, x.astype(np.float64))
    np.testing.assert_allclose(out, out_t, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- gain


def _ref_gain(f) -> float:
    """1 / sqrt(E[f(z)^2]), z ~ N(0, 1), by the trapezoid rule on [-12, 12]."""
    z = np.linspace(-12, 12, 240_001)
    density = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    return 1 / math.sqrt(np.trapezoid(f(z) ** 2 * density, z))


@pytest.mark.points(2)
@pytest.mark.exercise(GAIN)
def test_gain_exact_cases() -> None:
    # polynomials of low degree: Gauss-Hermite quadrature is exact
    cases = [
        (lambda z: z, 1.0),
        (lambda z: 3.0 * z, 1 / 3),
        (lambda z: np.abs(z), 1.0),
        (lambda z: 2 * np.ones_like(z), 0.5),
    ]
    for f, expected in cases:
        assert ch03.activation_gain(f, num_points=11) == pytest.approx(expected, rel=1e-12)


@pytest.mark.points(2)
@pytest.mark.exercise(GAIN)
def test_gain_of_activations() -> None:
    fns = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    }
    for name, fn in fns.items():
        got = ch03.activation_gain(fn, num_points=201)
        assert got == pytest.approx(_ref_gain(fn), rel=2e-3), name
    relu_gain = ch03.activation_gain(fns["relu"], num_points=201)
    assert relu_gain == pytest.approx(math.sqrt(2), rel=2e-3)  # He et al. 2015


@pytest.mark.points(1)
@pytest.mark.exercise(GAIN)
def test_gain_errors() -> None:
    with pytest.raises(ValueError):
        ch03.activation_gain(np.tanh, num_points=1)
    with pytest.raises(ValueError):
        ch03.activation_gain(np.zeros_like)


# --------------------------------------------------------------------------- dead ReLUs


def _torch_dead_counts(model: Sequential, x: np.ndarray) -> list[int]:
    """The same count by PyTorch forward hooks on a copy of an MLP (Linear/ReLU/other)."""
    mods = []
    for layer in model:
        if isinstance(layer, L.Linear):
            lin = torch.nn.Linear(*layer.weight.shape).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.data.T))
                lin.bias.copy_(torch.from_numpy(layer.bias.data))
            mods.append(lin)
        elif isinstance(layer, L.ReLU):
            mods.append(torch.nn.ReLU())
        elif isinstance(layer, L.Tanh):
            mods.append(torch.nn.Tanh())
        elif isinstance(layer, L.LeakyReLU):
            mods.append(torch.nn.LeakyReLU(layer.negative_slope))
        else:  # pragma: no cover - the tests only build these
            raise AssertionError(type(layer))
    counts: list[int] = []
    hooks = [
        m.register_forward_hook(
            lambda _m, inp, _out: counts.append(int((inp[0] <= 0).all(dim=0).sum()))
        )
        for m in mods
        if isinstance(m, torch.nn.ReLU)
    ]
    with torch.no_grad():
        torch.nn.Sequential(*mods)(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    return counts


def _mlp(sizes, rng, *, bias_shift=0.0, act=L.ReLU) -> Sequential:
    layers = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = L.Linear(d_in, d_out, rng=rng)
        lin.bias.data = lin.bias.data + bias_shift
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act())
    return Sequential(*layers)


@pytest.mark.points(2)
@pytest.mark.exercise(DEAD)
def test_dead_counts_match_torch_hooks() -> None:
    rng = _rng(3)
    model = _mlp((6, 40, 30, 5), rng, bias_shift=-1.5)  # a negative bias kills many units
    x = rng.standard_normal((16, 6))
    got = ch03.dead_relu_counts(model, x)
    want = _torch_dead_counts(model, x)
    assert got == want and sum(want) > 0
    assert all(isinstance(c, int) for c in got)


@pytest.mark.points(1)
@pytest.mark.exercise(DEAD)
def test_dead_counts_by_hand() -> None:
    lin = L.Linear(2, 3, rng=_rng(4))
    lin.weight.data = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    lin.bias.data = np.zeros(3)
    model = Sequential(lin, L.ReLU())
    x = np.array([[1.0, 5.0], [2.0, -3.0]])
    # unit 0 is positive, unit 1 always negative, unit 2 exactly 0 (dead too: relu'(0) = 0)
    assert ch03.dead_relu_counts(model, x) == [2]
    assert ch03.dead_relu_counts(model, x[:1] * -1) == [2]  # unit 1 alive, units 0 and 2 dead


@pytest.mark.points(1)
@pytest.mark.exercise(DEAD)
def test_dead_counts_ignore_other_activations_and_keep_the_model() -> None:
    rng = _rng(5)
    model = _mlp((4, 8, 8, 3), rng, bias_shift=-3.0, act=L.Tanh)
    assert ch03.dead_relu_counts(model, rng.standard_normal((5, 4))) == []
    model = _mlp((4, 8, 3), rng, act=L.LeakyReLU)
    assert ch03.dead_relu_counts(model, rng.standard_normal((5, 4))) == []
    model = _mlp((4, 8, 8, 3), rng, bias_shift=-1.0)
    before = [p.data.copy() for p in model.parameters()]
    ch03.dead_relu_counts(model, rng.standard_normal((5, 4)))
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(MISH)
def test_hidden_mish_float32_and_shape() -> None:
    x = np.concatenate([EXTREMES, np.linspace(-5, 5, 12)]).astype(np.float32).reshape(2, 3, 4)
    out, grad = _no_warnings(ch03.mish_forward_backward, x)
    assert out.shape == grad.shape == x.shape
    assert out.dtype == grad.dtype == np.float32
    out_t, grad_t = _torch_value_and_grad(TF.mish, x.astype(np.float64))
    np.testing.assert_allclose(out, out_t, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-5, atol=1e-6)


@pytest.mark.points(1)
@pytest.mark.exercise(LOGSIGMOID)
def test_hidden_log_sigmoid_does_not_mutate_and_rejects_ints() -> None:
    x = np.array([-2.0, 0.5, 3.0])
    copy = x.copy()
    ch03.log_sigmoid(x)
    np.testing.assert_array_equal(x, copy)
    with pytest.raises(ValueError):
        ch03.log_sigmoid(np.arange(3))


@pytest.mark.points(1)
@pytest.mark.exercise(GAIN)
def test_hidden_gain_converges_with_the_number_of_points() -> None:
    ref = _ref_gain(np.tanh)
    coarse = ch03.activation_gain(np.tanh, num_points=3)
    fine = ch03.activation_gain(np.tanh, num_points=301)
    assert abs(fine - ref) < 1e-6 < abs(coarse - ref)
    assert isinstance(fine, float)
    # ReLU: the symmetric nodes make E[relu(z)^2] = E[z^2] / 2 exact for any number of them
    assert ch03.activation_gain(lambda z: np.maximum(z, 0), num_points=2) == pytest.approx(
        math.sqrt(2), rel=1e-12
    )


@pytest.mark.points(1)
@pytest.mark.exercise(DEAD)
def test_hidden_dead_counts_per_position_in_a_cnn() -> None:
    rng = _rng(6)
    conv = L.Conv2d(1, 3, 3, padding=1, rng=rng)
    conv.bias.data = np.array([-10.0, 0.0, 10.0])
    model = Sequential(conv, L.ReLU(), L.Flatten())
    x = 0.1 * rng.standard_normal((4, 1, 5, 5))
    pre = conv.forward(x)
    want = int(np.all(pre <= 0, axis=0).sum())
    assert ch03.dead_relu_counts(model, x) == [want]
    assert 25 <= want < 75  # channel 0 is dead everywhere, channel 2 nowhere
    with pytest.raises(ValueError):
        ch03.dead_relu_counts(model, np.zeros((0, 1, 5, 5)))


### END HIDDEN TESTS
