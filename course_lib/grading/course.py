"""Where the course is, which of its files are teaching content, which are exercises.

The *course root* is the folder holding ``pyproject.toml``, ``course_lib/`` and
``tests/exercises/``: the repository, or the copy inside a Gradescope
autograder. Exercise modules are ``course_lib/exercises/<name>.py`` (all but
``__init__.py`` and private ``_*.py`` files); their graded tests are
``tests/exercises/test_<name>.py``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

EXERCISES_DIR = Path("course_lib/exercises")
TESTS_DIR = Path("tests/exercises")

# What the grader copies from the course into each grading folder: the package, the
# graded tests with the shared conftest, and the pytest settings (markers, strictness).
GRADING_FILES = ("course_lib", "tests/conftest.py", "tests/__init__.py", "tests/exercises")
GRADING_FILES_OPTIONAL = ("pyproject.toml", "pytest.ini", "setup.cfg")

# Build outputs and caches: never teaching content, never copied.
JUNK_DIRS = {
    ".git",
    "__pycache__",
    ".venv",
    "_build",
    ".pytest_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    ".ruff_cache",
    ".mypy_cache",
    "build",
    "dist",
}
JUNK_SUFFIXES = (".pyc", ".pyo", ".egg-info")


class CourseError(RuntimeError):
    """The course root is missing something the grading tools need."""


def _is_course_root(path: Path) -> bool:
    return (path / "course_lib").is_dir() and (path / TESTS_DIR).is_dir()


def find_course_root(root: str | Path | None = None) -> Path:
    """The course root: ``root`` if given, else the checkout this ``course_lib`` belongs
    to (an editable install), else the current folder."""
    if root is None:
        candidates = [Path(__file__).resolve().parents[2], Path.cwd()]
        root = next((c for c in candidates if _is_course_root(c)), candidates[-1])
    root = Path(root).resolve()
    if not _is_course_root(root):
        raise CourseError(
            f"{root} is not a course root: it needs a course_lib and a {TESTS_DIR} folder "
            "(pass the course repository with --course)"
        )
    return root


def exercise_modules(root: Path) -> dict[str, Path]:
    """``{"ch01": Path(".../course_lib/exercises/ch01.py"), ...}`` of a course root."""
    folder = root / EXERCISES_DIR
    return {
        p.stem: p
        for p in sorted(folder.glob("*.py"))
        if p.name != "__init__.py" and not p.name.startswith("_")
    }


def _is_junk(rel: Path) -> bool:
    return any(part in JUNK_DIRS or part.endswith(JUNK_SUFFIXES) for part in rel.parts)


def course_files(root: Path, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """The course's files, relative to ``root``, sorted.

    In a git checkout: the tracked files plus the untracked ones git does not
    ignore (so a local ``.venv`` or data download never travels). Elsewhere:
    every file outside the build and cache folders. Paths in ``exclude`` (files
    or folders, relative to ``root``) are left out.
    """
    excluded = [Path(e) for e in exclude]
    listed: Iterable[Path] = ()
    if (root / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=root,
                capture_output=True,
                check=True,
                text=True,
            ).stdout
            listed = [Path(p) for p in out.split("\0") if p]
        except (OSError, subprocess.CalledProcessError):
            listed = ()  # no git on this machine: walk the folder instead
    if not listed:
        listed = (p.relative_to(root) for p in root.rglob("*"))
    files = set()
    for rel in listed:
        if _is_junk(rel) or not (root / rel).is_file() or (root / rel).is_symlink():
            continue
        if any(rel == e or e in rel.parents for e in excluded):
            continue
        files.add(rel)
    return sorted(files)


def copy_grading_files(root: Path, dest: Path) -> None:
    """Copy what grading needs (``GRADING_FILES``) from the course root into ``dest``."""
    ignore = shutil.ignore_patterns(*JUNK_DIRS, *(f"*{s}" for s in JUNK_SUFFIXES))
    for name in (*GRADING_FILES, *GRADING_FILES_OPTIONAL):
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, dirs_exist_ok=True)
        elif src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
