"""Print the pip constraints that keep `.venv` small on a CPU-only machine.

An unconstrained ``pip install torch`` on Linux pulls a CUDA build of several
GB. Some machines (this course's CI among them) carry a local CPU wheel of a
known release; where pip would take *that* wheel for ``torch==PINNED``, we
constrain torch to it. Everywhere else nothing is printed and readers get the
normal ``torch>=2.2`` range from pyproject.toml.

Usage: ``python tools/torch_constraint.py > constraints.txt`` (the Makefile
does this); ``TORCH_CONSTRAINT=none`` disables it, ``TORCH_CONSTRAINT=torch==X``
forces a spec of your choice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PINNED = "torch==2.13.0"


def local_cpu_wheel(spec: str) -> str | None:
    """Return the file:// URL pip would install for ``spec`` if it is a local CPU wheel."""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
           "--ignore-installed", "--quiet", "--report", "-", spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        report = json.loads(proc.stdout)
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError):
        return None
    for item in report.get("install", []):
        url = item.get("download_info", {}).get("url", "")
        if url.startswith("file://") and ("%2Bcpu" in url or "+cpu" in url):
            return url
    return None


def main() -> int:
    override = os.environ.get("TORCH_CONSTRAINT", "").strip()
    if override == "none":
        return 0
    if override:
        print(override)
        return 0
    url = local_cpu_wheel(PINNED)
    if url:
        print(f"# local CPU wheel found: {url}")
        print(PINNED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
