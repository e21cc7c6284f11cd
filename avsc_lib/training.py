"""The paper's training steps (section 2.5), each in a run folder keyed by its parameters.

1. ``train_audio``: the audio subnetwork from scratch on random 1-s crops with mixup.
2. ``train_visual``: the visual head on cached per-frame VGG16 features (the base is frozen).
3. ``train_fusion``: the audio-visual network on cached features, both subnetworks frozen.
   Its loss is the categorical cross-entropy of the ``early`` and ``late`` outputs, summed:
   the only trainable weights (the fusion GRU and the two dense layers) sit behind those
   two outputs; the frozen ``audio`` and ``visual`` outputs are only measured.
4. ``finetune_fusion`` (optional): every weight unfrozen, the loss summed over all four
   outputs so that each output stays a classifier; it needs the full VGG16, so it streams
   decoded frames instead of cached features.

Every step validates on the 1-s segments of ``eval_split`` after each epoch (as the authors'
code), keeps the best weights by validation accuracy (of ``late`` for the fusion steps),
halves the learning rate after ``lr_patience`` epochs without gain and stops after
``early_stop_patience``. Each step trains in its own run folder (see :mod:`avsc_lib.runs`):
a finished run is reused, not retrained, and an interrupted one resumes from its last
finished epoch, with its learning rate, best value and patience counters.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import tensorflow as tf

from avsc_lib.errors import AvscError
from avsc_lib.paper import OUTPUTS
from avsc_lib.pipelines import (
    SplitData,
    WindowSampler,
    load_split_data,
    segment_dataset,
    segment_geometry,
)
from avsc_lib.runs import (
    BACKUP_DIR,
    BEST_WEIGHTS,
    CALLBACK_STATE,
    LOG_FILE,
    STEPS,
    CallbackState,
    Run,
    is_done,
    load_finished,
    read_log,
    run_dir,
    run_key,
    start_run,
    write_backbone,
    write_done,
)

# Outputs whose loss is trained in each fusion step (see the module doc).
LOSS_OUTPUTS = {"fusion": ("early", "late"), "finetune": OUTPUTS}
EVAL_BATCH_SIZE = 64
VISUAL_FEATURE_DIM = 512  # channels of VGG16's last block: one cached feature per frame
INPUT_PAIR = ("audio", "visual")


# --- models -------------------------------------------------------------------------------------


def build_audio_model(params: Mapping[str, Any]) -> keras.Model:
    """The audio subnetwork for one 1-s input of these parameters."""
    from avsc_lib.models.audio import build_audio_subnetwork

    geometry = segment_geometry(params)
    return build_audio_subnetwork(
        n_bands=params["n_bands"], n_frames=geometry.audio_frames, n_channels=3,
        dropout=params["audio_dropout"], third_pool=params["third_pool"],
    )


def build_visual_model(params: Mapping[str, Any]) -> keras.Model:
    """The visual head on the cached per-frame features of one 1-s input."""
    from avsc_lib.models.visual import build_visual_head

    return build_visual_head(n_steps=segment_geometry(params).video_frames, feature_dim=VISUAL_FEATURE_DIM)


def build_fusion_model(
    params: Mapping[str, Any],
    audio_weights: str | Path | None = None,
    visual_weights: str | Path | None = None,
    frames: bool = False,
) -> keras.Model:
    """The audio-visual network with both subnetworks frozen.

    Args:
        params: a loaded parameter set.
        audio_weights: weights of a trained audio subnetwork to start from.
        visual_weights: weights of a trained visual head to start from.
        frames: take decoded frames through the frozen VGG16 (for fine-tuning) instead of
            cached per-frame features.
    """
    from avsc_lib.models import fusion

    audio_model = build_audio_model(params)
    if audio_weights is not None:
        audio_model.load_weights(str(audio_weights))
    head = build_visual_model(params)
    if visual_weights is not None:
        head.load_weights(str(visual_weights))
    encoder = None
    if frames:
        from avsc_lib.frame_features import backbone_info, build_encoder

        encoder = build_encoder(params, backbone_info(params))
    model = fusion.build_audiovisual_network(
        audio_model, head, frame_encoder=encoder, n_steps=segment_geometry(params).video_frames
    )
    fusion.set_subnetworks_trainable(model, False)
    return model


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the weights of every layer of ``source`` into the layer of the same name in ``target``.

    Raises:
        AvscError: a layer of ``source`` that has weights is missing from ``target``.
    """
    names = {layer.name for layer in target.layers}
    for layer in source.layers:
        if not layer.weights:
            continue
        if layer.name not in names:
            raise AvscError(f"layer {layer.name!r} of {source.name} has no counterpart in {target.name}")
        target.get_layer(layer.name).set_weights(layer.get_weights())


