"""Scores of trained runs, the paper's tables in this study's numbers, DCASE submission files.

Every clip is cut into its consecutive 1-s segments (10 per 10-s clip), each scored on its
own, as the DCASE task and the paper's Table 1 do. For each output of a run (``audio``,
``visual``, ``early``, ``late``) :func:`score` gives accuracy and multi-class log loss (DCASE's
primary metric) over the segments, the same over clips (a clip's probabilities are the mean
of its segments'), per-class accuracy (the recall of each class) and the confusion matrix.
:func:`evaluate_run` saves them in the run folder::

    predictions_<split>.npz      clip names, labels and (clips, segments, classes) probabilities
    metrics_<split>.json         per output: the scores above
    per_class_<split>.csv        per-class accuracy, one column per output
    confusion_<split>_<output>.csv

Submission files are written by :mod:`avsc_lib.evaluation.submission`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from avsc_lib.core.atomic import atomic_path, write_text
from avsc_lib.core.classes import CLASSES, NUM_CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import ACCURACY, OUTPUTS
from avsc_lib.data.synth import describe_data

OUTPUT_TITLES = {"audio": "audio only", "visual": "visual only", "early": "early fusion", "late": "late fusion"}
KIND_TITLES = {"gammatone": "gammatone", "logmel": "log-mel"}


# --- metrics ------------------------------------------------------------------------------------


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of rows whose most probable class is the label."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def log_loss(probs: np.ndarray, labels: np.ndarray, eps: float | None = None) -> float:
    """Multi-class log loss, as scikit-learn's: probabilities clipped to ``[eps, 1 - eps]``.

    Args:
        probs: (n, classes) probabilities (rows summing to 1).
        labels: (n,) class indices.
        eps: clipping bound; default the machine epsilon of ``probs``' float type (scikit-learn's).
    """
    probs = np.asarray(probs)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    eps = float(np.finfo(probs.dtype).eps) if eps is None else eps
    picked = np.clip(probs, eps, 1 - eps)[np.arange(len(probs)), np.asarray(labels, dtype=np.int64)]
    return float(-np.mean(np.log(picked.astype(np.float64))))


def confusion(probs: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.argmax(probs, axis=1)), 1)
    return matrix


def per_class_accuracy(probs: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Accuracy within each true class (its recall); NaN for a class without examples."""
    matrix = confusion(probs, labels, num_classes)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def clip_probabilities(segment_probs: np.ndarray) -> np.ndarray:
    """(clips, segments, classes) -> (clips, classes): the mean over each clip's segments."""
    return np.asarray(segment_probs).mean(axis=1)


