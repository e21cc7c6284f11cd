"""``avsc predict``: a trained network's submission file for a data set root.

The run is read from its folder (or an ``avsc run`` folder); the root's clips are read through
the study's inputs, so their features are cached as for training; the file is written by
:mod:`avsc_lib.evaluation.submission`.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from avsc_lib.apply.export import resolve_run
from avsc_lib.core.errors import AvscError
from avsc_lib.data.evaluation_set import media_seconds
from avsc_lib.data.layout import is_evaluation_root
from avsc_lib.evaluation.evaluate import predict_clips, predict_segments, split_data
from avsc_lib.evaluation.metrics import score
from avsc_lib.evaluation.submission import final_output, write_clip_submission, write_submission
from avsc_lib.study.inputs import StudyInputs
from avsc_lib.training.steps import load_run


def _length_notes(clips: Sequence, params: dict, inputs: Sequence[str]) -> dict[str, str]:
    """Clips whose audio or video holds another number of whole segments than ``clip_seconds``, and how long."""
    segment = params["segment_seconds"]
    want = round(params["clip_seconds"] / segment)

    def whole(seconds: float) -> int:  # the 1-s segments a clip holds (0.1 s of tolerance)
        return int((seconds + 0.1) // segment)

    def measure(clip) -> str | None:  # an unreadable file has no length here: the caches report it
        media = (("audio", clip.audio_path, "audio" in inputs), ("video", clip.video_path, "visual" in inputs))
        lengths = [(kind, media_seconds(path)) for kind, path, used in media if used]
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
    root = Path(args.root).expanduser().resolve()
    if not root.is_dir():
        raise AvscError(f"{root}: dataset root not found")
    run, params = load_run(resolve_run(args.run_dir))
    params = {**params, "data_root": str(root), "max_clips": None}
    evaluation_set = is_evaluation_root(root)
    if evaluation_set and args.split != "test":
        raise AvscError(f"{root}: an evaluation set has only the test split (fold1_test.csv)")
    clips, other = StudyInputs(params).clips(args.split), {}
    if not evaluation_set:
        other = _length_notes(clips, params, run.inputs)
        if other:
            print(f"note: {len(other)} clip(s) are not {params['clip_seconds']:g} s long as the model's training "
                  "clips; every clip is scored over all its whole seconds: "
                  + "; ".join(f"{name} ({note})" for name, note in sorted(other.items())[:10])
                  + (" ..." if len(other) > 10 else ""))
    if evaluation_set or other:
        params["clip_seconds"] = None
    data = split_data(run, params, StudyInputs(params), args.split)  # clip_seconds as decided above
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
