"""Layers, Module and Sequential against torch.nn (float64) and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_nn.module import Module, Parameter, Sequential

pytestmark = pytest.mark.ch02
TOL = {"rtol": 1e-10, "atol": 1e-12}
KINDS = ["linear", "conv", "maxpool", "avgpool", "flatten", "relu", "leaky", "sigmoid", "tanh"]


def to_torch(layer: Module) -> torch.nn.Module:
    """The same layer in torch.nn, float64, with the parameters copied."""
    f64 = {"dtype": torch.float64}
    if isinstance(layer, L.Linear):
        t = torch.nn.Linear(layer.in_features, layer.out_features, layer.bias is not None, **f64)
        t.weight.data = torch.tensor(layer.weight.data.T)  # ours (in, out), torch's (out, in)
    elif isinstance(layer, L.Conv2d):
        t = torch.nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
            layer.padding, layer.dilation, bias=layer.bias is not None, **f64,
        )  # fmt: skip
        t.weight.data = torch.tensor(layer.weight.data)
    elif isinstance(layer, Sequential):
        return torch.nn.Sequential(*(to_torch(m) for m in layer))
    elif isinstance(layer, L._Pool2d):
        cls = torch.nn.MaxPool2d if isinstance(layer, L.MaxPool2d) else torch.nn.AvgPool2d
        return cls(layer.kernel_size, layer.stride)
    elif isinstance(layer, L.LeakyReLU):
        return torch.nn.LeakyReLU(layer.negative_slope)
    elif isinstance(layer, L.Dropout):
        assert not layer.training, "torch cannot reproduce our mask: compare in eval mode"
        return torch.nn.Dropout(layer.p).eval()
    else:
        names = {L.Flatten: "Flatten", L.ReLU: "ReLU", L.Sigmoid: "Sigmoid", L.Tanh: "Tanh"}
        return getattr(torch.nn, names[type(layer)])()
    if layer.bias is not None:
        t.bias.data = torch.tensor(layer.bias.data)
    return t


def torch_grads(np_layer: Module, t_layer: torch.nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ours, torch's) gradient for each parameter, torch's linear weights transposed back."""
    pairs = []
    for (name, p), (t_name, tp) in zip(
        np_layer.named_parameters(), t_layer.named_parameters(), strict=True
    ):
        assert name == t_name  # same dotted names as torch.nn
        g = tp.grad.numpy()
        pairs.append((p.grad, g.T if p.grad.ndim == 2 else g))
    return pairs


def make_layer(kind: str, draw, rng: np.random.Generator) -> tuple[Module, np.ndarray]:
    """A layer of this kind with drawn settings, and an input for it."""
    n = draw(st.integers(1, 3))
    if kind == "linear":
        d, m = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        layer = L.Linear(
            d, m, bias=draw(st.booleans()), rng=rng, init=draw(st.sampled_from(L.INITS))
        )
        return layer, rng.standard_normal((n, d))
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6))
    x = rng.standard_normal((n, c, h, w))
    if kind == "conv":
        k, pad, dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), draw(st.integers(0, 1)), 2
        if dil * (max(k) - 1) + 1 > min(h, w) + 2 * pad:
            dil = 1  # the dilated kernel must fit in the padded input
        layer = L.Conv2d(
            c, draw(st.integers(1, 3)), k, stride=draw(st.integers(1, 2)),
            padding=pad, dilation=draw(st.integers(1, dil)), bias=draw(st.booleans()), rng=rng,
        )  # fmt: skip
        return layer, x
    if kind in ("maxpool", "avgpool"):
        cls = L.MaxPool2d if kind == "maxpool" else L.AvgPool2d
        return cls(draw(st.integers(1, 3)), draw(st.none() | st.integers(1, 2))), x
    if kind == "leaky":
        return L.LeakyReLU(draw(st.sampled_from([0.01, 0.2]))), x
    cls = {"flatten": L.Flatten, "relu": L.ReLU, "sigmoid": L.Sigmoid, "tanh": L.Tanh}[kind]
    return cls(), x


