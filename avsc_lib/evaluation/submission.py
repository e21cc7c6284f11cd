"""DCASE submission files, and ``avsc predict`` that writes them.

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

import argparse
import csv
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from avsc_lib.core.atomic import atomic_path
from avsc_lib.core.classes import CLASSES, NUM_CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.evaluation.evaluate import predict_clips, predict_segments, score, split_data

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


def _length_notes(clips: Sequence, params: dict, inputs: Sequence[str]) -> dict[str, str]:
    """Clips whose audio or video holds another number of whole segments than ``clip_seconds``, and how long."""
    from concurrent.futures import ThreadPoolExecutor

    from avsc_lib.features.media import probe
    from avsc_lib.data.media_check import audio_seconds

    segment = params["segment_seconds"]
    want = round(params["clip_seconds"] / segment)

    def whole(seconds: float) -> int:  # the 1-s segments a clip holds (0.1 s of tolerance)
        return int((seconds + 0.1) // segment)

    def measure(clip) -> str | None:
        lengths = []
        try:
            if "audio" in inputs:
                lengths.append(("audio", audio_seconds(clip.audio_path)))
            if "visual" in inputs:
                lengths.append(("video", probe(clip.video_path).duration))
        except AvscError:
            return None  # unreadable: the caches report it
        off = [f"{kind} {seconds:.2f} s" for kind, seconds in lengths
               if seconds is not None and whole(seconds) != want]
        return ", ".join(off) or None

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip((clip.name for clip in clips), pool.map(measure, clips)))
    return {name: note for name, note in found.items() if note}


def _missing_clips(expected: Sequence[str], data) -> dict[str, str]:
    """The clips of a split that are not in its loaded data, and why."""
    have = set(data.names)
    return {name: data.dropped.get(name, "not loaded") for name in expected if name not in have}


def cli_predict(args: argparse.Namespace) -> int:
    """``avsc predict RUN_DIR ROOT --split evaluate|test [--out FILE] [--allow-missing]``: write a
    submission file.

    On a development root, one row per 1-s segment (``<clip>_<i>``); on an evaluation set
    (``dataset.is_evaluation_root``), whose clips are as long as their files, one row per clip.
    Every clip is scored over all its whole seconds, whatever the length the model was trained
    on (clips of another length are listed). A clip that cannot be read makes the command fail,
    naming it, unless ``--allow-missing``.
    """
    from avsc_lib.data.layout import is_evaluation_root
    from avsc_lib.apply.export import resolve_run
    from avsc_lib.training.runs import load_run
    from avsc_lib.study.inputs import split_clips

    root = Path(args.root).expanduser().resolve()
    if not root.is_dir():
        raise AvscError(f"{root}: dataset root not found")
    run, params = load_run(resolve_run(args.run_dir))
    params = {**params, "data_root": str(root), "max_clips": None}
    evaluation_set = is_evaluation_root(root)
    if evaluation_set and args.split != "test":
        raise AvscError(f"{root}: an evaluation set has only the test split (fold1_test.csv)")
    clips, other = split_clips(params, args.split), {}
    if not evaluation_set:
        other = _length_notes(clips, params, run.inputs)
        if other:
            print(f"note: {len(other)} clip(s) are not {params['clip_seconds']:g} s long as the model's training "
                  "clips; every clip is scored over all its whole seconds: "
                  + "; ".join(f"{name} ({note})" for name, note in sorted(other.items())[:10])
                  + (" ..." if len(other) > 10 else ""))
    if evaluation_set or other:
        params["clip_seconds"] = None
    data = split_data(run, params, args.split)
    missing = _missing_clips([clip.name for clip in clips], data)
    if missing:
        listed = "\n".join(f"  {name}: {why}" for name, why in sorted(missing.items()))
        if not args.allow_missing:
            raise AvscError(f"{len(missing)} of {len(clips)} clips cannot be scored, no submission written:\n"
                            f"{listed}\n  (--allow-missing writes the submission without them)")
        print(f"warning: the submission leaves out {len(missing)} of {len(clips)} clips (--allow-missing):\n{listed}")
    output = final_output(run.outputs)
    out = Path(args.out) if args.out else Path(run.dir) / f"submission_{args.split}.csv"
    if params["clip_seconds"] is None:
        probs = predict_clips(run, data, params)[output]
        (write_clip_submission if evaluation_set else write_submission)(out, data.names, probs)
        unit = "clips, one row each" if evaluation_set else "clips, one row per 1-s segment"
        print(f"wrote {out}: {len(data)} {unit} ({output} output, {sum(map(len, probs))} seconds)")
        if data.labels is not None:
            labels = np.repeat(data.labels, [len(p) for p in probs])
            scores = score(np.concatenate(probs)[:, None, :], labels)
            print(f"accuracy {scores['accuracy']:.3f}, log loss {scores['log_loss']:.3f} over 1-s segments")
        return 0
    probs = predict_segments(run, data)
    write_submission(out, data.names, probs[output])
    print(f"wrote {out}: {len(data) * probs[output].shape[1]} segments of {len(data)} clips ({output} output)")
    if data.labels is not None:
        scores = score(probs[output], data.labels)
        print(f"accuracy {scores['accuracy']:.3f}, log loss {scores['log_loss']:.3f} over 1-s segments",
              file=sys.stdout)
    return 0
