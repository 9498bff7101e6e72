"""Run pytest on one grading folder in its own process, within limits, and read what it recorded.

The child is ``python -m pytest`` started in its own session (process group) so
that the whole group can be killed at the wall-clock limit, with:

* the grading plugin (:mod:`course_lib.grading.plugin`) copied next to the
  course and loaded with ``-p``; it writes one JSON line per event, flushed, so
  a run killed halfway still tells which tests passed before;
* a per-test timeout (pytest-timeout, ``signal`` method: the test fails with a
  ``Timeout`` message and the run goes on), a timeout on importing each test
  module, a cap on the address space (RLIMIT_AS), and the same seed for
  ``random``, NumPy, PyTorch and ``PYTHONHASHSEED``;
* one thread per numerical library: results do not depend on the machine, and
  parallel gradings do not oversubscribe the cores;
* ``COURSE_PROFILE=smoke`` and no inherited ``PYTHONPATH``/``PYTEST_ADDOPTS``, so
  only the course copy in the folder is imported;
* no plugin autoloading: pytest-timeout, the grading plugin and (when the tests
  use it) hypothesis's are loaded by name, which also saves about a second per
  run that other installed plugins (nbval...) would take to import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLUGIN_MODULE = "course_grading_plugin"
_LOG_TAIL = 6000  # characters of the child's console output kept for the report


@dataclass
class Limits:
    """The limits one grading run works within (the CLI's defaults)."""

    test_timeout: float = 30.0  # seconds per test, and to import each test module
    total_timeout: float = 600.0  # seconds for the whole submission, restarts included
    # A test still running this long after its timeout ignored it (it caught the
    # exception, or sat in compiled code): the watchdog kills the process.
    grace: float = 5.0
    # Address space allowed beyond what importing the course and its tests takes (the
    # Grader measures that once: about 0.8 GB with a CPU build of torch, several GB with a
    # CUDA build). 0: no limit.
    memory_mb: int = 2048
    seed: int = 0


@dataclass
class RunResult:
    """What came back from one pytest process."""

    records: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False  # stopped at the deadline
    killed_test: str | None = None  # the test the watchdog stopped, if any
    wall_s: float = 0.0
    log_tail: str = ""

    @property
    def finished(self) -> bool:
        """Whether pytest reached the end of its session (it wrote its ``finish`` line)."""
        return any(r.get("event") == "finish" for r in self.records)


def child_env(workdir: Path, limits: Limits) -> dict[str, str]:
    """The environment of the grading process (see the module docstring)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "HYPOTHESIS_PROFILE")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(workdir), str(workdir / ".grader")]),
        PYTHONHASHSEED=str(limits.seed),
        PYTHONDONTWRITEBYTECODE="1",
        COURSE_PROFILE="smoke",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        # Each thread's malloc arena reserves address space; a few keep RLIMIT_AS meaningful.
        MALLOC_ARENA_MAX="2",
        # Only the plugins grading needs (see pytest_command): whatever else is installed
        # (nbval, coverage...) neither slows each run down nor changes its outcome.
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    return env


def _uses_hypothesis(workdir: Path) -> bool:
    """Whether the graded tests or the conftest mention hypothesis (its plugin is then loaded)."""
    files = [workdir / "tests" / "conftest.py", *(workdir / "tests" / "exercises").rglob("*.py")]
    return any(f.is_file() and "hypothesis" in f.read_text(encoding="utf-8") for f in files)


def install_plugin(workdir: Path) -> None:
    """Put the plugin where ``-p course_grading_plugin`` finds it, outside the course package."""
    target = workdir / ".grader" / f"{PLUGIN_MODULE}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("plugin.py"), target)


def pytest_command(
    records: Path,
    limits: Limits,
    *,
    paths: list[str],
    marker: str | None,
    collect_only: bool,
    hypothesis: bool = False,
) -> list[str]:
    """The ``python -m pytest ...`` command line of a grading run."""
    cmd = [sys.executable, "-m", "pytest", *paths, "-p", "pytest_timeout"]
    if hypothesis and importlib.util.find_spec("_hypothesis_pytestplugin") is not None:
        cmd += ["-p", "_hypothesis_pytestplugin"]
    cmd += ["-p", PLUGIN_MODULE, "-p", "no:cacheprovider", "--grading-json", str(records)]
    cmd += ["--grading-seed", str(limits.seed), "--grading-memory-mb", str(limits.memory_mb)]
    cmd += ["--grading-collect-timeout", str(limits.test_timeout)]
    cmd += ["--timeout", str(limits.test_timeout), "--timeout-method", "signal"]
    # A module that fails to import fails its own tests, not the other modules'.
    cmd += [
        "--continue-on-collection-errors",
        "--tb=short",
        "-q",
        "-o",
        "console_output_style=classic",
    ]
    if marker:
        cmd += ["-m", marker]
    if collect_only:
        cmd.append("--collect-only")
    return cmd


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


class _Tail:
    """Reads the records file as the child appends to it (only whole lines)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.records = path, 0, []

    def poll(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        new = []
        for line in data[:end].decode("utf-8", errors="replace").splitlines():
            try:
                new.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # not ours: nothing else should write here
        self.records += new
        return new


def run_pytest(
    workdir: Path,
    limits: Limits,
    *,
    paths: list[str] | None = None,
    marker: str | None = None,
    collect_only: bool = False,
    deadline: float | None = None,
) -> RunResult:
    """Run the graded tests of ``workdir`` (a prepared grading folder) in a child process.

    Args:
        workdir: the grading folder (course copy with the submission's modules).
        limits: the timeouts, memory cap and seed.
        paths: test files or node ids to run (default: ``tests/exercises``).
        marker: a pytest ``-m`` expression.
        collect_only: only collect (to list the graded tests).
        deadline: ``time.monotonic()`` value at which to stop (default: now + total_timeout).

    The watchdog polls the records: a test running ``test_timeout + grace``
    seconds is killed with its process (:attr:`RunResult.killed_test`), as is
    everything at the deadline (:attr:`RunResult.timed_out`).
    """
    workdir = Path(workdir)
    install_plugin(workdir)
    records = workdir / ".grader" / "records.jsonl"
    records.unlink(missing_ok=True)
    log = workdir / ".grader" / "pytest.log"
    cmd = pytest_command(
        records,
        limits,
        paths=paths or ["tests/exercises"],
        marker=marker,
        collect_only=collect_only,
        hypothesis=_uses_hypothesis(workdir),
    )
    start = time.monotonic()
    deadline = start + limits.total_timeout if deadline is None else deadline
    result, tail = RunResult(), _Tail(records)
    running: tuple[str, float] | None = None  # (node id, start time) of the test in progress
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=child_env(workdir, limits),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killable as a whole
        )
        try:
            while True:
                try:
                    result.returncode = proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                for record in tail.poll():
                    if record["event"] == "start":
                        running = (record["nodeid"], time.monotonic())
                    elif record["event"] == "result":
                        running = None
                now = time.monotonic()
                if running and now - running[1] > limits.test_timeout + limits.grace:
                    result.killed_test = running[0]
                elif now > deadline:
                    result.timed_out = True
                else:
                    continue
                _kill_group(proc.pid)
                result.returncode = proc.wait()
                break
        finally:
            _kill_group(proc.pid)  # anything the submission left running in the background
    tail.poll()
    result.wall_s = time.monotonic() - start
    result.records = tail.records
    text = log.read_text(encoding="utf-8", errors="replace")
    result.log_tail = text[-_LOG_TAIL:]
    return result
