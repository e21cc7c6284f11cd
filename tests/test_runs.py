"""Run folders: keyed by the parameters and data set that shape a step, prepared for resume."""

from __future__ import annotations

import keras
import pytest

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, build_path, load_params
from avsc_lib.data.identity import data_fingerprint
from avsc_lib.training import runs
from avsc_lib.training.graph import STEP_NAMES
from avsc_lib.training.runs import CallbackState, run_dir, start_run
from avsc_lib.training.steps import load_run


@pytest.fixture
def params(tmp_path):
    return load_params(PARAMS_DIR / "paper.yml", {"build_dir": str(tmp_path / "build"), "weights": "none"})


def test_run_folders_are_keyed_by_the_parameters_that_shape_them(params):
    base = {step: run_dir(params, step) for step in STEP_NAMES}
    assert base["audio"].name.startswith("audio-gammatone-")
    assert run_dir(params, "audio", "logmel").name.startswith("audio-logmel-")
    assert run_dir(params, "audio", "logmel") != base["audio"]
    assert base["audio"].parent == build_path(params, "runs")

    def changed(key, value):
        other = {**params, key: value}
        return {step for step in STEP_NAMES if run_dir(other, step) != base[step]}

    assert base["fusion"].name.startswith("fusion-gammatone-") and base["visual_unfrozen"].name.startswith("visual_unfrozen-")
    assert changed("audio_learning_rate", 0.5) == {"audio", "fusion", "finetune"}
    assert changed("frame_size", 64) == {"visual", "visual_unfrozen", "fusion", "finetune"}
    assert changed("frame_resize", "ffmpeg") == {"visual", "visual_unfrozen", "fusion", "finetune"}
    assert changed("visual_unfrozen_learning_rate", 0.5) == {"visual_unfrozen", "fusion", "finetune"}
    assert changed("vgg16_l2", 0.0) == {"visual_unfrozen", "fusion", "finetune"}
    assert changed("fusion_epochs", 9) == {"fusion", "finetune"}
    assert changed("fusion_loss_outputs", ["early", "late"]) == {"fusion", "finetune"}
    assert changed("finetune_learning_rate", 0.5) == {"finetune"}
    assert changed("synth_seed", 3) == set(STEP_NAMES)
    assert changed("feature_kind", "logmel") == {"audio", "fusion", "finetune"}
    assert changed("schedule_monitor", "val_accuracy") == set(STEP_NAMES)
    assert changed("strategy", "mirrored") == set()  # how, not what, is trained
    # without the unfrozen step, the fusion step starts from the frozen visual step
    frozen = {**params, "visual_unfreeze": False}
    assert run_dir(frozen, "fusion") != base["fusion"]
    assert run_dir({**frozen, "visual_unfrozen_learning_rate": 0.5}, "fusion") == run_dir(frozen, "fusion")


def test_run_folders_follow_the_data_set(params, tmp_path):
    root = tmp_path / "root"
    (root / "evaluation_setup").mkdir(parents=True)
    for split in ("train", "evaluate"):
        (root / "evaluation_setup" / f"fold1_{split}.csv").write_text("filename_audio\tfilename_video\tscene_label\n")
    on_root = {**params, "data_root": str(root)}
    assert data_fingerprint(params) is None  # data passed in directly
    first = run_dir(on_root, "audio")
    assert first != run_dir(params, "audio") and run_dir(on_root, "audio") == first
    (root / "evaluation_setup" / "fold1_train.csv").write_text("filename_audio\tfilename_video\tscene_label\nx\ty\tbus\n")
    assert run_dir(on_root, "audio") != first  # another train list: another run


def test_starting_a_run_clears_leftovers_unless_it_resumes(params, tmp_path):
    folder = tmp_path / "run"
    (folder / runs.BACKUP_DIR).mkdir(parents=True)
    leftovers = [folder / runs.LOG_FILE, folder / runs.BEST_WEIGHTS, folder / runs.BACKUP_DIR / runs.CALLBACK_STATE]
    for path in leftovers:
        path.write_text("x")
    assert start_run(folder, params) is False
    assert not any(path.exists() for path in leftovers)
    assert load_params(folder / runs.PARAMS_FILE) == params

    (folder / runs.BACKUP_DIR / "training_metadata.json").write_text("{}")
    (folder / runs.LOG_FILE).write_text("epoch\n0\n")
    assert start_run(folder, params) is True
    assert (folder / runs.LOG_FILE).read_text() == "epoch\n0\n"


def test_callback_state_survives_a_restart(tmp_path):
    path = tmp_path / "state.json"
    stop = keras.callbacks.EarlyStopping("val_accuracy", patience=5, mode="max")
    plateau = keras.callbacks.ReduceLROnPlateau("val_accuracy", patience=3, mode="max")
    stop.on_train_begin()
    plateau.on_train_begin()
    stop.best, stop.wait, stop.best_epoch = 0.75, 2, 4
    plateau.best, plateau.wait = 0.75, 1
    CallbackState(path, {"stop": stop, "plateau": plateau}).on_epoch_end(6)

    stop2 = keras.callbacks.EarlyStopping("val_accuracy", patience=5, mode="max")
    plateau2 = keras.callbacks.ReduceLROnPlateau("val_accuracy", patience=3, mode="max")
    for cb in (stop2, plateau2):
        cb.on_train_begin()  # resets, as at the start of a resumed fit
    CallbackState(path, {"stop": stop2, "plateau": plateau2}).on_train_begin()
    assert (stop2.best, stop2.wait, stop2.best_epoch) == (0.75, 2, 4)
    assert (plateau2.best, plateau2.wait) == (0.75, 1)


def test_loading_an_unfinished_run_says_so(tmp_path):
    with pytest.raises(AvscError, match="not a finished training run"):
        load_run(tmp_path)


def test_recorded_weights_never_fall_back(tmp_path):
    """Evaluation uses the backbone a run was trained on, not what weights=auto finds later."""
    import json

    from avsc_lib.training.runs import BACKBONE_FILE, recorded_weights

    assert recorded_weights(tmp_path) is None  # no backbone.json: an audio-only run
    weights_file = tmp_path / "vgg.h5"
    weights_file.write_bytes(b"x")
    record = {"weights": "imagenet", "requested": "auto", "path": str(weights_file), "sha256": "ab"}
    (tmp_path / BACKBONE_FILE).write_text(json.dumps(record))
    assert recorded_weights(tmp_path) == str(weights_file)
    weights_file.unlink()  # another machine: look the same kind up again, with no fallback
    assert recorded_weights(tmp_path) == "imagenet"
    (tmp_path / BACKBONE_FILE).write_text(json.dumps({"weights": "random", "requested": "auto"}))
    assert recorded_weights(tmp_path) == "none"
