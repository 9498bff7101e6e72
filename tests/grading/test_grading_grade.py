"""The grader on the fixture course: scores, bad submissions, layouts, results.json and CSV."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from course_lib.grading.grade import Grader, find_submission_modules
from course_lib.grading.markers import strip_source
from course_lib.grading.report import gradescope_results, validate_results
from course_lib.grading.scoring import SubmissionResult

FIXTURE_COURSE = Path(__file__).parent / "fixtures" / "course"
REFERENCE = (FIXTURE_COURSE / "course_lib" / "exercises" / "ex00.py").read_text(encoding="utf-8")
CORRECT_MEAN = (
    "def mean(values):\n"
    "    if not values:\n"
    "        raise ValueError('empty')\n"
    "    return sum(values) / len(values)\n"
)

# Submissions that misbehave in every way we guard against; each keeps a correct mean()
# where it can, to show that the rest of its tests still run and score.
BAD = {
    "syntax_error": "def square(x):\n    return x *\n",
    "import_error": "import no_such_module_anywhere\n",
    "sys_exit_at_import": "import sys\nsys.exit(3)\n",
    "loop_at_import": "while True:\n    pass\n",
    "huge_at_import": "BIG = bytearray(10**12)\n",
    "loop_in_call": (
        "def square(x):\n    while x == 3:\n        pass\n    return x * x\n\n\n" + CORRECT_MEAN
    ),
    "huge_in_call": "def square(x):\n    return len(bytearray(10**12)) * 0 + x * x\n\n\n"
    + CORRECT_MEAN,
    "sys_exit_in_call": "import sys\n\n\ndef square(x):\n    sys.exit(0)\n\n\n" + CORRECT_MEAN,
    "skips_tests": "import pytest\n\n\ndef square(x):\n    pytest.skip('no')\n\n\n" + CORRECT_MEAN,
    # Swallows pytest-timeout's exception on one input: only the watchdog can stop it.
    "ignores_timeout": (
        "import time\n\n\ndef square(x):\n    while x == 3:\n        try:\n"
        "            time.sleep(1)\n        except BaseException:\n            pass\n"
        "    return x * x\n\n\n" + CORRECT_MEAN
    ),
    "os_exit_in_call": (
        "import os\n\n\ndef square(x):\n    if x == 3:\n        os._exit(0)\n    return x * x\n\n\n"
        + CORRECT_MEAN
    ),
}


def test_manifest_lists_points_exercises_and_hidden_tests(fixture_grader: Grader) -> None:
    items = {item.nodeid.split("::")[1]: item for item in fixture_grader.manifest}
    assert sum(i.points for i in items.values()) == 7
    assert {i.exercise for i in items.values()} == {"ex00-square", "ex00-mean"}
    assert [n for n, i in items.items() if i.hidden] == ["test_hidden_square_large"]


@pytest.fixture(scope="module")
def reference_result(
    fixture_grader: Grader, make_submission, tmp_path_factory: pytest.TempPathFactory
) -> SubmissionResult:
    """The fixture course's reference solution, graded once for this module."""
    return fixture_grader.grade(make_submission(tmp_path_factory.mktemp("alice"), REFERENCE))


def test_reference_scores_full_marks(reference_result: SubmissionResult) -> None:
    result = reference_result
    failed = [(t.item.name, t.output) for t in result.tests if t.status != "passed"]
    assert not failed  # test_square_random_input passing shows the grader seeded `random`
    assert (result.score, result.max_score) == (7, 7)


def test_stub_scores_zero(fixture_grader: Grader, make_submission, tmp_path: Path) -> None:
    stub = strip_source(REFERENCE, "ex00.py")
    result = fixture_grader.grade(make_submission(tmp_path / "bob", stub))
    assert result.score == 0 and result.max_score == 7
    assert all("NotImplementedError: Exercise ex00-" in t.output for t in result.tests)


def test_partial_credit_per_exercise(
    fixture_grader: Grader, make_submission, tmp_path: Path
) -> None:
    source = "def square(x):\n    return x * x\n\n\ndef mean(values):\n    return 0.0\n"
    result = fixture_grader.grade(make_submission(tmp_path / "carol", source))
    assert result.by_exercise() == {"ex00-square": (5, 5), "ex00-mean": (0, 2)}


def test_bad_submissions_score_zero_for_what_they_break_and_never_stop_the_run(
    fixture_grader: Grader, make_submission, tmp_path: Path
) -> None:
    folders = {name: make_submission(tmp_path / name, src) for name, src in BAD.items()}
    folders["good"] = make_submission(tmp_path / "good", REFERENCE)
    results = {r.student: r for r in fixture_grader.grade_many(folders, jobs=2)}
    assert results["good"].score == 7  # graded alongside, unharmed
    outputs = [t.output for r in results.values() for t in r.tests]
    assert not [o for o in outputs if "course-grading-" in o]  # no paths of the grader's folders
    for name in ("syntax_error", "import_error", "sys_exit_at_import", "loop_at_import"):
        assert results[name].score == 0, name
        assert all(
            t.output.startswith("Not run: importing the tests failed") for t in results[name].tests
        )
    assert "SyntaxError" in results["syntax_error"].tests[0].output
    assert "ModuleNotFoundError" in results["import_error"].tests[0].output
    assert "SystemExit: 3" in results["sys_exit_at_import"].tests[0].output
    assert "did not finish in time" in results["loop_at_import"].tests[0].output
    assert "MemoryError" in results["huge_at_import"].tests[0].output
    # Broken square(), working mean(): the mean's 2 points survive every kind of failure.
    for name in ("huge_in_call", "sys_exit_in_call", "skips_tests"):
        assert results[name].by_exercise() == {"ex00-square": (0, 5), "ex00-mean": (2, 2)}, name
    # An endless loop in one test (the first) costs that test only.
    assert "Timeout" in results["loop_in_call"].tests[0].output
    assert results["loop_in_call"].score == 6
    assert "MemoryError" in results["huge_in_call"].tests[0].output
    assert "SystemExit" in results["sys_exit_in_call"].tests[0].output
    assert "skipped" in results["skips_tests"].tests[0].output
    # One test killed (by the watchdog, or by os._exit): it scores 0, the others run on.
    for name, words in (
        ("ignores_timeout", "Killed"),
        ("os_exit_in_call", "ended during this test"),
    ):
        first = results[name].tests[0]
        assert first.item.nodeid.endswith("test_square_small") and words in first.output, name
        assert results[name].score == 6, name


