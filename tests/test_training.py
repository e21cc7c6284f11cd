"""Training steps: reuse of finished runs, resume, repeatability, strategies, fusion, fine-tuning."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from avsc_lib import training
from avsc_lib.params import PARAMS_DIR, load_params
from avsc_lib.pipelines import SplitData
from avsc_lib.runs import BEST_WEIGHTS, DONE_FILE, load_run, read_log, run_dir
from avsc_lib.training import finetune_fusion, train_audio, train_fusion, train_visual

N_BANDS = 8
# Keras saving a MirroredStrategy variable with numpy 2 (a library deprecation, harmless here).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning")


def toy_split(n_clips: int, seed: int, frames: int | None = None) -> SplitData:
    """Small clips whose class shows in both modalities (audio band and visual feature)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_clips) % 10
    audio, visual = [], []
    for label in labels:
        a = rng.normal(size=(N_BANDS, 500, 3)).astype(np.float32)
        a[label % N_BANDS] += 3.0
        audio.append(a)
        if frames is None:
            v = rng.normal(size=(50, 512)).astype(np.float32)
            v[:, label * 8 : label * 8 + 8] += 3.0
        else:
            v = rng.integers(0, 255, size=(50, frames, frames, 3), dtype=np.uint8)
        visual.append(v)
    return SplitData([f"clip{i}" for i in range(n_clips)], labels, audio, visual)


@pytest.fixture
def params(tmp_path):
    overrides = {
        "build_dir": str(tmp_path / "build"), "weights": "none", "n_bands": N_BANDS,
        "audio_epochs": 2, "visual_epochs": 2, "fusion_epochs": 2, "finetune_epochs": 1,
        "audio_batch_size": 8, "visual_batch_size": 8, "fusion_batch_size": 8, "finetune_batch_size": 4,
        "frame_size": 32, "lr_patience": 1, "early_stop_patience": 5,
    }
    return load_params(PARAMS_DIR / "paper.yml", overrides)


@pytest.fixture
def data():
    return toy_split(12, seed=0), toy_split(2, seed=1)


def no_loading(*args, **kwargs):
    raise AssertionError("a finished run must not load data")


class Interrupt(keras.callbacks.Callback):
    """Raise at the start of an epoch, as a crash or a Ctrl-C would."""

    def __init__(self, at_epoch: int):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_audio_step_writes_its_run_folder_and_is_reused(params, data, monkeypatch):
    train, val = data
    run = train_audio(params, train=train, val=val, verbose=0)
    folder = run.dir
    assert folder == run_dir(params, "audio")
    for name in (BEST_WEIGHTS, "log.csv", "params.yml", DONE_FILE):
        assert (folder / name).is_file(), name
    assert not (folder / "backup").exists()
    log = read_log(folder)
    assert log["epoch"].tolist() == [0, 1]
    assert {"accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"} <= set(log.columns)
    info = json.loads((folder / DONE_FILE).read_text())
    assert info["epochs_run"] == 2 and info["step"] == "audio" and info["kind"] == "gammatone"
    assert info["best"] == pytest.approx(log["val_accuracy"].max())
    assert load_params(folder / "params.yml") == params
    assert run.outputs == ("audio",) and run.inputs == ("audio",)

    monkeypatch.setattr(training, "load_split_data", no_loading)  # imported from pipelines
    again = train_audio(params)
    x = np.random.default_rng(0).normal(size=(3, N_BANDS, 50, 3)).astype(np.float32)
    np.testing.assert_allclose(again.model.predict(x, verbose=0), run.model.predict(x, verbose=0), atol=1e-6)
    assert again.info == info


def test_interrupted_training_resumes_from_the_last_finished_epoch(params, data):
    train, val = data
    params = {**params, "visual_epochs": 4}
    with pytest.raises(KeyboardInterrupt):
        train_visual(params, train=train, val=val, callbacks=[Interrupt(2)], verbose=0)
    folder = run_dir(params, "visual")
    assert read_log(folder)["epoch"].tolist() == [0, 1]
    assert not (folder / DONE_FILE).exists()
    assert (folder / "backup" / "callbacks.json").is_file()
    best_before = json.loads((folder / "backup" / "callbacks.json").read_text())["checkpoint"]["best"]

    recorder = EpochRecorder()
    run = train_visual(params, train=train, val=val, callbacks=[recorder], verbose=0)
    assert recorder.epochs == [2, 3]
    assert read_log(folder)["epoch"].tolist() == [0, 1, 2, 3]
    assert run.info["resumed"] is True and run.info["epochs_run"] == 4
    assert run.info["best"] >= best_before  # the checkpoint's best survived the interruption
    assert not (folder / "backup").exists()


