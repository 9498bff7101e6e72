"""Tests of the tests: per chapter, the reference scores 100 %, the student edition 0 %,
and every deliberately wrong implementation (tests/mutants/) strictly in between.

For each chapter, one command grades a folder of submissions (the reference,
the student edition's stub and every mutant of that chapter, in both layouts
a student may hand in) in parallel, as an instructor would; the tests read
its results.json files and CSV. The time it took is printed (pytest -s shows
it), not asserted: the machine decides it.
"""

from __future__ import annotations

import atexit
import csv
import importlib.util
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from course_lib.grading.course import exercise_modules
from course_lib.grading.grade import Grader
from course_lib.grading.markers import SOLUTION, exercise_of, find_blocks
from course_lib.grading.report import validate_results

ROOT = Path(__file__).resolve().parents[2]
MODULES = exercise_modules(ROOT)  # {"ch01": .../course_lib/exercises/ch01.py, ...}

def _load_mutant_specs():
    spec = importlib.util.spec_from_file_location(
        "make_mutants", ROOT / "tests" / "mutants" / "make_mutants.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The mutants are generated from the current reference (one copy of the code),
# into a folder that lives as long as the test session.
_MUTANT_DIR = Path(tempfile.mkdtemp(prefix="course-mutants-"))
atexit.register(shutil.rmtree, _MUTANT_DIR, True)
MUTANTS = sorted(_load_mutant_specs().write_mutants(_MUTANT_DIR))
CHAPTERS = sorted({m.stem.split("_")[0] for m in MUTANTS})

Graded = dict[str, Any]


def _chapter(mutant: Path) -> str:
    return mutant.stem.split("_")[0]


def _grade_chapter(run_cli, chapter: str, edition: Path, tmp: Path) -> Graded:
    reference = MODULES[chapter]
    sources = {"reference": reference, "student_edition": edition / reference.relative_to(ROOT)}
    sources.update({m.stem: m for m in MUTANTS if _chapter(m) == chapter})
    subs = tmp / "submissions"
    for i, (student, source) in enumerate(sources.items()):
        folder = subs / student / ("course_lib/exercises" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / reference.name)
    out, grades = tmp / "results", tmp / "grades.csv"
    start = time.perf_counter()
    proc = run_cli("grade", str(subs), "-m", chapter, "--out-dir", str(out), "--csv", str(grades))
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"\n{chapter}: graded {len(sources)} submissions in {seconds:.1f} s\n{proc.stdout}")
    results = {s: json.loads((out / s / "results.json").read_text()) for s in sources}
    return {"results": results, "csv": list(csv.DictReader(grades.open()))}


@pytest.fixture(scope="module")
def graded(
    run_cli, student_edition: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Graded]:
    """``graded(chapter)``: that chapter's submissions, graded once, by student."""
    cache: dict[str, Graded] = {}

    def get(chapter: str) -> Graded:
        if chapter not in cache:
            tmp = tmp_path_factory.mktemp(f"{chapter}-grading")
            cache[chapter] = _grade_chapter(run_cli, chapter, student_edition, tmp)
        return cache[chapter]

    return get


def _failed(data: dict[str, Any]) -> list[str]:
    return [f"{t['name']}: {t['output'][:300]}" for t in data["tests"] if t["status"] != "passed"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_reference_scores_100_and_student_edition_0_percent(graded, chapter: str) -> None:
    results = graded(chapter)["results"]
    for data in results.values():
        validate_results(data)
        assert data["max_score"] > 0
    reference = results["reference"]
    assert reference["score"] == reference["max_score"], _failed(reference)
    stub = results["student_edition"]
    assert stub["score"] == 0
    assert all(f"NotImplementedError: Exercise {chapter}-" in t["output"] for t in stub["tests"])


@pytest.mark.parametrize("mutant", [m.stem for m in MUTANTS])
def test_each_mutant_scores_strictly_between_0_and_100_percent(graded, mutant: str) -> None:
    data = graded(mutant.split("_")[0])["results"][mutant]
    assert 0 < data["score"] < data["max_score"], (data["score"], data["max_score"])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_csv_has_a_row_per_student_and_a_column_per_exercise(graded, chapter: str) -> None:
    grades = graded(chapter)
    rows = {r["student"]: r for r in grades["csv"]}
    assert rows.keys() == grades["results"].keys()
    exercises = set(grades["results"]["reference"]["extra_data"]["exercises"])
    assert exercises <= set(grades["csv"][0]) and len(exercises) >= 2
    for student, data in grades["results"].items():
        assert float(rows[student]["total"]) == data["score"]


def _solutions(path: Path) -> dict[str, str]:
    """``{exercise id: solution body}`` of an exercise module (or a mutant of one).

    An exercise of several functions (``pixel_shuffle`` and its inverse) has one
    solution block in each: their bodies are joined, in the order of the file.
    """
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    bodies: dict[str, list[str]] = {}
    for b in find_blocks(source, path):
        if b.kind == SOLUTION:
            body = "\n".join(lines[b.begin : b.end - 1])
            bodies.setdefault(exercise_of(source, b)[0], []).append(body)
    return {exercise: "\n".join(parts) for exercise, parts in bodies.items()}


def test_every_chapter_with_exercises_has_3_mutants_of_one_bug_each() -> None:
    with_exercises = [name for name, path in MODULES.items() if _solutions(path)]
    assert with_exercises, "no exercise module has a solution block"
    for chapter in with_exercises:
        assert sum(_chapter(m) == chapter for m in MUTANTS) >= 3, f"{chapter}: add mutants"
    for mutant in MUTANTS:
        reference, solutions = _solutions(MODULES[_chapter(mutant)]), _solutions(mutant)
        stale = f"{mutant.name}: its entry in tests/mutants/make_mutants.py is stale"
        assert solutions.keys() == reference.keys(), stale
        changed = [e for e in reference if solutions[e] != reference[e]]
        assert len(changed) == 1, f"{stale} (it changes {changed})"
        assert "# BUG" in solutions[changed[0]], f"{mutant.name}: mark the bug with '# BUG'"


def test_every_graded_test_has_points_exercise_and_chapter_marker() -> None:
    with Grader(ROOT) as grader:
        manifest = grader.manifest
    for name in MODULES:
        items = [i for i in manifest if Path(i.file).name == f"test_{name}.py"]
        assert items, f"no graded tests collected from tests/exercises/test_{name}.py"
        per_exercise: dict[str, int] = {}
        for item in items:
            assert name in item.markers, f"{item.nodeid}: students run `pytest -m {name}`"
            assert item.points > 0 and item.exercise.startswith(f"{name}-"), item.nodeid
            per_exercise[item.exercise] = per_exercise.get(item.exercise, 0) + 1
        # Several small tests per exercise give partial credit, some of them hidden.
        assert min(per_exercise.values()) >= 2, per_exercise
        assert any(i.hidden for i in items) and not all(i.hidden for i in items)
