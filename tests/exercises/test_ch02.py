"""Graded tests of the Chapter 2 exercises (course_lib/exercises/ch02.py).

Each test carries its points and exercise id. The references are independent
of the code under test: PyTorch's autograd and optimisers in float64 on the
CPU, and small hand-worked cases. Only NumPy, PyTorch and pytest (and the
course's ``Value`` engine, which the sigmoid exercise extends) are needed, so
the tests run in the grading environment. The tests between the HIDDEN TESTS
markers are left out of the student edition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.exercises import ch02
from course_lib.numpy_nn.autograd import Value

pytestmark = pytest.mark.ch02

JACOBIAN = "ch02-ex-jacobian-vjp"
SIGMOID = "ch02-ex-value-sigmoid"
LINEAR = "ch02-ex-linear-backward"
GRADCHECK = "ch02-ex-gradient-check"
FIT = "ch02-ex-fit-linear"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- references


def _ref_jacobian(f, x: torch.Tensor) -> torch.Tensor:
    j = torch.autograd.functional.jacobian(f, x)
    return j.reshape(-1, x.numel())


def _ref_linear_grads(dout, x, w):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(w.shape[1], dtype=torch.float64, requires_grad=True)
    (xt @ wt + bt).backward(torch.tensor(dout, dtype=torch.float64))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _ref_fit(x, y, w0, b0, lr, steps):
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((xt @ w + b - yt) ** 2)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy(), losses


def _sigmoid_torch(x: float) -> tuple[float, float]:
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(xt)
    s.backward()
    return s.item(), xt.grad.item()


def _quadratic_problem(seed: int):
    """A small least-squares loss with its exact gradients, for the gradient checker."""
    rng = _rng(seed)
    a = rng.normal(size=(5, 3))
    w = rng.normal(size=(3, 2))
    b = rng.normal(size=(2,))
    t = rng.normal(size=(5, 2))
    params = {"w": w, "b": b}

    def loss() -> float:
        return float(np.sum((a @ params["w"] + params["b"] - t) ** 2) / 2)

    r = a @ w + b - t
    grads = {"w": a.T @ r, "b": r.sum(axis=0)}
    return loss, params, grads


# --------------------------------------------------------------------------- Jacobian by VJPs


@pytest.mark.points(2)
@pytest.mark.exercise(JACOBIAN)
def test_jacobian_matches_autograd() -> None:
    a = torch.from_numpy(_rng(1).normal(size=(4, 3)))

    def f(x):
        return torch.tanh(a @ x) * x.sum()

    x = torch.from_numpy(_rng(2).normal(size=3))
    jac = ch02.jacobian_by_vjp(f, x)
    assert jac.shape == (4, 3)
    torch.testing.assert_close(jac, _ref_jacobian(f, x), rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(JACOBIAN)
def test_jacobian_of_a_linear_map_is_the_matrix() -> None:
    a = torch.from_numpy(_rng(3).normal(size=(2, 5)))
    x = torch.zeros(5, dtype=torch.float64)
    torch.testing.assert_close(ch02.jacobian_by_vjp(lambda v: a @ v, x), a)


@pytest.mark.points(1)
@pytest.mark.exercise(JACOBIAN)
def test_jacobian_of_a_scalar_is_one_row() -> None:
    x = torch.from_numpy(_rng(4).normal(size=6))
    jac = ch02.jacobian_by_vjp(lambda v: (v**2).sum(), x)
    assert jac.shape == (1, 6)
    torch.testing.assert_close(jac[0], 2 * x)


@pytest.mark.points(1)
@pytest.mark.exercise(JACOBIAN)
def test_jacobian_errors() -> None:
    with pytest.raises(ValueError):
        ch02.jacobian_by_vjp(lambda v: v, torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError):
        ch02.jacobian_by_vjp(lambda v: v, torch.arange(3))
    with pytest.raises(ValueError):
        ch02.jacobian_by_vjp(lambda v: torch.outer(v, v), torch.ones(3, dtype=torch.float64))


# --------------------------------------------------------------------------- sigmoid for Value


@pytest.mark.points(2)
@pytest.mark.exercise(SIGMOID)
@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.7, 4.0])
def test_sigmoid_value_and_grad(x: float) -> None:
    v = Value(x)
    s = ch02.value_sigmoid(v)
    s.backward()
    ref_s, ref_grad = _sigmoid_torch(x)
    assert math.isclose(s.data, ref_s, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(v.grad, ref_grad, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.points(1)
@pytest.mark.exercise(SIGMOID)
def test_sigmoid_records_its_graph() -> None:
    v = Value(0.3)
    s = ch02.value_sigmoid(v)
    assert isinstance(s, Value)
    assert s._op == "sigmoid"
    assert len(s._prev) == 1 and s._prev[0] is v
    assert v.grad == 0.0 and v.data == 0.3  # building the node changes nothing


@pytest.mark.points(2)
@pytest.mark.exercise(SIGMOID)
def test_sigmoid_inside_an_expression_with_a_reused_node() -> None:
    # a feeds three operations; both orders of the sum, so that the sigmoid's
    # backward runs first in one and last in the other.
    for sigmoid_last in (False, True):
        a, b = Value(0.8), Value(-1.3)
        at = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
        bt = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
        terms = [ch02.value_sigmoid(a * b) * a, ch02.value_sigmoid(a) ** 2]
        ref_terms = [torch.sigmoid(at * bt) * at, torch.sigmoid(at) ** 2]
        if sigmoid_last:
            terms, ref_terms = terms[::-1], ref_terms[::-1]
        out, ref = terms[0] + terms[1], ref_terms[0] + ref_terms[1]
        out.backward()
        ref.backward()
        assert math.isclose(out.data, ref.item(), rel_tol=1e-12)
        assert math.isclose(a.grad, at.grad.item(), rel_tol=1e-12)
        assert math.isclose(b.grad, bt.grad.item(), rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(SIGMOID)
def test_sigmoid_rejects_plain_numbers() -> None:
    with pytest.raises(TypeError):
        ch02.value_sigmoid(0.5)


# --------------------------------------------------------------------------- linear backward


@pytest.mark.points(3)
@pytest.mark.exercise(LINEAR)
def test_linear_backward_matches_autograd() -> None:
    rng = _rng(5)
    x, w, dout = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    dx, dw, db = ch02.linear_backward(dout, x, w)
    assert dx.shape == (6, 4) and dw.shape == (4, 3) and db.shape == (3,)
    for ours, ref in zip((dx, dw, db), _ref_linear_grads(dout, x, w), strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(LINEAR)
def test_linear_backward_hand_example() -> None:
    # One example, one output: out = x . w + b, so dx = dout * w, dw = dout * x, db = dout.
    x, w, dout = np.array([[1.0, 2.0]]), np.array([[3.0], [-1.0]]), np.array([[0.5]])
    dx, dw, db = ch02.linear_backward(dout, x, w)
    np.testing.assert_allclose(dx, [[1.5, -0.5]])
    np.testing.assert_allclose(dw, [[0.5], [1.0]])
    np.testing.assert_allclose(db, [0.5])


@pytest.mark.points(1)
@pytest.mark.exercise(LINEAR)
def test_linear_backward_errors() -> None:
    with pytest.raises(ValueError):
        ch02.linear_backward(np.ones((2, 3)), np.ones((2, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError):
        ch02.linear_backward(np.ones((2, 2)), np.ones((2, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError):
        ch02.linear_backward(np.ones(3), np.ones((1, 4)), np.ones((4, 3)))


# --------------------------------------------------------------------------- gradient check


@pytest.mark.points(2)
@pytest.mark.exercise(GRADCHECK)
def test_gradient_check_accepts_a_correct_gradient() -> None:
    loss, params, grads = _quadratic_problem(6)
    errors = ch02.gradient_check(loss, params, grads)
    assert list(errors) == ["w", "b"]
    assert all(isinstance(e, float) for e in errors.values())
    assert max(errors.values()) < 1e-7


@pytest.mark.points(2)
@pytest.mark.exercise(GRADCHECK)
def test_gradient_check_finds_a_wrong_gradient() -> None:
    loss, params, grads = _quadratic_problem(7)
    grads["b"] = -grads["b"]  # the sign error of seed 000's grad
    errors = ch02.gradient_check(loss, params, grads)
    assert errors["w"] < 1e-7
    assert math.isclose(errors["b"], 1.0, rel_tol=1e-6)  # opposite signs: |g - n| / (|g| + |n|) = 1


@pytest.mark.points(1)
@pytest.mark.exercise(GRADCHECK)
def test_gradient_check_restores_the_parameters() -> None:
    loss, params, grads = _quadratic_problem(8)
    before = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}
    ch02.gradient_check(loss, params, grads, h=0.1)
    for k in params:
        assert id(params[k]) == ids[k]
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.points(1)
@pytest.mark.exercise(GRADCHECK)
def test_gradient_check_errors() -> None:
    loss, params, grads = _quadratic_problem(9)
    with pytest.raises(ValueError):
        ch02.gradient_check(loss, params, {"w": grads["w"]})
    with pytest.raises(ValueError):
        ch02.gradient_check(loss, params, {"w": grads["w"], "b": np.zeros(3)})
    with pytest.raises(ValueError):
        ch02.gradient_check(loss, params, grads, h=0.0)


# --------------------------------------------------------------------------- fit a linear model


@pytest.mark.points(3)
@pytest.mark.exercise(FIT)
def test_fit_matches_torch_sgd() -> None:
    rng = _rng(10)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    w0, b0 = rng.normal(size=(3, 2)), rng.normal(size=(2,))
    w, b, losses = ch02.fit_linear_mse(x, y, w0, b0, lr=0.1, steps=15)
    w_ref, b_ref, losses_ref = _ref_fit(x, y, w0, b0, 0.1, 15)
    np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-10)


@pytest.mark.points(1)
@pytest.mark.exercise(FIT)
def test_fit_recovers_a_noiseless_linear_map() -> None:
    rng = _rng(11)
    x = rng.normal(size=(50, 2))
    w_true, b_true = np.array([[2.0], [-1.0]]), np.array([0.5])
    w, b, losses = ch02.fit_linear_mse(
        x, x @ w_true + b_true, np.zeros((2, 1)), np.zeros(1), lr=0.2, steps=300
    )
    np.testing.assert_allclose(w, w_true, atol=1e-6)
    np.testing.assert_allclose(b, b_true, atol=1e-6)
    assert losses[-1] < losses[0]


@pytest.mark.points(1)
@pytest.mark.exercise(FIT)
def test_fit_does_not_mutate_its_arguments() -> None:
    rng = _rng(12)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    w0, b0 = rng.normal(size=(3, 1)), rng.normal(size=(1,))
    copies = [a.copy() for a in (x, y, w0, b0)]
    w, b, losses = ch02.fit_linear_mse(x, y, w0, b0, lr=0.05, steps=3)
    for a, c in zip((x, y, w0, b0), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    assert w is not w0 and b is not b0 and len(losses) == 3


@pytest.mark.points(1)
@pytest.mark.exercise(FIT)
def test_fit_errors() -> None:
    x, y = np.ones((4, 3)), np.ones((4, 2))
    with pytest.raises(ValueError):
        ch02.fit_linear_mse(x, y, np.ones((2, 2)), np.ones(2), lr=0.1, steps=1)
    with pytest.raises(ValueError):
        ch02.fit_linear_mse(x, y, np.ones((3, 2)), np.ones(3), lr=0.1, steps=1)
    with pytest.raises(ValueError):
        ch02.fit_linear_mse(x, y, np.ones((3, 2)), np.ones(2), lr=-0.1, steps=1)


### BEGIN HIDDEN TESTS


@pytest.mark.points(1)
@pytest.mark.exercise(JACOBIAN)
def test_hidden_jacobian_wide_and_tall_float32() -> None:
    rng = _rng(201)
    for m, n in ((1, 7), (7, 1), (3, 3)):
        a = torch.from_numpy(rng.normal(size=(m, n)).astype(np.float32))

        def f(x, a=a):
            return torch.sin(a @ x) + (a @ x) ** 2

        x = torch.from_numpy(rng.normal(size=n).astype(np.float32))
        jac = ch02.jacobian_by_vjp(f, x)
        assert jac.shape == (m, n) and jac.dtype == torch.float32
        torch.testing.assert_close(jac, _ref_jacobian(f, x), rtol=1e-5, atol=1e-6)


@pytest.mark.points(1)
@pytest.mark.exercise(JACOBIAN)
def test_hidden_jacobian_uses_one_vjp_per_output(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"vjp": 0, "vjp_fn": 0}
    real_vjp = torch.func.vjp

    def counting_vjp(func, *primals, **kwargs):
        calls["vjp"] += 1
        out, fn = real_vjp(func, *primals, **kwargs)

        def counting_fn(*cotangents, **kw):
            calls["vjp_fn"] += 1
            return fn(*cotangents, **kw)

        return out, counting_fn

    monkeypatch.setattr(torch.func, "vjp", counting_vjp)
    a = torch.from_numpy(_rng(202).normal(size=(5, 4)))
    x = torch.from_numpy(_rng(203).normal(size=4))
    jac = ch02.jacobian_by_vjp(lambda v: torch.exp(a @ v), x)
    torch.testing.assert_close(jac, torch.exp(a @ x)[:, None] * a)
    assert calls == {"vjp": 1, "vjp_fn": 5}


@pytest.mark.points(1)
@pytest.mark.exercise(SIGMOID)
def test_hidden_sigmoid_extreme_inputs() -> None:
    for x in (-1000.0, -40.0, 40.0, 1000.0):
        v = Value(x)
        s = ch02.value_sigmoid(v)
        s.backward()
        ref_s, ref_grad = _sigmoid_torch(x)
        assert math.isfinite(s.data) and 0.0 <= s.data <= 1.0
        assert math.isclose(s.data, ref_s, rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(v.grad, ref_grad, rel_tol=1e-9, abs_tol=1e-300)


@pytest.mark.points(1)
@pytest.mark.exercise(SIGMOID)
def test_hidden_sigmoid_accumulates_over_a_chain() -> None:
    # A node used three times: the three contributions must add up.
    x = Value(0.25)
    out = ch02.value_sigmoid(x) + ch02.value_sigmoid(x) * x + ch02.value_sigmoid(x * x)
    out.backward()
    xt = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)
    ref = torch.sigmoid(xt) + torch.sigmoid(xt) * xt + torch.sigmoid(xt * xt)
    ref.backward()
    assert math.isclose(x.grad, xt.grad.item(), rel_tol=1e-12)


@pytest.mark.points(1)
@pytest.mark.exercise(LINEAR)
def test_hidden_linear_backward_dtypes_and_single_row() -> None:
    rng = _rng(204)
    x, w, dout = rng.normal(size=(1, 5)), rng.normal(size=(5, 1)), rng.normal(size=(1, 1))
    for ours, ref in zip(
        ch02.linear_backward(dout, x, w), _ref_linear_grads(dout, x, w), strict=True
    ):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)
    x32, w32, d32 = (rng.normal(size=s).astype(np.float32) for s in ((7, 3), (3, 4), (7, 4)))
    grads = ch02.linear_backward(d32, x32, w32)
    assert all(g.dtype == np.float32 for g in grads)
    for ours, ref in zip(grads, _ref_linear_grads(d32, x32, w32), strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.points(1)
@pytest.mark.exercise(LINEAR)
def test_hidden_linear_backward_bias_sums_the_batch() -> None:
    dout = np.arange(12.0).reshape(4, 3)
    _, _, db = ch02.linear_backward(dout, np.ones((4, 2)), np.ones((2, 3)))
    np.testing.assert_allclose(db, [18.0, 22.0, 26.0])


@pytest.mark.points(1)
@pytest.mark.exercise(GRADCHECK)
def test_hidden_gradient_check_calls_loss_twice_per_entry() -> None:
    loss, params, grads = _quadratic_problem(205)
    calls = {"n": 0}

    def counted() -> float:
        calls["n"] += 1
        return loss()

    ch02.gradient_check(counted, params, grads)
    assert calls["n"] == 2 * sum(p.size for p in params.values())


@pytest.mark.points(1)
@pytest.mark.exercise(GRADCHECK)
def test_hidden_gradient_check_is_central_and_scale_free() -> None:
    # A cubic: the one-sided difference is off by ~3h x, the central one by h^2 only.
    x = np.array([1.0, -2.0, 0.5])
    params = {"x": x}
    errors = ch02.gradient_check(
        lambda: float(np.sum(params["x"] ** 3)), params, {"x": 3 * x**2}, h=1e-3
    )
    assert errors["x"] < 2e-6
    # Scaling the loss by 1e6 scales both gradients: the relative error stays small.
    errors = ch02.gradient_check(
        lambda: 1e6 * float(np.sum(params["x"] ** 3)), params, {"x": 3e6 * x**2}, h=1e-5
    )
    assert errors["x"] < 1e-7
    # A zero gradient compared with zero: no division by zero.
    z = {"z": np.zeros(2)}
    assert ch02.gradient_check(lambda: 1.0, z, {"z": np.zeros(2)}) == {"z": 0.0}


@pytest.mark.points(1)
@pytest.mark.exercise(FIT)
def test_hidden_fit_zero_steps_and_several_outputs() -> None:
    rng = _rng(206)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    w0, b0 = rng.normal(size=(4, 3)), rng.normal(size=(3,))
    w, b, losses = ch02.fit_linear_mse(x, y, w0, b0, lr=0.3, steps=0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(b, b0)
    assert losses == []
    w, b, losses = ch02.fit_linear_mse(x, y, w0, b0, lr=0.3, steps=40)
    w_ref, b_ref, losses_ref = _ref_fit(x, y, w0, b0, 0.3, 40)
    np.testing.assert_allclose(w, w_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-9)


### END HIDDEN TESTS
