"""The scalar Value engine against torch.autograd (float64) on random expression trees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from course_lib.numpy_nn.autograd import Value, topological_order
from course_lib.numpy_nn.graph_viz import draw_graph, graph_layers

pytestmark = pytest.mark.ch02

# Each op takes operands a, b (nodes) and a constant c; the same code runs on Value and on
# float64 torch tensors. Denominators and logarithms are kept positive by construction.
OPS = {
    "add": lambda a, b, c: a + b,
    "sub": lambda a, b, c: a - b,
    "mul": lambda a, b, c: a * b,
    "div": lambda a, b, c: a / (b * b + 0.5),
    "add_c": lambda a, b, c: a + c,
    "c_add": lambda a, b, c: c + a,
    "c_sub": lambda a, b, c: c - a,
    "sub_c": lambda a, b, c: a - c,
    "c_mul": lambda a, b, c: c * a,
    "mul_c": lambda a, b, c: a * c,
    "div_c": lambda a, b, c: a / (abs(c) + 0.5),
    "c_div": lambda a, b, c: c / (a * a + 0.5),
    "pow_int": lambda a, b, c: a ** int(abs(c) * 10 % 4),  # exponent 0, 1, 2 or 3
    "pow_real": lambda a, b, c: (a * a + 0.5) ** (c / 2),
    "neg": lambda a, b, c: -a,
    "relu": lambda a, b, c: a.relu(),
    "tanh": lambda a, b, c: a.tanh(),
    "exp": lambda a, b, c: a.exp(),
    "log": lambda a, b, c: (a * a + 0.1).log(),
}

number = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def programs(draw):
    """Leaf values and a list of (op, i, j, c): node k applies op to nodes i, j < k.

    Operands are drawn from all earlier nodes, so leaves and intermediate results
    are routinely used several times (the case the gradient must *accumulate*).
    """
    leaves = draw(st.lists(number, min_size=1, max_size=4))
    steps = []
    for k in range(draw(st.integers(1, 12))):
        n = len(leaves) + k
        steps.append(
            (
                draw(st.sampled_from(sorted(OPS))),
                draw(st.integers(0, n - 1)),
                draw(st.integers(0, n - 1)),
                draw(number),
            )
        )
    return leaves, steps


def run(program, leaf_fn):
    """Evaluate a program on leaves built by ``leaf_fn``; returns (leaves, output)."""
    leaves_data, steps = program
    leaves = [leaf_fn(v) for v in leaves_data]
    nodes = list(leaves)
    for op, i, j, c in steps:
        if op == "exp":  # exp of a big number overflows floats; keep the test in range
            x = nodes[i].data if isinstance(nodes[i], Value) else nodes[i].item()
            assume(abs(x) < 30)
        nodes.append(OPS[op](nodes[i], nodes[j], c))
    return leaves, nodes[-1]


def _close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-10, abs_tol=1e-10)


@given(programs())
def test_random_expressions_match_torch(program):
    leaves, out = run(program, Value)
    out_value = out.data
    assume(math.isfinite(out_value) and abs(out_value) < 1e12)
    out.backward()
    t_leaves, t_out = run(
        program, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)
    )
    if t_out.requires_grad:  # a constant output (e.g. x**0) has no graph in torch
        t_out.backward()
    assert _close(out_value, t_out.item())
    for leaf, t_leaf in zip(leaves, t_leaves, strict=True):
        want = 0.0 if t_leaf.grad is None else t_leaf.grad.item()
        assume(math.isfinite(want) and abs(want) < 1e12)
        assert _close(leaf.grad, want), (leaf, want)


def test_node_reused_several_times_accumulates():
    def build(a, b):
        c = a * b  # c feeds four operations below
        d = c + c * c - 2 * c + (c / (b * b + 1)).tanh()
        e = (d * a).relu() + (c.exp() + d).log()
        return e + a * a * a - 1 / (a * a + 1)

    a, b = Value(0.7), Value(-1.3)
    out = build(a, b)
    out.backward()
    at, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, -1.3))
    out_t = build(at, bt)
    out_t.backward()
    assert _close(out.data, out_t.item())
    assert _close(a.grad, at.grad.item()) and _close(b.grad, bt.grad.item())


def test_micrograd_readme_example():
    # The example of micrograd's README, computed in torch instead of hard-coded.
    def build(a, b):
        c = a + b
        d = a * b + b**3
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
        e = c - d
        f = e**2
        g = f / 2.0
        return g + 10.0 / f

    a, b = Value(-4.0), Value(2.0)
    g = build(a, b)
    g.backward()
    at, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-4.0, 2.0))
    gt = build(at, bt)
    gt.backward()
    assert _close(g.data, gt.item()) and round(g.data, 4) == 24.7041
    assert _close(a.grad, at.grad.item()) and _close(b.grad, bt.grad.item())


def test_docstring_example_and_graph_attributes():
    a, b = Value(-4.0), Value(2.0)
    c = a * b + b**3
    c.backward()
    assert (a.grad, b.grad) == (2.0, 8.0)
    assert c._op == "+" and len(c._prev) == 2
    ab, b3 = c._prev
    assert ab._op == "*" and ab._prev == (a, b)
    assert b3._op == "**3" and b3._prev == (b,)
    assert a._op == "" and a._prev == ()
    assert repr(Value(1.5, label="w")) == "Value(w: data=1.5, grad=0)"
    assert "op='+'" in repr(c)


def test_numbers_on_either_side():
    a = Value(3.0)
    for expr, value, grad in [
        (lambda: 2 * a, 6.0, 2.0),
        (lambda: a * 2, 6.0, 2.0),
        (lambda: 1 + a, 4.0, 1.0),
        (lambda: 1 - a, -2.0, -1.0),
        (lambda: a - 1, 2.0, 1.0),
        (lambda: 1 / a, 1 / 3, -1 / 9),
        (lambda: a / 2, 1.5, 0.5),
        (lambda: -a, -3.0, -1.0),
    ]:
        a.grad = 0.0
        out = expr()
        out.backward()
        assert isinstance(out, Value)
        assert math.isclose(out.data, value) and math.isclose(a.grad, grad)


def test_backward_accumulates_across_calls():
    a = Value(2.0)
    y = a * a
    y.backward()
    y.backward()  # gradients add up, as in micrograd and torch (with retain_graph)
    assert a.grad == 8.0


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    order = topological_order(y)
    assert order[0] is x and order[-1] is y


def test_topological_order_puts_inputs_first_once():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c + b
    order = topological_order(e)
    assert len(order) == len({id(n) for n in order})
    index = {id(n): i for i, n in enumerate(order)}
    for node in order:
        assert all(index[id(p)] < index[id(node)] for p in node._prev)
    assert {id(n) for n in order} >= {id(a), id(b), id(c), id(d), id(e)}


def test_relu_and_pow_at_zero_match_torch():
    for fn in (lambda v: v.relu(), lambda v: v**0, lambda v: v**2, lambda v: (v - v).relu()):
        x = Value(0.0)
        y = fn(x)
        y.backward()
        xt = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        yt = fn(xt)
        yt.backward()
        assert x.grad == xt.grad.item() and y.data == yt.item()


def test_errors():
    a = Value(2.0)
    with pytest.raises(TypeError, match="plain number exponent"):
        a ** Value(2.0)
    with pytest.raises(ValueError, match="log of a non-positive number"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="negative base needs an integer exponent"):
        Value(-2.0) ** 0.5
    with pytest.raises(TypeError, match="real number"):
        Value("3")
    with pytest.raises(TypeError):
        Value(np.zeros(2))


def test_draw_graph():
    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    h = (a * b + b**3).tanh()
    h.backward()
    fig = draw_graph(h, title="h")
    assert isinstance(fig, Figure)
    nodes = topological_order(h)
    ax = fig.axes[0]
    n_ops = sum(1 for n in nodes if n._prev)
    assert len(ax.patches) == len(nodes) + n_ops  # a box per value, a circle per operation
    texts = [t.get_text() for t in ax.texts]
    assert "tanh" in texts and "**3" in texts and any(t.startswith("a\n") for t in texts)
    depth = graph_layers(h)
    for n in nodes:  # every edge goes left to right
        assert all(depth[id(p)] < depth[id(n)] for p in n._prev)
    with pytest.raises(ValueError, match="more than max_nodes=3"):
        draw_graph(h, max_nodes=3)