def run_both(layer: Module, x: np.ndarray, dout_seed: int = 0):
    """Forward and backward in NumPy and in torch; returns (ours, torch's) pairs to compare."""
    out = layer(x)
    dout = np.random.default_rng(dout_seed).standard_normal(out.shape)
    dx = layer.backward(dout)
    t_layer = to_torch(layer)
    xt = torch.tensor(x, requires_grad=True)
    out_t = t_layer(xt)
    out_t.backward(torch.tensor(dout))
    pairs = [(out, out_t.detach().numpy()), (dx, xt.grad.numpy())]
    return pairs + torch_grads(layer, t_layer), dout


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_layer_matches_torch(kind, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    layer, x = make_layer(kind, data.draw, rng)
    pairs, _ = run_both(layer, x)
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, **TOL)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=12)
@given(data=st.data())
def test_layer_backward_matches_numerical_gradient(kind, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    layer, x = make_layer(kind, data.draw, rng)
    if kind in ("relu", "leaky"):
        x = np.where(np.abs(x) < 1e-3, 1e-3, x)  # no central difference across the kink
    if kind == "maxpool":  # distinct values: no max changes inside the +-h of the difference
        x = rng.permutation(x.size).reshape(x.shape) / x.size
    out = layer(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_gradient(lambda x_: layer.forward(x_), x, dout)) < 1e-6
    for p in layer.parameters():
        # perturb p.data in place: the layer reads it on every forward
        num = numerical_gradient(lambda _: layer.forward(x), p.data, dout)
        assert rel_error(p.grad, num) < 1e-6


@settings(max_examples=10)
@given(n=st.integers(1, 3), c=st.integers(1, 2), f=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_cnn_sequential_equals_torch(n, c, f, seed):
    rng = np.random.default_rng(seed)
    model = Sequential(
        L.Conv2d(c, f, 3, padding=1, rng=rng),  # (N, F, 6, 6)
        L.ReLU(),
        L.MaxPool2d(2),  # (N, F, 3, 3)
        L.Flatten(),  # (N, F*9)
        L.Linear(f * 9, 4, rng=rng),  # (N, 4)
    )
    pairs, _ = run_both(model, rng.standard_normal((n, c, 6, 6)))
    assert len(pairs) == 2 + 4  # out, dx, and 2 weights + 2 biases
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, **TOL)


def test_mlp_with_dropout_in_eval_mode_equals_torch():
    rng = np.random.default_rng(3)
    model = Sequential(
        L.Linear(5, 8, rng=rng, init="xavier"),
        L.Tanh(),
        L.Dropout(0.5, rng=rng),
        L.Linear(8, 8, rng=rng, init="torch"),
        L.LeakyReLU(0.1),
        L.Linear(8, 3, bias=False, rng=rng),
        L.Sigmoid(),
    ).eval()
    assert not any(m.training for m in model)
    pairs, _ = run_both(model, rng.standard_normal((4, 5)))
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, **TOL)


# --------------------------------------------------------------------------- Dropout


def test_dropout_mask_statistics_and_scaling():
    p = 0.3
    layer = L.Dropout(p, rng=np.random.default_rng(0))
    x = np.ones((200, 500))
    out = layer(x)
    dropped = out == 0
    # 100k Bernoulli(p) draws: the fraction is within 4 standard deviations (0.6%) of p
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(out[~dropped], 1 / (1 - p))  # inverted dropout: kept / (1 - p)
    assert abs(out.mean() - 1) < 0.01  # the expected activation is unchanged
    np.testing.assert_array_equal(x, 1.0)  # input untouched


def test_dropout_backward_uses_the_forward_mask():
    layer = L.Dropout(0.5, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((6, 7)) + 10  # no zeros in x
    out = layer(x)
    dout = np.random.default_rng(3).standard_normal(x.shape)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx == 0, out == 0)
    np.testing.assert_allclose(dx, dout * out / x)
    assert rel_error(dx, numerical_gradient(lambda x_: x_ * layer.cache.mask, x, dout)) < 1e-8


