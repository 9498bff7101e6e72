"""Run every notebook of the book in a fresh kernel; report its time and peak memory.

    python -m tools.notebook_report --profile default \\
        --json benchmarks/results/notebooks.json --markdown benchmarks/results/notebooks.md

Each notebook under ``--root`` (``book/**/*.ipynb``, checkpoints and build
folders skipped) runs top to bottom in a new kernel of this Python, with
``COURSE_PROFILE`` set and this checkout first on ``PYTHONPATH``. While it runs,
the resident memory of the kernel and everything it started is summed every
0.2 s; the peak and the wall time are compared with the budgets a reader's
machine imposes (mybinder.org: 1 CPU, 2 GB, of which the notebook gets half).

Writes the JSON report and the Markdown table that the benchmarks appendix
includes, prints the table, and exits 1 if a notebook failed (after writing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import psutil
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 180.0
BUDGET_MB = 1024.0
SAMPLE_EVERY_S = 0.2
KERNEL_NAME = "course-report-python3"
_SKIP_PARTS = {".ipynb_checkpoints", "_build", ".jupyter_cache"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks


@dataclass
class NotebookResult:
    """Outcome of one notebook: ``status`` is ``"ok"`` or ``"error"``."""

    path: str
    status: str
    seconds: float
    peak_rss_mb: float
    within_budget: bool
    error: str | None = None


class PeakRss:
    """Track the peak of the summed RSS of this process's descendants (the kernel tree).

    RSS counts pages shared between processes once per process, so with
    DataLoader workers the sum is an upper bound, the safe side for a budget.
    """

    def __init__(self, every_s: float = SAMPLE_EVERY_S):
        self.every_s = every_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # it exited between listing and reading
                pass
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # a last look, while the kernel is still alive


def find_notebooks(root: Path) -> list[Path]:
    """Every ``.ipynb`` under ``root``, sorted, without checkpoints and build copies."""
    return sorted(p for p in root.glob("**/*.ipynb") if not _SKIP_PARTS & set(p.parts))


def _kernel_manager(spec_dir: Path) -> KernelManager:
    """A kernel manager whose only kernel is ``sys.executable``.

    A user-wide ``python3`` kernelspec may point at another environment; the
    report must measure this one.
    """
    spec = spec_dir / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "course report", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def _short_error(err: BaseException) -> str:
    text = _ANSI.sub("", f"{type(err).__name__}: {err}").strip()
    return text if len(text) <= 4000 else "...\n" + text[-4000:]  # the end holds the exception


def run_notebook(path: Path, profile: str, *, cell_timeout: int, spec_dir: Path) -> NotebookResult:
    """Execute ``path`` in a fresh kernel with ``COURSE_PROFILE=profile`` and measure it."""
    env = dict(os.environ, COURSE_PROFILE=profile)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    nb = nbformat.read(path, as_version=4)
    km = _kernel_manager(spec_dir)
    client = NotebookClient(
        nb, km=km, timeout=cell_timeout, resources={"metadata": {"path": str(path.parent)}}
    )
    error = None
    start = time.perf_counter()
    try:
        with PeakRss() as rss:
            try:
                client.execute(env=env)
            except Exception as err:  # a failing cell, a timeout, a dead kernel
                error = _short_error(err)
        seconds = time.perf_counter() - start
    finally:
        if km.has_kernel:  # we passed km in, so nbclient leaves it running
            km.shutdown_kernel(now=True)
    peak_mb = rss.peak_bytes / 2**20
    ok = error is None
    return NotebookResult(
        path=_display_path(path),
        status="ok" if ok else "error",
        seconds=round(seconds, 2),
        peak_rss_mb=round(peak_mb, 1),
        within_budget=ok and seconds <= BUDGET_SECONDS and peak_mb <= BUDGET_MB,
        error=error,
    )


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:  # a notebook outside the repository, e.g. a test under /tmp
        return path.resolve().as_posix()


def machine_info() -> dict[str, object]:
    """What the timings depend on: CPUs, memory, library versions, commit, date."""

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # no git, or no commit yet
        commit = None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "numpy": version("numpy"),
        "commit": commit,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def markdown_table(report: dict) -> str:
    """The report as a Markdown table with a one-line caption."""
    m = report["machine"]
    lines = [
        f"Profile `{report['profile']}`, {m['date'][:10]}, {m['cpus_usable'] or m['cpu_count']} "
        f"CPU(s), Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}. "
        f"Budget per notebook: {report['budgets']['seconds']:.0f} s and "
        f"{report['budgets']['peak_rss_mb']:.0f} MB.",
        "",
        "| Notebook | Status | Time (s) | Peak memory (MB) | Within budget |",
        "|---|---|---:|---:|---|",
    ]
    for path, r in report["notebooks"].items():
        budget = "yes" if r["within_budget"] else "**no**"
        lines.append(
            f"| `{path}` | {r['status']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {budget} |"
        )
    if not report["notebooks"]:
        lines.append("| (no notebooks found) | | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_report", description=__doc__)
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "book", help="folder to search")
    parser.add_argument("--profile", default="default", choices=["smoke", "default", "full"])
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown table here")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument(
        "--fail-over-budget", action="store_true", help="exit 1 also when over budget"
    )
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"--root {args.root} is not a folder")

    notebooks = find_notebooks(args.root)
    results = []
    with tempfile.TemporaryDirectory(prefix="notebook-report-") as spec_dir:
        for i, path in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {_display_path(path)} ...", flush=True)
            results.append(
                run_notebook(
                    path, args.profile, cell_timeout=args.cell_timeout, spec_dir=Path(spec_dir)
                )
            )
    report = {
        "profile": args.profile,
        "budgets": {"seconds": BUDGET_SECONDS, "peak_rss_mb": BUDGET_MB},
        "machine": machine_info(),
        "notebooks": {r.path: {k: v for k, v in asdict(r).items() if k != "path"} for r in results},
    }
    table = markdown_table(report)
    for out, text in ((args.json, json.dumps(report, indent=2) + "\n"), (args.markdown, table)):
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
    print(table)
    for r in results:
        if r.error:
            print(f"--- {r.path} failed:\n{r.error}\n", file=sys.stderr)
    failed = any(r.status != "ok" for r in results)
    over = any(not r.within_budget for r in results)
    return 1 if failed or (args.fail_over_budget and over) else 0


if __name__ == "__main__":
    sys.exit(main())
