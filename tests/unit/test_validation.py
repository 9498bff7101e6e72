"""Property tests: every public NumPy function refuses bad arrays with a ValueError naming them.

Issue 16, section 4: "a clear error, never a silent wrong answer". For each
public function of ``course_lib.numpy_nn.functional`` (the table ``CASES``;
``test_every_public_function_is_in_the_table`` keeps it complete), a valid
random input with one argument

- replaced by a complex, string or object array,
- given a NaN or an infinity at a random position,
- or emptied along its batch or feature axis,

must raise a ``ValueError`` whose message starts with that argument's name
(and says what arrived); bool and integer inputs must give exactly the numbers
of the same values in float64, in float64; every backward refuses a cache that
is not its forward's. Layers, optimisers and the scalar engine are in
``test_validation_modules.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn import functional as Fn

Args = dict[str, np.ndarray]
Builder = Callable[[np.random.Generator], Args]

EXAMPLES = settings(max_examples=12, deadline=None)


@dataclass(frozen=True)
class Case:
    """One public function: how to call it, valid inputs, and which arguments are checked."""

    call: Callable[..., Any]  # call(**args)
    build: Builder  # valid float64 arguments (labels: int64), small random shapes
    finite: tuple[str, ...]  # arguments in which a NaN or an inf must be refused
    empty: tuple[tuple[str, dict[str, int]], ...] = ()  # (name in the error, {arg: axis to empty})
    extra_real: tuple[str, ...] = ()  # non-float arguments whose dtype is checked too (labels)
    backward: Callable[..., Any] | None = None  # the backward function itself, for the cache test
    forward_cache: Callable[..., Any] | None = None  # forward_cache(**args): what backward takes

    @property
    def real(self) -> tuple[str, ...]:
        return self.finite + self.extra_real


def _sizes(rng: np.random.Generator, *lows_highs: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(rng.integers(lo, hi + 1)) for lo, hi in lows_highs)


# --------------------------------------------------------------------------- valid inputs


def _nchw(rng: np.random.Generator) -> Args:
    return {"x": rng.normal(size=_sizes(rng, (1, 2), (1, 2), (3, 5), (3, 5)))}


def _conv(rng: np.random.Generator) -> Args:
    (x,) = _nchw(rng).values()
    f = int(rng.integers(1, 3))
    return {"x": x, "w": rng.normal(size=(f, x.shape[1], 2, 2)), "b": rng.normal(size=f)}


def _linear(rng: np.random.Generator) -> Args:
    n, d, m = _sizes(rng, (1, 3), (1, 4), (1, 3))
    return {"x": rng.normal(size=(n, d)), "w": rng.normal(size=(d, m)), "b": rng.normal(size=m)}


def _matrix(*names: str) -> Builder:
    """``names`` each an (N, D) standard normal matrix of one shape."""

    def build(rng: np.random.Generator) -> Args:
        shape = _sizes(rng, (1, 3), (1, 4))
        return {name: rng.normal(size=shape) for name in names}

    return build


def _bce(rng: np.random.Generator) -> Args:
    shape = _sizes(rng, (1, 3), (1, 4))
    return {"probs": rng.uniform(0.05, 0.95, shape), "target": rng.random(shape)}


def _bce_logits(rng: np.random.Generator) -> Args:
    shape = _sizes(rng, (1, 3), (1, 4))
    return {
        "logits": rng.normal(size=shape),
        "target": rng.random(shape),
        "pos_weight": rng.uniform(1, 3, shape[1]),  # >= 1, so still >= 1 once rounded
    }


def _cross_entropy(rng: np.random.Generator) -> Args:
    n, k = _sizes(rng, (1, 4), (2, 4))
    return {
        "logits": rng.normal(size=(n, k)),
        "labels": rng.integers(0, k, n),
        "weight": rng.uniform(1, 3, k),
    }


def _gan_d(rng: np.random.Generator) -> Args:
    n, m = _sizes(rng, (1, 4), (1, 4))
    return {"real_logits": rng.normal(size=n), "fake_logits": rng.normal(size=m)}


def _style(rng: np.random.Generator) -> Args:
    feats = rng.normal(size=_sizes(rng, (1, 2), (1, 3), (2, 3), (2, 3)))
    c = feats.shape[1]
    return {"feats": feats, "target_gram": rng.normal(size=(c, c))}


def _bernoulli(rng: np.random.Generator) -> Args:
    shape = _sizes(rng, (1, 3), (1, 4))
    return {"logits": rng.normal(size=shape), "x": rng.random(shape)}


def _reparam(rng: np.random.Generator) -> Args:
    shape = _sizes(rng, (1, 3), (1, 4))
    return {name: rng.normal(size=shape) for name in ("mu", "logvar", "eps")}


# --------------------------------------------------------------------------- the table


def _forward(fn: Callable[..., Any], build: Builder, empty=(), **kw: Any) -> Case:
    """A function of its array arguments, every one of them checked for NaN and inf."""
    names = tuple(inspect.signature(fn).parameters)
    finite = tuple(n for n in names if n in build(np.random.default_rng(0)))
    return Case(lambda **a: fn(**a, **kw), build, finite, tuple(empty))


def _backward(fwd: Callable[..., Any], bwd: Callable[..., Any], build: Builder, **kw: Any) -> Case:
    """``bwd(dout, fwd(**args)[1])``: the upstream gradient is the argument under test."""
    dname = next(iter(inspect.signature(bwd).parameters))  # dout, dG or dz

    def build_with_dout(rng: np.random.Generator) -> Args:
        args = build(rng)
        out = fwd(**args, **kw)[0]
        return {**args, dname: rng.normal(size=out.shape)}

    def forward_cache(**a: np.ndarray) -> Any:
        return fwd(**{k: v for k, v in a.items() if k != dname}, **kw)[1]

    def call(**a: np.ndarray) -> Any:
        return bwd(a[dname], forward_cache(**a))

    return Case(call, build_with_dout, (dname,), backward=bwd, forward_cache=forward_cache)


_X = _matrix("x")
_XY = _matrix("pred", "target")
CONV_EMPTY = (("x", {"x": 0}), ("x", {"x": 1, "w": 1}), ("w", {"w": 0, "b": 0}))
ELEMENTWISE_EMPTY = (("x", {"x": 0}), ("x", {"x": 1}))
PAIR_EMPTY = (("pred", {"pred": 0, "target": 0}), ("pred", {"pred": 1, "target": 1}))
POOL = {"kernel_size": 2, "stride": 1}

CASES: dict[str, Case] = {
    "conv2d_forward": _forward(Fn.conv2d_forward, _conv, CONV_EMPTY, padding=1),
    "conv2d_naive": _forward(Fn.conv2d_naive, _conv, CONV_EMPTY, stride=2),
    "conv2d_backward": _backward(Fn.conv2d_forward, Fn.conv2d_backward, _conv, dilation=2),
    "maxpool2d_forward": _forward(Fn.maxpool2d_forward, _nchw, ELEMENTWISE_EMPTY, **POOL),
    "maxpool2d_backward": _backward(Fn.maxpool2d_forward, Fn.maxpool2d_backward, _nchw, **POOL),
    "avgpool2d_forward": _forward(Fn.avgpool2d_forward, _nchw, ELEMENTWISE_EMPTY, **POOL),
    "avgpool2d_backward": _backward(Fn.avgpool2d_forward, Fn.avgpool2d_backward, _nchw, **POOL),
    "linear_forward": _forward(
        Fn.linear_forward,
        _linear,
        (("x", {"x": 0}), ("x", {"x": 1, "w": 0}), ("w", {"w": 1, "b": 0})),
    ),
    "linear_backward": _backward(Fn.linear_forward, Fn.linear_backward, _linear),
    **{
        f"{act}_{kind}": (
            _forward(getattr(Fn, f"{act}_forward"), _X, ELEMENTWISE_EMPTY)
            if kind == "forward"
            else _backward(getattr(Fn, f"{act}_forward"), getattr(Fn, f"{act}_backward"), _X)
        )
        for act in ("relu", "leaky_relu", "sigmoid", "tanh", "elu", "gelu", "silu")
        for kind in ("forward", "backward")
    },
    "softmax_forward": _forward(Fn.softmax_forward, _X, (("x", {"x": 0}),), axis=-1),
    "softmax_backward": _backward(Fn.softmax_forward, Fn.softmax_backward, _X, axis=0),
    "log_softmax_forward": _forward(Fn.log_softmax_forward, _X, (("x", {"x": 0}),)),
    "log_softmax_backward": _backward(Fn.log_softmax_forward, Fn.log_softmax_backward, _X),
    "logsumexp": _forward(Fn.logsumexp, _X, (("x", {"x": 0}),)),
    "mse_loss": _forward(Fn.mse_loss, _XY, PAIR_EMPTY),
    "l1_loss": _forward(Fn.l1_loss, _XY, PAIR_EMPTY),
    "huber_loss": _forward(Fn.huber_loss, _XY, PAIR_EMPTY, delta=0.5),
    "bce_loss": _forward(Fn.bce_loss, _bce, (("probs", {"probs": 0, "target": 0}),)),
    "bce_with_logits_loss": _forward(
        Fn.bce_with_logits_loss,
        _bce_logits,
        (
            ("logits", {"logits": 0, "target": 0}),
            ("logits", {"logits": 1, "target": 1, "pos_weight": 0}),
        ),
    ),
    "cross_entropy_loss": Case(
        lambda **a: Fn.cross_entropy_loss(**a, label_smoothing=0.1),
        _cross_entropy,
        ("logits", "weight"),
        (("logits", {"logits": 0, "labels": 0}), ("logits", {"logits": 1, "weight": 0})),
        extra_real=("labels",),
    ),
    "gaussian_kl": _forward(
        Fn.gaussian_kl, _matrix("mu", "logvar"), (("mu", {"mu": 0, "logvar": 0}),)
    ),
    "gan_discriminator_loss": _forward(
        Fn.gan_discriminator_loss,
        _gan_d,
        (("real_logits", {"real_logits": 0}), ("fake_logits", {"fake_logits": 0})),
    ),
    "gan_generator_loss": _forward(
        Fn.gan_generator_loss,
        _matrix("fake_logits"),
        (("fake_logits", {"fake_logits": 0}),),
        non_saturating=False,
    ),
    "log_sigmoid": _forward(Fn.log_sigmoid, _matrix("z"), (("z", {"z": 0}),)),
    "gram_matrix_forward": _forward(
        Fn.gram_matrix_forward,
        lambda rng: {"feats": _nchw(rng)["x"]},
        (("feats", {"feats": 0}), ("feats", {"feats": 1})),
    ),
    "gram_matrix_backward": _backward(
        Fn.gram_matrix_forward, Fn.gram_matrix_backward, lambda rng: {"feats": _nchw(rng)["x"]}
    ),
    "style_loss": _forward(Fn.style_loss, _style, (("feats", {"feats": 0}),)),
    "tv_loss": _forward(
        Fn.tv_loss,
        lambda rng: {"img": _nchw(rng)["x"]},
        (("img", {"img": 0}), ("img", {"img": 1})),
        p=1,
    ),
    "bernoulli_nll": _forward(Fn.bernoulli_nll, _bernoulli, (("logits", {"logits": 0, "x": 0}),)),
    "reparameterize_forward": _forward(
        Fn.reparameterize_forward,
        _reparam,
        (("mu", {"mu": 0, "logvar": 0, "eps": 0}), ("mu", {"mu": 1, "logvar": 1, "eps": 1})),
    ),
    "reparameterize_backward": _backward(
        Fn.reparameterize_forward, Fn.reparameterize_backward, _reparam
    ),
}
# Functions whose arguments are all Python integers (checked in test_conv.py).
NOT_ARRAYS = {"conv_output_size"}
BACKWARDS = [name for name, case in CASES.items() if case.backward is not None]
EMPTIES = [(name, i) for name, case in CASES.items() for i in range(len(case.empty))]


def _draw_args(data: st.DataObject, case: Case) -> Args:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return case.build(np.random.default_rng(seed))


def _error(case: Case, args: Args) -> str:
    """The message of the ValueError that ``case.call(**args)`` must raise."""
    with pytest.raises(ValueError) as info:
        case.call(**args)
    return str(info.value)


def _arrays(result: Any) -> list[np.ndarray]:
    """The arrays and scalars a function returned, caches (NamedTuples) left out."""
    if isinstance(result, tuple) and not hasattr(result, "_fields"):
        return [a for item in result for a in _arrays(item)]
    if isinstance(result, tuple):
        return []
    return [np.asarray(result)]


# --------------------------------------------------------------------------- properties


def test_every_public_function_is_in_the_table():
    functions = {
        name
        for name in Fn.__all__
        if inspect.isfunction(getattr(Fn, name)) and not name.startswith("_")
    }
    assert functions - NOT_ARRAYS == set(CASES)


@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data())
def test_valid_input_is_accepted(name, data):
    """The inputs the other tests corrupt are valid: the errors below are the corruption's."""
    case = CASES[name]
    results = _arrays(case.call(**_draw_args(data, case)))
    assert results and all(np.all(np.isfinite(r)) and r.dtype == np.float64 for r in results)


