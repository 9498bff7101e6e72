"""Checks that graded tests share: "NumPy only", and what a solution's source touches.

Imported by the chapters' graded tests (``from exercise_checks import ...``:
pytest puts this folder on ``sys.path``), so there is one copy of each check.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable

import pytest

__all__ = ["assert_numpy_only", "names_used", "numpy_only"]


def numpy_only(mp: pytest.MonkeyPatch) -> None:
    """While the solution runs, ``import torch`` and ``import scipy...`` fail."""
    for name in list(sys.modules):
        if name in ("torch", "scipy") or name.startswith(("torch.", "scipy.")):
            mp.setitem(sys.modules, name, None)


def names_used(func: Callable) -> set[str]:
    """The module names ``func`` and the module-level helpers it calls import or touch."""
    module = sys.modules[func.__module__]
    tree = ast.parse(inspect.getsource(module))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    imported = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {a.asname or a.name.split(".")[0]: a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    found, todo, seen = set(), [func.__name__], set()
    while todo:
        fn = helpers.get(todo.pop())
        if fn is None or fn.name in seen:
            continue
        seen.add(fn.name)
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                found.add(node.module or "")
            elif isinstance(node, ast.Name):
                if node.id in imported:
                    found.add(imported[node.id])
                if node.id in helpers:
                    todo.append(node.id)
                if node.id in ("__import__", "eval", "exec", "importlib"):
                    found.add(node.id)
    return found


def assert_numpy_only(func: Callable) -> None:
    bad = sorted(n for n in names_used(func)
                 if n.split(".")[0] in ("torch", "scipy", "jax", "autograd", "importlib",
                                        "__import__", "eval", "exec"))
    assert not bad, f"the exercise asks for NumPy only; the solution uses {bad}"
