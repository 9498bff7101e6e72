"""A scalar reverse-mode autograd engine, in the style of Karpathy's micrograd.

Every arithmetic operation on :class:`Value` objects records its inputs
(``_prev``) and its name (``_op``), so the expression builds a computational
graph as it is evaluated. Each operation also leaves behind a small closure,
``_backward``, that applies the chain rule *locally*: given the gradient of the
final output with respect to the operation's output (``out.grad``), it adds the
contribution to the gradients of the operation's inputs,

    input.grad += (d out / d input) * out.grad.

``backward()`` orders the graph topologically and calls those closures from the
output back to the leaves, so each node's gradient is complete before it is
propagated further. Gradients are *accumulated* (``+=``): a value used several
times receives one contribution per use, which is the multivariable chain rule.

>>> a, b = Value(-4.0), Value(2.0)
>>> c = a * b + b**3          # -8 + 8 = 0
>>> c.backward()
>>> a.grad, b.grad            # dc/da = b, dc/db = a + 3 b^2
(2.0, 8.0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

Number = int | float


class Value:
    """A scalar that remembers how it was computed, and its gradient.

    Attributes:
        data: the number itself (a float).
        grad: d(output)/d(this value), filled in by ``output.backward()``.
        label: an optional name, shown by :func:`course_lib.numpy_nn.graph_viz.draw_graph`.
        _prev: the Values this one was computed from (empty for a leaf).
        _op: the operation that produced it (``""`` for a leaf), e.g. ``"*"``.
    """

    def __init__(
        self, data: Number, _prev: tuple[Value, ...] = (), _op: str = "", label: str = ""
    ) -> None:
        if isinstance(data, Value):
            raise TypeError("Value(Value(...)) is not allowed: use the Value itself")
        if isinstance(data, bool) or not isinstance(data, numbers.Real):
            raise TypeError(f"Value needs a real number, got {data!r} ({type(data).__name__})")
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None  # a leaf has nothing to propagate to
        self._prev = tuple(_prev)
        self._op = _op
        self.label = label

    # ------------------------------------------------------------------ binary operations

    def __add__(self, other: Value | Number) -> Value:
        other = _wrap(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _wrap(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(a b)/da = b, d(a b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, Value) or not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"Value ** exponent needs a plain number exponent, got {type(exponent).__name__}; "
                "for a Value exponent write (exponent * base.log()).exp()"
            )
        k = float(exponent)
        if self.data < 0 and not k.is_integer():
            raise ValueError(f"({self.data}) ** {k}: a negative base needs an integer exponent")
        out = Value(self.data**k, (self,), f"**{exponent:g}")

        def _backward() -> None:  # d(a^k)/da = k a^(k-1); a^0 = 1 is constant, even at a = 0
            if k != 0:
                self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ unary operations

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward() -> None:  # 1 where a > 0, else 0 (0 at the kink, like PyTorch)
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:  # d tanh(a)/da = 1 - tanh(a)^2, from the output
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:  # d e^a/da = e^a, the output itself
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log of a non-positive number: {self.data}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:  # d log(a)/da = 1/a
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ derived operations
    # These reuse the primitives above, so they need no backward of their own.

    def __neg__(self) -> Value:  # -a
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:  # a - b
        return self + (-_wrap(other))

    def __truediv__(self, other: Value | Number) -> Value:  # a / b = a * b^-1
        return self * _wrap(other) ** -1

    # Python tries these when the left operand is a plain number: 2 * a, 1 - a, 1 / a.
    def __radd__(self, other: Number) -> Value:  # other + self
        return self + other

    def __rmul__(self, other: Number) -> Value:  # other * self
        return self * other

    def __rsub__(self, other: Number) -> Value:  # other - self
        return _wrap(other) + (-self)

    def __rtruediv__(self, other: Number) -> Value:  # other / self
        return _wrap(other) * self**-1

    # ------------------------------------------------------------------ backpropagation

    def backward(self) -> None:
        """Fill in ``.grad`` of every node this value depends on: d(self)/d(node).

        Gradients accumulate: calling it twice, or on two outputs that share
        nodes, adds up. Reset ``.grad`` to 0 (or build a fresh expression) first.
        """
        topo = topological_order(self)
        self.grad = 1.0  # d self / d self
        for node in reversed(topo):  # outputs before inputs
            node._backward()

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        op = f", op={self._op!r}" if self._op else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g}{op})"


def _wrap(x: Value | Number) -> Value:
    """A Value as is; a plain number as a new leaf (a constant: its gradient is never used)."""
    return x if isinstance(x, Value) else Value(x)


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each once, inputs before the nodes computed from them.

    An iterative depth-first search (post-order), so a long chain of operations
    does not hit Python's recursion limit.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)  # all of its inputs are already in `order`
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node._prev) if id(child) not in visited)
    return order
