"""Benchmark of the visual feature cache: VGG16 throughput, decoding, and cache size.

Prints, in one run (a few minutes on a 2-core CPU):

1. the machine's float32 matrix-multiply rate (NumPy and TensorFlow), the FLOP bound;
2. the VGG16 conv base's FLOPs per frame, computed from its layer shapes;
3. frozen-VGG16 frames per second at 224x224 (the paper's) and 64x64 (the demo's), for a few
   batch sizes and TensorFlow thread settings (one subprocess per setting, since
   ``tf.config.threading`` must be set before TensorFlow starts), and the fraction of the
   FLOP bound achieved;
4. the decode rate of the real sample videos in ``../shared/data/video`` and of a synthetic
   1280x720 30-fps H.264 clip like the dataset's GoPro footage, against the network's time
   per clip;
5. the pipeline: ``extract_frame_features`` on a few clips against decode and network alone
   (decoding runs ahead in threads, so the pipeline should take about the network's time);
6. bytes per clip of the visual cache against the authors' raw frames, for the whole
   development set (12,291 clips).

Usage: ``.venv/bin/python benchmarks/bench_frames.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from machine import cpu_name  # benchmarks/machine.py, beside this script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_VIDEO = Path(os.environ.get("AVSC_SHARED", REPO.parent / "shared")) / "data" / "video"
DEV_CLIPS = 12_291  # TAU Urban Audio-Visual Scenes 2021 development set
FRAMES_PER_CLIP = 50  # 10 s at 5 fps
AUTHORS_BYTES_PER_CLIP = 7.9e6  # the authors' raw-frame TFRecords: 97 GB / 12,291 clips
PAPER_SIZE, DEMO_SIZE = 224, 64


def best_time(fn, repeats: int) -> float:
    """The shortest of ``repeats`` timings of ``fn()`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# --- 1. matrix-multiply bound -------------------------------------------------------------------


MATMUL_SIZES = (1024, 2048, 4096)


def numpy_matmul_gflops(n: int) -> float:
    """NumPy (its BLAS) float32 n x n matrix multiply, 2 n^3 FLOP per product."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / best_time(lambda: a @ b, 3) / 1e9


def tf_matmul_gflops(n: int) -> float:
    """TensorFlow float32 n x n matrix multiply, 2 n^3 FLOP per product."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    return 2 * n**3 / best_time(lambda: tf.linalg.matmul(a, b).numpy(), 3) / 1e9


# --- 2./3. VGG16 FLOPs and throughput -----------------------------------------------------------


def vgg16_flops(frame_size: int) -> int:
    """FLOP of the VGG16 conv base for one frame (2 per multiply-add), from its conv layers' shapes.

    The usual "15.4 GFLOP per 224x224 frame" counts multiply-adds; the matrix-multiply rate
    counts 2 n^3, multiply and add apart, so both are counted that way here.
    """
    from avsc_lib.models.backbone import build_vgg16_base

    base = build_vgg16_base(frame_size)
    flops = 0
    for layer in base.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            flops += 2 * h * w * kh * kw * c_in * c_out
    return flops


def throughput_worker(threads: int, sizes: list[int], batches: list[int], budget_s: float) -> dict:
    """Frames per second of the frozen frame encoder (random weights: same cost) per size, batch."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1 if threads == 1 else 2)
    from avsc_lib.models.backbone import build_frame_encoder

    results = {}
    for size in sizes:
        encoder, _ = build_frame_encoder(size, "none")
        for batch in batches:
            frames = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3)).astype(np.float32)
            start = time.perf_counter()
            encoder.predict_on_batch(frames)  # warm-up: tracing and allocation
            first = time.perf_counter() - start
            repeats = max(1, min(5, int(budget_s / max(first, 1e-3))))
            seconds = best_time(lambda: encoder.predict_on_batch(frames), repeats) if repeats > 1 else first
            results[f"{size}/{batch}"] = batch / seconds
    return results


def run_throughput(threads: int, sizes: list[int], batches: list[int], budget_s: float) -> dict:
    """Run :func:`throughput_worker` in a fresh process (thread settings need a fresh TF)."""
    cmd = [sys.executable, __file__, "--worker", str(threads), "--sizes", *map(str, sizes),
           "--batches", *map(str, batches), "--budget", str(budget_s)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- 4. decoding --------------------------------------------------------------------------------


def write_gopro_like_clip(path: Path, seconds: float = 10.0) -> Path:
    """A 1280x720, 29.97-fps H.264 clip with moving texture (like the dataset's GoPro footage)."""
    import av

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), np.uint8))
    rate = Fraction(30000, 1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(int(seconds * rate)):
            image = np.roll(texture, 4 * i, axis=1)
            noise = rng.integers(0, 16, (720, 1280, 1), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image + noise, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_seconds(path: Path, size: int, threads: int) -> float:
    from avsc_lib.features.video import decode_frames

    return best_time(lambda: decode_frames(path, 5, size, FRAMES_PER_CLIP, threads=threads), 2)


# --- 5. the pipeline ----------------------------------------------------------------------------


def pipeline_seconds(clip_paths: list[Path], size: int) -> dict[str, float]:
    """Decode alone, network alone, and extract_frame_features (overlapped) on a few clips."""
    from dataclasses import dataclass

    from avsc_lib.core.params import load_params
    from avsc_lib.features import frame_features
    from avsc_lib.features.video import decode_frames

    @dataclass(frozen=True)
    class Clip:
        name: str
        video_path: Path

    with tempfile.TemporaryDirectory() as tmp:
        params = load_params(REPO / "params" / "demo.yml",
                             {"build_dir": tmp, "frame_size": size, "weights": "none"})
        info = {"weights": "random"}
        encoder = frame_features.build_encoder(params, info)
        clips = [Clip(f"clip-{i}", p) for i, p in enumerate(clip_paths)]
        start = time.perf_counter()
        decoded = [decode_frames(c.video_path, 5, size, FRAMES_PER_CLIP).frames for c in clips]
        decode = time.perf_counter() - start
        frame_features.encode_frames(encoder, decoded[0], params["frame_batch_size"])  # warm-up
        start = time.perf_counter()
        for frames in decoded:
            frame_features.encode_frames(encoder, frames, params["frame_batch_size"])
        network = time.perf_counter() - start
        start = time.perf_counter()
        report = frame_features.extract_frame_features(
            clips, params, encoder, info, cache_dir=Path(tmp) / "cache", decode_workers=2, progress=False
        )
        pipeline = time.perf_counter() - start
        assert report.ok and len(report.computed) == len(clips)
        nbytes = (Path(tmp) / "cache" / "clip-0.npy").stat().st_size
    return {"decode": decode, "network": network, "pipeline": pipeline, "bytes": nbytes}


# --- report -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings (about a minute)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[PAPER_SIZE, DEMO_SIZE])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per timed setting")
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(throughput_worker(args.worker, args.sizes, args.batches, args.budget)))
        return

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or sorted({1, cores})
    batches = [1, 16] if args.quick else args.batches
    print(f"# bench_frames on {cpu_name()}, {cores} cores, Python {platform.python_version()}")
    print(f"# load average at start {os.getloadavg()[0]:.2f} (other work on these cores slows every number)")

    print("\n## float32 matrix multiply, GFLOP/s (2 n^3 per n x n product, best of 3, all cores)")
    print(f"{'n':>5} {'numpy':>8} {'tf':>8}")
    bound = 0.0
    for n in MATMUL_SIZES[:2] if args.quick else MATMUL_SIZES:
        np_rate, tf_rate = numpy_matmul_gflops(n), tf_matmul_gflops(n)
        bound = max(bound, np_rate, tf_rate)
        print(f"{n:>5} {np_rate:>8.1f} {tf_rate:>8.1f}")
    print(f"bound used below: the best, {bound:.1f} GFLOP/s")

    flops = {size: vgg16_flops(size) for size in args.sizes}
    print("\n## VGG16 conv base per frame, from the 13 conv layers' shapes")
    for size, value in flops.items():
        print(f"{size:>3}x{size:<3} {value / 2e9:7.2f} G multiply-adds = {value / 1e9:7.2f} GFLOP")

    print("\n## frozen VGG16 frames per second (predict_on_batch, random weights)")
    print(f"{'size':>7} {'batch':>5} {'threads':>7} {'frames/s':>9} {'s/frame':>8} "
          f"{'GFLOP/s':>8} {'of bound':>8}")
    best: dict[int, float] = {}
    for n_threads in threads:
        rates = run_throughput(n_threads, args.sizes, batches, 4.0 if args.quick else args.budget)
        for key, fps in rates.items():
            size, batch = map(int, key.split("/"))
            best[size] = max(best.get(size, 0.0), fps)
            gflops = fps * flops[size] / 1e9
            print(f"{size:>3}x{size:<3} {batch:>5} {n_threads:>7} {fps:>9.2f} {1 / fps:>8.3f} "
                  f"{gflops:>8.1f} {gflops / bound:>8.0%}")

    print("\n## decoding 50 frames at 5 fps (read_frames; best of 2)")
    videos = [p for p in sorted(SHARED_VIDEO.glob("*")) if p.suffix in (".mp4", ".avi")]
    with tempfile.TemporaryDirectory() as tmp:
        videos.append(write_gopro_like_clip(Path(tmp) / "synthetic-1280x720-29.97fps.mp4"))
        print(f"{'video':<36} {'size':>7} {'threads':>7} {'s/clip':>7} {'net s/clip':>10} {'decode/net':>10}")
        for path in videos:
            for size in args.sizes:
                for n_threads in (1, 0):
                    seconds = decode_seconds(path, size, n_threads)
                    network = FRAMES_PER_CLIP / best[size]
                    print(f"{path.name:<36} {size:>3}x{size:<3} {n_threads or 'auto':>7} {seconds:>7.3f} "
                          f"{network:>10.2f} {seconds / network:>10.1%}")
        pipe_size = DEMO_SIZE if DEMO_SIZE in args.sizes else args.sizes[-1]
        clip_paths = [videos[-1], *videos[:-1]] * (1 if args.quick else 2)
        pipe = pipeline_seconds(clip_paths, pipe_size)
    print(f"\n## extract_frame_features on {len(clip_paths)} clips at {pipe_size}x{pipe_size} "
          "(2 decode threads)")
    print(f"decode alone {pipe['decode']:.2f} s + network alone {pipe['network']:.2f} s = "
          f"{pipe['decode'] + pipe['network']:.2f} s; pipeline {pipe['pipeline']:.2f} s")

    raw = FRAMES_PER_CLIP * PAPER_SIZE * PAPER_SIZE * 3
    print("\n## storage per clip (10 s, 50 frames) and for the development set (12,291 clips)")
    print(f"visual cache (50, 512) float32 .npy {pipe['bytes']:>12,d} B   "
          f"x {DEV_CLIPS:,} = {pipe['bytes'] * DEV_CLIPS / 1e9:6.2f} GB")
    print(f"raw uint8 frames 50x224x224x3       {raw:>12,d} B   "
          f"x {DEV_CLIPS:,} = {raw * DEV_CLIPS / 1e9:6.2f} GB")
    print(f"authors' raw-frame TFRecords        {AUTHORS_BYTES_PER_CLIP:>12,.0f} B   "
          f"x {DEV_CLIPS:,} = {AUTHORS_BYTES_PER_CLIP * DEV_CLIPS / 1e9:6.2f} GB   "
          f"({AUTHORS_BYTES_PER_CLIP / pipe['bytes']:.0f}x the cache)")

    frames = DEV_CLIPS * FRAMES_PER_CLIP
    print(f"\n## the development set's {frames:,} frames through VGG16 on this machine")
    for size in args.sizes:
        print(f"{size}x{size}: {frames / best[size] / 3600:8.1f} h at the best {best[size]:.2f} frames/s")
    print(f"\n# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
