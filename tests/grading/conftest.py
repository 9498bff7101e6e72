"""Shared fixtures of the grader's own tests: the miniature fixture course and the real one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from course_lib.grading.grade import Grader
from course_lib.grading.runner import Limits
from course_lib.grading.student import make_student

# The fixture course has its own tests/exercises/test_ex00.py: it is graded through the
# grader only, never collected as part of the course's own test suite.
collect_ignore_glob = ["fixtures/*"]

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = Path(__file__).parent / "fixtures" / "course"
FIXTURE_MODULE = FIXTURE_COURSE / "course_lib" / "exercises" / "ex00.py"
MUTANTS = ROOT / "tests" / "mutants"

# Short limits keep the tests of hangs quick; the fixture course imports nothing heavy.
FAST = Limits(test_timeout=2.0, total_timeout=60.0, grace=2.0)


def _run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "course_lib.grading", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _submission(folder: Path, source: str, name: str = "ex00.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(source, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(*args)``: ``python -m course_lib.grading ARGS`` in a fresh process."""
    return _run_cli


@pytest.fixture(scope="session")
def make_submission() -> Callable[..., Path]:
    """``make_submission(folder, source, name="ex00.py")``: a folder holding one module."""
    return _submission


@pytest.fixture(scope="session")
def fixture_course() -> Path:
    """The miniature course root (tests/grading/fixtures/course)."""
    return FIXTURE_COURSE


@pytest.fixture(scope="session")
def fixture_grader() -> Iterator[Grader]:
    """A grader of the fixture course (7 points: ex00-square 5, ex00-mean 2)."""
    with Grader(FIXTURE_COURSE, FAST) as grader:
        yield grader


@pytest.fixture(scope="session")
def student_edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student edition of this repository, generated once per session."""
    out = tmp_path_factory.mktemp("student") / "edition"
    make_student(out, ROOT)
    return out