def test_fixed_seed_makes_a_cpu_run_repeatable(params, data, tmp_path):
    train, val = data
    logs = []
    for name in ("a", "b"):
        p = {**params, "build_dir": str(tmp_path / name)}
        train_visual(p, train=train, val=val, verbose=0)
        logs.append(read_log(run_dir(p, "visual")))
    np.testing.assert_allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-6)
    np.testing.assert_allclose(logs[0]["val_accuracy"], logs[1]["val_accuracy"])


def test_mirrored_strategy_builds_and_trains_on_cpu(params, data):
    train, val = data
    params = {**params, "strategy": "mirrored", "visual_epochs": 1}
    run = train_visual(params, train=train, val=val, verbose=0)
    assert run.info["epochs_run"] == 1


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    """Steps 1 to 3 trained once on toy data for the fusion tests of this module."""
    overrides = {
        "build_dir": str(tmp_path_factory.mktemp("fused") / "build"), "weights": "none", "n_bands": N_BANDS,
        "audio_epochs": 1, "visual_epochs": 1, "fusion_epochs": 2, "finetune_epochs": 1,
        "audio_batch_size": 8, "visual_batch_size": 8, "fusion_batch_size": 8, "finetune_batch_size": 4,
        "frame_size": 32,
    }
    params = load_params(PARAMS_DIR / "paper.yml", overrides)
    train, val = toy_split(10, seed=0), toy_split(2, seed=1)
    audio = train_audio(params, train=train, val=val, verbose=0)
    visual = train_visual(params, train=train, val=val, verbose=0)
    run = train_fusion(params, train=train, val=val, verbose=0)
    return params, audio, visual, run


def test_fusion_trains_only_the_fusion_layers(fused):
    params, audio, visual, run = fused
    assert run.outputs == ("audio", "visual", "early", "late")
    log = read_log(run.dir)
    assert {"val_late_accuracy", "val_early_accuracy", "val_audio_accuracy", "val_visual_accuracy"} <= set(log.columns)
    assert run.info["loss_outputs"] == ["early", "late"] and run.info["monitor"] == "val_late_accuracy"
    assert json.loads((run.dir / "backbone.json").read_text())["weights"] == "random"
    # the frozen subnetworks kept the weights of their own steps
    for mine, theirs in zip(run.model.get_layer("audio_subnetwork").get_weights(), audio.model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(run.model.get_layer("visual_head").get_weights(), visual.model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_a_finished_run_loads_from_its_folder_alone(fused):
    params, _, _, run = fused
    loaded, loaded_params = load_run(run.dir)
    assert loaded.step == "fusion" and loaded_params == params
    x = {"audio": np.ones((2, N_BANDS, 50, 3), np.float32), "visual": np.ones((2, 5, 512), np.float32)}
    mine, theirs = loaded.model.predict(x, verbose=0), run.model.predict(x, verbose=0)
    for name in run.outputs:
        np.testing.assert_allclose(mine[name], theirs[name], atol=1e-6)


def test_finetuning_unfreezes_everything_on_tiny_frames(fused):
    params, _, _, run = fused
    frames_train, frames_val = toy_split(4, seed=2, frames=32), toy_split(1, seed=3, frames=32)
    tuned = finetune_fusion(params, train=frames_train, val=frames_val, verbose=0)
    assert tuned.info["loss_outputs"] == ["audio", "visual", "early", "late"]
    assert tuned.model.input["visual"].shape[1:] == (5, 32, 32, 3)
    before = run.model.get_layer("audio_subnetwork").get_weights()
    after = tuned.model.get_layer("audio_subnetwork").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # the audio subnetwork trained too
    assert tuned.model.get_layer("frame_features").layer.get_layer("vgg16").trainable
    # the fusion layers started from step 3's weights
    assert tuned.model.get_layer("late_probs").get_weights()[0].shape == run.model.get_layer("late_probs").get_weights()[0].shape
