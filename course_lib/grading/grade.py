"""Grade submissions: the student's exercise modules, the course's everything else.

A :class:`Grader` prepares, once, a *base* folder: a copy of the course's
package, graded tests (hidden ones included), conftest and pytest settings,
in which every exercise module is replaced by its stub. It collects the
graded tests there once (the *manifest*: every test with its points and
exercise). Grading a submission then copies the base, drops in the modules
found in the submission (``ch01.py`` anywhere in it, preferring
``course_lib/exercises/ch01.py``), runs pytest in a child process
(:mod:`course_lib.grading.runner`) and scores each manifest test: its points
if it passed, else zero with the reason. A test that never reported (its
module failed to import, the process hung or died) still gets a line, so one
broken submission never costs another, nor the rest of its own tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from course_lib.grading.course import (
    EXERCISES_DIR,
    copy_grading_files,
    exercise_modules,
    find_course_root,
)
from course_lib.grading.markers import HIDDEN, find_blocks, strip_source
from course_lib.grading.runner import Limits, RunResult, run_pytest
from course_lib.grading.scoring import ManifestItem, SubmissionResult, run_notes, score_tests

MAX_RESTARTS = 3  # tests that may crash or hang the process before the rest are given up
_MAX_MODULE_BYTES = 2 * 2**20  # a larger "module" is not source code a student wrote
_SKIP_DIRS = {"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints"}


class GradingError(RuntimeError):
    """The course itself cannot be graded (its tests do not collect, a marker is wrong...)."""


def _unfinished_test(run: RunResult) -> str | None:
    """The test that started but never reported in a run that ended early, if any."""
    started = [r["nodeid"] for r in run.records if r["event"] == "start"]
    reported = {r["nodeid"] for r in run.records if r["event"] == "result"}
    return next((n for n in reversed(started) if n not in reported), None)


def find_submission_modules(
    folder: Path, names: Iterable[str]
) -> tuple[dict[str, Path], list[str]]:
    """The exercise modules in a submission folder, and notes about what was (not) found."""
    wanted = {f"{n}.py" for n in names}
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if path.name not in wanted or any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        found.setdefault(path.stem, []).append(path)
    chosen: dict[str, Path] = {}
    notes = []
    for name, paths in found.items():
        # The package layout wins, then the shallowest file.
        paths.sort(key=lambda p: (p.parent.parts[-2:] != ("course_lib", "exercises"), len(p.parts)))
        if paths[0].stat().st_size > _MAX_MODULE_BYTES:
            notes.append(f"{paths[0].relative_to(folder)} is larger than 2 MB and was ignored.")
            continue
        chosen[name] = paths[0]
        if len(paths) > 1:
            others = ", ".join(str(p.relative_to(folder)) for p in paths[1:])
            notes.append(
                f"Several {name}.py found; graded {paths[0].relative_to(folder)}, not {others}."
            )
    return chosen, notes


def is_submission(folder: Path, names: Iterable[str]) -> bool:
    """Whether ``folder`` itself holds exercise modules at its top or package level."""
    return any(
        (folder / f"{n}.py").is_file() or (folder / EXERCISES_DIR / f"{n}.py").is_file()
        for n in names
    )


class Grader:
    """Grades submissions against one course root (see the module docstring).

    Use it as a context manager, or call :meth:`close`, to remove its folders.
    """

    def __init__(
        self,
        course_root: str | Path | None = None,
        limits: Limits | None = None,
        *,
        marker: str | None = None,
        work_dir: str | Path | None = None,
    ) -> None:
        self.root = find_course_root(course_root)
        self.limits = limits or Limits()
        self.marker = marker
        self.modules = exercise_modules(self.root)
        self._tmp = Path(tempfile.mkdtemp(prefix="course-grading-", dir=work_dir))
        self.base = self._tmp / "base"
        copy_grading_files(self.root, self.base)
        for name, path in self.modules.items():
            stub = strip_source(path.read_text(encoding="utf-8"), path, module=f"exercises.{name}")
            (self.base / EXERCISES_DIR / f"{name}.py").write_text(stub, encoding="utf-8")
        self._manifest: list[ManifestItem] | None = None
        self.baseline_mb = 0  # address space (MiB) that importing the course and tests takes

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the grading folders."""
        shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def run_limits(self) -> Limits:
        """The limits of a grading run: the memory cap counts from the measured baseline."""
        _ = self.manifest  # measures baseline_mb
        if not self.limits.memory_mb:
            return self.limits
        return replace(self.limits, memory_mb=self.baseline_mb + self.limits.memory_mb)

    @property
    def manifest(self) -> list[ManifestItem]:
        """The graded tests, collected once from the base folder (stubs and hidden tests)."""
        if self._manifest is None:
            self._manifest = self._collect()
        return self._manifest

    def _collect(self) -> list[ManifestItem]:
        work = self._tmp / "collect"
        shutil.copytree(self.base, work)
        # No memory cap here: this run measures what importing the course and its tests
        # takes, and the grading runs get that plus limits.memory_mb.
        run = run_pytest(
            work, replace(self.limits, memory_mb=0), marker=self.marker, collect_only=True
        )
        errors = [r for r in run.records if r["event"] == "collect_error"]
        if errors or not run.finished:
            detail = errors[0]["output"] if errors else run.log_tail
            raise GradingError(f"the course's graded tests do not collect:\n{detail}")
        finish = next(r for r in run.records if r["event"] == "finish")
        self.baseline_mb = int(finish.get("vm_peak_mb") or 0)
        hidden_lines: dict[str, list[tuple[int, int]]] = {}
        items = []
        for r in (r for r in run.records if r["event"] == "item"):
            if r["points"] is None or r["exercise"] is None:
                raise GradingError(
                    f"{r['nodeid']} has no @pytest.mark.points(n) or @pytest.mark.exercise(id)"
                )
            if r["file"] not in hidden_lines:
                source = (self.root / r["file"]).read_text(encoding="utf-8")
                blocks = find_blocks(source, r["file"])
                hidden_lines[r["file"]] = [(b.begin, b.end) for b in blocks if b.kind == HIDDEN]
            hidden = any(a <= r["line"] <= b for a, b in hidden_lines[r["file"]])
            items.append(
                ManifestItem(
                    nodeid=r["nodeid"],
                    file=r["file"],
                    line=r["line"],
                    points=float(r["points"]),
                    exercise=r["exercise"],
                    hidden=hidden,
                    markers=tuple(r.get("markers", ())),
                )
            )
        if not items:
            raise GradingError(f"no graded tests collected from {self.root / 'tests/exercises'}")
        return items

    def grade(self, submission: str | Path, student: str | None = None) -> SubmissionResult:
        """Grade one submission folder; never raises because of what the submission does."""
        submission = Path(submission)
        manifest = self.manifest
        result = SubmissionResult(student or submission.resolve().name)
        found, result.notes = find_submission_modules(submission, self.modules)
        result.modules = {n: str(p.relative_to(submission)) for n, p in found.items()}
        if not found:
            result.notes.append(
                "No exercise module found in the submission (expected one of "
                + ", ".join(f"{n}.py" for n in self.modules)
                + ")."
            )
        work = Path(tempfile.mkdtemp(prefix="submission-", dir=self._tmp))
        try:
            shutil.copytree(self.base, work, dirs_exist_ok=True)
            for name, path in found.items():
                shutil.copyfile(path, work / EXERCISES_DIR / f"{name}.py")
            run = self._run_with_restarts(work, manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        # Paths inside the grading folder are shown relative to it (the student's layout).
        prefix = f"{work}{os.sep}"
        for record in run.records:
            for key in ("output", "message"):
                if isinstance(record.get(key), str):
                    record[key] = record[key].replace(prefix, "")
        result.wall_s = run.wall_s
        result.tests = score_tests(manifest, run, self.run_limits)
        result.notes += run_notes(run, self.run_limits)
        return result

    def _run_with_restarts(self, work: Path, manifest: list[ManifestItem]) -> RunResult:
        """Run the tests; when a test kills or hangs the process, fail it and run the rest.

        Returns one :class:`RunResult` holding the records of every run.
        """
        deadline = time.monotonic() + self.limits.total_timeout
        merged = RunResult()
        paths: list[str] | None = None  # None: every graded test
        for _ in range(MAX_RESTARTS + 1):
            run = run_pytest(
                work, self.run_limits, paths=paths, marker=self.marker, deadline=deadline
            )
            merged.records += run.records
            merged.wall_s += run.wall_s
            merged.returncode, merged.timed_out = run.returncode, run.timed_out
            culprit = run.killed_test or _unfinished_test(run)
            if run.finished or run.timed_out or culprit is None:
                break
            if run.killed_test:
                seconds = self.limits.test_timeout + self.limits.grace
                message = (
                    f"Killed: still running {seconds:g} s after it started; its timeout could "
                    "not stop it (an endless loop that catches every exception, or a very long "
                    "computation in compiled code)."
                )
            else:
                message = (
                    f"The test process ended during this test (exit code {run.returncode}): "
                    "os._exit, a crash in compiled code, or running out of memory."
                )
            merged.records.append(
                {"event": "result", "nodeid": culprit, "outcome": "failed", "message": message}
            )
            done = {r["nodeid"] for r in merged.records if r["event"] == "result"}
            paths = [item.nodeid for item in manifest if item.nodeid not in done]
            if not paths:
                merged.records.append({"event": "finish", "exitstatus": 1})
                break
        return merged

    def grade_many(
        self,
        submissions: dict[str, Path],
        jobs: int = 1,
        on_done: Callable[[SubmissionResult], Any] | None = None,
    ) -> list[SubmissionResult]:
        """Grade ``{student: folder}`` on ``jobs`` parallel processes, in the order given."""
        _ = self.manifest  # collect once, before the workers start
        results: dict[str, SubmissionResult] = {}
        # Threads suffice: each one waits on its own pytest process.
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {
                pool.submit(self.grade, path, student): student
                for student, path in submissions.items()
            }
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_done is not None:
                    on_done(result)
        return [results[s] for s in submissions]
