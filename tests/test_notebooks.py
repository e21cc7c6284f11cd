"""The notebooks in git: output-free, portable, their parameters generated from params/paper.yml."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from papermill.inspection import inspect_notebook

from avsc_lib.core.params import PARAMS_DIR, defaults, key_notes
from avsc_lib.study import nbparams

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"""["'](/(home|root|work|tmp|Users|mnt|data)\b|[A-Za-z]:\\)""")


def _ids(paths):
    return [p.name for p in paths]


def _code_cells(nb, skip_generated: bool = True):
    generated = ("parameters", nbparams.INSTALL_TAG)
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and not (skip_generated and any(t in c.metadata.get("tags", []) for t in generated))]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_features.ipynb"
    assert [p.stem for p in NOTEBOOKS] == list(nbparams.NOTEBOOK_KEYS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid_and_output_free(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name}: cell {i} has outputs; commit notebooks without outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_one_parameters_cell_then_the_notebook_starts_from_it(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'; expected exactly one"
    assert nbparams.declared_parameters(path)[:3] == nbparams.STUDY_PARAMETERS
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    following = nb.cells[nb.cells.index(tagged[0]) + 1:]
    first_code = next(c for c in following if c.cell_type == "code")
    assert f'avsc.study.notebook.start("{path.stem}", globals())' in first_code.source


def test_parameters_and_install_cells_are_generated_from_paper_yml():
    """`avsc notebooks` would change nothing: every comment is paper.yml's (edit it there)."""
    changed = nbparams.sync_notebooks(nbparams.committed_url(), check=True)
    assert not changed, f"out of sync with params/paper.yml: {[p.name for p in changed]}; run 'avsc notebooks'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_parameter_is_a_paper_key_with_its_comment(path):
    notes, keys = key_notes(PARAMS_DIR / "paper.yml"), defaults()
    inferred = inspect_notebook(str(path))
    names = list(inferred)
    assert names[:3] == list(nbparams.STUDY_PARAMETERS)
    settings = names[3:]
    assert settings == list(nbparams.notebook_keys(path.stem)), "papermill must see every setting (no '=' in comments)"
    for name in settings:
        assert name in keys, f"{path.name}: {name!r} is not a key of params/paper.yml"
        assert inferred[name]["default"] == "None", f"{path.name}: {name} must default to None (from params_file)"
        assert inferred[name]["help"] == notes[name], f"{path.name}: the comment of {name} is not paper.yml's"


def test_every_setting_is_used_by_some_notebook_and_the_step_notebooks_list_their_steps():
    used = {key for keys in nbparams.NOTEBOOK_KEYS.values() for key in keys}
    assert used == set(defaults()), f"settings no notebook lists: {set(defaults()) - used}"
    assert "audio_epochs" in nbparams.NOTEBOOK_KEYS["02_audio_subnetwork"]
    assert "visual_epochs" not in nbparams.NOTEBOOK_KEYS["02_audio_subnetwork"]
    assert nbparams.users_of("visual_epochs") == ["03_visual_subnetwork", "04_fusion", "05_evaluation"]


@pytest.mark.parametrize("step, notebook", [("audio", "02_audio_subnetwork"), ("visual", "03_visual_subnetwork"),
                                            ("visual_unfrozen", "03_visual_subnetwork"), ("fusion", "04_fusion"),
                                            ("finetune", "04_fusion"), ("finetune", "05_evaluation")])
def test_a_notebook_lists_every_setting_that_shapes_the_steps_it_trains(step, notebook):
    from avsc_lib.core.params import load_params
    from avsc_lib.training.runs import run_key

    params = load_params(PARAMS_DIR / "paper.yml", {"weights": "none"})  # no data set, no weights file
    derived = {"data": "data_root", "weights_identity": "weights"}
    shaping = {derived.get(key, key) for key in run_key(params, step)}
    missing = shaping - set(nbparams.NOTEBOOK_KEYS[notebook])
    assert not missing, f"{notebook} trains {step} but does not list {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_a_notebook_reads_only_the_settings_it_lists_and_never_assigns_one(path):
    nb = nbformat.read(path, as_version=4)
    listed, keys = set(nbparams.NOTEBOOK_KEYS[path.stem]), set(defaults())
    for i, cell in _code_cells(nb):
        read = set(re.findall(r"""params\[["'](\w+)["']\]""", cell.source))
        assert read <= listed, f"{path.name}: cell {i} reads {read - listed}, which its parameters cell lacks"
        assigned = {node.id for node in ast.walk(ast.parse(cell.source.replace("%", "#")))
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        assert not assigned & keys, f"{path.name}: cell {i} assigns {assigned & keys}, names of settings"


def test_help_notebook_lists_every_setting_with_its_comment():
    path = REPO / "notebooks" / "02_audio_subnetwork.ipynb"
    result = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = key_notes(PARAMS_DIR / "paper.yml")
    for key in nbparams.notebook_keys(path.stem):
        assert re.search(rf"^  {key}: \w+ \(default None\)\s+{re.escape(notes[key])}$", result.stdout, re.M), key
    assert "Unable to parse" not in result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_first_cell_installs_the_study_only_where_it_is_missing(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and {"remove-cell", nbparams.INSTALL_TAG} <= set(first.metadata["tags"])
    namespace: dict = {}
    cwd = os.getcwd()
    exec(compile(first.source, "install", "exec"), namespace)  # avsc_lib is importable here: nothing happens
    assert os.getcwd() == cwd and "REPOSITORY" not in namespace


def test_install_cell_explains_itself_without_a_repository(tmp_path):
    source = nbparams.install_source(None)
    result = subprocess.run([sys.executable, "-S", "-c", source], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""}, timeout=60)
    assert result.returncode != 0 and "avsc_lib is not installed" in result.stderr
    assert not (tmp_path / "avsc").exists()
    url = "https://github.com/example-org/avsc-study"
    assert nbparams.install_url(nbparams.install_source(url)) == url
    assert 'REPOSITORY = ""' in source and f'REPOSITORY = "{url}"' in nbparams.install_source(url)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_absolute_paths_or_personal_kernels(path):
    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernel {kernel!r}; use the portable 'python3'"
    for i, cell in enumerate(nb.cells):
        match = ABSOLUTE_PATH.search(cell.source)
        assert match is None, f"{path.name}: cell {i} holds an absolute path {match.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_shows_what_produced_it(path):
    nb = nbformat.read(path, as_version=4)
    assert any("show_provenance" in c.source for c in nb.cells if c.cell_type == "code"), (
        f"{path.name}: call avsc.study.provenance.show_provenance(params, setup.params_file, setup.overrides) "
        "so that the chapter states which parameters produced it"
    )


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] in {"02", "03", "04"}], ids=lambda p: p.name)
def test_training_cells_fold_their_logs_and_the_notebook_shows_a_summary(path):
    nb = nbformat.read(path, as_version=4)
    training = [c for _, c in _code_cells(nb) if re.search(r"avsc\.training\.steps\.(train|finetune)_", c.source)]
    assert training and all("hide-output" in c.metadata.get("tags", []) for c in training)
    assert any("steps_table(params" in c.source and "hide-output" not in c.metadata.get("tags", [])
               for _, c in _code_cells(nb))
