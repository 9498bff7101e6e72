"""make-student: the student edition of the fixture course and of this repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course_lib.grading.course import course_files, exercise_modules
from course_lib.grading.markers import SOLUTION, find_blocks
from course_lib.grading.student import (
    EDITION_MARK,
    STUDENT_EXCLUDE,
    LeakError,
    find_leaks,
    make_student,
)

ROOT = Path(__file__).resolve().parents[2]


def _in_edition(edition: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run Python inside the edition, importing its own course_lib only."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(edition), COURSE_PROFILE="smoke")
    return subprocess.run(
        [sys.executable, *args],
        cwd=edition,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _solution_bodies(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    return [
        "\n".join(lines[b.begin : b.end - 1])
        for b in find_blocks(source, path)
        if b.kind == SOLUTION
    ]


def test_fixture_edition_stubs_and_drops_hidden_tests(fixture_course: Path, tmp_path: Path) -> None:
    out = tmp_path / "edition"
    report = make_student(out, fixture_course)
    assert len(report.stubs) == 2 and report.hidden_blocks == 1
    module = (out / "course_lib/exercises/ex00.py").read_text()
    assert (
        'raise NotImplementedError("Exercise ex00-square: Return the square of a number.")'
        in module
    )
    assert "Exercise ex00-mean: Return the arithmetic mean" in module  # id from the marker line
    assert "x * x" not in module and "sum(values)" not in module
    tests = (out / "tests/exercises/test_ex00.py").read_text()
    assert "test_square_small" in tests and "test_hidden" not in tests and "HIDDEN" not in tests
    assert (out / EDITION_MARK).is_file()
    assert find_leaks(fixture_course, out, [Path("course_lib/exercises/ex00.py")]) == []


def test_existing_folder_is_replaced_only_with_force_and_only_if_an_edition(
    fixture_course: Path, tmp_path: Path
) -> None:
    out = tmp_path / "edition"
    make_student(out, fixture_course)
    with pytest.raises(FileExistsError, match="--force"):
        make_student(out, fixture_course)
    make_student(out, fixture_course, force=True)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="refusing"):
        make_student(precious, fixture_course, force=True)
    assert (precious / "notes.txt").read_text() == "mine"


def test_a_leaked_solution_line_is_an_error(fixture_course: Path, tmp_path: Path) -> None:
    course = tmp_path / "course"
    subprocess.run(["cp", "-r", str(fixture_course), str(course)], check=True)
    (course / "NOTES.md").write_text(
        "A hint:\n\n```python\nresult = x * x  # squaring by multiplication keeps ints exact\n```\n"
    )
    with pytest.raises(LeakError, match="NOTES.md:4"):
        make_student(tmp_path / "edition", course)


def test_marker_error_stops_make_student_and_names_the_line(
    fixture_course: Path, tmp_path: Path
) -> None:
    course = tmp_path / "course"
    subprocess.run(["cp", "-r", str(fixture_course), str(course)], check=True)
    module = course / "course_lib/exercises/ex00.py"
    module.write_text(module.read_text().replace("    ### END SOLUTION\n", "", 1))
    with pytest.raises(ValueError, match=r"ex00\.py:\d+: .*BEGIN SOLUTION.*inside|never closed"):
        make_student(tmp_path / "edition", course)
    assert not (tmp_path / "edition").exists()  # nothing half-written


def test_repository_edition_has_no_solutions_anywhere(student_edition: Path) -> None:
    files = [p.relative_to(student_edition) for p in student_edition.rglob("*") if p.is_file()]
    assert files, "the edition is empty"
    assert not [f for f in files if "__pycache__" in f.parts or f.suffix == ".pyc"]
    assert not [
        f
        for f in files
        if f.parts[0] == ".git" or f.parts[:2] in (("tests", "mutants"), ("tests", "grading"))
    ]
    for name, path in exercise_modules(ROOT).items():
        text = (student_edition / path.relative_to(ROOT)).read_text()
        for body in _solution_bodies(path):
            assert body not in text, f"a solution of {name} survived"
        assert all(
            "raise NotImplementedError(" in body
            for body in _solution_bodies(student_edition / path.relative_to(ROOT))
        )
    for test_file in (student_edition / "tests/exercises").glob("test_*.py"):
        assert "BEGIN HIDDEN TESTS" not in test_file.read_text()
        assert "def test_hidden" not in test_file.read_text()
    assert find_leaks(ROOT, student_edition, course_files(ROOT, STUDENT_EXCLUDE)) == []


def test_repository_edition_notebooks_are_stripped_and_name_every_exercise(
    student_edition: Path,
) -> None:
    notebooks = sorted((student_edition / "book").rglob("*.ipynb"))
    book_text = ""
    for nb in notebooks:
        cells = json.loads(nb.read_text())["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), nb
        book_text += "".join("".join(c["source"]) for c in cells)
    book_text += "".join(p.read_text() for p in (student_edition / "book").rglob("*.md"))
    stubs = "".join(
        p.read_text() for p in (student_edition / "course_lib/exercises").glob("ch*.py")
    )
    ids = re.findall(r'NotImplementedError\(\s*"Exercise ([\w-]+):', stubs)
    assert ids, "no stubs found"
    missing = [i for i in ids if i not in book_text]
    assert not missing, f"exercises the book of the student edition never states: {missing}"


def test_repository_edition_imports_and_its_graded_tests_fail_without_errors(
    student_edition: Path, tmp_path: Path
) -> None:
    for name in exercise_modules(ROOT):
        proc = _in_edition(student_edition, "-c", f"import course_lib.exercises.{name}")
        assert proc.returncode == 0, proc.stderr
    junit = tmp_path / "junit.xml"
    proc = _in_edition(
        student_edition, "-m", "pytest", "tests/exercises", "-p", "no:cacheprovider", "-q",
        f"--junitxml={junit}",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:]  # 1: tests ran and failed (not 2: errors)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] > 0 and counts["errors"] == 0 and counts["skipped"] == 0, counts
    assert counts["failures"] == counts["tests"], counts  # every stub fails its tests
    assert "NotImplementedError: Exercise ch01-ex-" in proc.stdout


def test_cli_make_student_and_its_marker_error(
    run_cli, fixture_course: Path, tmp_path: Path
) -> None:
    proc = run_cli("make-student", str(tmp_path / "ok"), "--course", str(fixture_course))
    assert proc.returncode == 0, proc.stderr
    assert "2 solutions stubbed, 1 hidden-test blocks removed" in proc.stdout
    course = tmp_path / "course"
    subprocess.run(["cp", "-r", str(fixture_course), str(course)], check=True)
    tests = course / "tests/exercises/test_ex00.py"
    lines = tests.read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if "END HIDDEN TESTS" in line)
    tests.write_text("".join(lines[:end] + lines[end + 1 :]))  # the hidden block never closes
    begin = 1 + next(i for i, line in enumerate(lines) if "BEGIN HIDDEN TESTS" in line)
    proc = run_cli("make-student", str(tmp_path / "bad"), "--course", str(course))
    assert proc.returncode == 1
    assert (
        f"tests/exercises/test_ex00.py:{begin}: '### BEGIN HIDDEN TESTS' is never closed"
        in proc.stderr
    )