def output_names(model: keras.Model) -> tuple[str, ...]:
    """The names of a model's outputs: the keys of a dict of outputs, else the output layers' names."""
    if isinstance(model.output, dict):
        return tuple(model.output)
    return tuple(model.output_names)


def compile_model(model: keras.Model, learning_rate: float, loss_outputs: Sequence[str] | None = None) -> keras.Model:
    """Compile with Adam and categorical cross-entropy; accuracy of every output.

    Args:
        model: a single-output subnetwork or the four-output audio-visual network.
        learning_rate: Adam's initial learning rate.
        loss_outputs: for a multi-output model, the outputs whose loss is trained (summed).
    """
    names = output_names(model)
    if not isinstance(model.output, dict):
        model.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy", metrics=["accuracy"])
    else:
        losses = {name: "categorical_crossentropy" for name in (loss_outputs or names)}
        model.compile(
            keras.optimizers.Adam(learning_rate), loss=losses,
            metrics={name: ["accuracy"] for name in names},
        )
    return model


def distribution_strategy(params: Mapping[str, Any]) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over all GPUs when ``strategy: mirrored``, else the default strategy."""
    if params["strategy"] == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# --- callbacks ----------------------------------------------------------------------------------


class EpochSync(keras.callbacks.Callback):
    """Tell the window sampler which epoch runs, so that a resumed run draws that epoch's windows."""

    def __init__(self, sampler: WindowSampler):
        super().__init__()
        self.sampler = sampler

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.sampler.epoch = epoch


class BestCheckpoint(keras.callbacks.Callback):
    """Save the weights (atomically) whenever the monitored validation metric reaches a new high.

    Args:
        path: the ``.weights.h5`` file.
        monitor: the metric, e.g. ``val_accuracy``.
    """

    def __init__(self, path: str | Path, monitor: str):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise AvscError(f"metric {self.monitor!r} is not logged; have: {', '.join(sorted(logs))}")
        value = float(logs[self.monitor])
        if self.best is None or value > self.best:
            self.best, self.best_epoch = value, int(epoch)
            tmp = self.path.with_name(f".{os.getpid()}-{self.path.name}")
            self.model.save_weights(str(tmp))
            os.replace(tmp, self.path)


def default_verbose() -> int:
    """Progress bars in a terminal, one line per epoch elsewhere (notebooks, papermill, logs)."""
    return 1 if sys.stdout.isatty() else 2


# --- the training loop --------------------------------------------------------------------------


