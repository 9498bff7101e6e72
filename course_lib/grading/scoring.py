"""Scoring: from what one pytest run recorded to points per graded test, with the reasons.

Every test of the *manifest* (the graded tests collected from the course) gets
a :class:`TestResult`: its points if it passed; otherwise zero and an output
that says why, including for tests that never reported because their module
failed to import, or the process hung or died. Hidden tests show the error
message only, never their code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from course_lib.grading.runner import Limits, RunResult


@dataclass(frozen=True)
class ManifestItem:
    """One graded test, as collected from the course."""

    nodeid: str
    file: str
    line: int
    points: float
    exercise: str
    hidden: bool
    markers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``exercise: test_name[params]``, the name shown to students."""
        return f"{self.exercise}: {self.nodeid.split('::', 1)[-1]}"


@dataclass
class TestResult:
    """The score of one graded test for one submission."""

    item: ManifestItem
    score: float
    status: str  # "passed" or "failed", as Gradescope wants
    output: str


@dataclass
class SubmissionResult:
    """Everything known about one graded submission."""

    student: str
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # module -> path in the submission
    wall_s: float = 0.0

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.item.points for t in self.tests)

    def by_exercise(self) -> dict[str, tuple[float, float]]:
        """``{exercise: (score, max_score)}`` in the order of the tests."""
        out: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            score, most = out.get(t.item.exercise, (0.0, 0.0))
            out[t.item.exercise] = (score + t.score, most + t.item.points)
        return out


def _failure_text(record: dict[str, Any], item: ManifestItem, limits: Limits) -> str:
    outcome, message = record["outcome"], record.get("message", "")
    if outcome in ("skipped", "xfailed", "xpassed"):
        return f"This test was {outcome} ({message or 'no reason given'}): a graded test must pass."
    note = ""
    if "MemoryError" in message:
        note = f"\n(The grader allows {limits.memory_mb} MiB of address space in all.)"
    if "Timeout" in message:
        note = f"\n(The grader allows {limits.test_timeout:g} s per test.)"
    if item.hidden:
        return f"{message}{note}"  # hidden tests: the error, not the test's code
    return f"{message}{note}\n\n{record.get('output', '')}".rstrip()


def score_tests(manifest: list[ManifestItem], run: RunResult, limits: Limits) -> list[TestResult]:
    """One :class:`TestResult` per manifest test, from the records of a run."""
    reported = {r["nodeid"]: r for r in run.records if r["event"] == "result"}
    collect_errors = {
        r["nodeid"]: r["output"] for r in run.records if r["event"] == "collect_error"
    }
    results = []
    for item in manifest:
        record = reported.get(item.nodeid)
        if record is not None and record["outcome"] == "passed":
            results.append(TestResult(item, item.points, "passed", "Passed."))
            continue
        if record is not None:
            output = _failure_text(record, item, limits)
        elif item.file in collect_errors:
            output = (
                "Not run: importing the tests failed, usually because the submitted module "
                "does not import (a syntax error, an exception or sys.exit at its top level):\n\n"
                + error_lines(collect_errors[item.file])
            )
        elif collect_errors:
            first = next(iter(collect_errors.values()))
            output = "Not run: collecting the tests failed:\n\n" + error_lines(first)
        elif run.timed_out:
            output = (
                f"Not run: the grading run was stopped after {limits.total_timeout:g} s "
                "(an earlier test or the module's import probably never finished)."
            )
        else:
            output = (
                f"Not run: the test process ended early (exit code {run.returncode}), "
                "for example through os._exit, a crash in compiled code, or the memory limit."
            )
        results.append(TestResult(item, 0.0, "failed", output))
    return results


def run_notes(run: RunResult, limits: Limits) -> list[str]:
    """Notes on the run as a whole, for the top of the report."""
    notes = []
    if run.timed_out:
        notes.append(
            f"The grading run hit its time limit of {limits.total_timeout:g} s and was stopped."
        )
    elif not run.finished:
        notes.append(f"The test process ended early (exit code {run.returncode}).")
    for r in run.records:
        if r["event"] == "collect_error":
            notes.append(
                f"{r['nodeid'] or 'The tests'} could not be imported; its tests score zero:\n"
                + readable_traceback(r["output"])
            )
    return notes


def readable_traceback(text: str) -> str:
    """A collection traceback without pytest's and importlib's own frames."""
    lines = text.splitlines()
    # Start at the test module's frame: what comes before is the machinery importing it.
    start = next((i for i, line in enumerate(lines) if "tests/" in line and ": in " in line), 0)
    return "\n".join(lines[start:])


def error_lines(text: str) -> str:
    """The ``E ...`` lines of a traceback (the error itself), or its last line."""
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(lines) if lines else (text.strip().splitlines() or [""])[-1]
