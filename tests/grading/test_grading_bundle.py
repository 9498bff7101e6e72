"""gradescope-zip: the bundle's layout, its scripts, and a run of it as Gradescope would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from course_lib.grading.bundle import build_gradescope_zip
from course_lib.grading.course import course_files
from course_lib.grading.report import validate_results
from course_lib.grading.runner import Limits
from course_lib.grading.student import STUDENT_EXCLUDE, find_leaks

ROOT = Path(__file__).resolve().parents[2]


def test_bundle_layout_scripts_and_stubbed_modules(fixture_course: Path, tmp_path: Path) -> None:
    path = build_gradescope_zip(
        tmp_path / "autograder.zip", fixture_course, limits=Limits(test_timeout=12), marker="ex00"
    )
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "pyproject.toml"} <= names
        assert "tests/exercises/test_ex00.py" in names and "tests/conftest.py" in names
        for script in ("setup.sh", "run_autograder"):
            mode = z.getinfo(script).external_attr >> 16
            assert mode & 0o111, f"{script} is not executable"
            z.extract(script, tmp_path)
            check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True)
            assert check.returncode == 0, check.stderr
        module = z.read("course_lib/exercises/ex00.py").decode()
        assert "x * x" not in module and "NotImplementedError" in module  # no solutions shipped
        assert "test_hidden_square_large" in z.read("tests/exercises/test_ex00.py").decode()
        run = z.read("run_autograder").decode()
    assert "/autograder/submission" in run and "/autograder/results/results.json" in run
    assert "--single" in run and "--marker ex00" in run and "--timeout 12" in run


def test_bundle_grades_a_submission_as_gradescope_runs_it(tmp_path: Path) -> None:
    """Unzip the real course's bundle into a fake /autograder and run its run_autograder."""
    bundle = build_gradescope_zip(tmp_path / "autograder.zip", ROOT, marker="ch01")
    home = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(home / "source")
    assert find_leaks(ROOT, home / "source", course_files(ROOT, STUDENT_EXCLUDE)) == []
    (home / "submission").mkdir()
    shutil.copyfile(ROOT / "course_lib/exercises/ch01.py", home / "submission/ch01.py")
    # The script as Gradescope runs it, with its paths moved under tmp_path and this
    # interpreter standing in for the virtual environment setup.sh would build.
    script = (home / "source/run_autograder").read_text()
    script = script.replace("/autograder/venv/bin/python", sys.executable)
    script = script.replace("/autograder", str(home))
    (home / "run_autograder").write_text(script)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        ["bash", str(home / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((home / "results/results.json").read_text())
    validate_results(data)
    assert data["score"] == data["max_score"] > 0
    assert all(t["name"].startswith("ch01-ex-") for t in data["tests"])


def test_cli_gradescope_zip(run_cli, fixture_course: Path, tmp_path: Path) -> None:
    out = tmp_path / "ag.zip"
    proc = run_cli("gradescope-zip", str(out), "--course", str(fixture_course), "-m", "ex00")
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as z:
        assert "--marker ex00" in z.read("run_autograder").decode()
