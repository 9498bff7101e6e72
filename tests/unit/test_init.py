"""Weight initialisers: fans and gains as in torch.nn.init, and the statistics of the draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib.numpy_nn import init

pytestmark = pytest.mark.ch02


@given(st.lists(st.integers(1, 7), min_size=2, max_size=5))
def test_fans_match_torch(shape):
    # Our linear weight (in, out) is torch's (out, in) transposed; conv layouts agree.
    torch_shape = shape[::-1] if len(shape) == 2 else shape
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_shape))
    assert init.fan_in_and_fan_out(shape) == expected


def test_fans_of_a_linear_weight_are_not_symmetric_by_accident():
    assert init.fan_in_and_fan_out((784, 100)) == (784, 100)  # (in, out)
    assert init.fan_in_and_fan_out((16, 3, 5, 5)) == (75, 400)  # (F, C, KH, KW)
    with pytest.raises(ValueError, match=r"at least 2 axes, got \(5,\)"):
        init.fan_in_and_fan_out((5,))


@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("sigmoid", None),
        ("conv2d", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("selu", None),
    ],
)
def test_gain_matches_torch(nonlinearity, param):
    assert math.isclose(
        init.calculate_gain(nonlinearity, param), torch.nn.init.calculate_gain(nonlinearity, param)
    )


# (our function, keyword settings, expected std of the draws, bound if uniform) for (200, 300)
FAN_IN, FAN_OUT = 200, 300
CASES = [
    (init.xavier_uniform, {}, math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.xavier_uniform, {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / 500), 5 / 3 * math.sqrt(6 / 500)),
    (init.xavier_normal, {}, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    (init.kaiming_uniform, {}, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    (init.kaiming_uniform, {"mode": "fan_out"}, math.sqrt(2 / FAN_OUT), math.sqrt(6 / FAN_OUT)),
    (init.kaiming_uniform, {"a": math.sqrt(5)}, math.sqrt(1 / 3 / FAN_IN), 1 / math.sqrt(FAN_IN)),
    (init.kaiming_normal, {}, math.sqrt(2 / FAN_IN), None),
    (init.kaiming_normal, {"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(FAN_IN), None),
    (init.kaiming_normal, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 300), None),
]


@pytest.mark.parametrize(("fn", "kwargs", "std", "bound"), CASES)
def test_statistics_of_large_draws(fn, kwargs, std, bound):
    w = fn((FAN_IN, FAN_OUT), rng=np.random.default_rng(0), **kwargs)  # 60,000 draws
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == np.float64
    # the sample std of 60k draws is within ~0.3% of the true one (3 sigma: 1.5%)
    assert abs(w.std() / std - 1) < 0.015
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize(("fn", "kwargs", "std", "bound"), CASES)
def test_same_distribution_as_torch(fn, kwargs, std, bound):
    # torch draws the *transposed* (out, in) linear weight; the same std means the same fans.
    w_t = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    torch_fn = getattr(torch.nn.init, fn.__name__ + "_")
    torch.manual_seed(0)
    torch_fn(w_t, **kwargs)
    w = fn((FAN_IN, FAN_OUT), rng=np.random.default_rng(1), **kwargs)
    assert abs(w.std() / w_t.std().item() - 1) < 0.03


def test_conv_weight_scale():
    w = init.kaiming_normal((64, 32, 3, 3), rng=np.random.default_rng(2), nonlinearity="relu")
    assert abs(w.std() / math.sqrt(2 / (32 * 9)) - 1) < 0.02


def test_dtype_rng_and_reproducibility():
    w32 = init.xavier_normal((3, 4), rng=np.random.default_rng(5), dtype=np.float32)
    w64 = init.xavier_normal((3, 4), rng=np.random.default_rng(5))
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    np.testing.assert_allclose(w32, w64, rtol=1e-6)  # same seed, same numbers
    z = init.zeros((2, 3), dtype=np.float32)
    assert z.dtype == np.float32 and not z.any()
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        init.kaiming_normal((3, 4), rng=0)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform((3, 4), rng=np.random.default_rng(), mode="fan")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.kaiming_normal((3, 4), rng=np.random.default_rng(), nonlinearity="swish")


def test_nothing_draws_from_the_global_numpy_state():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy state is the point)
    init.kaiming_uniform((10, 10), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