def test_module_found_in_package_layout_or_nested(
    fixture_grader: Grader, make_submission, tmp_path: Path
) -> None:
    nested = tmp_path / "dave" / "course_lib" / "exercises"
    make_submission(nested, REFERENCE)
    make_submission(tmp_path / "dave" / "old", "raise RuntimeError('an older copy')\n")
    found, notes = find_submission_modules(tmp_path / "dave", ["ex00"])
    assert found["ex00"] == nested / "ex00.py"
    assert notes and "old/ex00.py" in notes[0]
    assert fixture_grader.grade(tmp_path / "dave").score == 7


def test_empty_submission_scores_zero_with_a_note(fixture_grader: Grader, tmp_path: Path) -> None:
    (tmp_path / "erin").mkdir()
    result = fixture_grader.grade(tmp_path / "erin")
    assert result.score == 0 and result.max_score == 7
    assert any("No exercise module found" in note for note in result.notes)


def test_results_json_has_the_gradescope_fields(
    fixture_grader: Grader, make_submission, tmp_path: Path
) -> None:
    source = "def square(x):\n    return 0\n\n\n" + CORRECT_MEAN
    result = fixture_grader.grade(make_submission(tmp_path / "frank", source))
    data = gradescope_results(result, hidden_visibility="after_due_date")
    validate_results(data)
    assert (data["score"], data["max_score"]) == (2, 7)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
    hidden = [t for t in data["tests"] if "hidden" in t["name"]]
    assert [t["visibility"] for t in hidden] == ["after_due_date"]
    # A hidden test's feedback is the error alone, never the test's code.
    assert "assert ex00.square" not in hidden[0]["output"]
    assert "ex00-square: 0 / 5" in data["output"]


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (lambda d: d.update(score="7"), "'score' must be a number"),
        (lambda d: d["tests"][0].update(status="ok"), "status"),
        (lambda d: d["tests"][0].update(visibility="sometimes"), "visibility"),
        (lambda d: d["tests"][0].update(score=99), r"score must be in \[0, max_score\]"),
        (lambda d: d.update(score=1), "not the sum"),
    ],
)
def test_validate_results_rejects_bad_files(
    reference_result: SubmissionResult, change, fault
) -> None:
    data = gradescope_results(reference_result)
    validate_results(data)
    change(data)
    with pytest.raises(ValueError, match=fault):
        validate_results(data)


def test_cli_grades_a_folder_of_submissions(run_cli, make_submission, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    make_submission(subs / "good", REFERENCE)
    make_submission(subs / "broken", BAD["syntax_error"])
    make_submission(
        subs / "half" / "course_lib" / "exercises", "def square(x):\n    return x * x\n"
    )
    out, grades = tmp_path / "out", tmp_path / "grades.csv"
    proc = run_cli(
        "grade", str(subs), "--course", str(FIXTURE_COURSE), "--out-dir", str(out),
        "--csv", str(grades), "--jobs", "2", "--timeout", "5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(grades.open()))
    assert [r["student"] for r in rows] == ["broken", "good", "half"]
    assert [(r["ex00-square"], r["ex00-mean"], r["total"], r["max_score"]) for r in rows] == [
        ("0", "0", "0", "7"),
        ("5", "2", "7", "7"),
        ("5", "0", "5", "7"),
    ]
    for student in ("broken", "good", "half"):
        validate_results(json.loads((out / student / "results.json").read_text()))
    assert "good" in proc.stdout and "100" in proc.stdout  # the summary table


def test_cli_single_submission_writes_results_json(
    run_cli, make_submission, tmp_path: Path
) -> None:
    make_submission(tmp_path / "sub", REFERENCE)
    results = tmp_path / "results.json"
    proc = run_cli(
        "grade", str(tmp_path / "sub"), "--course", str(FIXTURE_COURSE), "--results", str(results),
        "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    validate_results(data)
    assert data["score"] == data["max_score"] == 7


def test_twenty_copies_are_graded_in_parallel(
    fixture_grader: Grader, make_submission, tmp_path: Path
) -> None:
    folders = {
        f"student{i:02d}": make_submission(tmp_path / f"s{i:02d}", REFERENCE) for i in range(20)
    }
    start = time.perf_counter()
    results = fixture_grader.grade_many(folders, jobs=os.cpu_count() or 1)
    # A figure for the record (pytest -s shows it); the machine decides it, so no assertion.
    print(f"\ngraded 20 copies of the fixture submission in {time.perf_counter() - start:.1f} s")
    assert [r.student for r in results] == list(
        folders
    )  # in the order asked, whatever finished first
    assert all(r.score == r.max_score == 7 for r in results)
