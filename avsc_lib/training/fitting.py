"""The training loop every step shares: compile, callbacks as the authors' code sets them, resume.

The authors' callbacks (``train_audio.ipynb`` cell 24, ``train_video.ipynb`` cell 26,
``train_audiovisual.ipynb`` cell 32): a checkpoint keeps the weights of the best validation
accuracy, ``ReduceLROnPlateau`` halves the learning rate and ``EarlyStopping`` ends the run
when the validation loss has not improved for their patience (``schedule_monitor: val_loss``;
the paper's text has them watch the validation accuracy). A run trains in its folder
(:mod:`avsc_lib.training.runs`); an interrupted one resumes from its last finished epoch, with its
learning rate, best value and patience counters.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras
import tensorflow as tf

from avsc_lib.core.errors import AvscError
from avsc_lib.core.progress import report
from avsc_lib.training.pipelines import WindowSampler
from avsc_lib.training.runs import BACKUP_DIR, BEST_WEIGHTS, CALLBACK_STATE, LOG_FILE, CallbackState, read_log, start_run


def output_names(model: keras.Model) -> tuple[str, ...]:
    """The names of a model's outputs: the keys of a dict of outputs, else the output layers' names."""
    if isinstance(model.output, dict):
        return tuple(model.output)
    return tuple(model.output_names)


def compile_model(model: keras.Model, learning_rate: float, loss_outputs: Sequence[str] | None = None,
                  jit_compile: bool = False) -> keras.Model:
    """Compile with Adam and categorical cross-entropy; accuracy of every output.

    Args:
        model: a single-output subnetwork or the four-output audio-visual network.
        learning_rate: Adam's initial learning rate.
        loss_outputs: for a multi-output model, the outputs whose loss is trained (summed).
        jit_compile: compile the training step with XLA (the JAX backend always does).
    """
    names = output_names(model)
    jit = "auto" if keras.backend.backend() == "jax" else bool(jit_compile)
    if not isinstance(model.output, dict):
        model.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit)
    else:
        losses = {name: "categorical_crossentropy" for name in (loss_outputs or names)}
        model.compile(
            keras.optimizers.Adam(learning_rate), loss=losses,
            metrics={name: ["accuracy"] for name in names}, jit_compile=jit,
        )
    return model


@contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Build and train under Keras' dtype policy ``name`` (``float32``, ``mixed_float16``,
    ``mixed_bfloat16``); the previous policy is restored afterwards. The output layers compute
    in float32 in every policy, so the probabilities and losses keep full precision."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def distribution_strategy(params: Mapping[str, Any]) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over all GPUs when ``strategy: mirrored``, else the default strategy."""
    if params["strategy"] == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


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


class EpochProgress(keras.callbacks.Callback):
    """Report each finished epoch of a training run: epoch n of N, validation scores, times.

    The remaining time assumes every epoch up to the maximum runs; early stopping may end
    sooner, so it is an upper bound.

    Args:
        task: the run's name, e.g. ``audio-gammatone``.
        epochs: the maximum number of epochs.
        monitor: the validation accuracy shown (``val_accuracy``, ``val_late_accuracy``).
    """

    def __init__(self, task: str, epochs: int, monitor: str = "val_accuracy"):
        super().__init__()
        self.task, self.epochs, self.monitor = task, int(epochs), monitor
        self.started = time.perf_counter()
        self.first_epoch: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.first_epoch is None:  # a resumed run starts past 0
            self.first_epoch, self.started = epoch, time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        elapsed = time.perf_counter() - self.started
        trained = epoch + 1 - (self.first_epoch or 0)
        remaining = elapsed / trained * (self.epochs - epoch - 1) if trained else None
        report({"task": self.task, "done": epoch + 1, "total": self.epochs, "unit": "epoch",
                "val_accuracy": logs.get(self.monitor), "val_loss": logs.get("val_loss"),
                "elapsed": elapsed, "remaining": remaining, "at_most": True})


