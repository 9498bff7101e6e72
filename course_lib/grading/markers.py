"""Find and strip the nbgrader-style marker blocks of the reference code.

Two kinds of blocks, each a pair of comment lines that stand alone on their line::

    ### BEGIN SOLUTION [exercise-id]        ### BEGIN HIDDEN TESTS
    ...reference solution...                ...tests the students never see...
    ### END SOLUTION                        ### END HIDDEN TESTS

In a ``.py`` file a marker counts only as a real comment: the same words inside
a docstring or a string (as in this docstring) are text, not markers, which
:mod:`tokenize` tells apart. Blocks do not nest, and each BEGIN needs its END:
anything else raises :class:`MarkerError` naming the file and line.

The body of a solution block becomes ``raise NotImplementedError("Exercise
<id>: <task>")`` at the indentation of its BEGIN line; the marker lines stay,
to show where the answer goes. A hidden-test block goes, markers and all.
The exercise id is, in this order, the word after ``### BEGIN SOLUTION``; the
first ``Exercise ``<id>``.`` phrase in the enclosing function's docstring;
else ``<module>.<function>``. The task is the first line of that docstring.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from pathlib import Path
from typing import NamedTuple

SOLUTION, HIDDEN = "SOLUTION", "HIDDEN TESTS"
_MARKER = re.compile(r"^###\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)\b\s*(.*?)\s*$")
_DOCSTRING_ID = re.compile(r"Exercise\s+``([A-Za-z0-9_.:-]+)``")
_MAX_LINE = 100  # the repository's ruff line length: stubs stay lint-clean


class MarkerError(ValueError):
    """A BEGIN without its END, an END without its BEGIN, or a block inside another."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path, self.line = str(path), line
        super().__init__(f"{path}:{line}: {message}")


class Block(NamedTuple):
    """One marker block; line numbers are 1-based and include the marker lines."""

    kind: str  # SOLUTION or HIDDEN
    begin: int
    end: int
    indent: str  # the whitespace before the BEGIN marker
    label: str  # the text after BEGIN SOLUTION (an exercise id), often empty


def _string_lines(source: str) -> set[int]:
    """Lines covered by a string token spanning several lines (docstrings, triple quotes)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # Not valid Python (a notebook cell with magics, a half-written file):
        # fall back to reading every line as a possible marker.
        return set()
    return inside


def find_blocks(source: str, path: str | Path = "<string>", *, python: bool = True) -> list[Block]:
    """Every marker block of ``source``, in order.

    Args:
        source: the text of one file (or one notebook cell).
        path: the name used in error messages.
        python: ignore marker-like lines inside multi-line strings (``.py`` files).

    Raises:
        MarkerError: on an unmatched or nested marker, with ``path`` and the line.
    """
    skip = _string_lines(source) if python else set()
    blocks: list[Block] = []
    open_: tuple[str, int, str, str] | None = None  # kind, line, indent, label
    for lineno, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.match(line.strip())
        if match is None or lineno in skip:
            continue
        what, kind, label = match.group(1), match.group(2), match.group(3)
        if what == "BEGIN":
            if open_ is not None:
                raise MarkerError(
                    path,
                    lineno,
                    f"'### BEGIN {kind}' inside the {open_[0]} block opened on line {open_[1]} "
                    "(blocks do not nest)",
                )
            open_ = (kind, lineno, line[: len(line) - len(line.lstrip())], label)
        elif open_ is None:
            raise MarkerError(path, lineno, f"'### END {kind}' without its '### BEGIN {kind}'")
        elif open_[0] != kind:
            raise MarkerError(
                path,
                lineno,
                f"'### END {kind}' closes the {open_[0]} block opened on line {open_[1]}",
            )
        else:
            blocks.append(Block(kind, open_[1], lineno, open_[2], open_[3]))
            open_ = None
    if open_ is not None:
        raise MarkerError(path, open_[1], f"'### BEGIN {open_[0]}' is never closed by '### END'")
    return blocks


def _enclosing_functions(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def exercise_of(source: str, block: Block, module: str = "module") -> tuple[str, str]:
    """``(exercise_id, one_line_task)`` for a solution block (see the module docstring)."""
    functions = [
        f
        for f in _enclosing_functions(source)
        if f.lineno <= block.begin <= (f.end_lineno or f.lineno)
    ]
    func = max(functions, key=lambda f: f.lineno, default=None)  # the innermost
    doc = (ast.get_docstring(func) or "") if func is not None else ""
    task = doc.strip().splitlines()[0].strip() if doc.strip() else "implement this function"
    if block.label:
        return block.label, task
    found = _DOCSTRING_ID.search(doc)
    if found:
        return found.group(1), task
    return (f"{module}.{func.name}" if func is not None else module), task


def _quote(text: str) -> str:
    """A double-quoted Python string literal (JSON's escapes are valid Python escapes)."""
    return json.dumps(text, ensure_ascii=False)


def stub_lines(indent: str, exercise: str, task: str) -> list[str]:
    """The ``raise NotImplementedError(...)`` that replaces a solution, kept within 100 columns."""
    message = f"Exercise {exercise}: {task}"
    one_line = f"{indent}raise NotImplementedError({_quote(message)})"
    if len(one_line) <= _MAX_LINE:
        return [one_line]
    # Long tasks are split into implicitly concatenated string pieces.
    width = max(20, _MAX_LINE - len(indent) - 8)
    pieces, rest = [], message
    while rest:
        cut = len(rest) if len(rest) <= width else (rest.rfind(" ", 0, width) + 1 or width)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    inner = [f"{indent}    {_quote(piece)}" for piece in pieces]
    return [f"{indent}raise NotImplementedError(", *inner, f"{indent})"]


def strip_source(
    source: str,
    path: str | Path = "<string>",
    *,
    python: bool = True,
    module: str = "module",
) -> str:
    """The student version of ``source``: solutions stubbed, hidden tests removed.

    Args:
        source: the text of a file or notebook cell.
        path: the name used in error messages.
        python: whether ``source`` is Python (see :func:`find_blocks`).
        module: the module name used when no exercise id can be found.
    """
    blocks = find_blocks(source, path, python=python)
    if not blocks:
        return source
    lines = source.splitlines()
    out: list[str] = []
    previous = 0  # lines before this index are already handled
    for block in blocks:
        out.extend(lines[previous : block.begin - 1])
        if block.kind == SOLUTION:
            # The marker lines stay: they show the student where the answer goes, and the
            # book's literalinclude of the solution (start-after/end-before) still finds them.
            exercise, task = exercise_of(source, block, module)
            out.append(lines[block.begin - 1])
            out.extend(stub_lines(block.indent, exercise, task))
            out.append(lines[block.end - 1])
        else:
            # The blank lines before the block keep the spacing; those after it go, and a
            # block at the end of the file takes its leading blanks too (no trailing blanks).
            after = block.end
            while after < len(lines) and not lines[after].strip():
                after += 1
            if after == len(lines):
                while out and not out[-1].strip():
                    out.pop()
            previous = after
            continue
        previous = block.end
    out.extend(lines[previous:])
    text = "\n".join(out)
    return text + "\n" if source.endswith("\n") else text
