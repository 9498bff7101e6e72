"""``gradescope-zip``: the autograder bundle that Gradescope's "Configure Autograder" page takes.

Gradescope unzips the bundle into ``/autograder/source``, runs ``setup.sh``
once to build its image, and for each submission runs ``run_autograder``
with the student's files in ``/autograder/submission``; the script must
leave ``/autograder/results/results.json``. The bundle holds the course's
package (exercise modules as stubs: the reference solutions never leave your
machine), the graded tests with the hidden ones, the conftest and pytest
settings, and the two scripts (Ubuntu 22.04 or later base image).
"""

from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

from course_lib.grading.course import JUNK_DIRS, JUNK_SUFFIXES, exercise_modules, find_course_root
from course_lib.grading.markers import strip_source
from course_lib.grading.runner import Limits

_BUNDLED = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "course_lib",
    "tests/conftest.py",
    "tests/__init__.py",
    "tests/exercises",
)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet --upgrade pip
# CPU wheels of PyTorch: the autograder has no GPU, and the CUDA wheels are gigabytes.
# hypothesis: tests/conftest.py sets its profiles.
/autograder/venv/bin/python -m pip install --quiet \\
    --extra-index-url https://download.pytorch.org/whl/cpu \\
    "/autograder/source[grading]" hypothesis
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission; the student's files are in /autograder/submission.
# The grader takes only the exercise modules from there and writes results.json.
set -euo pipefail
mkdir -p /autograder/results
cd /autograder/source
exec /autograder/venv/bin/python -m course_lib.grading grade /autograder/submission \\
    --single --course /autograder/source --results /autograder/results/results.json{options}
"""


def run_autograder_script(limits: Limits, marker: str | None, hidden_visibility: str) -> str:
    """The ``run_autograder`` script, with the grading options baked in."""
    options = [
        f"--timeout {limits.test_timeout:g}",
        f"--total-timeout {limits.total_timeout:g}",
        f"--memory-mb {limits.memory_mb}",
        f"--seed {limits.seed}",
        f"--hidden-visibility {hidden_visibility}",
    ]
    if marker:
        options.append(f"--marker {shlex.quote(marker)}")
    return RUN_AUTOGRADER.format(options="".join(f" \\\n    {o}" for o in options))


def _files(root: Path) -> list[Path]:
    out = []
    for name in _BUNDLED:
        path = root / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for p in candidates:
            rel = p.relative_to(root)
            junk = any(part in JUNK_DIRS or part.endswith(JUNK_SUFFIXES) for part in rel.parts)
            if p.is_file() and not p.is_symlink() and not junk:
                out.append(rel)
    return out


def build_gradescope_zip(
    out_zip: str | Path,
    course_root: str | Path | None = None,
    *,
    limits: Limits | None = None,
    marker: str | None = None,
    hidden_visibility: str = "after_published",
) -> Path:
    """Write the autograder zip; returns its path.

    Args:
        out_zip: the zip to write.
        course_root: the course (default: the one this package belongs to).
        limits: per-test and total timeouts, memory cap and seed for the grader.
        marker: a pytest ``-m`` expression choosing the graded tests, e.g. ``ch01``.
        hidden_visibility: when students see the hidden tests' results.
    """
    root = find_course_root(course_root)
    limits = limits or Limits()
    stubs = {
        path.relative_to(root): strip_source(path.read_text(encoding="utf-8"), path, module=name)
        for name, path in exercise_modules(root).items()
    }
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in (
            ("setup.sh", SETUP_SH),
            ("run_autograder", run_autograder_script(limits, marker, hidden_visibility)),
        ):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # a regular, executable file
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
        for rel in _files(root):
            if rel in stubs:
                z.writestr(str(rel), stubs[rel])
            else:
                z.write(root / rel, str(rel))
    return out_zip
