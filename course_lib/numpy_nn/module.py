"""``Parameter``, ``Module`` and ``Sequential``: the torch.nn-like skeleton of the NumPy layers.

A :class:`Module` computes ``out = forward(x)``, saving what its backward
needs, and ``dx = backward(dout)``, which also *adds* the gradients of the loss
with respect to its parameters into their ``.grad`` (as ``loss.backward()``
does in PyTorch). Training is then the familiar loop::

    opt.zero_grad()
    out = model(x)
    loss, dout = mse_loss(out, y)
    model.backward(dout)
    opt.step()

**Gradient bookkeeping.** ``Parameter.grad`` is always an array (zeros at
first), so "no gradient yet" cannot be read from it. Each parameter therefore
keeps a flag, :attr:`Parameter.has_grad`: set when a gradient arrives
(``accumulate_grad``, which every layer's backward uses, or assigning
``p.grad = ...`` / ``p.grad += ...``), cleared by ``zero_grad()``. The
optimisers refuse to ``step()`` while a parameter's flag is unset: that is
almost always a forgotten ``backward()`` (or a ``zero_grad()`` in the wrong
place), a bug that otherwise trains silently on zeros or on stale gradients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from course_lib.numpy_nn._validate import as_array, float_dtype


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Args:
        data: initial value, any shape; copied (the caller's array is never
            updated by training). Integer data becomes float64.
        name: optional, shown in error messages and ``repr``.

    ``.data`` and ``.grad`` keep the shape and dtype fixed at construction:
    assigning to either copies the new values in (with a ``ValueError`` if the
    shape differs), so references to them stay valid.
    """

    def __init__(self, data: Any, name: str | None = None) -> None:
        arr = as_array(data, f"Parameter {name!r} data" if name else "Parameter data")
        self._data = np.array(arr, dtype=float_dtype(arr), copy=True)
        self._grad = np.zeros_like(self._data)
        self._has_grad = False
        self.name = name

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data[...] = self._checked(value, "data")

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:  # like torch's p.grad = None
            self.zero_grad()
            return
        self._grad = np.array(self._checked(value, "grad"), dtype=self.dtype, copy=True)
        self._has_grad = True

    @property
    def has_grad(self) -> bool:
        """True once a gradient has arrived since construction or the last ``zero_grad()``."""
        return self._has_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def accumulate_grad(self, g: np.ndarray) -> None:
        """``grad += g`` (cast to the parameter's dtype) and mark the gradient as received."""
        self._grad += self._checked(g, "gradient")
        self._has_grad = True

    def zero_grad(self) -> None:
        """Reset ``grad`` to zeros in place and clear :attr:`has_grad`."""
        self._grad.fill(0)
        self._has_grad = False

    def _checked(self, value: Any, what: str) -> np.ndarray:
        """``value`` as real numbers of the parameter's shape, cast to its dtype.

        NaN and inf are let through: a diverging run is the optimiser's to
        report, and the next forward pass refuses the parameter anyway.
        """
        value = as_array(value, f"{what} for {self!r}")
        if value.shape != self.shape:
            raise ValueError(
                f"{what} of shape {value.shape} does not match {self!r} (shape {self.shape})"
            )
        return value.astype(self.dtype, copy=False)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"Parameter({name}shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of the NumPy layers and models.

    Subclasses implement ``forward(x) -> out`` and ``backward(dout) -> dx``
    and keep their parameters and sub-modules as attributes (lists and tuples
    of them work too); ``parameters()`` finds them in definition order.
    """

    training: bool = True  # also the default for subclasses that skip __init__

    def __init__(self) -> None:
        self.training = True

    # --------------------------------------------------------------- the pass itself

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _require_cache(self) -> Any:
        """``self.cache`` from the last forward pass, or a clear error if there was none."""
        cache = getattr(self, "cache", None)
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): run a "
                "forward pass first, it saves what the backward pass needs"
            )
        return cache

    # --------------------------------------------------------------- the tree of modules

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules, in attribute definition order; list items are ``name.i``."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self) -> list[Module]:
        return [m for _, m in self.named_children()]

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Parameter):
                        yield f"{name}.{i}", item

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` for this module and its sub-modules, each parameter once.

        Names follow ``torch.nn`` (``"0.weight"`` in a Sequential), so a state
        can be matched with a torch model's ``named_parameters()``.
        """
        out: list[tuple[str, Parameter]] = []
        seen: set[int] = set()

        def visit(module: Module, prefix: str) -> None:
            for name, p in module._own_parameters():
                if id(p) not in seen:  # a shared parameter is listed (and updated) once
                    seen.add(id(p))
                    out.append((prefix + name, p))
            for name, child in module.named_children():
                visit(child, f"{prefix}{name}.")

        visit(self, "")
        return out

    def parameters(self) -> list[Parameter]:
        """Every trainable Parameter, recursively, in definition order, without duplicates."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode, recursively; returns self."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: e.g. Dropout becomes the identity. Same as ``train(False)``."""
        return self.train(False)

    # --------------------------------------------------------------- printing

    def extra_repr(self) -> str:
        """The settings shown inside ``ClassName(...)``."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join([*lines, ")"])


class Sequential(Module):
    """Layers applied one after the other; backward runs through them in reverse.

    >>> model = Sequential(Linear(784, 100), ReLU(), Linear(100, 10))  # doctest: +SKIP
    >>> model[0], len(model)                                            # doctest: +SKIP
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                hint = (
                    " (pass the layers themselves: Sequential(*layers))"
                    if isinstance(layer, (list, tuple))
                    else ""
                )
                raise ValueError(f"layer {i} is a {type(layer).__name__}, not a Module{hint}")
            for j in range(i):
                if layers[j] is layer:
                    # a layer keeps the cache of its *last* forward pass, so one object
                    # in two places would back-propagate with the wrong cache
                    raise ValueError(
                        f"layer {i} ({type(layer).__name__}) is the same object as layer {j}; "
                        "give each position its own instance"
                    )
        self.layers = list(layers)
        self._ran_forward = False

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x: np.ndarray) -> np.ndarray:
        for i, layer in enumerate(self.layers):
            shape = np.shape(x)
            try:
                x = layer(x)
            except ValueError as err:
                source = (
                    "the model input"
                    if i == 0
                    else (f"the output of layer {i - 1} ({type(self.layers[i - 1]).__name__})")
                )
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) cannot take {source}, "
                    f"of shape {shape}: {err}"
                ) from err
        self._ran_forward = True
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self._ran_forward:
            raise RuntimeError(
                "Sequential.backward() was called before forward(): run a forward pass first"
            )
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            shape = np.shape(dout)
            try:
                dout = layer.backward(dout)
            except ValueError as err:
                raise ValueError(
                    f"backward of layer {i} ({type(layer).__name__}) got a gradient of "
                    f"shape {shape}: {err}"
                ) from err
        return dout

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])  # the same layer objects, not copies
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)
