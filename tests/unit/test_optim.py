"""SGD, RMSprop and Adam: the same trajectories as torch.optim, with every option."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.numpy_nn import layers as L
from course_lib.numpy_nn.module import Parameter, Sequential
from course_lib.numpy_nn.optim import SGD, Adam, Optimizer, RMSprop

pytestmark = pytest.mark.ch02
TORCH = {SGD: torch.optim.SGD, RMSprop: torch.optim.RMSprop, Adam: torch.optim.Adam}
STEPS = 10

lr = st.sampled_from([0.003, 0.05, 0.3])
weight_decay = st.sampled_from([0.0, 0.01, 0.5])


@st.composite
def sgd_options(draw):
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
    nesterov = momentum > 0 and draw(st.booleans())  # Nesterov needs momentum, no dampening
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.3]))
    return SGD, {
        "lr": draw(lr),
        "momentum": momentum,
        "dampening": dampening,
        "weight_decay": draw(weight_decay),
        "nesterov": nesterov,
    }


rmsprop_options = st.fixed_dictionaries(
    {
        "lr": lr,
        "alpha": st.sampled_from([0.99, 0.9, 0.5]),
        "eps": st.sampled_from([1e-8, 1e-3]),
        "weight_decay": weight_decay,
        "momentum": st.sampled_from([0.0, 0.5]),
        "centered": st.booleans(),
    }
).map(lambda kw: (RMSprop, kw))

adam_options = st.fixed_dictionaries(
    {
        "lr": lr,
        "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99), (0.3, 0.0)]),
        "eps": st.sampled_from([1e-8, 1e-2]),
        "weight_decay": weight_decay,
        "amsgrad": st.booleans(),
    }
).map(lambda kw: (Adam, kw))

# defaults only: the constructors must agree on them as well
default_options = st.sampled_from([(SGD, {}), (RMSprop, {}), (Adam, {})])


def grad_of_loss(x: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Gradient of the non-quadratic loss sum(c x^2 / 2 + d x + x^4 / 40)."""
    return c * x + d + 0.1 * x**3


@settings(max_examples=60)
@given(
    case=sgd_options() | rmsprop_options | adam_options | default_options,
    seed=st.integers(0, 2**16),
)
def test_trajectory_matches_torch(case, seed):
    cls, kwargs = case
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,)]
    x0 = [rng.standard_normal(s) for s in shapes]
    coef = [(rng.uniform(0.1, 3, s), rng.standard_normal(s)) for s in shapes]

    ours = [Parameter(x) for x in x0]
    opt = cls(ours, **kwargs)
    theirs = [torch.tensor(x, requires_grad=True) for x in x0]
    t_opt = TORCH[cls](theirs, **kwargs)
    for _ in range(STEPS):
        opt.zero_grad()
        t_opt.zero_grad()
        for p, tp, (c, d) in zip(ours, theirs, coef, strict=True):
            p.accumulate_grad(grad_of_loss(p.data, c, d))
            # the very same gradient for torch: only the update rules are compared
            tp.grad = torch.tensor(grad_of_loss(tp.detach().numpy(), c, d))
        opt.step()
        t_opt.step()
        for p, tp in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-11, atol=1e-13)
    for p, tp in zip(ours, theirs, strict=True):  # the state, under torch's names
        for key, value in t_opt.state[tp].items():
            np.testing.assert_allclose(opt.state[p][key], value.numpy(), rtol=1e-11, atol=1e-13)


def _mlp(rng):
    return Sequential(L.Linear(4, 6, rng=rng), L.Tanh(), L.Linear(6, 2, rng=rng))


def _torch_mlp(model):
    t = torch.nn.Sequential(
        torch.nn.Linear(4, 6, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 2, dtype=torch.float64),
    )
    for (name, p), (_, tp) in zip(model.named_parameters(), t.named_parameters(), strict=True):
        tp.data = torch.tensor(p.data.T if name.endswith("weight") else p.data)
    return t


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
        (RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
        (Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 1e-2}),
    ],
)
def test_training_an_mlp_matches_torch(cls, kwargs):
    # Real backprop on both sides: our backward passes + optimiser vs autograd + torch.optim.
    rng = np.random.default_rng(0)
    model = _mlp(rng)
    t_model = _torch_mlp(model)
    opt, t_opt = cls(model.parameters(), **kwargs), TORCH[cls](t_model.parameters(), **kwargs)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    losses = []
    for _ in range(20):
        opt.zero_grad()
        out = model(x)
        losses.append(np.mean((out - y) ** 2))
        model.backward(2 * (out - y) / out.size)  # d mean((out - y)^2) / d out
        opt.step()
        t_opt.zero_grad()
        torch.mean((t_model(torch.tensor(x)) - torch.tensor(y)) ** 2).backward()
        t_opt.step()
    assert losses[-1] < 0.9 * losses[0]  # it trains
    for (name, p), tp in zip(model.named_parameters(), t_model.parameters(), strict=True):
        want = tp.detach().numpy()
        np.testing.assert_allclose(p.data, want.T if name.endswith("weight") else want, rtol=1e-9)


