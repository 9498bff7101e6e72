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

Where plain floats would raise a bare ``ZeroDivisionError`` or
``OverflowError``, or overflow silently to ``inf``, the engine raises a
``ValueError`` that names the operation: ``1 / Value(0)``, ``Value(0) ** -1``,
the backward of ``Value(0) ** 0.5`` (an infinite derivative),
``Value(1000).exp()``, ``Value(1e308) * 10`` and a gradient that overflows.
A wrong type (``Value("3")``, ``a ** Value(2)``) is an ``InputTypeError``,
both a ``ValueError`` and a ``TypeError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

from course_lib.numpy_nn._validate import InputTypeError

Number = int | float


def _finite(data: float, op: str) -> float:
    """``data`` if finite; otherwise a ValueError naming the operation ``op`` that overflowed.

    Python's float arithmetic overflows silently to inf for ``+`` and ``*``
    (``1e308 * 10``) and loudly for ``**`` and ``math.exp``: both become this one error.
    """
    if not math.isfinite(data):
        raise ValueError(f"{op} overflows: the result {data} is not a finite float")
    return data


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
            raise InputTypeError("Value(Value(...)) is not allowed: use the Value itself")
        if isinstance(data, bool) or not isinstance(data, numbers.Real):
            raise InputTypeError(f"Value needs a real number, got {data!r} ({type(data).__name__})")
        if not math.isfinite(data):
            raise ValueError(f"Value needs a finite number, got {data!r}")
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None  # a leaf has nothing to propagate to
        self._prev = tuple(_prev)
        self._op = _op
        self.label = label

    # ------------------------------------------------------------------ binary operations

    def __add__(self, other: Value | Number) -> Value:
        other = _wrap(other)
        data = _finite(self.data + other.data, f"{self.data} + {other.data}")
        out = Value(data, (self, other), "+")

        def _backward() -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _wrap(other)
        data = _finite(self.data * other.data, f"{self.data} * {other.data}")
        out = Value(data, (self, other), "*")

        def _backward() -> None:  # d(a b)/da = b, d(a b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, (Value, bool)) or not isinstance(exponent, numbers.Real):
            raise InputTypeError(
                f"Value ** exponent needs a plain number exponent, got {exponent!r} "
                f"({type(exponent).__name__}); for a Value exponent write "
                "(exponent * base.log()).exp()"
            )
        if not math.isfinite(exponent):
            raise ValueError(f"Value ** exponent needs a finite exponent, got {exponent!r}")
        k, a = float(exponent), self.data
        op = f"({a}) ** {k:g}"
        if a < 0 and not k.is_integer():
            raise ValueError(f"{op}: a negative base needs an integer exponent")
        if a == 0 and k < 0:
            raise ValueError(f"{op}: zero to a negative power is a division by zero")
        out = Value(_finite(_power(a, k, op), op), (self,), f"**{exponent:g}")

        def _backward() -> None:  # d(a^k)/da = k a^(k-1); a^0 = 1 is constant, even at a = 0
            if k == 0:
                return
            if a == 0 and k < 1:  # k a^(k-1) with a negative power of 0: infinite
                raise ValueError(
                    f"backward of {op}: the derivative {k:g} * 0 ** ({k - 1:g}) is infinite"
                )
            self.grad += _finite(k * _power(a, k - 1, op) * out.grad, f"backward of {op}")

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
        op = f"exp({self.data})"
        try:
            e = math.exp(self.data)
        except OverflowError:
            raise ValueError(
                f"{op} overflows: exp(a) is larger than the largest float for a > 709.78"
            ) from None
        out = Value(e, (self,), "exp")

        def _backward() -> None:  # d e^a/da = e^a, the output itself
            self.grad += _finite(out.data * out.grad, f"backward of {op}")

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log of a non-positive number: log({self.data}) is undefined")
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
        other = _wrap(other)
        _check_divisor(self.data, other.data)
        return self * other**-1

    # Python tries these when the left operand is a plain number: 2 * a, 1 - a, 1 / a.
    def __radd__(self, other: Number) -> Value:  # other + self
        return self + other

    def __rmul__(self, other: Number) -> Value:  # other * self
        return self * other

    def __rsub__(self, other: Number) -> Value:  # other - self
        return _wrap(other) + (-self)

    def __rtruediv__(self, other: Number) -> Value:  # other / self
        other = _wrap(other)
        _check_divisor(other.data, self.data)
        return other * self**-1

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
            for child in node._prev:  # a product of large local derivatives can overflow
                _finite(child.grad, f"backward of {node._op!r} (the gradient of its input)")

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        op = f", op={self._op!r}" if self._op else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g}{op})"


def _power(a: float, k: float, op: str) -> float:
    """``a ** k`` for a real result; Python's OverflowError becomes a ValueError naming ``op``."""
    try:
        return a**k
    except OverflowError:
        raise ValueError(f"{op} overflows: the result is larger than the largest float") from None


def _check_divisor(a: float, b: float) -> None:
    """Raise a ValueError for ``a / 0``, named as the division it is (not as ``0 ** -1``)."""
    if b == 0:
        raise ValueError(f"division by zero: {a} / {b}")


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