def score(segment_probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """All scores of one output.

    Args:
        segment_probs: (clips, segments, classes) probabilities.
        labels: (clips,) class indices.

    Returns:
        ``accuracy`` and ``log_loss`` over segments, ``clip_accuracy`` and ``clip_log_loss``,
        ``per_class_accuracy`` (class -> value, over segments), ``confusion`` (nested lists,
        over segments), ``n_segments``, ``n_clips``.
    """
    n_clips, n_segments, n_classes = segment_probs.shape
    flat = segment_probs.reshape(-1, n_classes)
    flat_labels = np.repeat(np.asarray(labels), n_segments)
    clips = clip_probabilities(segment_probs)
    per_class = per_class_accuracy(flat, flat_labels, n_classes)
    return {
        "accuracy": accuracy(flat, flat_labels),
        "log_loss": log_loss(flat, flat_labels),
        "clip_accuracy": accuracy(clips, labels),
        "clip_log_loss": log_loss(clips, labels),
        "per_class_accuracy": {c: (None if np.isnan(v) else float(v)) for c, v in zip(CLASSES, per_class)},
        "confusion": confusion(flat, flat_labels, n_classes).tolist(),
        "n_segments": int(flat.shape[0]),
        "n_clips": int(n_clips),
    }


# --- predictions of a run -----------------------------------------------------------------------


@dataclass
class Evaluation:
    """A run's predictions on a split and their scores.

    Attributes:
        split: the split scored.
        names: clip names.
        labels: class index per clip (None for an unlabelled split).
        probs: output -> (clips, segments, classes) probabilities.
    """

    split: str
    names: list[str]
    labels: np.ndarray | None
    probs: dict[str, np.ndarray]

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.probs)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Output -> :func:`score` (labelled splits only)."""
        if self.labels is None:
            raise AvscError(f"split '{self.split}' has no labels to score against")
        return {name: score(p, self.labels) for name, p in self.probs.items()}

    def summary(self) -> pd.DataFrame:
        """One row per output: accuracy and log loss over segments and over clips."""
        metrics = self.metrics()
        columns = ["accuracy", "log_loss", "clip_accuracy", "clip_log_loss"]
        return pd.DataFrame({name: {c: m[c] for c in columns} for name, m in metrics.items()}).T

    def table(self) -> pd.DataFrame:
        """:meth:`summary` for reading: accuracies in %, rounded; one row per output."""
        return readable(self.summary())

    def per_class(self) -> pd.DataFrame:
        """Per-class accuracy in % (rows: classes in DCASE order; columns: outputs)."""
        metrics = self.metrics()
        return pd.DataFrame({name: m["per_class_accuracy"] for name, m in metrics.items()}).astype(float) * 100

    def confusion(self, output: str) -> pd.DataFrame:
        """The confusion matrix of one output over segments (rows true, columns predicted)."""
        return pd.DataFrame(self.metrics()[output]["confusion"], index=list(CLASSES), columns=list(CLASSES))


def readable(summary: pd.DataFrame) -> pd.DataFrame:
    """Scores for a table: accuracies in % (1 decimal), log losses with 3 decimals."""
    return pd.DataFrame({
        "accuracy (%)": (100 * summary["accuracy"]).round(1),
        "log loss": summary["log_loss"].round(3),
        "clip accuracy (%)": (100 * summary["clip_accuracy"]).round(1),
        "clip log loss": summary["clip_log_loss"].round(3),
    })


def summary_table(evaluations: Mapping[str, Evaluation], output: str) -> pd.DataFrame:
    """One output's scores (see :meth:`Evaluation.table`) in several evaluations, one row each."""
    return readable(pd.DataFrame({label: ev.summary().loc[output] for label, ev in evaluations.items()}).T)


