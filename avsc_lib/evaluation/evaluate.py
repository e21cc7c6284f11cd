"""A trained run's predictions on a split, scored and saved in its run folder.

:func:`evaluate_run` scores a run (see :mod:`avsc_lib.evaluation.metrics`) on a split that the
study's inputs hand it and saves, in the run folder::

    predictions_<split>.npz      clip names, labels and (clips, segments, classes) probabilities
    metrics_<split>.json         per output: accuracy, log loss, clip-level scores, per class
    per_class_<split>.csv        per-class accuracy, one column per output
    confusion_<split>_<output>.csv

:func:`study_metrics` is the study's ``metrics.json``. Submission files are written by
:mod:`avsc_lib.evaluation.submission`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from avsc_lib.core.atomic import atomic_path, write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import OUTPUTS
from avsc_lib.data.identity import describe_data
from avsc_lib.evaluation.metrics import Evaluation
from avsc_lib.training.graph import StepInputs


def predict_segments(run: Any, data: Any, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Score every 1-s segment of a split with a run's model.

    Args:
        run: a ``runs.Run``.
        data: the split's ``pipelines.SplitData`` with the inputs the run takes.
        batch_size: segments per batch.

    Returns:
        Output name -> (clips, segments, classes) float32 probabilities.
    """
    from avsc_lib.core.params import load_params
    from avsc_lib.training.pipelines import segment_dataset
    from avsc_lib.training.segments import segment_geometry

    params = load_params(run.dir / "params.yml")
    geometry = segment_geometry(params)
    dataset = segment_dataset(data, run.inputs, batch_size, geometry, labels=False)
    predicted = scoring_model(run).predict(dataset, verbose=0)
    if not isinstance(predicted, dict):
        predicted = {run.outputs[0]: predicted}
    return {
        name: np.asarray(predicted[name], np.float32).reshape(len(data), geometry.clip_segments, -1)
        for name in run.outputs
    }


def predict_clips(run: Any, data: Any, params: Mapping[str, Any], batch_size: int = 64) -> dict[str, list[np.ndarray]]:
    """Score the whole seconds of clips of any length (``clip_seconds: null``) with a run's model.

    Returns:
        Output name -> one (seconds, classes) array per clip, in order.
    """
    from avsc_lib.training.pipelines import segment_dataset
    from avsc_lib.training.segments import fetch, segment_geometry, segments_in

    geometry = segment_geometry(params)
    counts = [segments_in(arrays, geometry) for i in range(len(data)) for arrays in fetch(data, [i], run.inputs)]
    short = [name for name, count in zip(data.names, counts) if count < 1]
    if short:
        raise AvscError(f"{len(short)} clip(s) shorter than one 1-s segment: {', '.join(short[:5])}")
    dataset = segment_dataset(data, run.inputs, batch_size, geometry, labels=False, total_segments=sum(counts))
    predicted = scoring_model(run).predict(dataset, verbose=0)
    if not isinstance(predicted, dict):
        predicted = {run.outputs[0]: predicted}
    bounds = np.cumsum([0] + counts)
    return {name: [np.asarray(predicted[name][a:b], np.float32) for a, b in zip(bounds[:-1], bounds[1:])]
            for name in run.outputs}


def split_data(run: Any, params: Mapping[str, Any], inputs: StepInputs | None, split: str) -> Any:
    """A split's inputs as a run takes them, from ``inputs`` (made from ``params``): its audio
    kind, and frames or the features of the VGG16 its visual input went through, as the run
    recorded it (for the unfrozen visual step, the features of the VGG16 it trained: see
    :func:`scoring_model`)."""
    from avsc_lib.features.encoder import Backbone
    from avsc_lib.training.networks import run_backbone, trained_backbone
    from avsc_lib.training.runs import recorded_weights

    if inputs is None:
        raise AvscError(f"{run.dir}: no saved predictions on '{split}' and no inputs to compute them; "
                        "pass the study's inputs (avsc_lib.study.inputs.StudyInputs(params))")

    audio = run.kind if "audio" in run.inputs else None
    visual = backbone = None
    if "visual" in run.inputs:
        # the backbone the run was trained on, not whatever weights=auto finds today
        params = {**params, "weights": recorded_weights(run.dir) or params["weights"]}
        visual = "frames" if run.step == "finetune" else "features"
        if run.step == "visual_unfrozen":
            backbone = trained_backbone(run.dir, params)
        elif run.step == "fusion":
            backbone = run_backbone(run.dir, params)
        elif visual == "features":
            backbone = Backbone.pretrained(params)
    return inputs.split(split, audio=audio, visual=visual, backbone=backbone)


