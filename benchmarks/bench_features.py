"""Benchmark of the audio features: fast vs reference gammatone, end to end, log-mel, cache size.

Prints, in one run, on the real clips of ``../shared/data/tau-av-2021-audio-sample`` (26 clips
of 10 s; written as 48 kHz 24-bit WAV to a temporary folder, as in the dataset):

1. the reference ``gammatone.gtgram.gtgram`` (the authors') on the three resampled channels of
   each clip, alone, against the fast gammatone on the same channels: time per clip, ratio;
2. ``extract_audio_features`` end to end (read the WAV, resample, the three channels,
   gammatone, dB, write the ``.npy``): marginal time per clip over a batch, start-up
   excluded (two batch sizes, the difference), and its ratio to (1); a per-stage breakdown;
3. the largest deviation of fast from reference in dB over every band, frame and channel of
   every clip, and how many float32 cache values differ at all;
4. log-mel time per clip; cache bytes per clip; the projected CPU-hours for the 12,291 clips
   of the development set, fast and reference.

Times are CPU seconds of this process (``time.process_time``, everything runs in one thread)
and wall seconds; the ratios use CPU seconds, which the other jobs of a shared machine disturb
less. Usage: ``.venv/bin/python benchmarks/bench_features.py [--clips N]`` (about 3 minutes on
the 26 clips, most of it the reference).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from machine import cpu_name  # benchmarks/machine.py, beside this script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARED_AUDIO = Path(os.environ.get("AVSC_SHARED", REPO.parent / "shared")) / "data" / "tau-av-2021-audio-sample"
DEV_CLIPS = 12_291  # TAU Urban Audio-Visual Scenes 2021 development set
GOAL_RATIO, AIM_RATIO = 30, 50


@dataclass
class Timing:
    """CPU and wall seconds of one measured piece of work."""

    cpu: float
    wall: float

    def __truediv__(self, n: float) -> "Timing":
        return Timing(self.cpu / n, self.wall / n)

    def __sub__(self, other: "Timing") -> "Timing":
        return Timing(self.cpu - other.cpu, self.wall - other.wall)


def timed(fn: Callable[[], object]) -> tuple[Timing, object]:
    """Run ``fn`` once; return its CPU and wall time and its result."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return Timing(time.process_time() - cpu, time.perf_counter() - wall), result


def write_wavs(folder: Path, n: int) -> list[Path]:
    """The first ``n`` real clips as 48 kHz 24-bit WAV files, as in the dataset's ``audio/``."""
    import soundfile as sf

    flacs = sorted(SHARED_AUDIO.glob("*.flac"))[:n]
    if not flacs:
        sys.exit(f"no real clips in {SHARED_AUDIO} (set AVSC_SHARED)")
    paths = []
    for flac in flacs:
        data, rate = sf.read(flac, dtype="int32")
        paths.append(folder / f"{flac.stem}.wav")
        sf.write(paths[-1], data, rate, subtype="PCM_24")
    return paths


def resampled_channels(paths: list[Path]) -> list[np.ndarray]:
    """The three channels (L, R, L-R) at 44.1 kHz of each clip, as both gammatones get them."""
    from avsc_lib.features.audio import audio_channels, load_audio

    return [audio_channels(load_audio(path, 44100)) for path in paths]


# --- measurements ----------------------------------------------------------------------------


def measure_gammatone(channels: list[np.ndarray]) -> dict[str, object]:
    """Reference vs fast on the same channels: time per clip and the deviation in dB."""
    from avsc_lib.features.audio import gammatone_spectrogram

    gammatone_spectrogram(channels[0][:, :44100])  # compile or load the kernel
    fast_total, ref_total = Timing(0, 0), Timing(0, 0)
    worst, differ, values = 0.0, 0, 0
    for ch in channels:
        t_fast, fast = timed(lambda: gammatone_spectrogram(ch, impl="fast"))
        t_ref, ref = timed(lambda: gammatone_spectrogram(ch, impl="reference"))
        fast_total, ref_total = Timing(fast_total.cpu + t_fast.cpu, fast_total.wall + t_fast.wall), \
            Timing(ref_total.cpu + t_ref.cpu, ref_total.wall + t_ref.wall)
        worst = max(worst, float(np.abs(fast - ref).max()))
        differ += int(np.count_nonzero(fast.astype(np.float32) != ref.astype(np.float32)))
        values += fast.size
    n = len(channels)
    return {"reference": ref_total / n, "fast": fast_total / n, "max_dev_db": worst,
            "float32_differ": differ, "float32_values": values}


def measure_end_to_end(paths: list[Path], kind: str, small: int = 3) -> dict[str, object]:
    """``extract_audio_features`` in one process: marginal time per clip, start-up excluded."""
    from avsc_lib.core.params import load_params
    from avsc_lib.features.audio_cache import extract_audio_features

    params = load_params()
    with tempfile.TemporaryDirectory() as tmp:
        extract_audio_features(paths[:1], params, kind, cache_dir=Path(tmp) / "warm", progress=False)
        t_small, _ = timed(lambda: extract_audio_features(
            paths[:small], params, kind, cache_dir=Path(tmp) / "small", progress=False))
        t_all, report = timed(lambda: extract_audio_features(
            paths, params, kind, cache_dir=Path(tmp) / "all", progress=False))
        assert report.ok and len(report.computed) == len(paths), report.summary()
        sizes = [p.stat().st_size for p in (Path(tmp) / "all").glob("*.npy")]
    return {"marginal": (t_all - t_small) / (len(paths) - small), "batch": t_all / len(paths),
            "bytes_per_clip": float(np.mean(sizes))}


