"""The conda/Binder environment and pyproject.toml declare the same dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _split(requirement: str) -> tuple[str, str]:
    """'scikit-image>=0.21' -> ('scikit-image', '>=0.21'), names normalised as pip does."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    spec = ",".join(sorted(s.strip() for s in match.group(2).split(",") if s.strip()))
    return name, spec


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    out: dict[str, str] = {}
    for req in reqs:
        name, spec = _split(req)
        assert out.get(name, spec) == spec, f"{name} has two different ranges in pyproject.toml"
        out[name] = spec
    return out


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should have exactly one pip: section"
    return dict(_split(r) for r in pip_lists[0] if not r.startswith("-"))


def test_environment_matches_pyproject() -> None:
    py, env = _pyproject_requirements(), _environment_requirements()
    missing = sorted(set(py) - set(env))
    extra = sorted(set(env) - set(py))
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    differ = {n: (py[n], env[n]) for n in py if py[n] != env[n]}
    assert not differ, f"version ranges differ (pyproject, environment.yml): {differ}"


def test_environment_python_is_supported() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python == ["python=3.11"], python
    assert requires == ">=3.10"


def test_jupyter_book_is_version_1() -> None:
    """_config.yml/_toc.yml are Jupyter Book 1's format: the range must keep us on 1.x."""
    assert _pyproject_requirements()["jupyter-book"] == "<2,>=1.0.4"


def test_ci_calls_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script


def test_toc_files_exist() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            files.append(chapter["file"])
    for f in files:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb")), f"{f} missing"
