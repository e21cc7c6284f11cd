"""The dependency list has one source (pyproject.toml); environment.yml must mirror it."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"])
    for requirement in extras["test"]:  # "avsc[jax]": the project's own extra, expanded
        own = re.fullmatch(r"avsc\[(\w+)\]", requirement)
        wanted |= set(extras[own.group(1)]) if own else {requirement}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {r for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    assert {_name(r) for r in wanted} >= {"tensorflow-cpu", "librosa", "gammatone", "papermill", "jupyter-book"}


def test_jupyter_book_pinned_below_2():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (jb,) = [r for r in project["dependencies"] if _name(r) == "jupyter-book"]
    assert "<2" in jb
