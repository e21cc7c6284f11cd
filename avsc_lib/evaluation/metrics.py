"""Scores of predictions: accuracy, log loss, per-class accuracy, confusion, and the paper's tables.

Every clip is cut into its consecutive 1-s segments (10 per 10-s clip), each scored on its
own, as the DCASE task and the paper's Table 1 do. For each output of a run (``audio``,
``visual``, ``early``, ``late``) :func:`score` gives accuracy and multi-class log loss (DCASE's
primary metric) over the segments, the same over clips (a clip's probabilities are the mean
of its segments'), per-class accuracy (the recall of each class) and the confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from avsc_lib.core.classes import CLASSES, NUM_CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import ACCURACY, OUTPUTS

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


# --- the scores of a split ----------------------------------------------------------------------


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
        """The outputs scored, in the run's order."""
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
