"""Training steps: reuse of finished runs, resume, repeatability, strategies, and the authors'
schedule: which layers train in each step, callback monitors, loss outputs, weight decay."""

from __future__ import annotations

import json

import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.training.fitting import compile_model, distribution_strategy, schedule_callbacks
from avsc_lib.training.graph import step_settings
from avsc_lib.training.networks import pretrained_encoder
from avsc_lib.training.runs import BEST_WEIGHTS, DONE_FILE, read_log, run_dir
from avsc_lib.training.segments import SplitData
from avsc_lib.training.steps import (
    finetune_fusion, load_run, step_spec, train_audio, train_fusion, train_visual, train_visual_unfrozen,
)

N_BANDS = 8
FRAME = 32
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


def tiny(build_dir, **extra) -> dict:
    """The authors' settings (paper.yml) at toy sizes: every step, a few epochs."""
    overrides = {
        "build_dir": str(build_dir), "weights": "none", "n_bands": N_BANDS, "frame_size": FRAME,
        "audio_epochs": 2, "visual_epochs": 2, "visual_unfrozen_epochs": 1, "fusion_epochs": 2,
        "finetune_epochs": 1, "audio_batch_size": 8, "visual_batch_size": 8, "visual_unfrozen_batch_size": 4,
        "fusion_batch_size": 8, "finetune_batch_size": 4, **extra,
    }
    return load_params(PARAMS_DIR / "paper.yml", overrides)


@pytest.fixture
def params(tmp_path):
    return tiny(tmp_path / "build", audio_lr_patience=1, visual_lr_patience=1)


@pytest.fixture
def data():
    return toy_split(12, seed=0), toy_split(2, seed=1)


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


class AtTrainBegin(keras.callbacks.Callback):
    """Record, as training starts, the model's distribution strategy and the weights of some layers."""

    def __init__(self, layers: tuple[str, ...] = ()):
        super().__init__()
        self.layers = layers
        self.strategy: tf.distribute.Strategy | None = None
        self.weights: dict[str, list[np.ndarray]] = {}

    def on_train_begin(self, logs=None):
        self.strategy = self.model.distribute_strategy
        self.weights = {name: [np.array(w) for w in self.model.get_layer(name).get_weights()] for name in self.layers}


def trainable_names(model: keras.Model) -> set[str]:
    return {w.path.split("/")[0] for w in model.trainable_weights}


def test_audio_step_writes_its_run_folder_and_is_reused(params, data, monkeypatch):
    train, val = data
    run = train_audio(params, None, train=train, val=val, verbose=0)
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
    assert info["monitor"] == "val_accuracy" and info["schedule_monitor"] == "val_loss"
    assert load_params(folder / "params.yml") == params
    assert run.outputs == ("audio",) and run.inputs == ("audio",)

    again = train_audio(params, None)  # no inputs: a finished run is loaded without reading data
    x = np.random.default_rng(0).normal(size=(3, N_BANDS, 50, 3)).astype(np.float32)
    np.testing.assert_allclose(again.model.predict(x, verbose=0), run.model.predict(x, verbose=0), atol=1e-6)
    assert again.info == info


def test_interrupted_training_resumes_from_the_last_finished_epoch(params, data):
    train, val = data
    params = {**params, "visual_epochs": 4}
    with pytest.raises(KeyboardInterrupt, match="interrupted at epoch 2"):
        train_visual(params, None, train=train, val=val, callbacks=[Interrupt(2)], verbose=0)
    folder = run_dir(params, "visual")
    assert read_log(folder)["epoch"].tolist() == [0, 1]
    assert not (folder / DONE_FILE).exists()
    assert (folder / "backup" / "callbacks.json").is_file()
    best_before = json.loads((folder / "backup" / "callbacks.json").read_text())["checkpoint"]["best"]

    recorder = EpochRecorder()
    run = train_visual(params, None, train=train, val=val, callbacks=[recorder], verbose=0)
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
        train_visual(p, None, train=train, val=val, verbose=0)
        logs.append(read_log(run_dir(p, "visual")))
    np.testing.assert_allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-6)
    np.testing.assert_allclose(logs[0]["val_accuracy"], logs[1]["val_accuracy"])


def test_mirrored_strategy_builds_and_trains_on_cpu(params, data):
    train, val = data
    params = {**params, "strategy": "mirrored", "visual_epochs": 1}
    start = AtTrainBegin()
    run = train_visual(params, None, train=train, val=val, callbacks=[start], verbose=0)
    assert run.info["epochs_run"] == 1
    assert isinstance(start.strategy, tf.distribute.MirroredStrategy)  # the model trained under it
    assert all(isinstance(v.value, tf.distribute.DistributedValues) for v in run.model.weights[:1])
    assert not isinstance(distribution_strategy({**params, "strategy": "default"}), tf.distribute.MirroredStrategy)


# --- the switches, without training ---------------------------------------------------------------


