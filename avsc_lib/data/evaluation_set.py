"""Evaluation sets: the challenge's, or one made like it from a labelled set.

The DCASE 2021 Task 1B evaluation set (``TAU-urban-audio-visual-scenes-2021-evaluation``,
dcase_util's ``TAUUrbanAudioVisualScenes_2021_EvaluationSet``) holds ``audio/``, ``video/`` and
``evaluation_setup/fold1_test.csv`` (``filename_audio``, ``filename_video``) without labels; its
clips are anonymous and much shorter than the development set's 10 s. The study reads such a
root with ``clip_seconds: null``: every clip's length comes from its files, every whole second
of it is scored, and the submission has one row per clip (:mod:`avsc_lib.evaluation.evaluate`).

:func:`check_evaluation_root` lists its problems for ``avsc check``; :func:`make_evaluation_root`
cuts the clips of a labelled split into short anonymous clips in that layout and writes their
labels apart, so the whole path (features, prediction, submission, ``avsc score``) can be tried
without the challenge's data.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from avsc_lib.core.errors import AvscError
from avsc_lib.data.layout import SETUP_DIR, load_split
from avsc_lib.data.media_check import audio_seconds

MIN_SECONDS = 1.0  # one network input


def media_seconds(path: str | Path) -> float | None:
    """A media file's length in seconds from its header (soundfile for WAV/FLAC, else FFmpeg's
    container duration); None when it cannot be read."""
    path = Path(path)
    if path.suffix.lower() in (".wav", ".flac"):
        try:
            return audio_seconds(path)
        except AvscError:
            return None
    try:
        with av.open(str(path)) as container:
            return container.duration / av.time_base if container.duration else None
    except (av.FFmpegError, OSError):
        return None


def _cut_video(source: Path, target: Path, start: float, seconds: float) -> None:
    """Re-encode ``seconds`` of a video from ``start`` (H.264, the source's rate and size)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream_in = src.streams.video[0]
        rate = stream_in.average_rate
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        for frame in src.decode(stream_in):
            t = float(frame.pts * frame.time_base)
            if t < start - 1e-6:
                continue
            if t >= start + seconds - 1e-6:
                break
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in stream.encode(image):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_evaluation_root(source_root: str | Path, out: str | Path, labels: str | Path, split: str = "evaluate",
                         seconds: tuple[float, float] = (1.0, 2.0), seed: int = 0) -> Path:
    """Cut a labelled split into an evaluation set: anonymous clips, no labels in the root.

    Args:
        source_root: a labelled root in the TAU layout (e.g. the synthetic set).
        out: the new root (``audio/<n>.wav``, ``video/<n>.mp4``, ``evaluation_setup/fold1_test.csv``).
        labels: where the labels go (tab-separated ``filename``, ``scene_label``), outside ``out``.
        split: the split whose clips are cut.
        seconds: the range of the clips' lengths; each clip starts at a random whole second.
        seed: for the lengths and starts.

    Returns:
        The new root.
    """
    source_root, out, labels = Path(source_root), Path(out), Path(labels)
    if out in labels.parents or labels.parent == out:
        raise AvscError(f"{labels}: keep the labels outside the evaluation root {out}")
    rng = np.random.default_rng(seed)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "video").mkdir(parents=True, exist_ok=True)
    (out / SETUP_DIR).mkdir(parents=True, exist_ok=True)
    rows, truth = [], []
    for number, clip in enumerate(load_split(source_root, split)):
        data, rate = sf.read(clip.audio_path, always_2d=True)
        length = float(rng.uniform(*seconds))
        start = float(rng.integers(0, max(int(len(data) / rate - length), 0) + 1))
        name = str(number)
        piece = data[int(start * rate): int((start + length) * rate)]
        sf.write(out / "audio" / f"{name}.wav", piece, rate, subtype="PCM_24")
        _cut_video(clip.video_path, out / "video" / f"{name}.mp4", start, length)
        rows.append((f"audio/{name}.wav", f"video/{name}.mp4"))
        truth.append((f"audio/{name}.wav", clip.scene))
    for path, header, body in ((out / SETUP_DIR / "fold1_test.csv", ("filename_audio", "filename_video"), rows),
                               (labels, ("filename", "scene_label"), truth)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(header)
            writer.writerows(body)
    return out


def cli_evalset(args: argparse.Namespace) -> int:
    """``avsc evalset SOURCE OUT --labels FILE``: cut a labelled split into an evaluation set."""
    root = make_evaluation_root(args.source, args.out, args.labels, args.split, tuple(args.seconds), args.seed)
    n = len(load_split(root, "test"))
    print(f"{root}: {n} clips of {args.seconds[0]:g}-{args.seconds[1]:g} s without labels; labels in {args.labels}")
    return 0
