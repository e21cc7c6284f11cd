"""The source notebooks run in place, as Jupyter runs them (nbclient, no papermill, no injected
parameters), on a fresh copy of the tree whose default profile (params/demo.yml) is the smoke one.

Notebook 05 runs first, on nothing: it has to get the data set, the caches and every training
step it reads by itself. Then 04 runs with one parameter changed in its parameters cell, as a
reader would change it, and must recompute only the step that parameter shapes; then 03, 02, 01.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
COPIED = ("avsc_lib", "notebooks", "params", "pyproject.toml")


@pytest.fixture(scope="module")
def fresh_tree(tmp_path_factory) -> Path:
    """A copy of the project as a fresh clone has it (no build folder), smoke-sized by default."""
    root = tmp_path_factory.mktemp("clone")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    shutil.copy(root / "params" / "smoke.yml", root / "params" / "demo.yml")
    return root


def _execute_in_place(tree: Path, name: str, monkeypatch, set_line: tuple[str, str] | None = None) -> str:
    """Run a notebook top to bottom in its folder and save it there; return its text outputs
    (stderr aside: the book leaves it out)."""
    path = tree / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    if set_line:  # a reader edits the parameters cell
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        key, value = set_line
        cell.source, count = re.subn(rf"^{key}: (\w+) = None", rf"{key}: \1 = {value}", cell.source, flags=re.M)
        assert count == 1
    monkeypatch.setenv("PYTHONPATH", str(tree))  # the kernel imports the copy's avsc_lib
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    NotebookClient(nb, kernel_name="python3", timeout=3600,
                   resources={"metadata": {"path": str(tree / "notebooks")}}).execute()
    nbformat.write(nb, path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("name") != "stderr":
                texts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


@pytest.mark.slow
def test_every_notebook_runs_in_place_on_a_fresh_clone(fresh_tree, monkeypatch):
    build = fresh_tree / "build"
    text = _execute_in_place(fresh_tree, "05_evaluation", monkeypatch)
    texts = [text]
    for step in ("audio-gammatone", "audio-logmel", "visual", "visual_unfrozen", "fusion-gammatone", "fusion-logmel"):
        assert re.search(rf"^{step}-\w+: computed \(build/runs/{step}-\w+\)$", text, re.M), step
    interactive = build / "interactive-smoke"
    assert (interactive / "metrics.json").is_file() and (interactive / "submission_test.csv").is_file()
    assert not list(build.glob("run-*")), "an interactive run wrote into a folder of avsc run"
    assert not (build / "last_run").exists()

    text = _execute_in_place(fresh_tree, "04_fusion", monkeypatch, ("fusion_epochs", "1"))
    texts.append(text)
    for step in ("fusion-gammatone", "fusion-logmel"):
        assert re.search(rf"^{step}-\w+: computed", text, re.M), f"04 did not train {step} with fusion_epochs 1"
    for step in ("audio-gammatone", "audio-logmel", "visual_unfrozen"):
        assert re.search(rf"^{step}-\w+: reused", text, re.M), f"04 recomputed {step}, not shaped by fusion_epochs"
    assert not re.search(r"^(audio|visual)\S*: computed", text, re.M)

    text = _execute_in_place(fresh_tree, "03_visual_subnetwork", monkeypatch)
    assert re.search(r"^visual-\w+: reused", text, re.M) and "visual features in build/cache/visual-" in text
    texts.append(text)
    text = _execute_in_place(fresh_tree, "02_audio_subnetwork", monkeypatch)
    assert re.search(r"^audio-gammatone-\w+: reused", text, re.M)
    texts += [text, _execute_in_place(fresh_tree, "01_features", monkeypatch)]
    named = [path for path in (str(REPO), str(fresh_tree)) if any(path in t for t in texts)]
    assert not named, f"outputs name absolute paths {named}; show them relative (avsc_lib.core.params.display_path)"