@pytest.mark.parametrize("monitor, watched, mode", [("val_loss", "val_loss", "min"),
                                                    ("val_accuracy", "val_late_accuracy", "max")])
def test_schedule_monitor_selects_what_the_plateau_and_early_stop_watch(monitor, watched, mode):
    params = load_params(PARAMS_DIR / "smoke.yml", {"schedule_monitor": monitor})
    reduce_lr, early_stop = schedule_callbacks("val_late_accuracy", params, step_settings(params, "fusion"))
    assert reduce_lr.monitor == early_stop.monitor == watched
    assert reduce_lr.mode == early_stop.mode == mode
    assert (reduce_lr.patience, early_stop.patience) == (15, 80)  # train_audiovisual.ipynb cell 32


def test_patience_per_step_follows_the_code_and_the_text():
    code, text = load_params(PARAMS_DIR / "paper.yml"), load_params(PARAMS_DIR / "paper-text.yml")
    patience = {step: (step_settings(code, step)["lr_patience"], step_settings(code, step)["early_stop_patience"])
                for step in ("audio", "visual", "visual_unfrozen", "fusion", "finetune")}
    assert patience == {"audio": (15, 80), "visual": (20, 40), "visual_unfrozen": (20, 40),
                        "fusion": (15, 80), "finetune": (15, 80)}
    assert {(step_settings(text, s)["lr_patience"], step_settings(text, s)["early_stop_patience"])
            for s in ("audio", "visual", "fusion", "finetune")} == {(20, 50)}


@pytest.mark.parametrize("outputs", [["late"], ["early", "late"]])
def test_loss_outputs_select_the_trained_outputs(outputs):
    params = load_params(PARAMS_DIR / "smoke.yml", {"fusion_loss_outputs": outputs, "visual_unfreeze": False,
                                                    "weights": "none"})
    spec = step_spec(params, "fusion")
    assert spec.loss_outputs == tuple(outputs)
    model = compile_model(spec.build(), 1e-3, spec.loss_outputs)
    x = {"audio": np.zeros((2, 64, 50, 3), np.float32), "visual": np.zeros((2, 5, 512), np.float32)}
    y = {name: np.eye(10, dtype=np.float32)[:2] for name in ("audio", "visual", "early", "late")}
    assert set(model.loss) == set(outputs)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)
    expected = sum(float(np.mean(keras.losses.categorical_crossentropy(y[o], predicted[o]))) for o in outputs)
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)  # the loss is theirs, summed, and no other


def test_weight_decay_of_the_visual_subnetwork(tmp_path):
    def regularizers(params):
        model = step_spec(params, "visual_unfrozen").build()
        vgg = model.get_layer("frame_features").layer.get_layer("vgg16")
        convs = [layer for layer in vgg.layers if isinstance(layer, keras.layers.Conv2D)]
        dense = model.get_layer("visual_head").get_layer("visual_step_probs")
        return [layer.kernel.regularizer for layer in convs], dense.kernel.regularizer

    convs, dense = regularizers(tiny(tmp_path))
    assert len(convs) == 13 and all(isinstance(r, keras.regularizers.L2) for r in convs)
    assert [float(r.l2) for r in convs] == pytest.approx([2e-4] * 13) and float(dense.l2) == pytest.approx(1e-3)
    model = step_spec(tiny(tmp_path), "visual_unfrozen").build()
    assert len(model.losses) == 14  # the penalties count while VGG16 trains
    convs, dense = regularizers(tiny(tmp_path, vgg16_l2=0.0, visual_dense_l2=0.0))
    assert convs == [None] * 13 and dense is None


def test_which_layers_train_in_each_step(tmp_path):
    params = tiny(tmp_path, weights="none")
    audio = step_spec(params, "audio").build()
    assert all("moving" in w.path for w in audio.non_trainable_weights)  # all but BN statistics
    head = step_spec(params, "visual").build()
    assert trainable_names(head) == {"visual_bigru", "visual_step_probs"}
    unfrozen = step_spec(params, "visual_unfrozen").build()
    vgg = unfrozen.get_layer("frame_features").layer.get_layer("vgg16")
    assert vgg.trainable and len(unfrozen.trainable_weights) == len(unfrozen.weights)  # every weight
    frozen_params = {**params, "visual_unfreeze": False}
    fused = step_spec(frozen_params, "fusion").build()
    assert trainable_names(fused) == {"fusion_bigru", "early_probs", "late_probs"}
    tuned = step_spec(frozen_params, "finetune").build()
    assert all("moving" in w.path for w in tuned.non_trainable_weights)  # VGG16 included
    assert tuned.get_layer("frame_features").layer.get_layer("vgg16").trainable