def scoring_model(run: Any) -> Any:
    """The model that scores a run's inputs from :func:`split_data`: the run's own, or for the
    unfrozen visual step its head, which on the cached features of its trained VGG16 gives what
    the whole subnetwork gives on frames (dropout is off when scoring) at a fraction of the cost."""
    if run.step == "visual_unfrozen":
        from avsc_lib.training.networks import head_of

        return head_of(run.model)
    return run.model


def _save_predictions(path: Path, evaluation: Evaluation) -> None:
    arrays = {f"probs_{name}": p for name, p in evaluation.probs.items()}
    labels = evaluation.labels if evaluation.labels is not None else np.array([], np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, names=np.array(evaluation.names), labels=labels, **arrays)


def _load_predictions(path: Path, split: str) -> Evaluation:
    with np.load(path) as saved:
        probs = {key[len("probs_"):]: saved[key] for key in saved.files if key.startswith("probs_")}
        labels = saved["labels"] if saved["labels"].size else None
        return Evaluation(split, [str(n) for n in saved["names"]], labels, probs)


def save_metrics(folder: str | Path, evaluation: Evaluation) -> None:
    """Write ``metrics_<split>.json``, ``per_class_<split>.csv`` and ``confusion_<split>_<output>.csv``."""
    folder = Path(folder)
    metrics = evaluation.metrics()
    write_text(folder / f"metrics_{evaluation.split}.json", json.dumps(metrics, indent=2) + "\n")
    write_text(folder / f"per_class_{evaluation.split}.csv", evaluation.per_class().to_csv(float_format="%.2f"))
    for name in evaluation.outputs:
        write_text(folder / f"confusion_{evaluation.split}_{name}.csv", evaluation.confusion(name).to_csv())


def evaluate_run(run: Any, params: Mapping[str, Any], inputs: StepInputs | None,
                 split: str | None = None, data: Any = None, save: bool = True) -> Evaluation:
    """A run's predictions on a split, scored and saved in its run folder (reused when saved).

    Args:
        run: a finished ``runs.Run``.
        params: the study's parameters.
        inputs: where the split's data comes from (the study's
            :class:`~avsc_lib.study.inputs.StudyInputs`); None only with ``data``.
        split: default ``eval_split``.
        data: the split's ``SplitData`` (default: from ``inputs``).
        save: write predictions and metrics into the run folder and reuse saved predictions.
    """
    split = split or params["eval_split"]
    path = Path(run.dir) / f"predictions_{split}.npz"
    if save and data is None and path.is_file():
        return _load_predictions(path, split)
    data = data if data is not None else split_data(run, params, inputs, split)
    evaluation = Evaluation(split, list(data.names), data.labels, predict_segments(run, data))
    if save:
        _save_predictions(path, evaluation)
        if evaluation.labels is not None:
            save_metrics(run.dir, evaluation)
    return evaluation


def feature_kinds(params: Mapping[str, Any]) -> list[str]:
    """The audio feature kinds the study trains: ``compare_feature_kinds`` plus ``feature_kind``."""
    kinds = list(params["compare_feature_kinds"] or [])
    return kinds + [params["feature_kind"]] if params["feature_kind"] not in kinds else kinds


def study_metrics(params: Mapping[str, Any], run: Any, fused: Evaluation,
                  by_kind: Mapping[str, Mapping[str, float | None]] | None = None) -> dict[str, Any]:
    """The content of a study's ``metrics.json``.

    Returns:
        For each output (``audio``, ``visual``, ``early``, ``late``) of the audio-visual network
        ``run``: accuracy and log loss over the 1-s segments of the split (plus the clip-level
        ones and counts); and ``split``, ``feature_kind``, ``step``, ``run``, ``data`` (what the
        data set was), ``backbone`` (the VGG16 weights the visual features came from) and
        ``accuracy_by_kind`` (Table 1's analogue, fractions).
    """
    metrics = fused.metrics()
    backbone_file = Path(run.dir) / "backbone.json"
    result: dict[str, Any] = {
        name: {key: metrics[name][key] for key in ("accuracy", "log_loss", "clip_accuracy", "clip_log_loss",
                                                     "n_segments", "n_clips")}
        for name in OUTPUTS if name in metrics
    }
    result.update({
        "split": fused.split,
        "unit": "1-s segments",
        "feature_kind": params["feature_kind"],
        "step": run.step,
        "run": str(run.dir),
        "profile": params["profile"],
        "backend": _keras_backend(),
        "data": describe_data(params),
        "backbone": json.loads(backbone_file.read_text()) if backbone_file.is_file() else None,
        "accuracy_by_kind": dict(by_kind or {}),
    })
    return result


def _keras_backend() -> str:
    """The Keras backend that computed the predictions (``tensorflow``, ``jax``, ``torch``)."""
    import keras

    return keras.backend.backend()


def write_study_metrics(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write :func:`study_metrics` as JSON, atomically; returns the path."""
    path = Path(path)
    write_text(path, json.dumps(metrics, indent=2, default=str) + "\n")
    return path