@pytest.mark.parametrize("cls", [SGD, RMSprop, Adam])
def test_float32_stays_float32_and_updates_in_place(cls):
    p = Parameter(np.ones((2, 3), dtype=np.float32))
    data = p.data
    opt = cls([p], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        p.grad = np.full((2, 3), 0.5)  # a float64 gradient is cast to the parameter's dtype
        opt.step()
    assert p.data is data and p.dtype == np.float32 and (p.data < 1).all()
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("cls", [SGD, RMSprop, Adam])
def test_step_without_gradient_raises(cls):
    a, b = Parameter(np.zeros(2), name="a"), Parameter(np.zeros(3), name="b")
    opt = cls([a, b])
    with pytest.raises(RuntimeError, match=r"2 of 2 parameters received no gradient"):
        opt.step()  # straight after construction
    a.accumulate_grad(np.ones(2))
    with pytest.raises(RuntimeError, match=r"1 of 2 .*params\[1\] Parameter\('b', shape=\(3,\)"):
        opt.step()  # b got none: e.g. a branch of the model left out of backward
    b.grad = np.ones(3)
    opt.step()
    opt.step()  # stale gradients may be reused until zero_grad(), as in torch
    opt.zero_grad()
    with pytest.raises(RuntimeError, match=r"since the last zero_grad\(\).*Run the backward pass"):
        opt.step()


def test_step_before_model_backward_raises():
    model = _mlp(np.random.default_rng(0))
    opt = Adam(model.parameters())
    model(np.ones((2, 4)))  # forward only
    with pytest.raises(RuntimeError, match="received no gradient"):
        opt.step()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ("empty", "empty parameter list"),
        ("array", r"params\[0\] is a ndarray, not a Parameter"),
        ("p_twice", r"params\[1\] is the same Parameter as params\[0\]"),
        ("single", r"iterable of Parameters, e.g. \[p\]"),
        ("module", r"e.g. model.parameters\(\)"),
    ],
)
def test_bad_parameter_lists(params, match):
    p = Parameter(np.zeros(2))
    cases = {"empty": [], "array": [np.zeros(3)], "p_twice": [p, p], "single": p}
    params = cases.get(params) if params != "module" else L.Linear(2, 2)
    with pytest.raises(ValueError, match=match):
        SGD(params, lr=0.1)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (SGD, {"lr": -0.1}, "Invalid learning rate: -0.1"),
        (SGD, {"momentum": -0.5}, "Invalid momentum value"),
        (SGD, {"weight_decay": -1.0}, "Invalid weight_decay value"),
        (SGD, {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "Nesterov momentum"),
        (RMSprop, {"lr": -1.0}, "Invalid learning rate"),
        (RMSprop, {"alpha": -0.1}, "Invalid alpha value"),
        (RMSprop, {"eps": -1e-8}, "Invalid epsilon value"),
        (RMSprop, {"momentum": -0.1}, "Invalid momentum value"),
        (Adam, {"lr": -1e-3}, "Invalid learning rate"),
        (Adam, {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        (Adam, {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        (Adam, {"eps": -1.0}, "Invalid epsilon value"),
        (Adam, {"weight_decay": -0.1}, "Invalid weight_decay value"),
    ],
)
def test_bad_hyperparameters_raise_like_torch(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([Parameter(np.zeros(2))], **kwargs)
    with pytest.raises(ValueError, match=match):  # torch rejects exactly the same settings
        TORCH[cls]([torch.zeros(2, requires_grad=True)], **kwargs)


def test_defaults_match_torch():
    import inspect

    for ours, theirs in TORCH.items():
        ours_sig = inspect.signature(ours).parameters
        theirs_sig = inspect.signature(theirs).parameters
        for name, param in ours_sig.items():
            if name != "params":
                assert param.default == theirs_sig[name].default, (ours.__name__, name)
    assert issubclass(SGD, Optimizer) and "Adam(1 parameters" in repr(Adam([Parameter([1.0])]))
