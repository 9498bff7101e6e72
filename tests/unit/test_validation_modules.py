"""Property tests: the NumPy layers, optimisers and scalar engine refuse bad input by name.

Issue 16, section 4, continued from ``test_validation.py`` (the functional
API): every layer checks its input and its ``dout`` (Dropout in eval mode
too), every setting must be a real number (``lr=None``, ``lr="0.1"``,
``betas=0.9`` and ``LeakyReLU("x")`` are ValueErrors that say what was
expected), and the scalar engine's domain errors (division by zero, zero to a
negative power, the infinite derivative of ``0 ** 0.5``, overflow) are
ValueErrors naming the operation, not bare ``ZeroDivisionError``/``OverflowError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.autograd import Value
from course_lib.numpy_nn.module import Module, Parameter
from course_lib.numpy_nn.optim import SGD, Adam, RMSprop

EXAMPLES = settings(max_examples=12, deadline=None)


def _dropout(training: bool) -> Module:
    layer = L.Dropout(0.5, rng=np.random.default_rng(0))
    return layer.train(training)


# layer name -> (factory, input shape without the batch axis)
LAYERS: dict[str, tuple[Callable[[], Module], tuple[int, ...]]] = {
    "Linear": (lambda: L.Linear(3, 2, rng=np.random.default_rng(0)), (3,)),
    "Conv2d": (lambda: L.Conv2d(2, 3, 2, padding=1, rng=np.random.default_rng(0)), (2, 4, 4)),
    "MaxPool2d": (lambda: L.MaxPool2d(2), (2, 4, 4)),
    "AvgPool2d": (lambda: L.AvgPool2d(2, stride=1), (2, 4, 4)),
    "Flatten": (L.Flatten, (2, 2, 3)),
    "ReLU": (L.ReLU, (3,)),
    "Sigmoid": (L.Sigmoid, (3,)),
    "Tanh": (L.Tanh, (3,)),
    "LeakyReLU": (lambda: L.LeakyReLU(0.2), (3,)),
    "ELU": (lambda: L.ELU(0.5), (3,)),
    "GELU": (lambda: L.GELU("tanh"), (3,)),
    "SiLU": (L.SiLU, (3,)),
    "Softmax": (lambda: L.Softmax(axis=1), (3,)),
    "LogSoftmax": (L.LogSoftmax, (3,)),
    "Dropout (train)": (lambda: _dropout(True), (3,)),
    "Dropout (eval)": (lambda: _dropout(False), (3,)),
}

# a wrong dout, derived from the right one
DOUT_CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "nan": lambda d: np.where(np.arange(d.size).reshape(d.shape) == 0, np.nan, d),
    "inf": lambda d: np.full_like(d, np.inf),
    "complex": lambda d: d + 1j,
    "string": lambda d: d.astype(str),
    "extra axis": lambda d: d[..., None],
    "batch + 1": lambda d: np.concatenate([d, d[:1]]),
    "flattened": lambda d: d.reshape(-1),
}


def _forward(name: str, data: st.DataObject) -> tuple[Module, np.ndarray, np.ndarray]:
    """A layer after a valid forward pass, its input and a valid dout."""
    factory, shape = LAYERS[name]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.normal(size=(data.draw(st.integers(1, 3), label="N"), *shape))
    layer = factory()
    out = layer(x)
    return layer, x, rng.normal(size=out.shape)


@pytest.mark.parametrize("name", LAYERS)
@EXAMPLES
@given(data=st.data())
def test_layer_backward_of_a_valid_dout_works(name, data):
    layer, x, dout = _forward(name, data)
    dx = layer.backward(dout)
    assert dx.shape == x.shape and dx.dtype == np.float64 and np.all(np.isfinite(dx))


@pytest.mark.parametrize("name", LAYERS)
@EXAMPLES
@given(data=st.data(), corruption=st.sampled_from(list(DOUT_CORRUPTIONS)))
def test_layer_backward_refuses_a_bad_dout(name, data, corruption):
    layer, _, dout = _forward(name, data)
    with pytest.raises(ValueError, match=r"^dout "):
        layer.backward(DOUT_CORRUPTIONS[corruption](dout))


@pytest.mark.parametrize("name", LAYERS)
@EXAMPLES
@given(data=st.data(), bad=st.sampled_from(["nan", "inf", "complex", "string", "object"]))
def test_layer_forward_refuses_a_bad_input(name, data, bad):
    layer, x, _ = _forward(name, data)
    x = x.copy()
    if bad in ("nan", "inf"):
        x.flat[data.draw(st.integers(0, x.size - 1), label="position")] = float(bad)
    else:
        x = {"complex": x + 1j, "string": x.astype(str), "object": x.astype(object)}[bad]
    with pytest.raises(ValueError, match=r"^x "):
        layer.forward(x)


# values that are not real numbers, or not finite ones; a bool is not a number either
NOT_A_NUMBER = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(-10, 10).map(str),
    st.complex_numbers(min_magnitude=1, allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, [0.1], (0.1,), np.array(0.1)]),
)


@EXAMPLES
@given(bad=NOT_A_NUMBER, which=st.sampled_from(["LeakyReLU", "ELU"]))
def test_layer_settings_must_be_real_numbers(bad, which):
    make, setting = {"LeakyReLU": (L.LeakyReLU, "negative_slope"), "ELU": (L.ELU, "alpha")}[which]
    with pytest.raises(ValueError, match=rf"^{setting} must be a real number"):
        make(bad)


# --------------------------------------------------------------------------- optimisers

NUMERIC_SETTINGS = [
    (SGD, "lr"),
    (SGD, "momentum"),
    (SGD, "dampening"),
    (SGD, "weight_decay"),
    (RMSprop, "lr"),
    (RMSprop, "alpha"),
    (RMSprop, "eps"),
    (RMSprop, "weight_decay"),
    (RMSprop, "momentum"),
    (Adam, "lr"),
    (Adam, "eps"),
    (Adam, "weight_decay"),
]
FLAG_SETTINGS = [(SGD, "nesterov"), (RMSprop, "centered"), (Adam, "amsgrad")]


def _params() -> list[Parameter]:
    p = Parameter(np.ones(3))
    p.grad = np.ones(3)
    return [p]


@pytest.mark.parametrize(("cls", "setting"), NUMERIC_SETTINGS)
@EXAMPLES
@given(bad=NOT_A_NUMBER)
def test_optimiser_settings_must_be_real_numbers(cls, setting, bad):
    with pytest.raises(ValueError, match=rf"^{setting} must be a real number, and finite, got"):
        cls(_params(), **{setting: bad})


@pytest.mark.parametrize(("cls", "setting"), NUMERIC_SETTINGS)
@EXAMPLES
@given(value=st.one_of(st.integers(0, 1), st.floats(0, 0.99), st.just(np.float32(0.5))))
def test_optimiser_settings_accept_real_numbers(cls, setting, value):
    opt = cls(_params(), **{setting: value})
    assert getattr(opt, setting) == float(value) and isinstance(getattr(opt, setting), float)
    opt.step()
    assert np.all(np.isfinite(opt.params[0].data))


@pytest.mark.parametrize(("cls", "setting"), FLAG_SETTINGS)
@EXAMPLES
@given(bad=st.one_of(st.none(), st.integers(0, 1), st.floats(0, 1), st.text(max_size=3)))
def test_optimiser_flags_must_be_bools(cls, setting, bad):
    kwargs = {"momentum": 0.9} if setting == "nesterov" else {}
    with pytest.raises(ValueError, match=rf"^{setting} must be True or False"):
        cls(_params(), **kwargs, **{setting: bad})


@EXAMPLES
@given(
    bad=st.one_of(
        st.floats(0, 0.99),
        st.tuples(st.floats(0, 0.9)),
        st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0, 0.9)),
        st.tuples(NOT_A_NUMBER, st.floats(0, 0.9)),
        st.tuples(st.floats(0, 0.9), NOT_A_NUMBER),
    )
)
def test_adam_betas_must_be_a_pair_of_real_numbers(bad):
    with pytest.raises(ValueError, match=r"^betas"):
        Adam(_params(), betas=bad)


# --------------------------------------------------------------------------- the scalar engine

FINITE = st.floats(-1e6, 1e6, allow_nan=False)


@EXAMPLES
@given(a=FINITE, form=st.sampled_from(["number / Value", "Value / number", "Value / Value"]))
def test_division_by_zero_is_a_value_error(a, form):
    divide: dict[str, Callable[[], Any]] = {
        "number / Value": lambda: a / Value(0.0),
        "Value / number": lambda: Value(a) / 0,
        "Value / Value": lambda: Value(a) / Value(-0.0),
    }
    with pytest.raises(ValueError, match=r"^division by zero: .* / -?0\.0"):
        divide[form]()


@EXAMPLES
@given(k=st.floats(-8, -1e-3))
def test_zero_to_a_negative_power_is_a_value_error(k):
    with pytest.raises(ValueError, match=r"\(0\.0\) \*\* .*: zero to a negative power"):
        Value(0.0) ** k


@EXAMPLES
@given(k=st.floats(1e-3, 0.999))
def test_backward_of_a_fractional_power_at_zero_is_a_value_error(k):
    x = Value(0.0)
    y = x**k
    assert y.data == 0.0  # the forward value is fine
    with pytest.raises(ValueError, match=r"^backward of \(0\.0\) \*\* .*is infinite"):
        y.backward()


@EXAMPLES
@given(x=st.floats(709.79, 1e6))
def test_exp_overflow_is_a_value_error(x):
    with pytest.raises(ValueError, match=r"^exp\(.*\) overflows"):
        Value(x).exp()


@EXAMPLES
@given(x=st.floats(-1e6, 709.78))
def test_exp_below_the_overflow_works(x):
    v = Value(x)
    y = v.exp()
    y.backward()
    assert y.data == math.exp(x) and v.grad == y.data


@EXAMPLES
@given(
    a=st.floats(1e155, 1e300), big=st.floats(9e307, 1.7e308), op=st.sampled_from(["*", "+", "**"])
)
def test_overflow_names_the_operation(a, big, op):
    compute = {
        "*": lambda: Value(a) * Value(a),  # at least 1e310 > 1.8e308, the largest float
        "+": lambda: Value(big) + big,  # at least 1.8e308
        "**": lambda: Value(a) ** 3,
    }
    symbol = {"*": r"\*", "+": r"\+", "**": r"\*\*"}[op]
    with pytest.raises(ValueError, match=rf"{symbol} .*overflows"):
        compute[op]()


def test_overflow_in_backward_names_the_operation():
    x = Value(1e-300)
    y = (x * 1e200) * 1e200  # forward: 1e100, finite; dy/dx = 1e400, not
    with pytest.raises(ValueError, match=r"^backward of '\*'.*overflows"):
        y.backward()


@EXAMPLES
@given(bad=st.sampled_from([math.nan, math.inf, -math.inf, np.float64("nan")]))
def test_value_of_a_non_finite_number_is_a_value_error(bad):
    with pytest.raises(ValueError, match="finite number"):
        Value(bad)
