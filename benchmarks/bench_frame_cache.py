"""Benchmark of the decoded-frame cache, the input of the steps that train VGG16.

Prints, in one run, for the real sample videos in ``../shared/data/video`` (their first 10 s)
and a synthetic 1280x720 29.97-fps H.264 clip of the size and rate of the dataset's GoPro
footage (block texture and pixel noise: its decoding cost is realistic, its content the worst
case for the JPEG cache, which must drop to a low quality to keep it under 1 MB):

1. decoding 50 frames at 5 fps with the authors' scaling (``frame_resize: cv2``): seconds per
   clip and frames per second (one decoder thread);
2. the cache: bytes per clip (the bound is 1 MB; the authors' raw-frame TFRecords took 7.9 MB),
   the JPEG quality used, and the difference of the cached frames from the freshly decoded
   ones (mean and largest absolute difference in grey levels, PSNR);
3. reading back: frames per second for a whole clip (validation) and for a 5-frame window
   (a training example), and their ratio to decoding;
4. a training step of the whole visual subnetwork (VGG16 unfrozen) at 224x224 on this
   machine, in frames per second, beside the reading rate: an epoch is bound by the network
   when one core reads faster than the network trains.

Usage: ``.venv/bin/python benchmarks/bench_frame_cache.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_frames import best_time, write_gopro_like_clip  # benchmarks/, beside this script
from machine import cpu_name

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_VIDEO = Path(os.environ.get("AVSC_SHARED", REPO.parent / "shared")) / "data" / "video"
SIZE, FPS, FRAMES = 224, 5, 50
AUTHORS_BYTES_PER_CLIP = 7.9e6


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure_clip(path: Path, cache_dir: Path, repeats: int) -> dict[str, float]:
    """Decode, cache and read one clip; the figures of sections 1-3."""
    from avsc_lib.features import frame_cache
    from avsc_lib.features.video import decode_frames

    decoded = decode_frames(path, FPS, SIZE, FRAMES, threads=1, max_short_fraction=1.0).frames
    decode_s = best_time(lambda: decode_frames(path, FPS, SIZE, FRAMES, threads=1, max_short_fraction=1.0), repeats)
    file = cache_dir / f"{path.stem}.npz"
    size = frame_cache.write_clip(file, decoded)
    cached = frame_cache.load_frames(cache_dir, path.stem)
    frames = np.asarray(cached)
    whole_s = best_time(lambda: np.asarray(frame_cache.load_frames(cache_dir, path.stem)), repeats)
    window_s = best_time(lambda: frame_cache.load_frames(cache_dir, path.stem)[20:25], repeats)
    difference = np.abs(frames.astype(int) - decoded)
    return {"decode_s": decode_s, "bytes": size, "quality": cached.quality, "mean_abs": float(difference.mean()),
            "max_abs": int(difference.max()), "psnr": psnr(frames, decoded),
            "whole_fps": FRAMES / whole_s, "window_fps": 5 / window_s, "decode_fps": FRAMES / decode_s}


def network_frames_per_second(batch: int, steps: int) -> float:
    """Frames per second of training steps of the visual subnetwork on frames, VGG16 trainable."""
    import keras

    from avsc_lib.models.backbone import build_frame_encoder
    from avsc_lib.models.visual import build_visual_subnetwork

    encoder, _ = build_frame_encoder(SIZE, "none", l2=2e-4)
    model = build_visual_subnetwork(frame_encoder=encoder)
    encoder.get_layer("vgg16").trainable = True
    model.compile(keras.optimizers.Adam(1e-6), "categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (batch, 5, SIZE, SIZE, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(batch) % 10]
    model.train_on_batch(x, y)  # build and warm up
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * 5 * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and network steps")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    print(f"# decoded-frame cache on {cpu_name()} ({platform.machine()}), {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; one thread decodes, encodes and reads")
    with tempfile.TemporaryDirectory(prefix="avsc-bench-") as tmp:
        videos = [p for p in (SHARED_VIDEO / "bikes.mp4", SHARED_VIDEO / "vtest.avi") if p.is_file()]
        # 1280x720 at 29.97 fps like the dataset's GoPro clips, but of block texture and pixel
        # noise: the decoding cost of the real clips, and the worst case for any lossy coder
        videos.append(write_gopro_like_clip(Path(tmp) / "synthetic-1280x720-noise.mp4"))
        header = (f"{'video':<34} {'decode s':>8} {'bytes/clip':>11} {'q':>3} {'mean|d|':>7} {'max|d|':>6} "
                  f"{'PSNR dB':>7} {'read fr/s':>9} {'window fr/s':>11} {'decode fr/s':>11} {'read/decode':>11}")
        print(header)
        rows = []
        for path in videos:
            m = measure_clip(path, Path(tmp) / "cache", repeats)
            rows.append(m)
            print(f"{path.name:<34} {m['decode_s']:>8.3f} {m['bytes']:>11,} {m['quality']:>3} {m['mean_abs']:>7.2f} "
                  f"{m['max_abs']:>6} {m['psnr']:>7.1f} {m['whole_fps']:>9.0f} {m['window_fps']:>11.0f} "
                  f"{m['decode_fps']:>11.0f} {m['whole_fps'] / m['decode_fps']:>10.1f}x")
        largest = max(m["bytes"] for m in rows)
        print(f"largest clip {largest:,} B (bound 1,000,000 B); the authors' raw frames "
              f"{AUTHORS_BYTES_PER_CLIP:,.0f} B: {AUTHORS_BYTES_PER_CLIP / largest:.1f}x more")
        network = network_frames_per_second(batch=2, steps=1 if args.quick else 3)
        slowest_read = min(m["window_fps"] for m in rows)
        print(f"visual subnetwork training step, VGG16 unfrozen, {SIZE}x{SIZE}, batch 2 x 5 frames: "
              f"{network:.1f} frames/s on this CPU")
        print(f"reading a training window on one core: {slowest_read:.0f} frames/s at the slowest, "
              f"{slowest_read / network:.0f}x the network's rate here")


if __name__ == "__main__":
    main()