def test_dropout_train_vs_eval_and_seeds():
    x = np.random.default_rng(4).standard_normal((5, 8))
    a, b = (
        L.Dropout(0.5, rng=np.random.default_rng(7)),
        L.Dropout(0.5, rng=np.random.default_rng(7)),
    )
    np.testing.assert_array_equal(a(x), b(x))  # same seed, same mask
    assert not np.array_equal(a(x), b(L.Dropout(0.5, rng=np.random.default_rng(8))(x)))
    first, second = a(x), a(x)
    assert not np.array_equal(first, second)  # a fresh mask on each forward pass
    a.eval()
    np.testing.assert_array_equal(a(x), x)  # identity in eval mode
    np.testing.assert_array_equal(a.backward(x), x)
    a.train()
    assert a.training and (a(x) == 0).any()
    np.testing.assert_array_equal(L.Dropout(0.0, rng=np.random.default_rng(0))(x), x)
    one = L.Dropout(1.0, rng=np.random.default_rng(0))
    assert not one(x).any() and not one.backward(x).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_dtype(dtype):
    layer = L.Dropout(0.5, rng=np.random.default_rng(0))
    out = layer(np.ones((3, 4), dtype=dtype))
    assert out.dtype == dtype and layer.backward(np.ones((3, 4))).dtype == dtype


def test_dropout_errors():
    for p in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            L.Dropout(p, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        L.Dropout(0.5, rng=42)
    with pytest.raises(TypeError):
        L.Dropout(0.5)  # the Generator is required: no hidden global random state


# --------------------------------------------------------------------------- Module mechanics


class TwoBranch(Module):
    """A custom module: sub-modules in a list, a shared Parameter, a nested Sequential."""

    def __init__(self, rng):
        super().__init__()
        self.scale = Parameter(np.ones(3), name="scale")
        self.blocks = [L.Linear(3, 3, rng=rng), L.ReLU()]
        self.head = Sequential(L.Linear(3, 2, rng=rng), L.Dropout(0.5, rng=rng))
        self.alias = self.scale  # the same Parameter again: listed once

    def forward(self, x):
        return self.head(self.blocks[1](self.blocks[0](x * self.scale.data)))


def test_parameters_order_no_duplicates_and_names():
    model = TwoBranch(np.random.default_rng(0))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "blocks.0.weight", "blocks.0.bias", "head.0.weight", "head.0.bias"]
    params = model.parameters()
    assert len(params) == len({id(p) for p in params}) == 5
    assert params[0] is model.scale and params[3] is model.head[0].weight
    assert [type(c).__name__ for c in model.children()] == ["Linear", "ReLU", "Sequential"]


def test_train_eval_recursive_and_zero_grad():
    model = TwoBranch(np.random.default_rng(0))
    assert model.training and model.head[1].training
    assert model.eval() is model
    assert not any(m.training for m in (model, model.blocks[0], model.head, model.head[1]))
    model.train()
    assert all(m.training for m in (model, model.blocks[1], model.head[1]))
    seq = Sequential(L.Linear(3, 2, rng=np.random.default_rng(1)))
    x = np.ones((4, 3))
    seq.backward(np.ones((4, 2)) + 0 * seq(x))
    assert all(p.has_grad and p.grad.any() for p in seq.parameters())
    seq.zero_grad()
    assert all(not p.has_grad and not p.grad.any() for p in seq.parameters())


def test_backward_accumulates_like_torch():
    layer = L.Linear(3, 2, rng=np.random.default_rng(0))
    x, dout = np.ones((4, 3)), np.ones((4, 2))
    layer(x)
    layer.backward(dout)
    once = layer.weight.grad.copy()
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)


def test_sequential_indexing_and_repr():
    rng = np.random.default_rng(0)
    model = Sequential(L.Conv2d(1, 4, 3, padding=1, rng=rng), L.ReLU(), L.Flatten())
    assert len(model) == 3 and isinstance(model[0], L.Conv2d) and model[-1] is model.layers[2]
    sub = model[1:]
    assert isinstance(sub, Sequential) and sub[0] is model[1]
    text = repr(model)
    assert text.startswith("Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3)")
    assert "(1): ReLU()" in text and "(2): Flatten()" in text
    assert repr(L.Linear(2, 3, rng=rng)) == "Linear(in_features=2, out_features=3, bias=True)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_flows_through_and_inputs_are_not_mutated(dtype):
    rng = np.random.default_rng(0)
    model = Sequential(
        L.Conv2d(2, 3, 3, rng=rng, dtype=dtype), L.Tanh(), L.AvgPool2d(2), L.Flatten(),
        L.Linear(12, 5, rng=rng, dtype=dtype), L.Sigmoid(), L.Dropout(0.2, rng=rng),
    )  # fmt: skip
    x = rng.standard_normal((2, 2, 6, 6)).astype(dtype)
    x_copy = x.copy()
    out = model(x)
    dout = np.ones(out.shape, dtype=dtype)
    dx = model.backward(dout)
    assert out.dtype == dx.dtype == dtype
    assert all(p.grad.dtype == p.data.dtype == dtype for p in model.parameters())
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, 1)


