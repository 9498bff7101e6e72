"""Graded tests of the Chapter 8 exercises (course_lib/exercises/ch08.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch's autograd in float64 (through ``F F^T`` and
through ``F.conv2d``), ``F.instance_norm`` and ``nn.InstanceNorm2d``. "NumPy
only" is checked twice: ``torch`` and ``scipy`` cannot be imported while the
solution runs, and the solution's source is read; the library backward passes
an exercise may not call raise while it runs. The tests between the HIDDEN
TESTS markers are left out of the student edition.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import assert_numpy_only, names_used, numpy_only
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.exercises import ch08

pytestmark = pytest.mark.ch08

STYLE = "ch08-ex-style-gradient"
CONV = "ch08-ex-conv-input-gradient"
INORM = "ch08-ex-instance-norm"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _torch_style(feats: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    f = torch.tensor(feats, requires_grad=True)
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2) / (c * h * w)
    loss = c * c / 4 * ((gram - torch.tensor(target)) ** 2).mean()
    loss.backward()
    return loss.item(), f.grad.numpy()


def _symmetric(rng: np.random.Generator, c: int) -> np.ndarray:
    a = rng.normal(size=(c, c))
    return (a + a.T) / 2


# --------------------------------------------------------------------------- style gradient


@pytest.mark.points(2)
@pytest.mark.exercise(STYLE)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 5), h=st.integers(1, 5), w=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_style_gradient_equals_autograd(n, c, h, w, seed):
    rng = _rng(seed)
    feats, target = rng.normal(size=(n, c, h, w)), _symmetric(rng, c)
    loss, grad = ch08.style_layer_gradient(feats, target)
    ref_loss, ref_grad = _torch_style(feats, target)
    assert isinstance(loss, float) and grad.shape == feats.shape and grad.dtype == np.float64
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.points(1)
@pytest.mark.exercise(STYLE)
def test_style_loss_is_zero_at_its_own_gram_and_gatys_raw_form():
    feats = _rng(1).normal(size=(1, 4, 3, 5))
    flat = feats.reshape(4, 15)
    own = flat @ flat.T / 60
    loss, grad = ch08.style_layer_gradient(feats, own)
    assert loss == pytest.approx(0.0, abs=1e-24) and np.abs(grad).max() < 1e-14
    target = _symmetric(_rng(2), 4)
    raw = ((flat @ flat.T - 60 * target) ** 2).sum() / (4 * 16 * 15**2)  # 1/(4 N^2 M^2) sum
    assert ch08.style_layer_gradient(feats, target)[0] == pytest.approx(raw, rel=1e-12)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(STYLE)
def test_hidden_style_gradient_numpy_only_without_the_library_and_errors(monkeypatch):
    import course_lib.numpy_nn.functional as functional
    import course_lib.numpy_nn.functional.style as style_module

    rng = _rng(3)
    feats, target = rng.normal(size=(2, 3, 4, 4)), _symmetric(rng, 3)
    ref = _torch_style(feats, target)

    def forbidden(*a, **k):
        raise AssertionError("the exercise is to derive the gradient, not to call the library")

    with monkeypatch.context() as mp:
        for module in (functional, style_module):
            for name in ("gram_matrix_backward", "gram_matrix_forward", "style_loss"):
                mp.setattr(module, name, forbidden)
        numpy_only(mp)
        loss, grad = ch08.style_layer_gradient(feats, target)
    assert loss == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(grad, ref[1], rtol=1e-10)
    assert_numpy_only(ch08.style_layer_gradient)
    assert not any("numpy_nn" in n for n in names_used(ch08.style_layer_gradient))
    for args in ((feats[0], target), (feats, target[:2]), (feats, np.full((3, 3), np.nan))):
        with pytest.raises(ValueError):
            ch08.style_layer_gradient(*args)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- the input gradient


def _torch_conv_dx(dout: np.ndarray, w: np.ndarray, padding: int, shape) -> np.ndarray:
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    F.conv2d(x, torch.tensor(w), padding=padding).backward(torch.tensor(dout))
    return x.grad.numpy()


@pytest.mark.points(2)
@pytest.mark.exercise(CONV)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), kh=st.integers(1, 4),
       kw=st.integers(1, 4), side=st.integers(4, 7), data=st.data())
def test_conv_input_gradient_equals_autograd(n, c, f, kh, kw, side, data):
    padding = data.draw(st.integers(0, min(kh, kw) - 1))
    rng = _rng(data.draw(st.integers(0, 2**16)))
    shape = (n, c, side, side + 1)
    w = rng.normal(size=(f, c, kh, kw))
    h_out, w_out = side + 2 * padding - kh + 1, side + 1 + 2 * padding - kw + 1
    dout = rng.normal(size=(n, f, h_out, w_out))
    dx = ch08.conv_input_gradient(dout, w, padding=padding)
    assert dx.shape == shape and dx.dtype == np.float64
    np.testing.assert_allclose(dx, _torch_conv_dx(dout, w, padding, shape), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(CONV)
def test_conv_input_gradient_of_a_single_tap_is_the_flipped_filter():
    # one output position, one filter, one channel: dL/dx is the filter itself placed there
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    dout = np.zeros((1, 1, 3, 3))
    dout[0, 0, 1, 1] = 1.0
    dx = ch08.conv_input_gradient(dout, w)
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 1:4, 1:4] = w[0, 0]
    np.testing.assert_array_equal(dx, expected)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(CONV)
def test_hidden_conv_input_gradient_numpy_only_without_conv2d_backward_and_errors(monkeypatch):
    import course_lib.numpy_nn.functional as functional
    import course_lib.numpy_nn.functional.conv as conv_module

    rng = _rng(5)
    w, dout = rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(2, 2, 6, 6))
    ref = _torch_conv_dx(dout, w, 1, (2, 3, 6, 6))

    def forbidden(*a, **k):
        raise AssertionError("the exercise is to derive dx, not to call the library's convolution")

    with monkeypatch.context() as mp:
        for module in (functional, conv_module):
            for name in ("conv2d_backward", "conv2d_forward", "conv2d_naive"):
                mp.setattr(module, name, forbidden)
        numpy_only(mp)
        got = ch08.conv_input_gradient(dout, w, padding=1)
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    assert_numpy_only(ch08.conv_input_gradient)
    assert not any("numpy_nn" in n for n in names_used(ch08.conv_input_gradient))
    for args, kw in (((dout[0], w), {}), ((dout, w[:1]), {}), ((dout, w), {"padding": 3}),
                     ((dout, w), {"padding": -1}), ((np.full_like(dout, np.nan), w), {})):
        with pytest.raises(ValueError):
            ch08.conv_input_gradient(*args, **kw)


### END HIDDEN TESTS

# --------------------------------------------------------------------------- instance norm


@pytest.mark.points(2)
@pytest.mark.exercise(INORM)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(2, 5),
       scale=st.sampled_from([1e-2, 1.0, 100.0]), seed=st.integers(0, 2**16))
def test_instance_norm_equals_torch(n, c, h, w, scale, seed):
    rng = _rng(seed)
    x = 3.0 + scale * rng.normal(size=(n, c, h, w))
    weight, bias = rng.normal(size=c), rng.normal(size=c)
    got = ch08.instance_norm(x, weight, bias)
    ref = F.instance_norm(torch.tensor(x), weight=torch.tensor(weight), bias=torch.tensor(bias),
                          eps=1e-5).numpy()
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(INORM)
def test_instance_norm_ignores_the_other_pictures_and_each_pictures_contrast():
    rng = _rng(6)
    x = rng.normal(size=(3, 2, 4, 4))
    weight, bias = np.array([1.0, 2.0]), np.array([0.0, -1.0])
    alone = ch08.instance_norm(x[:1], weight, bias)
    together = ch08.instance_norm(x, weight, bias)
    np.testing.assert_allclose(together[:1], alone, rtol=1e-12)
    brighter = ch08.instance_norm(5.0 + 3.0 * x, weight, bias, eps=1e-12)
    np.testing.assert_allclose(brighter, ch08.instance_norm(x, weight, bias, eps=1e-12),
                               rtol=1e-8, atol=1e-9)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(INORM)
def test_hidden_instance_norm_matches_the_module_numpy_only_and_errors(monkeypatch):
    torch.manual_seed(0)
    layer = torch.nn.InstanceNorm2d(3, affine=True, eps=1e-3).double()
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    x = _rng(7).normal(size=(2, 3, 5, 4))
    ref = layer(torch.tensor(x)).detach().numpy()
    weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    with monkeypatch.context() as mp:
        numpy_only(mp)
        got = ch08.instance_norm(x, weight, bias, eps=1e-3)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)
    assert_numpy_only(ch08.instance_norm)
    for args, kw in (((x[0], weight, bias), {}), ((x, weight[:2], bias), {}),
                     ((x, weight, bias), {"eps": 0.0}), ((x * np.nan, weight, bias), {})):
        with pytest.raises(ValueError):
            ch08.instance_norm(*args, **kw)


### END HIDDEN TESTS