@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data(), kind=st.sampled_from(["complex", "str", "object"]))
def test_non_real_arrays_are_refused(name, data, kind):
    case = CASES[name]
    args = _draw_args(data, case)
    arg = data.draw(st.sampled_from(case.real), label="argument")
    a = args[arg]
    args[arg] = {"complex": a + 0.5j, "str": a.astype(str), "object": a.astype(object)}[kind]
    message = _error(case, args)
    assert message.startswith(f"{arg} ") and str(args[arg].dtype) in message, message


@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_and_inf_are_refused(name, data, bad):
    case = CASES[name]
    args = _draw_args(data, case)
    arg = data.draw(st.sampled_from(case.finite), label="argument")
    a = args[arg].copy()
    a.flat[data.draw(st.integers(0, a.size - 1), label="position")] = bad
    args[arg] = a
    message = _error(case, args)
    assert message.startswith(f"{arg} ") and "NaN or infinite" in message, message


@pytest.mark.parametrize(("name", "which"), EMPTIES)
@EXAMPLES
@given(data=st.data())
def test_empty_batch_and_feature_axes_are_refused(name, which, data):
    case = CASES[name]
    arg, axes = case.empty[which]
    args = _draw_args(data, case)
    for key, axis in axes.items():
        args[key] = np.take(args[key], np.arange(0), axis=axis)  # that axis emptied
    message = _error(case, args)
    assert message.startswith(f"{arg} ") and "non-empty" in message, message
    assert str(args[arg].shape) in message and "= 0" in message, message


