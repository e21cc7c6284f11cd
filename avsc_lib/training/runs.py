"""Run folders: where each training step keeps its result, keyed by what shapes it.

A run folder ``<build>/runs/<step>-<hash>`` (``<step>-<kind>-<hash>`` for the steps trained per
audio feature kind: ``audio``, ``fusion``, ``finetune``) holds::

    params.yml          the parameters used
    best.weights.h5     the best weights by validation accuracy
    log.csv             one row per epoch (Keras CSVLogger; appended on resume)
    backbone.json       the VGG16 weights the visual input went through (visual steps)
    done.json           written last: the run is finished and is reused, not retrained
    backup/             while training: the state to resume from (Keras BackupAndRestore)

``<hash>`` covers every parameter that shapes the step's result, its upstream steps'
included, and a fingerprint of the data set (its fold-1 lists and synthetic-generator marker),
so a changed parameter or data set never reuses a stale run. How a step is trained lives in
:mod:`avsc_lib.training.steps`; this module names, writes and reads its folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import keras
import pandas as pd

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path, display_path, params_hash, save_params
from avsc_lib.data.identity import data_fingerprint
from avsc_lib.features.encoder import backbone_info, weights_identity
from avsc_lib.training.graph import (
    COMPUTE_DEFAULTS, DATA_KEYS, FRAME_STEPS, KIND_STEPS, SCHEDULE_KEYS, get_step, step_settings, upstream_steps,
)

BEST_WEIGHTS = "best.weights.h5"
LOG_FILE = "log.csv"
DONE_FILE = "done.json"
PARAMS_FILE = "params.yml"
BACKBONE_FILE = "backbone.json"
BACKUP_DIR = "backup"
CALLBACK_STATE = "callbacks.json"

# --- keys and names -----------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _weights_identity(weights: str, weights_dir: str | None, seed: int) -> str:
    params = {"weights": weights, "weights_dir": weights_dir, "seed": seed}
    return weights_identity(backbone_info(params), params)


def run_key(params: Mapping[str, Any], step: str, kind: str | None = None) -> dict[str, Any]:
    """The parameters that shape a step's result, its upstream steps' included (see the table
    :data:`avsc_lib.training.graph.STEPS`).

    Args:
        params: a loaded parameter set.
        step: the name of a step of the table.
        kind: the audio feature kind of a step trained per kind (default ``feature_kind``).
    """
    row = get_step(step)
    key = {name: params[name] for name in DATA_KEYS + SCHEDULE_KEYS}
    key.update({name: params[name] for name, default in COMPUTE_DEFAULTS.items() if params[name] != default})
    key["data"] = data_fingerprint(params)
    for upstream in upstream_steps(params, step):
        key.update(run_key(params, upstream, kind))
    key.update({name: params[name] for name in row.keys})
    key.update({f"{step}_{name}": value for name, value in step_settings(params, step).items()})
    if "feature_kind" in row.identity:
        key["feature_kind"] = kind or params["feature_kind"]
    if "weights_identity" in row.identity:
        key["weights_identity"] = _weights_identity(params["weights"], params["weights_dir"], params["seed"])
    return key


def run_name(step: str, kind: str | None = None) -> str:
    """A run folder's name without its hash: ``audio-gammatone``, ``visual``, ``fusion-logmel``, ..."""
    return f"{step}-{kind}" if step in KIND_STEPS and kind else step


def run_dir(params: Mapping[str, Any], step: str, kind: str | None = None) -> Path:
    """The run folder of a step: ``<build>/runs/<name>-<hash of run_key>``."""
    kind = (kind or params["feature_kind"]) if step in KIND_STEPS else None
    return build_path(params, "runs", f"{run_name(step, kind)}-{params_hash(run_key(params, step, kind))}")


# --- the files of a run folder ------------------------------------------------------------------


def is_done(folder: str | Path) -> bool:
    """True when the run folder holds a finished run."""
    return (Path(folder) / DONE_FILE).is_file() and (Path(folder) / BEST_WEIGHTS).is_file()


def read_log(folder: str | Path) -> pd.DataFrame:
    """The per-epoch log of a run (empty when it has none yet)."""
    path = Path(folder) / LOG_FILE
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def start_run(folder: str | Path, params: Mapping[str, Any]) -> bool:
    """Make a run folder ready to train in and save ``params.yml`` there.

    Returns:
        True when the folder holds a backup to resume from; otherwise the leftovers of a run
        that stopped before its first epoch ended are removed first.
    """
    folder = Path(folder)
    backup = folder / BACKUP_DIR
    resuming = (backup / "training_metadata.json").is_file()
    if not resuming:
        for stale in (folder / LOG_FILE, folder / BEST_WEIGHTS, backup / CALLBACK_STATE):
            stale.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    save_params(params, folder / PARAMS_FILE)
    return resuming


