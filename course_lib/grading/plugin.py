"""The pytest plugin that runs inside the grading process and records what happened.

The grader copies this file next to the course and loads it with
``-p course_grading_plugin``, so it imports nothing but the standard library
and pytest: it works with any course copy, even one whose package has no
``grading`` module. Options:

``--grading-json PATH``          append one JSON object per line to PATH (below)
``--grading-seed N``             seed ``random``, NumPy and PyTorch before every test
``--grading-memory-mb MB``       cap the address space of the process (RLIMIT_AS)
``--grading-collect-timeout S``  give up importing one test module after S seconds

Lines written, each flushed at once so that a process killed halfway keeps
what it had::

    {"event": "item", "nodeid", "file", "line", "points", "exercise", "markers"}  (collected)
    {"event": "collect_error", "nodeid", "output"}        (a test module failed to import)
    {"event": "start", "nodeid"}                          (a test begins)
    {"event": "result", "nodeid", "outcome", "message", "output", "duration"}
    {"event": "finish", "exitstatus", "vm_peak_mb"}       (the session ended normally)

``outcome`` is ``passed`` only when setup, call and teardown all passed;
``skipped`` and ``xfailed`` tests are recorded as such (the grader gives them
no points, so student code cannot skip its way past a test).
"""

from __future__ import annotations

import json
import random
import signal
import sys
from typing import IO, Any

import pytest

_OUTPUT_LIMIT = 4000  # characters of traceback kept per test: enough to read, small JSON


class CollectionTimeout(Exception):
    """Importing a test module (and so the student's code) took too long."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course grading")
    group.addoption("--grading-json", default=None, help="write per-test records (JSON lines)")
    group.addoption("--grading-seed", type=int, default=0, help="seed for every test")
    group.addoption("--grading-memory-mb", type=int, default=0, help="RLIMIT_AS in MiB (0: none)")
    group.addoption(
        "--grading-collect-timeout", type=float, default=0.0, help="seconds per test module"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    megabytes = config.getoption("--grading-memory-mb")
    if megabytes:
        import resource

        limit = megabytes * 2**20
        try:
            # Soft and hard alike: an unprivileged submission cannot raise it. No core files.
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError) as exc:  # macOS refuses RLIMIT_AS: grade without the cap
            sys.stderr.write(f"course grading: no memory limit on this system ({exc})\n")
    path = config.getoption("--grading-json")
    if path:
        config.pluginmanager.register(_Recorder(path), "course-grading-recorder")


def _alarm(signum: int, frame: Any) -> None:
    raise CollectionTimeout(
        "importing this test module (and the code it tests) did not finish in time: "
        "is there an infinite loop or a long computation at the top level of your module?"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport | None:
    """Import each test module here first, so that what the student's code does at import
    becomes a collection error of that module: pytest itself lets ``SystemExit`` (and
    ``pytest.exit``) end the whole session, and has no timeout on imports."""
    if not isinstance(collector, pytest.Module):
        return None
    seconds = collector.config.getoption("--grading-collect-timeout")
    use_alarm = bool(seconds) and hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        collector.obj  # noqa: B018 - imports the module; pytest caches it for the real collection
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit, pytest.exit, CollectionTimeout, any error
        excinfo = pytest.ExceptionInfo.from_exception(exc)
        return pytest.CollectReport(collector.nodeid, "failed", collector.repr_failure(excinfo), [])
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return None  # imported: pytest collects the tests as usual


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # The same seed before every test, so a test's random data does not depend on
    # which other tests ran before it (or failed halfway).
    seed = item.config.getoption("--grading-seed")
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _trim(text: str) -> str:
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return "...\n" + text[-_OUTPUT_LIMIT:]


def _vm_peak_mb() -> float | None:
    """Peak address space of this process in MiB (what RLIMIT_AS limits); None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) / 1024  # the line reads "VmPeak: 123 kB"
    except OSError:
        pass
    return None


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"skipped: {longrepr[2]}"
    return "skipped"


class _Recorder:
    """Registered only with ``--grading-json``: gathers the phases of each test, writes lines."""

    def __init__(self, path: str) -> None:
        self.stream: IO[str] = open(path, "a", encoding="utf-8")  # closed in pytest_unconfigure
        self.tests: dict[str, dict[str, Any]] = {}

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            output = _trim(report.longreprtext)
            self.write({"event": "collect_error", "nodeid": report.nodeid, "output": output})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            points = item.get_closest_marker("points")
            exercise = item.get_closest_marker("exercise")
            file, line, _ = item.location
            self.write(
                {
                    "event": "item",
                    "nodeid": item.nodeid,
                    "file": file,
                    "line": (line or 0) + 1,
                    "points": points.args[0] if points and points.args else None,
                    "exercise": exercise.args[0] if exercise and exercise.args else None,
                    "markers": sorted({m.name for m in item.iter_markers()}),
                }
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.tests.setdefault(
            report.nodeid, {"outcome": "passed", "message": "", "output": "", "duration": 0.0}
        )
        state["duration"] += report.duration
        if report.when == "call" and hasattr(report, "wasxfail"):
            state["outcome"] = "xfailed" if report.skipped else "xpassed"
        elif report.skipped and state["outcome"] == "passed":
            state["outcome"], state["message"] = "skipped", _skip_reason(report)
        elif report.failed and state["outcome"] != "failed":
            state["outcome"] = "failed"
            crash = getattr(report.longrepr, "reprcrash", None)
            lines = report.longreprtext.strip().splitlines()
            message = getattr(crash, "message", "") or (lines[-1] if lines else "failed")
            prefix = "" if report.when == "call" else f"error in test {report.when}: "
            state["message"] = prefix + message
            state["output"] = _trim(report.longreprtext)
            if report.capstdout:
                state["output"] += "\n----- captured stdout -----\n" + _trim(report.capstdout)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        # The grader's watchdog kills a test that ignores its timeout; this says which.
        self.write({"event": "start", "nodeid": nodeid})

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if nodeid in self.tests:
            self.write({"event": "result", "nodeid": nodeid, **self.tests.pop(nodeid)})

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.write({"event": "finish", "exitstatus": int(exitstatus), "vm_peak_mb": _vm_peak_mb()})

    def pytest_unconfigure(self) -> None:
        self.stream.close()
