"""All of the study's benchmarks in one run, printed one after the other.

1. ``bench_features.py``: reference vs fast gammatone per clip and their ratio, the maximum
   deviation in dB, log-mel time, end-to-end ``avsc features`` time, audio cache bytes per clip.
2. ``bench_frames.py``: VGG16 frames per second on this CPU against its measured float32
   matrix-multiply rate, video decoding beside the network, visual cache bytes per clip.
3. ``bench_frame_cache.py``: the decoded-frame cache: bytes per clip, its difference from the
   decoded frames, reading against decoding, and a VGG16 training step beside reading.
4. With ``--make-book``: the wall time of ``make book`` (demo profile) in a fresh clone of this
   repository, installation excluded (``make venv`` runs first, untimed), and that run's
   ``metrics.json`` beside the README's demo tables. ``--demo-run DIR`` compares a finished
   run's ``DIR/metrics.json`` instead (e.g. ``build/run-demo``); ``--demo-only`` skips 1-3.

The README's two demo tables (accuracy per audio input and output; log loss of the reported
network's outputs) are the one place the published demo figures live: this script reads them
from README.md.

Usage::

    .venv/bin/python benchmarks/run_all.py [--quick] [--make-book] [--demo-run DIR] [--demo-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUTPUTS = ("audio", "visual", "early", "late")
TABLE_HEADER = "| audio input | audio only | visual only | early fusion | late fusion |"
KINDS = {"gammatone": "gammatone", "log-mel": "logmel"}


def run_script(name: str, args: list[str]) -> None:
    """Run one benchmark script with this interpreter, its output going straight to ours."""
    print(f"\n===== {name} {' '.join(args)}", flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, str(HERE / name), *args], check=True, env=env)


def time_make_book() -> tuple[float, dict]:
    """Seconds of ``make book`` in a fresh clone (its venv set up first, untimed), and the
    ``metrics.json`` of its demo run."""
    with tempfile.TemporaryDirectory(prefix="avsc-bench-") as tmp:
        clone = Path(tmp) / "avsc"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = dict(os.environ)
        shared_models = REPO.parent / "shared" / "models"
        if shared_models.is_dir():  # the clone is not beside ../shared: name the weights folder
            env.setdefault("AVSC_WEIGHTS_DIR", str(shared_models))
        subprocess.run(["make", "venv"], cwd=clone, check=True, env=env, stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run(["make", "book"], cwd=clone, check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        return seconds, json.loads((clone / "build" / "run-demo" / "metrics.json").read_text())


def _number(cell: str) -> float | None:
    match = re.fullmatch(r"\s*(-?[0-9.]+)\s*%?\s*", cell)
    return float(match.group(1)) if match else None


def readme_demo_tables(text: str) -> list[dict[str, dict[str, float]]]:
    """The README's demo tables, in order: each maps a feature kind (``gammatone``, ``logmel``)
    to output -> value as printed (accuracy in %, log loss as is).

    Raises:
        ValueError: no table with the demo header, or a cell that is not a number.
    """
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != TABLE_HEADER:
            continue
        table = {}
        for number, row in enumerate(lines[i + 2:], start=i + 3):
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            values = [_number(c) for c in cells[1:]]
            if cells[0] not in KINDS or len(values) != len(OUTPUTS) or None in values:
                raise ValueError(f"README.md line {number}: not a demo row: {row}")
            table[KINDS[cells[0]]] = dict(zip(OUTPUTS, values))
        tables.append(table)
    if not tables:
        raise ValueError(f"README.md has no table headed {TABLE_HEADER}")
    return tables


def compare_demo(metrics: dict, readme: str) -> list[str]:
    """Lines that set a demo run's ``metrics.json`` beside the README's tables: accuracy (%) per
    audio input and output, then the log loss of the reported network's outputs."""
    accuracy, *rest = readme_demo_tables(readme)
    lines = [f"{'cell':34s} {'README':>8s} {'this run':>9s} {'difference':>11s}"]

    def row(name: str, published: float | None, measured: float | None, unit: str, digits: int) -> None:
        shown = "-" if measured is None else f"{measured:.{digits}f}{unit}"
        diff = "-" if None in (published, measured) else f"{measured - published:+.{digits}f}{unit}"
        lines.append(f"{name:34s} {'-' if published is None else f'{published:.{digits}f}{unit}':>8s} "
                     f"{shown:>9s} {diff:>11s}")

    by_kind = metrics.get("accuracy_by_kind") or {}
    for kind, values in accuracy.items():
        for output in OUTPUTS:
            measured = (by_kind.get(kind) or {}).get(output)
            row(f"accuracy {kind} {output}", values[output], None if measured is None else 100 * measured, " %", 1)
    kind = metrics.get("feature_kind", "gammatone")
    for table in rest:
        for output in OUTPUTS:
            measured = (metrics.get(output) or {}).get("log_loss")
            row(f"log loss {kind} {output}", table.get(kind, {}).get(output), measured, "", 3)
    return lines


def print_demo_comparison(metrics: dict, source: str) -> None:
    """Print :func:`compare_demo` for the metrics read from ``source``."""
    print(f"\n===== demo metrics ({source}) beside README.md's (accuracy over 1-s segments, log loss)")
    for line in compare_demo(metrics, (REPO / "README.md").read_text()):
        print(line)


def main() -> None:
    """Run every benchmark and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and settings")
    parser.add_argument("--make-book", action="store_true",
                        help="also time make book in a fresh clone and set its metrics beside the README's")
    parser.add_argument("--demo-run", default=None, metavar="DIR",
                        help="set DIR/metrics.json of a finished demo run beside the README's (e.g. build/run-demo)")
    parser.add_argument("--demo-only", action="store_true", help="skip the timing benchmarks")
    args = parser.parse_args()
    print(f"# avsc benchmarks on {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    if not args.demo_only:
        run_script("bench_features.py", ["--clips", "6"] if args.quick else [])
        run_script("bench_frames.py", ["--quick"] if args.quick else [])
        run_script("bench_frame_cache.py", ["--quick"] if args.quick else [])
    if args.demo_run:
        path = Path(args.demo_run) / "metrics.json"
        print_demo_comparison(json.loads(path.read_text()), str(path))
    if args.make_book:
        seconds, metrics = time_make_book()
        print(f"\n===== make book (demo profile, fresh clone, installation excluded): "
              f"{seconds / 60:.1f} min wall")
        print_demo_comparison(metrics, "make book in a fresh clone")


if __name__ == "__main__":
    main()