def fit_run(
    folder: str | Path,
    build: Callable[[], keras.Model],
    sampler: WindowSampler,
    validation: tf.data.Dataset,
    epochs: int,
    monitor: str,
    params: Mapping[str, Any],
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train a model in a run folder, resuming an interrupted run; load its best weights.

    Args:
        folder: the run folder.
        build: returns the compiled model (called inside the distribution strategy's scope).
        sampler: the training windows.
        validation: the validation segments (labelled).
        epochs: the maximum number of epochs.
        monitor: the validation metric that picks the best weights and drives the schedule.
        params: the parameter set (``seed``, ``lr_patience``, ``lr_factor``,
            ``early_stop_patience``, ``strategy``), saved as ``params.yml``.
        callbacks: extra Keras callbacks (called last).
        verbose: Keras verbosity; default :func:`default_verbose`.

    Returns:
        The model with its best weights and the run's summary (also written as ``done.json``).
    """
    folder = Path(folder)
    backup = folder / BACKUP_DIR
    resuming = start_run(folder, params)
    keras.utils.set_random_seed(params["seed"])
    with distribution_strategy(params).scope():
        model = build()
    checkpoint = BestCheckpoint(folder / BEST_WEIGHTS, monitor)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor, factor=params["lr_factor"], patience=params["lr_patience"], mode="max", verbose=0
    )
    early_stop = keras.callbacks.EarlyStopping(monitor, patience=params["early_stop_patience"], mode="max")
    state = CallbackState(backup / CALLBACK_STATE, {"checkpoint": checkpoint, "reduce_lr": reduce_lr, "early_stop": early_stop})
    all_callbacks = [
        EpochSync(sampler), checkpoint, reduce_lr, early_stop,
        keras.callbacks.CSVLogger(str(folder / LOG_FILE), append=True),
        keras.callbacks.BackupAndRestore(str(backup)), state, *callbacks,
    ]
    started = time.perf_counter()
    model.fit(
        sampler.dataset(), validation_data=validation, epochs=epochs, callbacks=all_callbacks,
        verbose=default_verbose() if verbose is None else verbose, shuffle=False,
    )
    log = read_log(folder)
    info = {
        "monitor": monitor,
        "best": checkpoint.best,
        "best_epoch": checkpoint.best_epoch,
        "epochs_run": int(len(log)),
        "max_epochs": int(epochs),
        "stopped_early": bool(len(log) < epochs),
        "resumed": resuming,
        "seconds": round(time.perf_counter() - started, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not (folder / BEST_WEIGHTS).is_file():
        raise AvscError(f"{folder}: training ended without a checkpoint")
    model.load_weights(str(folder / BEST_WEIGHTS))
    return model, info


# --- the steps ----------------------------------------------------------------------------------


@dataclass
class StepSpec:
    """What distinguishes one training step from another."""

    step: str
    kind: str | None
    inputs: tuple[str, ...]
    build: Callable[[], keras.Model]  # the uncompiled model, for training and for loading
    learning_rate: float
    epochs: int
    batch_size: int
    mixup_alpha: float
    loss_outputs: tuple[str, ...] | None = None
    visual: str | None = None  # "features", "frames" or None: how load_split_data reads video

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs' names: the modality of a subnetwork, the four of the fusion network."""
        return OUTPUTS if len(self.inputs) > 1 else (self.step,)

    @property
    def monitor(self) -> str:
        return "val_late_accuracy" if self.loss_outputs else "val_accuracy"


def step_spec(params: Mapping[str, Any], step: str, kind: str | None = None,
               upstream: Mapping[str, Run] | None = None) -> StepSpec:
    """The spec of a step; ``upstream`` runs give the weights a fusion step starts from."""
    upstream = upstream or {}
    if step == "audio":
        return StepSpec(step, kind or params["feature_kind"], ("audio",), lambda: build_audio_model(params),
                        params["audio_learning_rate"], params["audio_epochs"], params["audio_batch_size"],
                        params["audio_mixup_alpha"])
    if step == "visual":
        return StepSpec(step, None, ("visual",), lambda: build_visual_model(params),
                        params["visual_learning_rate"], params["visual_epochs"], params["visual_batch_size"],
                        params["visual_mixup_alpha"], visual="features")
    if step == "fusion":
        audio, visual = upstream.get("audio"), upstream.get("visual")

        def build() -> keras.Model:
            return build_fusion_model(params, audio and audio.dir / BEST_WEIGHTS, visual and visual.dir / BEST_WEIGHTS)

        return StepSpec(step, params["feature_kind"], INPUT_PAIR, build, params["fusion_learning_rate"],
                        params["fusion_epochs"], params["fusion_batch_size"], params["fusion_mixup_alpha"],
                        LOSS_OUTPUTS["fusion"], visual="features")
    if step == "finetune":
        from avsc_lib.models import fusion

        fused = upstream.get("fusion")

        def build() -> keras.Model:
            model = build_fusion_model(params, frames=True)
            if fused is not None:
                copy_weights(fused.model, model)
            fusion.set_subnetworks_trainable(model, True, include_backbone=True)
            return model

        return StepSpec(step, params["feature_kind"], INPUT_PAIR, build, params["finetune_learning_rate"],
                        params["finetune_epochs"], params["finetune_batch_size"], 0.0,
                        LOSS_OUTPUTS["finetune"], visual="frames")
    raise AvscError(f"unknown training step {step!r}; valid: {', '.join(STEPS)}")


def run_step(
    params: Mapping[str, Any],
    spec: StepSpec,
    train: SplitData | None = None,
    val: SplitData | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Train one step in its run folder, or load it when that folder holds a finished run.

    Args:
        params: a loaded parameter set.
        spec: the step (see :func:`step_spec`).
        train: the training split's data (default: loaded from the caches).
        val: the validation split's data (default: ``eval_split``, loaded from the caches).
        callbacks: extra Keras callbacks.
        verbose: Keras verbosity (default :func:`default_verbose`).
    """
    folder = run_dir(params, spec.step, spec.kind)
    if is_done(folder):
        return load_finished(spec, folder)
    audio = spec.kind if "audio" in spec.inputs else None
    train = train or load_split_data(params, "train", audio=audio, visual=spec.visual)
    val = val or load_split_data(params, params["eval_split"], audio=audio, visual=spec.visual)
    geometry = segment_geometry(params)
    targets = spec.outputs if len(spec.outputs) > 1 else None  # labels keyed by output
    sampler = WindowSampler(train, spec.inputs, spec.batch_size, geometry, params["seed"], spec.mixup_alpha, targets)
    validation = segment_dataset(val, spec.inputs, EVAL_BATCH_SIZE, geometry, outputs=targets)
    model, info = fit_run(
        folder, lambda: compile_model(spec.build(), spec.learning_rate, spec.loss_outputs), sampler, validation,
        spec.epochs, spec.monitor, params, callbacks, verbose,
    )
    info.update({"step": spec.step, "kind": spec.kind, "train_clips": len(train), "val_clips": len(val),
                 "val_split": params["eval_split"], "loss_outputs": list(spec.loss_outputs or spec.outputs),
                 "key": run_key(params, spec.step, spec.kind)})
    if spec.visual:
        write_backbone(folder, params)
    write_done(folder, info)
    return Run(spec.step, folder, model, spec.inputs, spec.outputs, spec.kind, info)


def train_audio(params: Mapping[str, Any], kind: str | None = None, **kwargs: Any) -> Run:
    """Step 1: the audio subnetwork from scratch (Adam, ``audio_*`` settings, mixup).

    Args:
        params: a loaded parameter set.
        kind: the feature kind (default ``feature_kind``).
        **kwargs: ``train``, ``val``, ``callbacks``, ``verbose`` (see :func:`run_step`).
    """
    return run_step(params, step_spec(params, "audio", kind), **kwargs)


def train_visual(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """Step 2: the visual head on the cached features of the frozen VGG16 (``visual_*`` settings)."""
    return run_step(params, step_spec(params, "visual"), **kwargs)


def train_fusion(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """Step 3: the audio-visual network, both subnetworks frozen (trains them first if needed)."""
    folder = run_dir(params, "fusion")
    upstream = {}
    if not is_done(folder):
        upstream = {"audio": train_audio(params, params["feature_kind"]), "visual": train_visual(params)}
    return run_step(params, step_spec(params, "fusion", upstream=upstream), **kwargs)


def finetune_fusion(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """Step 4: every weight unfrozen at ``finetune_learning_rate``, on decoded frames."""
    folder = run_dir(params, "finetune")
    upstream = {} if is_done(folder) else {"fusion": train_fusion(params)}
    return run_step(params, step_spec(params, "finetune", upstream=upstream), **kwargs)


def final_run(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """The audio-visual network the study reports: fine-tuned when ``finetune``, else step 3."""
    return finetune_fusion(params, **kwargs) if params["finetune"] else train_fusion(params, **kwargs)
