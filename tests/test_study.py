"""`avsc run`: papermill executes the study's notebooks into a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from avsc_lib.cli import main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import OUTPUTS
from avsc_lib.core.params import load_params
from avsc_lib.study import provenance
from avsc_lib.study import runner as study
from avsc_lib.study.inputs import StudyInputs
from avsc_lib.training.runs import run_dir

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
    recorded = yaml.safe_load((out / "params.yml").read_text())
    assert recorded == load_params(SMOKE, {"build_dir": str(tmp_path / "build"), "audio_epochs": 1})
    assert recorded["audio_epochs"] == 1 and recorded["build_dir"] == str(tmp_path / "build")
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
    with pytest.raises(AvscError, match="02_broken.ipynb") as info:
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


STUDY_NOTEBOOKS = ["01_features.ipynb", "02_audio_subnetwork.ipynb", "03_visual_subnetwork.ipynb",
                   "04_fusion.ipynb", "05_evaluation.ipynb"]


def test_study_notebooks_are_the_five_in_order():
    assert [p.name for p in study.study_notebooks()] == STUDY_NOTEBOOKS


@pytest.mark.slow
def test_smoke_run_executes_every_notebook(smoke_run):
    executed = sorted(p.name for p in smoke_run.glob("0*.ipynb"))
    assert executed == STUDY_NOTEBOOKS
    for name in executed:
        nb = nbformat.read(smoke_run / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "produced with" in o.get("data", {}).get("text/markdown", "")]
        assert shown, f"{name}: shows no provenance table (avsc.study.provenance.show_provenance)"
        size = (smoke_run / name).stat().st_size
        assert size < 5_000_000, f"{name} is {size} bytes: keep executed notebooks small"


def recomputed(folder: Path, output: str) -> dict[str, float]:
    """Accuracy and log loss over the 1-s segments of a run's saved evaluate predictions,
    computed with scikit-learn (not avsc_lib.evaluation.evaluate)."""
    from sklearn.metrics import accuracy_score, log_loss

    with np.load(folder / "predictions_evaluate.npz") as saved:
        probs, labels = saved[f"probs_{output}"], saved["labels"]
    flat = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    truth = np.repeat(labels, probs.shape[1])
    return {"accuracy": accuracy_score(truth, flat.argmax(axis=1)),
            "log_loss": log_loss(truth, flat / flat.sum(axis=1, keepdims=True), labels=range(flat.shape[1])),
            "n_segments": len(truth), "n_clips": len(labels)}


def assert_csvs_follow_the_confusion(folder: Path, outputs: tuple[str, ...]) -> None:
    """The per-class accuracy CSV of a run agrees with its confusion-matrix CSVs and predictions."""
    from sklearn.metrics import confusion_matrix

    per_class = pd.read_csv(folder / "per_class_evaluate.csv", index_col=0)
    assert list(per_class.index) == list(CLASSES) and list(per_class.columns) == list(outputs)
    with np.load(folder / "predictions_evaluate.npz") as saved:
        probs = {o: saved[f"probs_{o}"] for o in outputs}
        truth = np.repeat(saved["labels"], next(iter(probs.values())).shape[1])
    for output in outputs:
        matrix = pd.read_csv(folder / f"confusion_evaluate_{output}.csv", index_col=0)
        assert list(matrix.index) == list(matrix.columns) == list(CLASSES)
        predicted = probs[output].reshape(-1, len(CLASSES)).argmax(axis=1)
        np.testing.assert_array_equal(matrix.to_numpy(), confusion_matrix(truth, predicted, labels=range(len(CLASSES))))
        totals = matrix.to_numpy().sum(axis=1)
        expected = np.where(totals > 0, 100 * np.diag(matrix.to_numpy()) / np.maximum(totals, 1), np.nan)
        np.testing.assert_allclose(per_class[output].to_numpy(), expected, atol=0.005)  # CSV: 2 decimals


@pytest.mark.slow
def test_smoke_run_metrics_are_those_of_the_saved_predictions(smoke_run):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    params = load_params(smoke_run / "params.yml")
    assert not params["finetune"]  # the smoke profile reports step 3
    fused = run_dir(params, "fusion", params["feature_kind"])
    assert Path(metrics["run"]) == fused and metrics["split"] == "evaluate"
    with np.load(fused / "predictions_evaluate.npz") as saved:
        evaluate = StudyInputs(params).clips("evaluate")
        assert list(saved["names"]) == [clip.name for clip in evaluate]
        assert [CLASSES[i] for i in saved["labels"]] == [clip.scene for clip in evaluate]
    for output in OUTPUTS:
        expected = recomputed(fused, output)
        assert metrics[output]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12), output
        assert metrics[output]["log_loss"] == pytest.approx(expected["log_loss"], rel=1e-5), output
        assert (metrics[output]["n_segments"], metrics[output]["n_clips"]) == (expected["n_segments"],
                                                                               expected["n_clips"])
    assert_csvs_follow_the_confusion(fused, OUTPUTS)


@pytest.mark.slow
def test_smoke_run_table1_cells_are_the_steps_metrics(smoke_run):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    params = load_params(smoke_run / "params.yml")
    table = metrics["accuracy_by_kind"]
    assert set(table) == {"gammatone", "logmel"}
    visual = run_dir(params, "visual_unfrozen" if params["visual_unfreeze"] else "visual")
    for kind, row in table.items():
        folders = {"audio": run_dir(params, "audio", kind), "visual": visual,
                   "early": run_dir(params, "fusion", kind), "late": run_dir(params, "fusion", kind)}
        assert set(row) == set(folders), kind
        for output, folder in folders.items():
            step_metrics = json.loads((folder / "metrics_evaluate.json").read_text())[output]
            assert row[output] == step_metrics["accuracy"], (kind, output)
            assert row[output] == pytest.approx(recomputed(folder, output)["accuracy"], abs=1e-12), (kind, output)
    assert table[params["feature_kind"]]["late"] == metrics["late"]["accuracy"]


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
    assert provenance.weights_description(base) == "imagenet (vgg16_imagenet_notop.h5, sha256 5ffcc3e2b95a)"
    assert provenance.weights_description(trained) == (
        "trained by visual_unfrozen-abc (sha256 36559edc2cc3) from imagenet (vgg16_imagenet_notop.h5, sha256 5ffcc3e2b95a)")