def default_verbose() -> int:
    """Progress bars in a terminal, one line per epoch elsewhere (notebooks, papermill, logs)."""
    return 1 if sys.stdout.isatty() else 2


def schedule_callbacks(
    monitor: str, params: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[keras.callbacks.ReduceLROnPlateau, keras.callbacks.EarlyStopping]:
    """The learning-rate plateau and early-stopping callbacks of a step.

    Args:
        monitor: the checkpoint's validation accuracy (``val_accuracy``, ``val_late_accuracy``).
        params: ``schedule_monitor`` (``val_loss``: the code; ``val_accuracy``: ``monitor``)
            and ``lr_factor``.
        settings: the step's ``lr_patience`` and ``early_stop_patience``.
    """
    watched, mode = ("val_loss", "min") if params["schedule_monitor"] == "val_loss" else (monitor, "max")
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        watched, factor=params["lr_factor"], patience=settings["lr_patience"], mode=mode, verbose=0
    )
    early_stop = keras.callbacks.EarlyStopping(watched, patience=settings["early_stop_patience"], mode=mode)
    return reduce_lr, early_stop


def fit_run(
    folder: str | Path,
    build: Callable[[], keras.Model],
    sampler: WindowSampler,
    validation: tf.data.Dataset,
    monitor: str,
    params: Mapping[str, Any],
    settings: Mapping[str, Any],
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train a model in a run folder, resuming an interrupted run; load its best weights.

    Args:
        folder: the run folder.
        build: returns the compiled model (called inside the distribution strategy's scope).
        sampler: the training windows.
        validation: the validation segments (labelled).
        monitor: the validation accuracy that picks the best weights.
        params: the parameter set (``seed``, ``schedule_monitor``, ``lr_factor``,
            ``strategy``, ``precision``), saved as ``params.yml``.
        settings: the step's ``epochs``, ``lr_patience`` and ``early_stop_patience``.
        callbacks: extra Keras callbacks (called last).
        verbose: Keras verbosity; default :func:`default_verbose`.

    Returns:
        The model with its best weights and the run's summary (also written as ``done.json``).
    """
    folder = Path(folder)
    backup = folder / BACKUP_DIR
    resuming = start_run(folder, params)
    keras.utils.set_random_seed(params["seed"])
    with distribution_strategy(params).scope(), precision_policy(params["precision"]):
        model = build()
    checkpoint = BestCheckpoint(folder / BEST_WEIGHTS, monitor)
    reduce_lr, early_stop = schedule_callbacks(monitor, params, settings)
    state = CallbackState(backup / CALLBACK_STATE, {"checkpoint": checkpoint, "reduce_lr": reduce_lr, "early_stop": early_stop})
    epochs = settings["epochs"]
    all_callbacks = [
        EpochSync(sampler), checkpoint, reduce_lr, early_stop,
        keras.callbacks.CSVLogger(str(folder / LOG_FILE), append=True),
        keras.callbacks.BackupAndRestore(str(backup)), state, EpochProgress(folder.name, epochs, monitor), *callbacks,
    ]
    started = time.perf_counter()
    model.fit(
        sampler.dataset(), validation_data=validation, epochs=epochs, callbacks=all_callbacks,
        verbose=default_verbose() if verbose is None else verbose, shuffle=False,
    )
    log = read_log(folder)
    info = {
        "monitor": monitor,
        "schedule_monitor": reduce_lr.monitor,
        "best": checkpoint.best,
        "best_epoch": checkpoint.best_epoch,
        "epochs_run": int(len(log)),
        "max_epochs": int(epochs),
        "stopped_early": bool(len(log) < epochs),
        "resumed": resuming,
        "backend": keras.backend.backend(),
        "precision": params["precision"],
        "seconds": round(time.perf_counter() - started, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not (folder / BEST_WEIGHTS).is_file():
        raise AvscError(f"{folder}: training ended without a checkpoint")
    model.load_weights(str(folder / BEST_WEIGHTS))
    return model, info