def test_layers_do_not_touch_the_global_random_state():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy state is the point)
    L.Linear(4, 4)  # rng=None: a fresh, unseeded Generator
    L.Conv2d(1, 2, 3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_parameter_semantics():
    src = np.arange(6.0).reshape(2, 3)
    p = Parameter(src, name="w")
    p.data -= 1  # training updates in place...
    np.testing.assert_array_equal(src, np.arange(6.0).reshape(2, 3))  # ...never the caller's array
    assert Parameter(np.arange(3)).dtype == np.float64  # integers become float
    assert Parameter(np.zeros(2, np.float32)).grad.dtype == np.float32
    view = p.data
    p.data = np.zeros((2, 3), dtype=np.float32)  # copied into the existing array
    assert view is p.data and p.dtype == np.float64 and not p.data.any()
    assert not p.has_grad
    p.grad = np.ones((2, 3))
    assert p.has_grad
    p.grad = None
    assert not p.has_grad and not p.grad.any()
    p.grad += 2.0  # augmented assignment goes through the setter
    assert p.has_grad and (p.grad == 2).all()
    assert repr(p) == "Parameter('w', shape=(2, 3), dtype=float64)"
    for bad in (lambda: setattr(p, "data", np.zeros(3)), lambda: p.accumulate_grad(np.ones(6))):
        with pytest.raises(ValueError, match=r"shape \(\d,\) does not match .*\(2, 3\)"):
            bad()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.Linear(2, 3),
        lambda: L.Conv2d(1, 2, 3),
        lambda: L.MaxPool2d(2),
        lambda: L.AvgPool2d(2),
        lambda: L.Flatten(),
        lambda: L.ReLU(),
        lambda: L.LeakyReLU(0.1),
        lambda: L.Sigmoid(),
        lambda: L.Tanh(),
        lambda: L.Dropout(0.5, rng=np.random.default_rng(0)),
    ],
)
def test_backward_before_forward_raises(make):
    layer = make()
    assert layer.cache is None
    with pytest.raises(
        RuntimeError, match=rf"{type(layer).__name__}.backward\(\) was called before"
    ):
        layer.backward(np.ones((1, 2)))


def test_sequential_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"Sequential.backward\(\) was called before forward"):
        Sequential(L.ReLU()).backward(np.ones(3))


def test_shape_mismatch_between_layers_names_the_layer():
    rng = np.random.default_rng(0)
    model = Sequential(L.Conv2d(1, 4, 3, rng=rng), L.ReLU(), L.Flatten(), L.Linear(64, 10, rng=rng))
    with pytest.raises(
        ValueError,
        match=r"layer 3 \(Linear\) cannot take the output of layer 2 \(Flatten\), of shape "
        r"\(2, 100\): Linear\(in_features=64.*expects input \(N, 64\), got shape \(2, 100\)",
    ):
        model(np.zeros((2, 1, 7, 7)))
    with pytest.raises(
        ValueError, match=r"layer 0 \(Conv2d\) cannot take the model input, of shape \(2, 3, 8, 8\)"
    ):
        model(np.zeros((2, 3, 8, 8)))
    out = model(np.zeros((2, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"backward of layer 3 \(Linear\).*shape \(2, 9\)"):
        model.backward(np.zeros((out.shape[0], 9)))


def test_constructor_errors():
    with pytest.raises(ValueError, match="layer 1 is a ndarray, not a Module"):
        Sequential(L.ReLU(), np.zeros(2))
    with pytest.raises(ValueError, match=r"pass the layers themselves: Sequential\(\*layers\)"):
        Sequential([L.ReLU()])
    relu = L.ReLU()
    with pytest.raises(ValueError, match="layer 2 .*same object as layer 0"):
        Sequential(relu, L.Tanh(), relu)
    with pytest.raises(ValueError, match="init must be one of"):
        L.Linear(2, 3, init="lecun")
    with pytest.raises(ValueError, match="in_features must be >= 1"):
        L.Linear(0, 3)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        L.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        L.MaxPool2d(0)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 2.*expects input \(N, 3, H, W\), got shape"):
        L.Conv2d(3, 2, 3)(np.zeros((1, 2, 5, 5)))
