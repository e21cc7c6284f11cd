"""DCASE submission files (``avsc predict`` in :mod:`avsc_lib.apply.predict` writes them).

Submission files are tab-separated with the header ``filename scene_label airport bus ... tram``
(classes in DCASE order). On the development set there is one row per 1-s segment
(:func:`write_submission`): a segment's file name is ``<clip name>_<i>`` for seconds
``[i, i+1)`` of the clip, e.g. ``airport-lyon-1095-40158_3``: the fold-1 lists name 10-s clips,
while the task scores 1-s segments, so the name says which clip and which second a row scores;
``rsplit("_", 1)`` recovers both. On an evaluation set, whose clips are short and anonymous,
there is one row per clip named by its file stem (:func:`write_clip_submission`), its
probabilities the mean over the clip's whole seconds. ``avsc score`` (:mod:`avsc_lib.evaluation.scoring`)
scores either against labels.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from avsc_lib.core.atomic import atomic_path
from avsc_lib.core.classes import CLASSES, NUM_CLASSES
from avsc_lib.core.errors import AvscError

SUBMISSION_COLUMNS: tuple[str, ...] = ("filename", "scene_label", *CLASSES)


def segment_filename(clip: str, index: int) -> str:
    """The name of a clip's 1-s segment ``index`` in a submission file: ``<clip>_<index>``."""
    return f"{clip}_{index}"


def _write_rows(path: Path, rows: Iterable[tuple[str, np.ndarray]]) -> Path:
    """Write a submission file atomically: the header, then ``(filename, probabilities)`` rows
    with the most probable class as the label."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(SUBMISSION_COLUMNS)
            for name, probs in rows:
                writer.writerow([name, CLASSES[int(np.argmax(probs))], *(f"{v:.6g}" for v in probs)])
    return path


def write_submission(path: str | Path, names: Sequence[str], segment_probs: np.ndarray | Sequence[np.ndarray]) -> Path:
    """Write a DCASE submission file: one tab-separated row per 1-s segment.

    Args:
        path: the file to write (atomically).
        names: clip names.
        segment_probs: (clips, segments, classes) probabilities, classes in DCASE order, or one
            (segments, classes) array per clip for clips of different lengths.

    Returns:
        The path written.
    """
    per_clip = [np.asarray(probs) for probs in segment_probs]
    if len(per_clip) != len(names) or any(p.ndim != 2 or p.shape[1] != NUM_CLASSES for p in per_clip):
        shapes = sorted({p.shape for p in per_clip}, key=str)[:3]
        raise AvscError(f"{path}: expected per clip (segments, {NUM_CLASSES}) probabilities for {len(names)} "
                        f"clips, got {len(per_clip)} arrays of shapes {shapes}")
    rows = ((segment_filename(clip, i), p) for clip, probs in zip(names, per_clip) for i, p in enumerate(probs))
    return _write_rows(Path(path), rows)


def write_clip_submission(path: str | Path, names: Sequence[str], clip_probs: Sequence[np.ndarray]) -> Path:
    """Write an evaluation-set submission: one tab-separated row per clip, its probabilities the
    mean over its seconds (the challenge's format for its evaluation set's clips).

    Args:
        path: the file to write (atomically).
        names: clip names (the file stems).
        clip_probs: per clip, (seconds, classes) probabilities in DCASE order.
    """
    if len(names) != len(clip_probs):
        raise AvscError(f"{path}: {len(names)} clips but {len(clip_probs)} probability arrays")
    return _write_rows(Path(path), ((clip, np.asarray(probs, np.float64).mean(axis=0))
                                    for clip, probs in zip(names, clip_probs)))


def read_submission(path: str | Path) -> pd.DataFrame:
    """Read a submission file, checking its header (AvscError naming the file otherwise)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError) as err:
        raise AvscError(f"{path}: not a readable tab-separated file: {err}") from None
    if tuple(table.columns) != SUBMISSION_COLUMNS:
        raise AvscError(f"{path}: header is {' '.join(table.columns)}; expected {' '.join(SUBMISSION_COLUMNS)}")
    return table


def final_output(outputs: Sequence[str]) -> str:
    """The output a submission reports: late fusion when the run has it, else its only output."""
    return "late" if "late" in outputs else outputs[0]