def predict_segments(run: Any, data: Any, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Score every 1-s segment of a split with a run's model.

    Args:
        run: a ``runs.Run``.
        data: the split's ``pipelines.SplitData`` with the inputs the run takes.
        batch_size: segments per batch.

    Returns:
        Output name -> (clips, segments, classes) float32 probabilities.
    """
    from avsc_lib.training.pipelines import segment_dataset, segment_geometry
    from avsc_lib.core.params import load_params

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
    from avsc_lib.training.pipelines import fetch, segment_dataset, segment_geometry, segments_in

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


def split_data(run: Any, params: Mapping[str, Any], split: str) -> Any:
    """A split's inputs as a run takes them: its audio kind, and frames or the features of
    the VGG16 its visual input went through (for the unfrozen visual step, the features of the
    VGG16 it trained: see :func:`scoring_model`)."""
    from avsc_lib.study.inputs import load_split_data
    from avsc_lib.training.runs import recorded_weights

    audio = run.kind if "audio" in run.inputs else None
    visual = backbone = None
    if "visual" in run.inputs:
        # the backbone the run was trained on, not whatever weights=auto finds today
        params = {**params, "weights": recorded_weights(run.dir) or params["weights"]}
        visual = "frames" if run.step == "finetune" else "features"
        if run.step in ("fusion", "visual_unfrozen"):
            from avsc_lib.training.steps import run_backbone, trained_backbone

            backbone = trained_backbone(run.dir, params) if run.step == "visual_unfrozen" else run_backbone(run.dir, params)
    return load_split_data(params, split, audio=audio, visual=visual, backbone=backbone)


def scoring_model(run: Any) -> Any:
    """The model that scores a run's inputs from :func:`split_data`: the run's own, or for the
    unfrozen visual step its head, which on the cached features of its trained VGG16 gives what
    the whole subnetwork gives on frames (dropout is off when scoring) at a fraction of the cost."""
    if run.step == "visual_unfrozen":
        from avsc_lib.training.steps import head_of

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


def evaluate_run(run: Any, params: Mapping[str, Any], split: str | None = None, data: Any = None,
                 save: bool = True) -> Evaluation:
    """A run's predictions on a split, scored and saved in its run folder (reused when saved).

    Args:
        run: a finished ``runs.Run``.
        params: the study's parameters (to find and load the split's features).
        split: default ``eval_split``.
        data: the split's ``SplitData`` (default: loaded from the caches).
        save: write predictions and metrics into the run folder and reuse saved predictions.
    """
    split = split or params["eval_split"]
    path = Path(run.dir) / f"predictions_{split}.npz"
    if save and data is None and path.is_file():
        return _load_predictions(path, split)
    data = data if data is not None else split_data(run, params, split)
    evaluation = Evaluation(split, list(data.names), data.labels, predict_segments(run, data))
    if save:
        _save_predictions(path, evaluation)
        if evaluation.labels is not None:
            save_metrics(run.dir, evaluation)
    return evaluation


# --- the paper's tables in this study's numbers ---------------------------------------------------


def accuracy_table(study: Mapping[str, Mapping[str, float | None]], label: str = "this study") -> pd.DataFrame:
    """Table 1's analogue: accuracy (%) per input representation and output, beside the paper's.

    Args:
        study: feature kind -> output -> accuracy (0-1 fraction; None or missing: not measured).
        label: the name of this study's rows (e.g. ``this study (synthetic demo)``).

    Returns:
        Rows ``(source, input)`` for this study's kinds and then the paper's development rows;
        columns ``audio only``, ``visual only``, ``early fusion``, ``late fusion``.
    """
    rows, index = [], []
    for kind, values in study.items():
        rows.append([None if values.get(o) is None else 100 * values[o] for o in OUTPUTS])
        index.append((label, KIND_TITLES.get(kind, kind)))
    for kind in ("logmel", "gammatone"):
        published = ACCURACY[(kind, "development")]
        rows.append([published[o] for o in OUTPUTS])
        index.append(("paper (TAU AV 2021, fold-1 evaluate)", KIND_TITLES[kind]))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["source", "input"]),
                        columns=[OUTPUT_TITLES[o] for o in OUTPUTS], dtype=float)


def feature_kinds(params: Mapping[str, Any]) -> list[str]:
    """The audio feature kinds the study trains: ``compare_feature_kinds`` plus ``feature_kind``."""
    kinds = list(params["compare_feature_kinds"] or [])
    return kinds + [params["feature_kind"]] if params["feature_kind"] not in kinds else kinds


def kind_accuracies(
    audio: Mapping[str, Evaluation], visual: Evaluation, fused: Mapping[str, Evaluation]
) -> dict[str, dict[str, float | None]]:
    """The accuracies behind Table 1's analogue, per audio feature kind.

    As the paper's Table 1: the audio column is each kind's audio subnetwork on its own, the
    visual column the visual subnetwork on its own (the authors evaluate their trained video
    model; it does not depend on the audio input, so it repeats), early and late fusion come
    from each kind's audio-visual network (None where a kind has none).

    Args:
        audio: feature kind -> evaluation of that kind's audio subnetwork.
        visual: evaluation of the visual subnetwork.
        fused: feature kind -> evaluation of that kind's audio-visual network.
    """
    visual_accuracy = visual.metrics()["visual"]["accuracy"]
    result = {}
    for kind, evaluation in audio.items():
        row: dict[str, float | None] = {"audio": evaluation.metrics()["audio"]["accuracy"], "visual": visual_accuracy}
        metrics = fused[kind].metrics() if kind in fused else {}
        row.update({o: metrics[o]["accuracy"] if o in metrics else None for o in ("early", "late")})
        result[kind] = row
    return result


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
