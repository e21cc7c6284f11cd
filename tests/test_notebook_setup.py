"""A notebook's first cell: its parameters (papermill's way), its own output folder, its steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, ParamsError, display_path, load_params, save_params
from avsc_lib.study import notebook

SMOKE = PARAMS_DIR / "smoke.yml"


def _namespace(tmp_path: Path, **values) -> dict:
    """A notebook's globals after its parameters cell, with the build folder in tmp_path."""
    return {"params_file": str(SMOKE), "overrides": {"build_dir": str(tmp_path / "build")}, "output_dir": None,
            **values}


def test_settings_of_the_parameters_cell_win_over_overrides_and_the_file(tmp_path):
    setup = notebook.start("02_audio_subnetwork", _namespace(tmp_path, audio_epochs=3, audio_batch_size=None,
                                                             overrides={"build_dir": str(tmp_path / "build"),
                                                                        "audio_epochs": 7, "seed": 4}))
    assert setup.params["audio_epochs"] == 3 and setup.params["seed"] == 4
    assert setup.params["audio_batch_size"] == load_params(SMOKE)["audio_batch_size"]  # None: from the file
    assert setup.overrides == {"build_dir": str(tmp_path / "build"), "audio_epochs": 3, "seed": 4}
    assert setup.params_file == SMOKE


def test_a_setting_the_notebook_does_not_use_names_the_notebooks_that_do(tmp_path):
    with pytest.raises(AvscError, match="'visual_epochs' is not a setting of 02_audio_subnetwork") as info:
        notebook.start("02_audio_subnetwork", _namespace(tmp_path, visual_epochs=5))
    assert "03_visual_subnetwork, 04_fusion, 05_evaluation" in str(info.value)
    with pytest.raises(AvscError, match="'audio_epochs' is not a setting of 01_features"):
        notebook.start("01_features", _namespace(tmp_path, overrides={"audio_epochs": 5}))
    with pytest.raises(ParamsError, match="unknown parameter"):  # not a setting at all
        notebook.start("02_audio_subnetwork", _namespace(tmp_path, overrides={"audio_epoch": 5}))


def test_values_given_as_text_are_parsed_for_settings_that_are_no_text(tmp_path):
    namespace = _namespace(tmp_path, finetune="true", compare_feature_kinds="[logmel]", weights="none",
                           overrides='{"build_dir": "%s"}' % (tmp_path / "build"))
    params = notebook.start("04_fusion", namespace).params
    assert params["finetune"] is True and params["compare_feature_kinds"] == ["logmel"] and params["weights"] == "none"
    with pytest.raises(ParamsError, match="fusion_epochs"):
        notebook.start("04_fusion", _namespace(tmp_path, fusion_epochs="many"))


def test_interactive_runs_write_into_a_folder_of_their_own(tmp_path):
    setup = notebook.start("05_evaluation", _namespace(tmp_path))
    assert setup.output_dir == (tmp_path / "build" / "interactive-smoke").resolve()
    assert setup.output_dir.is_dir()
    given = notebook.start("05_evaluation", _namespace(tmp_path, output_dir=str(tmp_path / "mine")))
    assert given.output_dir == (tmp_path / "mine").resolve()


def test_the_run_folder_of_avsc_run_refuses_other_settings(tmp_path):
    run = tmp_path / "run-smoke"
    run.mkdir()
    params = load_params(SMOKE, {"build_dir": str(tmp_path / "build")})
    save_params(params, run / "params.yml")  # what avsc run writes first
    same = notebook.start("02_audio_subnetwork", _namespace(tmp_path, output_dir=str(run)))
    assert same.output_dir == run.resolve()
    with pytest.raises(AvscError, match=r"run folder of 'avsc run' with other settings \(audio_epochs 9"):
        notebook.start("02_audio_subnetwork", _namespace(tmp_path, output_dir=str(run), audio_epochs=9))
    assert yaml.safe_load((run / "params.yml").read_text())["audio_epochs"] == params["audio_epochs"]


def test_params_file_found_from_another_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a kernel started outside notebooks/ (Colab after a restart)
    assert notebook.resolve_params_file("../params/smoke.yml") == SMOKE
    assert notebook.resolve_params_file(None) == (PARAMS_DIR / "demo.yml")


def test_display_path_is_relative_to_the_project_or_the_build_folder(tmp_path):
    from avsc_lib.core.params import PROJECT_ROOT

    assert display_path(PROJECT_ROOT / "build" / "cache" / "visual-1") == "build/cache/visual-1"
    params = {"build_dir": str(tmp_path / "b")}
    assert display_path(tmp_path / "b" / "runs" / "audio-1", params) == "b/runs/audio-1"
    assert display_path("/elsewhere/x") == "/elsewhere/x"


class _Run:
    """What steps_table reads of a run: its folder, done.json's info, log.csv, status."""

    def __init__(self, folder: Path, status: str, info: dict, log):
        self.dir, self.status, self.info, self.log = folder, status, info, log


def test_steps_table_summarises_each_step(tmp_path):
    import pandas as pd

    log = pd.DataFrame({"epoch": [0, 1, 2], "val_accuracy": [0.2, 0.5, 0.4], "val_loss": [2.0, 1.25, 1.5]})
    info = {"epochs_run": 3, "max_epochs": 15, "best": 0.5, "best_epoch": 1, "seconds": 12.5}
    runs = [_Run(tmp_path / "build" / "runs" / "audio-gammatone-0123456789", "computed", info, log),
            _Run(tmp_path / "build" / "runs" / "visual-9876543210", "reused", {**info, "best_epoch": 2}, log)]
    table = notebook.steps_table({"build_dir": str(tmp_path / "build")}, runs)
    assert table.index.name == "run folder in build/runs/"  # relative, never the machine's path
    row = table.loc["audio-gammatone-0123456789"]
    assert (row["this time"], row["epochs"], row["best epoch"]) == ("computed", "3 of 15", 2)
    assert (row["val accuracy (%)"], row["val loss"], row["time (s)"]) == (50.0, 1.25, 12.5)
    assert table.loc["visual-9876543210", "this time"] == "reused"
    assert table.loc["visual-9876543210", "val loss"] == 1.5  # the loss of its own best epoch


def test_run_step_says_whether_it_reused_or_computed(tmp_path, capsys):
    from avsc_lib.training import runs
    runs.forget_touched_runs()
    folder = tmp_path / "runs" / "audio-gammatone-abc"
    first = runs.Run("audio", folder, None, ("audio",), ("audio",), "gammatone", {}, "computed")
    runs.note_run(first, {"build_dir": str(tmp_path)})
    runs.note_run(runs.Run("audio", folder, None, ("audio",), ("audio",), "gammatone"), {"build_dir": str(tmp_path)})
    assert [r.status for r in runs.touched_runs()] == ["reused"]  # one row per folder, the latest
    out = capsys.readouterr().out
    assert "audio-gammatone-abc: computed (" in out and "audio-gammatone-abc: reused (" in out
    assert str(tmp_path) not in out
    runs.forget_touched_runs()
    assert runs.touched_runs() == []
