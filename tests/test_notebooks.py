"""The notebooks in git: output-free, one parameters cell, portable (no absolute paths)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PARAMETER_NAMES = ("params_file", "overrides", "output_dir")
ABSOLUTE_PATH = re.compile(r"""["'](/(home|root|work|tmp|Users|mnt|data)\b|[A-Za-z]:\\)""")


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_features.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid_and_output_free(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name}: cell {i} has outputs; commit notebooks without outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_exactly_one_parameters_cell_with_the_study_parameters(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'; expected exactly one"
    source = tagged[0].source
    for name in PARAMETER_NAMES:
        assert re.search(rf"^{name}\s*=", source, re.M), f"{path.name}: the parameters cell lacks {name!r}"
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    following = nb.cells[nb.cells.index(tagged[0]) + 1:]
    first_code = next(c for c in following if c.cell_type == "code")
    assert "load_params(params_file, overrides)" in first_code.source


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
        f"{path.name}: call avsc.study.show_provenance(params, params_file, overrides, ...) "
        "so that the chapter states which parameters produced it"
    )
