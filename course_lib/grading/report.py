"""Reports of graded submissions: Gradescope's results.json, a CSV of grades, a summary table.

The results.json follows Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a top-level
``score`` and ``tests``, each test with ``name``, ``score``, ``max_score``,
``status`` (``passed``/``failed``), ``output`` and ``visibility``. We add the
top-level ``max_score`` and ``extra_data`` (points per exercise), which
Gradescope keeps without using.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from course_lib.grading.scoring import SubmissionResult

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
STATUSES = ("passed", "failed")


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 4)


def summary_text(result: SubmissionResult) -> str:
    """The top-level feedback: score per exercise, then notes on the run."""
    lines = [f"Total: {_number(result.score)} / {_number(result.max_score)}", ""]
    for exercise, (score, most) in result.by_exercise().items():
        lines.append(f"  {exercise}: {_number(score)} / {_number(most)}")
    if result.modules:
        graded = ", ".join(f"{n} ({p})" for n, p in sorted(result.modules.items()))
        lines += ["", f"Graded modules: {graded}"]
    if result.notes:
        lines += ["", *result.notes]
    return "\n".join(lines)


def gradescope_results(
    result: SubmissionResult, hidden_visibility: str = "after_published"
) -> dict[str, Any]:
    """The results.json object of one submission.

    Args:
        result: the graded submission.
        hidden_visibility: Gradescope visibility of the hidden tests (the public
            ones are ``visible``); ``after_published`` shows them with the grades.
    """
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(
            f"hidden_visibility must be one of {VISIBILITIES}, got {hidden_visibility!r}"
        )
    tests = []
    for number, t in enumerate(result.tests, start=1):
        tests.append(
            {
                "name": t.item.name,
                "number": str(number),
                "score": _number(t.score),
                "max_score": _number(t.item.points),
                "status": t.status,
                "output": t.output,
                "tags": [t.item.exercise],
                "visibility": hidden_visibility if t.item.hidden else "visible",
            }
        )
    exercises = {
        e: {"score": _number(s), "max_score": _number(m)}
        for e, (s, m) in result.by_exercise().items()
    }
    return {
        "score": _number(result.score),
        "max_score": _number(result.max_score),
        "execution_time": round(result.wall_s, 2),
        "output": summary_text(result),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"student": result.student, "exercises": exercises},
        "tests": tests,
    }


def validate_results(data: dict[str, Any]) -> None:
    """Check ``data`` against the fields Gradescope reads; ``ValueError`` names the first fault."""

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ValueError(f"results.json: {what}")

    def is_num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    need(isinstance(data, dict), "the top level must be an object")
    need(is_num(data.get("score")), "'score' must be a number")
    need(isinstance(data.get("tests"), list), "'tests' must be a list")
    need(data.get("visibility", "visible") in VISIBILITIES, "bad top-level 'visibility'")
    total = 0.0
    for i, test in enumerate(data["tests"]):
        where = f"tests[{i}]"
        need(isinstance(test, dict), f"{where} must be an object")
        need(isinstance(test.get("name"), str) and test["name"], f"{where}.name must be a string")
        need(
            is_num(test.get("score")) and is_num(test.get("max_score")),
            f"{where} needs numeric scores",
        )
        need(0 <= test["score"] <= test["max_score"], f"{where}.score must be in [0, max_score]")
        need(test.get("status") in STATUSES, f"{where}.status must be one of {STATUSES}")
        need(isinstance(test.get("output", ""), str), f"{where}.output must be a string")
        need(test.get("visibility", "visible") in VISIBILITIES, f"{where}.visibility is not valid")
        total += test["score"]
    need(
        abs(total - data["score"]) < 1e-6,
        f"'score' {data['score']} is not the sum of the tests ({total})",
    )
    if "max_score" in data:
        most = sum(t["max_score"] for t in data["tests"])
        need(abs(most - data["max_score"]) < 1e-6, "'max_score' is not the sum of the tests")
    json.dumps(data)  # must serialise as plain JSON


def write_results(
    result: SubmissionResult, path: str | Path, hidden_visibility: str = "after_published"
) -> Path:
    """Write (and validate) the results.json of one submission."""
    data = gradescope_results(result, hidden_visibility)
    validate_results(data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _exercises(results: Iterable[SubmissionResult]) -> list[str]:
    names: dict[str, None] = {}
    for r in results:
        names.update(dict.fromkeys(r.by_exercise()))
    return list(names)


def write_csv(results: list[SubmissionResult], path: str | Path) -> Path:
    """One row per student: ``student``, the points of each exercise, ``total``, ``max_score``."""
    exercises = _exercises(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["student", *exercises, "total", "max_score"])
        for r in results:
            per = r.by_exercise()
            row = [_number(per.get(e, (0.0, 0.0))[0]) for e in exercises]
            writer.writerow([r.student, *row, _number(r.score), _number(r.max_score)])
    return path


def summary_table(results: list[SubmissionResult]) -> str:
    """A plain-text table: one row per student, one column per exercise, the total and percent."""
    exercises = _exercises(results)
    header = ["student", *exercises, "total", "%"]
    rows = []
    for r in results:
        per = r.by_exercise()
        cells = [
            f"{_number(per[e][0])}/{_number(per[e][1])}" if e in per else "-" for e in exercises
        ]
        percent = 100.0 * r.score / r.max_score if r.max_score else 0.0
        rows.append(
            [r.student, *cells, f"{_number(r.score)}/{_number(r.max_score)}", f"{percent:.0f}"]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
