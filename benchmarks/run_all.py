"""All of the study's benchmarks in one run, printed one after the other.

1. ``bench_features.py``: reference vs fast gammatone per clip and their ratio, the maximum
   deviation in dB, log-mel time, end-to-end ``avsc features`` time, audio cache bytes per clip.
2. ``bench_frames.py``: VGG16 frames per second on this CPU against its measured float32
   matrix-multiply rate, video decoding beside the network, visual cache bytes per clip.
3. ``bench_frame_cache.py``: the decoded-frame cache: bytes per clip, its difference from the
   decoded frames, reading against decoding, and a VGG16 training step beside reading.
4. With ``--make-book``: the wall time of ``make book`` (demo profile) in a fresh clone of this
   repository, installation excluded (``make venv`` runs first, untimed).

Usage::

    .venv/bin/python benchmarks/run_all.py [--quick] [--make-book]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run_script(name: str, args: list[str]) -> None:
    """Run one benchmark script with this interpreter, its output going straight to ours."""
    print(f"\n===== {name} {' '.join(args)}", flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, str(HERE / name), *args], check=True, env=env)


def time_make_book() -> float:
    """Seconds of ``make book`` in a fresh clone (its venv set up first, untimed)."""
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
        return time.perf_counter() - start


def main() -> None:
    """Run every benchmark and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and settings")
    parser.add_argument("--make-book", action="store_true", help="also time make book in a fresh clone")
    args = parser.parse_args()
    print(f"# avsc benchmarks on {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    run_script("bench_features.py", ["--clips", "6"] if args.quick else [])
    run_script("bench_frames.py", ["--quick"] if args.quick else [])
    run_script("bench_frame_cache.py", ["--quick"] if args.quick else [])
    if args.make_book:
        seconds = time_make_book()
        print(f"\n===== make book (demo profile, fresh clone, installation excluded): "
              f"{seconds / 60:.1f} min wall")


if __name__ == "__main__":
    main()