def write_backbone(folder: Path, info: Mapping[str, Any]) -> None:
    """Record which VGG16 weights the run's visual input went through."""
    write_text(folder / BACKBONE_FILE, json.dumps(dict(info), indent=2, default=str) + "\n")


def recorded_weights(folder: str | Path) -> str | None:
    """The ``weights`` parameter that gives back the VGG16 weights a run's features came from.

    A run trained with ``weights: auto`` must not be evaluated later with whatever ``auto``
    finds then (say random weights on a machine without the file): this names the recorded
    file where it still exists, else its kind (``imagenet``, ``places365``: looked up again,
    an error if missing, never a silent fallback), or ``none`` for random weights. None when
    the run has no ``backbone.json`` (an audio-only step).
    """
    path = Path(folder) / BACKBONE_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    info = info.get("base") or info  # a trained backbone records the pretrained one it started from
    kind = info.get("weights")
    if kind == "random":
        return "none"
    if info.get("path") and Path(info["path"]).is_file():
        return str(info["path"])
    if kind in ("imagenet", "places365"):
        return kind
    raise AvscError(f"{path}: the backbone weights of this run ({info.get('path')}) are not found")


def write_done(folder: Path, info: Mapping[str, Any]) -> None:
    """Mark a run finished: ``done.json`` holds its summary (written last)."""
    write_text(folder / DONE_FILE, json.dumps(info, indent=2, default=str) + "\n")


# --- finished runs ------------------------------------------------------------------------------


@dataclass
class Run:
    """A finished training step and its model with the best weights loaded.

    Attributes:
        step: the name of a step (:data:`avsc_lib.training.graph.STEPS`).
        dir: the run folder.
        model: the model, best weights loaded.
        inputs: the inputs the model takes (``audio``, ``visual``).
        outputs: the names of its outputs, in the order of the model's outputs.
        kind: the audio feature kind (None for the visual step).
        info: the contents of ``done.json``.
        status: how this process got it: ``reused`` (loaded from its folder), ``computed``
            (trained) or ``resumed`` (an interrupted run trained to its end).
    """

    step: str
    dir: Path
    model: keras.Model
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kind: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    status: str = "reused"

    @property
    def log(self) -> pd.DataFrame:
        """The per-epoch training log."""
        return read_log(self.dir)

    @property
    def uses_frames(self) -> bool:
        """True when the visual input is decoded frames rather than cached features."""
        return self.step in FRAME_STEPS


# The runs this process trained or loaded, in order (a notebook lists them: reused or computed).
_TOUCHED: list[Run] = []


def note_run(run: Run, params: Mapping[str, Any] | None = None) -> Run:
    """Record that this process reused or computed a run, and say so in one line."""
    _TOUCHED[:] = [r for r in _TOUCHED if r.dir != run.dir] + [run]
    print(f"{run.dir.name}: {run.status} ({display_path(run.dir, params)})", flush=True)
    return run


def touched_runs() -> list[Run]:
    """The runs reused or computed since :func:`forget_touched_runs`, in order."""
    return list(_TOUCHED)


def forget_touched_runs() -> None:
    """Start a new list of reused and computed runs (a notebook's first cell does)."""
    _TOUCHED.clear()


# --- resume -------------------------------------------------------------------------------------


class CallbackState(keras.callbacks.Callback):
    """Carry other callbacks' counters (best value, epochs waited) across an interruption.

    Keras' BackupAndRestore restores the weights, the optimizer (learning rate included) and
    the epoch, but not the state of the plateau, early-stopping and checkpoint callbacks;
    this one saves it after every epoch and puts it back when training resumes. List it
    after those callbacks so that it restores after their own ``on_train_begin`` resets.

    Args:
        path: the JSON file (inside the backup folder, which is removed when training ends).
        callbacks: name -> callback whose counters are kept.
    """

    ATTRIBUTES = ("best", "best_epoch", "wait", "cooldown_counter")

    def __init__(self, path: str | Path, callbacks: Mapping[str, keras.callbacks.Callback]):
        super().__init__()
        self.path, self.callbacks = Path(path), dict(callbacks)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.path.is_file():
            return
        state = json.loads(self.path.read_text())
        for name, values in state.items():
            for attr, value in values.items():
                setattr(self.callbacks[name], attr, value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        def plain(value: Any) -> Any:
            return value if value is None or isinstance(value, int) else float(value)

        state = {
            name: {attr: plain(getattr(cb, attr)) for attr in self.ATTRIBUTES if hasattr(cb, attr)}
            for name, cb in self.callbacks.items()
        }
        write_text(self.path, json.dumps(state))
