"""Score a submission file as the challenge's evaluation does: ``avsc score SUBMISSION REFERENCE``.

The submission is tab-separated with the header ``filename scene_label airport bus ... tram``
(:mod:`avsc_lib.evaluation.submission`). The reference is a labelled tab-separated file
with a ``filename`` (or ``filename_audio``) and a ``scene_label`` column: the challenge's meta
files, ``fold1_evaluate.csv`` of the development set, or the evaluation set's labels for whoever
has them. File names are compared without their folder and extension. A row named
``<clip>_<i>`` (second ``i`` of a development clip) is scored against the label of ``<clip>``,
so a development-set submission scores against ``fold1_evaluate.csv`` directly.

Scores, over the submission's rows: accuracy of ``scene_label`` (what the challenge ranked by
besides log loss), multi-class log loss of the ten probabilities, accuracy per class and the
confusion matrix. Every reference file needs at least one row and every row a reference file;
labels must be known classes and each row's probabilities must sum to one (within 0.001).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avsc_lib.core.atomic import write_text
from avsc_lib.core.classes import CLASSES, label_to_index
from avsc_lib.core.errors import AvscError
from avsc_lib.evaluation.metrics import accuracy, confusion, log_loss, per_class_accuracy
from avsc_lib.evaluation.submission import read_submission

SUM_TOLERANCE = 1e-3
SHOWN = 5  # names listed in an error before "and N more"


def _stem(name: str) -> str:
    """A file name without folder and extension: ``audio/x-y-1-2.wav`` -> ``x-y-1-2``."""
    return Path(str(name).strip()).stem


def _listing(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def read_reference(path: str | Path) -> dict[str, str]:
    """File stem -> scene label of a labelled reference file.

    Raises:
        AvscError: unreadable, without the columns, with an unknown label or a file listed twice.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise AvscError(f"{path}: not a readable tab-separated file: {err}") from None
    column = next((c for c in ("filename", "filename_audio") if c in table.columns), None)
    if column is None or "scene_label" not in table.columns:
        raise AvscError(f"{path}: needs the columns filename (or filename_audio) and scene_label; "
                        f"found {' '.join(table.columns)}")
    unknown = sorted(set(table["scene_label"]) - set(CLASSES))
    if unknown:
        raise AvscError(f"{path}: unknown scene label(s) {_listing(unknown)}; valid: {', '.join(CLASSES)}")
    stems = [_stem(name) for name in table[column]]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise AvscError(f"{path}: file(s) listed twice: {_listing(twice)}")
    return dict(zip(stems, table["scene_label"]))


def _reference_of(row: str, reference: dict[str, str]) -> str | None:
    """The reference file a submission row scores against: itself, or the clip of ``<clip>_<i>``."""
    stem = _stem(row)
    if stem in reference:
        return stem
    clip, _, second = stem.rpartition("_")
    return clip if second.isdigit() and clip in reference else None


def score_submission(submission: str | Path, reference: str | Path) -> dict[str, Any]:
    """Score a submission file against a labelled reference (see the module doc).

    Returns:
        ``rows``, ``files``, ``accuracy``, ``log_loss``, ``per_class_accuracy`` (class -> value,
        None for a class without rows) and ``confusion`` (rows true, columns predicted).

    Raises:
        AvscError: naming the file and the rows for missing or extra rows, unknown classes,
            probabilities that do not sum to one.
    """
    submission, truth = Path(submission), read_reference(reference)
    table = read_submission(submission)
    names = [str(n) for n in table["filename"]]
    matched = [_reference_of(n, truth) for n in names]
    extra = [n for n, m in zip(names, matched) if m is None]
    if extra:
        raise AvscError(f"{submission}: {len(extra)} row(s) name files that {reference} does not list: {_listing(extra)}")
    missing = sorted(set(truth) - set(matched))
    if missing:
        raise AvscError(f"{submission}: no row for {len(missing)} file(s) of {reference}: {_listing(missing)}")
    unknown = sorted(set(table["scene_label"].astype(str)) - set(CLASSES))
    if unknown:
        raise AvscError(f"{submission}: unknown scene label(s) {_listing(unknown)}; valid: {', '.join(CLASSES)}")
    probs = table[list(CLASSES)].to_numpy(dtype=float)
    if not np.all(np.isfinite(probs)) or (probs < 0).any():
        bad = [n for n, p in zip(names, probs) if not np.all(np.isfinite(p)) or (p < 0).any()]
        raise AvscError(f"{submission}: negative or missing probabilities in row(s) {_listing(bad)}")
    off = np.abs(probs.sum(axis=1) - 1.0) > SUM_TOLERANCE
    if off.any():
        bad = [f"{n} ({p.sum():.4f})" for n, p, o in zip(names, probs, off) if o]
        raise AvscError(f"{submission}: the probabilities of {int(off.sum())} row(s) do not sum to one: {_listing(bad)}")
    labels = np.array([label_to_index(truth[m]) for m in matched])
    predicted = np.eye(len(CLASSES))[[label_to_index(str(label)) for label in table["scene_label"]]]
    per_class = per_class_accuracy(predicted, labels)
    return {
        "rows": len(names),
        "files": len(truth),
        "accuracy": accuracy(predicted, labels),
        "log_loss": log_loss(probs, labels),
        "per_class_accuracy": {c: None if np.isnan(v) else float(v) for c, v in zip(CLASSES, per_class)},
        "confusion": confusion(predicted, labels).tolist(),
    }


def format_scores(scores: dict[str, Any]) -> str:
    """The text ``avsc score`` prints: overall scores, per class, the confusion matrix."""
    lines = [f"{scores['rows']} rows for {scores['files']} files: accuracy {100 * scores['accuracy']:.1f} %, "
             f"log loss {scores['log_loss']:.3f}", "", f"{'class':<20}{'accuracy (%)':>14}"]
    for name, value in scores["per_class_accuracy"].items():
        lines.append(f"{name:<20}{'-' if value is None else f'{100 * value:.1f}':>14}")
    short = [c[:6] for c in CLASSES]
    lines += ["", "confusion (rows true, columns predicted)", " " * 20 + "".join(f"{s:>7}" for s in short)]
    lines += [f"{name:<20}" + "".join(f"{n:>7}" for n in row) for name, row in zip(CLASSES, scores["confusion"])]
    return "\n".join(lines)


def cli_score(args: argparse.Namespace) -> int:
    """``avsc score SUBMISSION REFERENCE [--json FILE]``."""
    scores = score_submission(args.submission, args.reference)
    print(format_scores(scores))
    if args.json:
        write_text(args.json, json.dumps(scores, indent=2) + "\n")
    return 0