@pytest.mark.parametrize("name", CASES)
@EXAMPLES
@given(data=st.data(), dtype=st.sampled_from([np.bool_, np.int8, np.int32, np.int64]))
def test_bool_and_int_inputs_compute_in_float64(name, data, dtype):
    """Integer-valued inputs as bool/int arrays give the float64 numbers, in float64."""
    case = CASES[name]
    args = _draw_args(data, case)
    chosen = data.draw(st.sets(st.sampled_from(case.finite), min_size=1), label="arguments")
    as_float, as_int = dict(args), dict(args)
    for arg in chosen:
        values = np.rint(args[arg]) != 0 if dtype is np.bool_ else np.rint(args[arg])
        as_float[arg], as_int[arg] = values.astype(np.float64), values.astype(dtype)
    expected, got = _arrays(case.call(**as_float)), _arrays(case.call(**as_int))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("name", BACKWARDS)
@EXAMPLES
@given(data=st.data(), bad=st.sampled_from(["none", "tuple", "other"]))
def test_backward_refuses_a_cache_that_is_not_its_forwards(name, data, bad):
    """None, the right fields in a plain tuple, or another forward's cache: a ValueError."""
    case = CASES[name]
    args = _draw_args(data, case)
    dname = next(iter(inspect.signature(case.backward).parameters))
    cache = case.forward_cache(**args)
    other_type = Fn.TanhCache if isinstance(cache, Fn.ReLUCache) else Fn.ReLUCache
    other = other_type(args[dname])
    wrong = {"none": None, "tuple": tuple(cache), "other": other}[bad]
    with pytest.raises(ValueError, match=rf"^cache must be the {type(cache).__name__} returned by"):
        case.backward(args[dname], wrong)
