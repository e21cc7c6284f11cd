"""The ``avsc`` command: thin wrappers over the library, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from avsc_lib.core.errors import AvscError

# subcommand -> "module:function"; each function takes the parsed arguments and returns an exit status.
HANDLERS = {
    "check": "avsc_lib.data.checks:cli_check",
    "synth": "avsc_lib.data.synth:cli_synth",
    "features": "avsc_lib.features.audio_cache:cli_features",
    "frames": "avsc_lib.features.frame_features:cli_frames",
    "decode": "avsc_lib.features.frame_cache:cli_decode",
    "summary": "avsc_lib.models.summary:cli_summary",
    "run": "avsc_lib.study.runner:cli_run",
    "book": "avsc_lib.study.book:cli_book",
    "notebooks": "avsc_lib.study.nbparams:cli_notebooks",
    "predict": "avsc_lib.apply.predict:cli_predict",
    "classify": "avsc_lib.apply.classify:cli_classify",
    "export": "avsc_lib.apply.export:cli_export",
    "score": "avsc_lib.evaluation.scoring:cli_score",
    "evalset": "avsc_lib.data.evaluation_set:cli_evalset",
}


def _override_pairs(values: list[list[str]] | None) -> dict[str, object]:
    """Turn ``-p key value`` pairs into a dict of YAML-parsed values."""
    from avsc_lib.core.params import parse_override

    return {key: parse_override(value) for key, value in (values or [])}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``avsc`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="avsc", description="Audio-visual scene classification: a reproducible study."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate a dataset root in the TAU layout")
    p.add_argument("root", help="dataset root (holds meta.csv, audio/, video/, evaluation_setup/)")
    p.add_argument("--deep", action="store_true",
                   help="decode every file whole (default: headers, lengths and a first video frame)")

    p = sub.add_parser("synth", help="write a synthetic data set in the TAU layout")
    p.add_argument("out", help="folder to write the data set into")
    p.add_argument("--profile", choices=["demo", "smoke"], default="demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")

    p = sub.add_parser("features", help="extract audio features of every clip into a cache")
    p.add_argument("root", help="dataset root in the TAU layout")
    p.add_argument("--kind", choices=["gammatone", "logmel"], default="gammatone")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--cache", default=None, help="cache folder (default build/cache)")
    p.add_argument("--shard", default=None, metavar="I/N", help="process only shard I of N (0-based)")
    p.add_argument("--params", default=None, help="parameter file for feature settings")
    p.add_argument("-p", dest="overrides", nargs=2, action="append", metavar=("KEY", "VALUE"))

    for name, text in (("frames", "cache the frozen VGG16's per-frame features of every clip"),
                       ("decode", "cache the decoded frames of every clip (the unfrozen steps' input)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("root", help="dataset root in the TAU layout")
        p.add_argument("--cache", default=None, help="cache folder (default build/cache)")
        p.add_argument("--shard", default=None, metavar="I/N", help="process only shard I of N (0-based)")
        p.add_argument("--params", default=None, help="parameter file for frame settings")
        p.add_argument("-p", dest="overrides", nargs=2, action="append", metavar=("KEY", "VALUE"))

    p = sub.add_parser("evalset", help="cut a labelled split into an evaluation set like the challenge's")
    p.add_argument("source", help="a labelled data set root in the TAU layout")
    p.add_argument("out", help="the new root (audio/, video/, evaluation_setup/fold1_test.csv)")
    p.add_argument("--labels", required=True, help="where to write the labels (outside OUT), for avsc score")
    p.add_argument("--split", choices=["train", "evaluate"], default="evaluate")
    p.add_argument("--seconds", nargs=2, type=float, default=[1.0, 2.0], metavar=("MIN", "MAX"),
                   help="range of the clips' lengths in seconds (default 1 2)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("summary", help="parameters per network beside the paper's figures")
    p.add_argument("--json", action="store_true", help="print only this implementation's counts as JSON")

    p = sub.add_parser("run", help="execute notebooks 01-05 with papermill")
    p.add_argument("--params", default="params/demo.yml", help="parameter file (default params/demo.yml)")
    p.add_argument("--data", default=None, help="dataset root (overrides data_root)")
    p.add_argument("--out", default=None, help="folder for the executed notebooks (default build/run-<profile>)")
    p.add_argument("-p", dest="overrides", nargs=2, action="append", metavar=("KEY", "VALUE"))

    p = sub.add_parser("book", help="build the Jupyter Book from a run's executed notebooks")
    p.add_argument("--run", default=None, help="run folder (default: the last avsc run)")

    p = sub.add_parser("notebooks", help="generate the notebooks' parameters and install cells from params/paper.yml")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a notebook is out of sync")

    p = sub.add_parser("predict", help="write a DCASE submission file from a trained run")
    p.add_argument("run_dir", help="run folder of the trained audio-visual network")
    p.add_argument("root", help="dataset root in the TAU layout")
    p.add_argument("--split", choices=["evaluate", "test"], default="test")
    p.add_argument("--out", default=None, help="output file (default RUN_DIR/submission_<split>.csv)")
    p.add_argument("--allow-missing", action="store_true",
                   help="write the submission without the clips that cannot be read (default: fail)")

    p = sub.add_parser("classify", help="classify recordings (videos or audio files) with a trained system")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video or audio files (MP4, MOV, MKV, AVI, WAV, FLAC, ...)")
    p.add_argument("--model", required=True,
                   help="an export (avsc export), a run folder of the audio-visual network, or an avsc run folder")
    p.add_argument("--out", default=None, metavar="CSV", help="write per-second probabilities of every output here")
    p.add_argument("--plot", default=None, metavar="PNG", help="draw each file's timeline (one PNG per file)")

    p = sub.add_parser("export", help="export the trained audio-visual network for use without avsc")
    p.add_argument("run_dir", help="run folder of the audio-visual network, or an avsc run folder")
    p.add_argument("out_dir", help="folder to write model.keras, settings.json and MODEL_CARD.md into")

    p = sub.add_parser("score", help="score a submission file against labelled reference CSV")
    p.add_argument("submission", help="submission file (filename, scene_label and the ten class columns)")
    p.add_argument("reference", help="labelled CSV: filename (or filename_audio) and scene_label, tab-separated")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the scores as JSON")
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = HANDLERS[command].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``avsc`` console script."""
    args = build_parser().parse_args(argv)
    if hasattr(args, "overrides"):
        args.overrides = _override_pairs(args.overrides)
    try:
        return int(_handler(args.command)(args) or 0)
    except AvscError as err:
        print(f"avsc {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avsc {args.command}: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