# --- the steps in order, on toy data -----------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Steps 1, 2, 2b and 3 trained once on toy data, as paper.yml chains them."""
    params = tiny(tmp_path_factory.mktemp("chain") / "build")
    train, val = toy_split(10, seed=0), toy_split(2, seed=1)
    frames_train, frames_val = toy_split(4, seed=2, frames=FRAME), toy_split(1, seed=3, frames=FRAME)
    audio = train_audio(params, None, train=train, val=val, verbose=0)
    visual = train_visual(params, None, train=train, val=val, verbose=0)
    unfrozen = train_visual_unfrozen(params, None, train=frames_train, val=frames_val, verbose=0)
    fused = train_fusion(params, None, train=train, val=val, verbose=0)
    return params, audio, visual, unfrozen, fused


def test_unfrozen_visual_step_trains_vgg16_from_the_frozen_steps_head(chain):
    params, _, visual, unfrozen, _ = chain
    assert unfrozen.dir == run_dir(params, "visual_unfrozen") and unfrozen.outputs == ("visual",)
    assert unfrozen.uses_frames and unfrozen.info["loss_outputs"] == ["visual"]
    pretrained = pretrained_encoder(params).get_layer("vgg16").get_weights()
    trained = unfrozen.model.get_layer("frame_features").layer.get_layer("vgg16").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(pretrained, trained, strict=True))  # VGG16 moved
    assert json.loads((unfrozen.dir / "backbone.json").read_text())["weights"] == "random"


def test_fusion_trains_only_the_fusion_layers_on_the_unfrozen_backbone(chain):
    params, audio, _, unfrozen, run = chain
    assert run.outputs == ("audio", "visual", "early", "late") and run.dir.name.startswith("fusion-gammatone-")
    log = read_log(run.dir)
    assert {"val_late_accuracy", "val_early_accuracy", "val_audio_accuracy", "val_visual_accuracy"} <= set(log.columns)
    assert run.info["loss_outputs"] == ["late"] and run.info["monitor"] == "val_late_accuracy"
    assert run.info["schedule_monitor"] == "val_loss"
    backbone = json.loads((run.dir / "backbone.json").read_text())
    assert backbone["weights"] == "trained" and backbone["run"] == unfrozen.dir.name
    weights_file = unfrozen.dir / BEST_WEIGHTS  # the file whose VGG16 gave the fusion step's features
    assert backbone["path"] == str(weights_file)
    assert backbone["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert backbone["base"] == json.loads((unfrozen.dir / "backbone.json").read_text())
    # the frozen subnetworks kept the weights of their own steps (the head: the unfrozen step's)
    for mine, theirs in zip(run.model.get_layer("audio_subnetwork").get_weights(), audio.model.get_weights(),
                            strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(run.model.get_layer("visual_head").get_weights(),
                            unfrozen.model.get_layer("visual_head").get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_finished_run_loads_from_its_folder_alone(chain):
    params, _, _, _, run = chain
    loaded, loaded_params = load_run(run.dir)
    assert loaded.step == "fusion" and loaded_params == params
    x = {"audio": np.ones((2, N_BANDS, 50, 3), np.float32), "visual": np.ones((2, 5, 512), np.float32)}
    mine, theirs = loaded.model.predict(x, verbose=0), run.model.predict(x, verbose=0)
    for name in run.outputs:
        np.testing.assert_allclose(mine[name], theirs[name], atol=1e-6)


FUSION_LAYERS = ("fusion_bigru", "early_probs", "late_probs")


def test_finetuning_unfreezes_everything_on_tiny_frames(chain):
    params, _, _, unfrozen, run = chain
    frames_train, frames_val = toy_split(4, seed=2, frames=FRAME), toy_split(1, seed=3, frames=FRAME)
    start = AtTrainBegin(FUSION_LAYERS)
    tuned = finetune_fusion(params, None, train=frames_train, val=frames_val, callbacks=[start], verbose=0)
    # the fusion layers start from step 3's trained weights (its saved best weights), not fresh ones
    fused, _ = load_run(run.dir)
    for name in FUSION_LAYERS:
        theirs = fused.model.get_layer(name).get_weights()
        assert len(start.weights[name]) == len(theirs) > 0, name
        for mine, saved in zip(start.weights[name], theirs, strict=True):
            np.testing.assert_array_equal(mine, saved, err_msg=f"{name} does not start from step 3's weights")
    assert tuned.info["loss_outputs"] == ["late"] and tuned.dir.name.startswith("finetune-gammatone-")
    assert tuned.model.input["visual"].shape[1:] == (5, FRAME, FRAME, 3)
    before = run.model.get_layer("audio_subnetwork").get_weights()
    after = tuned.model.get_layer("audio_subnetwork").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))  # the audio subnetwork trained too
    assert tuned.model.get_layer("frame_features").layer.get_layer("vgg16").trainable
    loaded, _ = load_run(tuned.dir)
    frames = np.random.default_rng(5).integers(0, 255, (2, 5, FRAME, FRAME, 3)).astype(np.float32)
    x = {"audio": np.ones((2, N_BANDS, 50, 3), np.float32), "visual": frames}
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0)["late"], tuned.model.predict(x, verbose=0)["late"],
                               atol=1e-6)
