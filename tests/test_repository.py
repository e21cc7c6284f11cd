"""The repository setting behind the book's launch and repository buttons, and Binder's files."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from avsc_lib.core import repository
REPO = Path(__file__).resolve().parent.parent
URL = "https://github.com/example-org/avsc-study"


@pytest.mark.parametrize("remote, url", [
    ("git@github.com:example-org/avsc-study.git", URL),
    ("https://github.com/example-org/avsc-study.git", URL),
    ("https://user:secret-token@github.com/example-org/avsc-study", URL),  # credentials never leak
    ("ssh://git@github.com/example-org/avsc-study.git", URL),
    ("https://GitLab.com/group/sub/project/", "https://gitlab.com/group/sub/project"),
    ("/srv/git/avsc.git", None),
    ("file:///srv/git/avsc.git", None),
    ("https://github.com/", None),
    ("", None),
])
def test_remotes_become_public_https_urls(remote, url):
    assert repository.https_url(remote) == url


def _clone(tmp_path: Path, remote: str | None) -> Path:
    root = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(root), "remote", "add", "origin", remote], check=True)
    return root


def test_one_setting_wins_over_the_origin_and_the_environment_over_both(tmp_path, monkeypatch):
    monkeypatch.delenv(repository.URL_ENV, raising=False)
    root = _clone(tmp_path, "git@github.com:someone/fork.git")
    assert repository.repository_url({}, root) == "https://github.com/someone/fork"
    assert repository.repository_url({"repository": {"url": URL + ".git"}}, root) == URL
    monkeypatch.setenv(repository.URL_ENV, "https://github.com/env-org/avsc")
    assert repository.repository_url({"repository": {"url": URL}}, root) == "https://github.com/env-org/avsc"
    monkeypatch.setenv(repository.URL_ENV, "")  # set and empty: no repository
    assert repository.repository_url({"repository": {"url": URL}}, root) is None


def test_a_clone_without_a_remote_has_no_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(repository.URL_ENV, raising=False)
    assert repository.repository_url({}, _clone(tmp_path, None)) is None
    assert repository.repository_url({}, tmp_path / "not-a-clone") is None


def test_book_config_buttons_on_for_a_known_repository_and_absent_otherwise(monkeypatch):
    monkeypatch.setenv(repository.JUPYTERHUB_ENV, "https://hub.example.org")
    config = repository.book_config()
    on = repository.configure_book(config, URL)
    theme = on["sphinx"]["config"]["html_theme_options"]
    assert on["repository"]["url"] == theme["repository_url"] == URL
    assert theme["path_to_docs"] == "" and on["repository"]["path_to_book"] == ""  # notebooks/ at the root
    assert theme["use_repository_button"] and theme["use_issues_button"]
    launch = theme["launch_buttons"]
    assert launch["binderhub_url"].startswith("https://mybinder.org")
    assert launch["colab_url"].startswith("https://colab.research.google.com")
    assert launch["jupyterhub_url"] == "https://hub.example.org"
    off = repository.configure_book(config, None)
    theme = off["sphinx"]["config"]["html_theme_options"]
    assert off["repository"]["url"] == "" and not theme["use_repository_button"] and not theme["use_issues_button"]
    assert not any(theme["launch_buttons"].get(key) for key in repository.LAUNCH_KEYS)
    gitlab = repository.configure_book(config, "https://gitlab.com/group/avsc")
    assert gitlab["launch_buttons"]["binderhub_url"] and not gitlab["launch_buttons"]["colab_url"]  # Colab: GitHub only
    elsewhere = repository.configure_book(config, "https://git.example.org/group/avsc")
    assert elsewhere["repository"]["url"] == ""  # a host the theme cannot link to: no buttons, not broken ones
    assert config == repository.book_config()  # the checked-in configuration is not changed


def test_binder_installs_the_project_on_the_environment_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "binder" / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip_section) == set(project["dependencies"])
    post_build = REPO / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert "pip install --no-deps --quiet -e ." in text and "--name python3" in text
    assert "../params/demo.yml" in (REPO / "avsc_lib" / "study" / "nbparams.py").read_text()  # a launch runs the demo


def test_pages_workflow_publishes_with_the_repository_url():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    env = {k: v for job in workflow["jobs"].values() for s in job["steps"] for k, v in (s.get("env") or {}).items()}
    env.update(workflow.get("env") or {})
    assert "github.repository" in str(env.get(repository.URL_ENV, ""))


def test_make_lab_opens_the_notebooks_with_the_venv_kernel():
    # --no-print-directory: under `make test` the nested make would add "Entering directory" lines
    result = subprocess.run(["make", "-n", "--no-print-directory", "lab"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "jupyter lab" in line]
    assert ".venv/bin/jupyter lab" in line and "root_dir=notebooks" in line and "JUPYTER_PREFER_ENV_PATH=1" in line
    spec = REPO / ".venv" / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not spec.exists():
        pytest.skip("no .venv here (make venv creates it)")
    import json

    python = Path(json.loads(spec.read_text())["argv"][0])  # not resolved: the venv's python may be a link
    assert python.parent == REPO / ".venv" / "bin"
