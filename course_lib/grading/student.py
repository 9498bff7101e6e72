"""``make-student``: the student edition of the course, generated from the reference.

Every teaching file of the course root is copied (see
:func:`course_lib.grading.course.course_files`), with these changes:

* ``.py`` files: each solution block becomes a ``raise NotImplementedError``
  stub and each hidden-test block is removed (:mod:`course_lib.grading.markers`);
* notebooks: the same inside code cells, and every output cleared;
* ``pyproject.toml``: ruff is told that an exercise module's imports may be
  unused (the stubs no longer call what the solutions used), so the student's
  ``make test`` lint step passes;
* left out: ``tests/mutants/`` and ``tests/grading/`` (wrong and right answers),
  ``.git`` and every cache or build folder.

Then the edition is searched for any line of a solution that appears nowhere
else in the course's code; finding one is an error.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.grading.course import course_files, find_course_root
from course_lib.grading.markers import SOLUTION, find_blocks, strip_source

STUDENT_EXCLUDE = ("tests/mutants", "tests/grading")
EDITION_MARK = ".student-edition"
_MIN_LEAK_CHARS = 20  # shorter lines ("return out") are too common to prove a leak
_RUFF_IGNORES = '"course_lib/exercises/*.py" = ["F401", "F841"]'


class LeakError(RuntimeError):
    """A line of a reference solution was found in the student edition."""


@dataclass
class StudentEdition:
    """What :func:`make_student` wrote."""

    out_dir: Path
    files: int = 0
    stubs: list[str] = field(default_factory=list)  # "path:line" of each stubbed solution
    hidden_blocks: int = 0


def _module_name(rel: Path) -> str:
    return ".".join(rel.with_suffix("").parts)


def _cells(text: str) -> Iterator[dict]:
    yield from json.loads(text).get("cells", [])


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def student_notebook(text: str, rel: Path) -> tuple[str, int, int]:
    """A notebook with solutions stubbed, hidden tests removed and outputs cleared."""
    notebook = json.loads(text)
    stubs = hidden = 0
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        where = f"{rel} (cell {index})"
        blocks = find_blocks(source, where, python=False)
        stubs += sum(b.kind == SOLUTION for b in blocks)
        hidden += sum(b.kind != SOLUTION for b in blocks)
        new = strip_source(source, where, python=False, module=f"{rel.stem}, cell {index}")
        cell["source"] = new.splitlines(keepends=True)
        cell["outputs"], cell["execution_count"] = [], None
    # The layout nbformat writes, so that a diff against the reference stays small.
    text = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return text, stubs, hidden


def _student_pyproject(text: str) -> str:
    """pyproject.toml with the per-file ruff ignores that stubbed modules need."""
    header = "[tool.ruff.lint.extend-per-file-ignores]"
    comment = "# Student edition: a stubbed exercise no longer uses what its solution imported.\n"
    if header in text:
        return text.replace(header, f"{header}\n{comment}{_RUFF_IGNORES}", 1)
    return text.rstrip("\n") + f"\n\n{header}\n{comment}{_RUFF_IGNORES}\n"


def _solution_lines(root: Path, files: list[Path]) -> set[str]:
    """Lines found only inside solution blocks of the course's code (candidates for a leak)."""
    inside: set[str] = set()
    outside: set[str] = set()
    for rel in files:
        if rel.suffix == ".py":
            sources = [(root / rel).read_text(encoding="utf-8")]
        elif rel.suffix == ".ipynb":
            sources = [_cell_source(c) for c in _cells((root / rel).read_text(encoding="utf-8"))]
        else:
            continue
        for source in sources:
            lines = source.splitlines()
            solution = set()
            for block in find_blocks(source, rel, python=rel.suffix == ".py"):
                if block.kind == SOLUTION:
                    solution.update(range(block.begin, block.end - 1))  # 0-based body lines
            for i, line in enumerate(lines):
                (inside if i in solution else outside).add(line.strip())
    return {line for line in inside - outside if len(line) >= _MIN_LEAK_CHARS}


def find_leaks(root: Path, out_dir: Path, files: list[Path]) -> list[str]:
    """``"path:line: text"`` for each solution line of the course found in ``out_dir``."""
    secret = _solution_lines(root, files)
    leaks = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, checkpoints) hold no source lines
        if rel.suffix == ".ipynb":
            text = "\n".join(_cell_source(c) for c in _cells(text))
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() in secret:
                leaks.append(f"{rel}:{number}: {line.strip()}")
    return leaks


def _prepare_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise FileExistsError(f"{out_dir} exists and is not empty (use --force to replace it)")
        if not (out_dir / EDITION_MARK).exists():
            raise FileExistsError(
                f"{out_dir} is not a student edition made by this tool (no {EDITION_MARK}); "
                "refusing to delete it"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def make_student(
    out_dir: str | Path, course_root: str | Path | None = None, *, force: bool = False
) -> StudentEdition:
    """Write the student edition of the course into ``out_dir``.

    Raises:
        MarkerError: a marker is unmatched or nested (nothing is written then).
        LeakError: a solution line survived into the edition.
        FileExistsError: ``out_dir`` holds something else (see ``force``).
    """
    root = find_course_root(course_root)
    out_dir = Path(out_dir).resolve()
    exclude = list(STUDENT_EXCLUDE)
    if out_dir == root or root in out_dir.parents:
        exclude.append(str(out_dir.relative_to(root)))
    files = course_files(root, exclude)
    # Convert everything in memory first, so a marker error leaves no half-written edition.
    converted: dict[Path, str | None] = {}
    report = StudentEdition(out_dir)
    for rel in files:
        if rel.suffix == ".py":
            text = (root / rel).read_text(encoding="utf-8")
            blocks = find_blocks(text, rel)
            report.stubs += [f"{rel}:{b.begin}" for b in blocks if b.kind == SOLUTION]
            report.hidden_blocks += sum(b.kind != SOLUTION for b in blocks)
            converted[rel] = strip_source(text, rel, module=_module_name(rel))
        elif rel.suffix == ".ipynb":
            text, stubs, hidden = student_notebook((root / rel).read_text(encoding="utf-8"), rel)
            report.stubs += [f"{rel}:cell"] * stubs
            report.hidden_blocks += hidden
            converted[rel] = text
        elif rel == Path("pyproject.toml"):
            converted[rel] = _student_pyproject((root / rel).read_text(encoding="utf-8"))
        else:
            converted[rel] = None  # copied byte for byte
    _prepare_out_dir(out_dir, force)
    for rel, text in converted.items():
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            shutil.copy2(root / rel, dest)
        else:
            dest.write_text(text, encoding="utf-8")
            shutil.copymode(root / rel, dest)
    (out_dir / EDITION_MARK).write_text(
        "Student edition generated by `python -m course_lib.grading make-student`.\n"
        "Solutions are stubs; hidden tests are removed. Regenerate it, do not edit it.\n",
        encoding="utf-8",
    )
    report.files = len(converted)
    leaks = find_leaks(root, out_dir, files)
    if leaks:
        raise LeakError("solution lines found in the student edition:\n" + "\n".join(leaks))
    return report