def measure_stages(paths: list[Path]) -> dict[str, Timing]:
    """Per-stage time per clip of the fast path: read, resample, gammatone + dB, write."""
    from avsc_lib.core.atomic import save_npy
    from avsc_lib.features.audio import audio_channels, gammatone_spectrogram, read_audio, resample

    totals: dict[str, Timing] = {}

    def add(stage: str, t: Timing) -> None:
        old = totals.get(stage, Timing(0, 0))
        totals[stage] = Timing(old.cpu + t.cpu, old.wall + t.wall)

    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            t, (data, rate) = timed(lambda: read_audio(path))
            add("read 24-bit WAV", t)
            t, stereo = timed(lambda: resample(data, rate, 44100))
            add("resample 48 -> 44.1 kHz (soxr HQ)", t)
            t, _ = timed(lambda: resample_poly(data))
            add("  (alternative: scipy resample_poly 147/160)", t)
            t, feats = timed(lambda: gammatone_spectrogram(audio_channels(stereo)).astype(np.float32))
            add("channels + fast gammatone + dB", t)
            t, _ = timed(lambda: save_npy(Path(tmp) / f"{path.stem}.npy", feats))
            add("write .npy (atomic)", t)
    return {stage: t / len(paths) for stage, t in totals.items()}


def resample_poly(data: np.ndarray) -> np.ndarray:
    from scipy.signal import resample_poly as poly

    return poly(data, 147, 160, axis=1)


def measure_logmel(channels: list[np.ndarray]) -> Timing:
    """Log-mel of the three channels, time per clip."""
    from avsc_lib.features.audio import logmel_spectrogram

    logmel_spectrogram(channels[0][:, :44100])  # import librosa, warm its caches
    total = Timing(0, 0)
    for ch in channels:
        t, _ = timed(lambda: logmel_spectrogram(ch))
        total = Timing(total.cpu + t.cpu, total.wall + t.wall)
    return total / len(channels)


# --- report ----------------------------------------------------------------------------------


def fmt(t: Timing) -> str:
    return f"{1000 * t.cpu:9.1f} ms CPU {1000 * t.wall:9.1f} ms wall"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=26, help="real clips to use (default all 26)")
    args = parser.parse_args(argv)
    if args.clips < 4:  # the marginal time compares a batch of 3 clips with the whole batch
        parser.error("--clips must be at least 4")
    import numba

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, load average {load:.1f} at start")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_wavs(Path(tmp), args.clips)
        print(f"clips: {len(paths)} real 10-s TAU clips as 48 kHz 24-bit stereo WAV\n")
        channels = resampled_channels(paths)
        gt = measure_gammatone(channels)
        e2e = measure_end_to_end(paths, "gammatone")
        stages = measure_stages(paths)
        logmel = measure_logmel(channels)
        logmel_e2e = measure_end_to_end(paths, "logmel")

    ref, fast, marginal = gt["reference"], gt["fast"], e2e["marginal"]
    rows = [
        ("reference gtgram, 3 channels alone, per clip", fmt(ref)),
        ("fast gammatone, same 3 channels, per clip", fmt(fast)),
        ("  ratio reference / fast (gammatone only)", f"{ref.cpu / fast.cpu:9.1f} x"),
        ("avsc features end to end, marginal per clip", fmt(marginal)),
        ("  ratio reference / end to end", f"{ref.cpu / marginal.cpu:9.1f} x  "
         f"(goal >= {GOAL_RATIO}, aim {AIM_RATIO}: {'met' if ref.cpu / marginal.cpu >= GOAL_RATIO else 'NOT met'})"),
        ("  (whole batch incl. start-up, per clip)", fmt(e2e["batch"])),
    ]
    rows += [(f"  stage: {stage}", fmt(t)) for stage, t in stages.items()]
    rows += [
        ("max deviation fast vs reference, all bands/frames/channels",
         f"{gt['max_dev_db']:9.2e} dB (tests: 1e-6 dB)"),
        ("  float32 cache values that differ", f"{gt['float32_differ']} of {gt['float32_values']}"),
        ("log-mel, 3 channels, per clip", fmt(logmel)),
        ("log-mel end to end, marginal per clip", fmt(logmel_e2e["marginal"])),
        ("cache bytes per clip (gammatone .npy)", f"{e2e['bytes_per_clip']:9.0f} B"),
        (f"cache for the {DEV_CLIPS:,} development clips", f"{e2e['bytes_per_clip'] * DEV_CLIPS / 1e9:9.2f} GB"),
        (f"CPU-hours, {DEV_CLIPS:,} clips, avsc features (fast)", f"{marginal.cpu * DEV_CLIPS / 3600:9.2f} h"),
        (f"CPU-hours, {DEV_CLIPS:,} clips, reference gtgram alone", f"{ref.cpu * DEV_CLIPS / 3600:9.2f} h"),
        (f"CPU-hours, {DEV_CLIPS:,} clips, log-mel end to end",
         f"{logmel_e2e['marginal'].cpu * DEV_CLIPS / 3600:9.2f} h"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
