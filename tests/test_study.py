"""`avsc run`: papermill executes the study's notebooks into a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from avsc_lib import study
from avsc_lib.cli import main
from avsc_lib.errors import AvscError
from avsc_lib.paper import OUTPUTS

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "params" / "smoke.yml"


def _notebook(path: Path, *sources: str, settings: tuple[str, ...] = ()) -> Path:
    lines = ['params_file = ""', "overrides = {}", 'output_dir = ""'] + [f"{key} = None" for key in settings]
    cells = [new_code_cell("\n".join(lines), metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(source) for source in sources]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_runner_injects_parameters_and_records_the_run(tmp_path):
    nb = _notebook(tmp_path / "01_probe.ipynb",
                   "import json, os, pathlib\n"
                   "pathlib.Path(output_dir, 'probe.json').write_text(json.dumps("
                   "{'params_file': params_file, 'overrides': overrides, 'audio_epochs': audio_epochs, "
                   "'cwd': os.getcwd()}))", settings=("build_dir", "audio_epochs"))
    out = tmp_path / "run"
    run_dir = study.run_study(SMOKE, out=out, overrides={"build_dir": str(tmp_path / "build"), "audio_epochs": 1},
                              notebooks=[nb], log=lambda _: None)
    assert run_dir == out.resolve()
    probe = json.loads((out / "probe.json").read_text())
    assert probe["params_file"] == str(SMOKE)
    assert probe["audio_epochs"] == 1 and probe["overrides"] == {}  # by name, as papermill -p audio_epochs 1
    assert Path(probe["cwd"]) == study.NOTEBOOK_DIR
    executed = nbformat.read(out / "01_probe.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert (out / "params.yml").exists()
    record = json.loads((out / "run.json").read_text())
    assert [n["name"] for n in record["notebooks"]] == ["01_probe.ipynb"]
    assert (tmp_path / "build" / "last_run").read_text().strip() == str(out.resolve())


def test_a_setting_no_notebook_of_the_run_lists_fails_naming_those_that_do(tmp_path):
    nb = _notebook(tmp_path / "01_probe.ipynb", "x = 1", settings=("build_dir",))
    with pytest.raises(AvscError, match="'visual_epochs' is not a setting of 01_probe") as info:
        study.run_study(SMOKE, out=tmp_path / "run", overrides={"build_dir": str(tmp_path / "build"),
                                                                 "visual_epochs": 3},
                        notebooks=[nb], log=lambda _: None)
    assert "03_visual_subnetwork, 04_fusion, 05_evaluation" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_the_study_notebooks_get_the_settings_they_list_by_name():
    notebooks = study.study_notebooks()
    given = study.notebook_parameters(notebooks, {"audio_epochs": 3, "data_root": "/x", "submission_split": "evaluate"})
    by_name = {path.stem: parameters for path, parameters in given.items()}
    assert by_name["01_features"] == {"data_root": "/x"}
    assert by_name["02_audio_subnetwork"] == {"audio_epochs": 3, "data_root": "/x"}
    assert by_name["05_evaluation"] == {"audio_epochs": 3, "data_root": "/x", "submission_split": "evaluate"}
    nulls = study.notebook_parameters(notebooks[:1], {"max_clips": None, "synth_seed": 2})[notebooks[0]]
    assert nulls == {"synth_seed": 2, "overrides": {"max_clips": None}}  # None by name: "from params_file"


def test_failing_notebook_names_notebook_cell_and_partial_copy(tmp_path):
    nb = _notebook(tmp_path / "02_broken.ipynb", "x = 1", "raise ValueError('synthetic failure')", "y = 2",
                   settings=("build_dir",))
    with pytest.raises(AvscError) as info:
        study.run_study(SMOKE, out=tmp_path / "run", overrides={"build_dir": str(tmp_path / "build")},
                        notebooks=[nb], log=lambda _: None)
    message = str(info.value)
    assert "02_broken.ipynb" in message and "ValueError: synthetic failure" in message
    assert "raise ValueError" in message
    partial = tmp_path / "run" / "02_broken.ipynb"
    assert str(partial) in message and partial.exists()
    assert not (tmp_path / "build" / "last_run").exists()


def test_bad_parameters_fail_before_any_notebook_runs(tmp_path, capsys):
    status = main(["run", "--params", str(SMOKE), "--out", str(tmp_path / "run"), "-p", "no_such_key", "1"])
    assert status == 2
    assert "no_such_key" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_missing_data_root_is_a_clear_error(tmp_path, capsys):
    status = main(["run", "--params", str(SMOKE), "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "r")])
    assert status == 2
    assert "dataset root not found" in capsys.readouterr().err


def test_run_folder_never_inside_notebooks():
    with pytest.raises(AvscError, match="outside"):
        study.run_study(SMOKE, out=study.NOTEBOOK_DIR / "executed", log=lambda _: None)


def test_study_notebooks_are_sorted_and_numbered():
    names = [p.name for p in study.study_notebooks()]
    assert names == sorted(names) and names[0] == "01_features.ipynb"
    assert all(name[:2] in {"01", "02", "03", "04", "05"} for name in names)


@pytest.mark.slow
def test_smoke_run_executes_every_notebook(smoke_run):
    executed = sorted(p.name for p in smoke_run.glob("0*.ipynb"))
    assert executed == [p.name for p in study.study_notebooks()]
    for name in executed:
        nb = nbformat.read(smoke_run / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "produced with" in o.get("data", {}).get("text/markdown", "")]
        assert shown, f"{name}: shows no provenance table (avsc.study.show_provenance)"
        size = (smoke_run / name).stat().st_size
        assert size < 5_000_000, f"{name} is {size} bytes: keep executed notebooks small"


@pytest.mark.slow
def test_smoke_run_writes_metrics_for_the_four_outputs(smoke_run):
    if not any(p.name.startswith("05_") for p in study.study_notebooks()):
        pytest.skip("notebooks/05_*.ipynb does not exist yet; metrics.json comes from it")
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for output in OUTPUTS:
        m = next(c[output] for c in (metrics.get("outputs"), metrics.get("segment"), metrics)
                 if isinstance(c, dict) and isinstance(c.get(output), dict))
        assert 0.0 <= m["accuracy"] <= 1.0
        assert m["log_loss"] >= 0.0


@pytest.mark.slow
def test_smoke_run_logs_progress_of_every_training_step(smoke_run):
    log = (smoke_run / study.RUN_TEXT_LOG).read_text()
    for step in ("audio-gammatone", "audio-logmel", "visual", "visual_unfrozen", "fusion-gammatone", "fusion-logmel"):
        assert f" {step}-" in log and "epoch 1 of" in log, step
    assert "05_evaluation.ipynb done in" in log and "gammatone features: clip" in log
    assert "val accuracy" in log and "elapsed" in log
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    table1 = metrics["accuracy_by_kind"]
    assert set(table1) == {"gammatone", "logmel"}
    assert all(value is not None for row in table1.values() for value in row.values())  # no empty cell


def test_weights_description_names_a_trained_vgg16_and_its_start():
    base = {"weights": "imagenet", "path": "/x/vgg16_imagenet_notop.h5", "sha256": "5ffcc3e2b95af5308e66"}
    trained = {"weights": "trained", "run": "visual_unfrozen-abc", "sha256": "36559edc2cc3ffff", "base": base}
    assert study.weights_description(base) == "imagenet (vgg16_imagenet_notop.h5, sha256 5ffcc3e2b95a)"
    assert study.weights_description(trained) == (
        "trained by visual_unfrozen-abc (sha256 36559edc2cc3) from imagenet (vgg16_imagenet_notop.h5, sha256 5ffcc3e2b95a)")
