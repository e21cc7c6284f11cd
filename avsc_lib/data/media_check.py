"""Check a root's media files themselves, not only their presence, and measure clip lengths.

The fast check reads each WAV's header (its length) and opens each video, finds a video
stream and decodes its first frame; ``deep`` decodes every audio sample and every video frame.
A clip that lacks more than ``max_short_fraction`` of ``clip_seconds`` (audio or video) is a
problem, the rule the caches apply; a longer one is noted by the caches and cut.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, NamedTuple

import av
import soundfile as sf
from tqdm import tqdm

from avsc_lib.core.errors import AvscError


class MediaProblem(NamedTuple):
    """One problem of one media file: its kind (``bad-audio``, ``bad-video``, ``short-audio``,
    ``short-video``) and message."""

    path: Path
    kind: str
    message: str


def audio_seconds(path: str | Path, deep: bool = False) -> float:
    """An audio file's length in seconds from its header (``deep``: by reading every sample).

    Raises:
        AvscError: the file cannot be read as audio (the message names it).
    """
    try:
        if not deep:
            return float(sf.info(str(path)).duration)
        with sf.SoundFile(str(path)) as handle:
            frames = sum(len(block) for block in handle.blocks(blocksize=1 << 16))
            return frames / handle.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvscError(f"{path}: not a readable audio file: {err}") from None


def video_seconds(path: str | Path, deep: bool = False) -> float | None:
    """A video's length in seconds after decoding its first frame (``deep``: every frame, the
    length being the end of the last one); None when the container states no length.

    Raises:
        AvscError: the file cannot be opened, has no video stream, or a frame cannot be decoded.
    """
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams.video
                       if not s.disposition & av.stream.Disposition.attached_pic]
            if not streams:
                raise AvscError(f"{path}: has no video stream")
            stream = streams[0]
            end = None
            for frame in container.decode(stream):
                if frame.time is not None:
                    rate = float(stream.average_rate or 0) or None
                    end = frame.time + (1 / rate if rate else 0)
                if not deep:
                    break
            else:
                if end is None:
                    raise AvscError(f"{path}: contains no decodable video frames")
            if not deep:
                return container.duration / av.time_base if container.duration else None
            return end
    except av.FFmpegError as err:
        raise AvscError(f"{path}: not a readable video (corrupt or truncated?): {err}") from None


def _length_problem(path: Path, kind: str, seconds: float | None, clip_seconds: float | None,
                    max_short_fraction: float) -> list[MediaProblem]:
    if clip_seconds is None or seconds is None or seconds >= clip_seconds * (1 - max_short_fraction):
        return []
    return [MediaProblem(path, f"short-{kind}", f"{kind} is {seconds:.2f} s, more than "
                         f"{max_short_fraction:.0%} shorter than {clip_seconds:g} s")]


def check_file(path: Path, kind: str, clip_seconds: float | None = None, max_short_fraction: float = 0.2,
               deep: bool = False) -> list[MediaProblem]:
    """The problems of one ``audio`` or ``video`` file (an empty list when it is usable)."""
    measure = audio_seconds if kind == "audio" else video_seconds
    try:
        seconds = measure(path, deep)
    except AvscError as err:
        return [MediaProblem(path, f"bad-{kind}", str(err).removeprefix(f"{path}: "))]
    return _length_problem(path, kind, seconds, clip_seconds, max_short_fraction)


def check_files(files: Iterable[tuple[Path, str]], clip_seconds: float | None = None,
                max_short_fraction: float = 0.2, deep: bool = False, workers: int = 4,
                progress: bool | None = None) -> list[MediaProblem]:
    """:func:`check_file` for every ``(path, kind)``, in threads (decoding releases the GIL)."""
    files = list(files)
    progress = sys.stderr.isatty() if progress is None else progress
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda item: check_file(item[0], item[1], clip_seconds, max_short_fraction, deep), files)
        found: list[MediaProblem] = []
        for problems in tqdm(results, total=len(files), desc="checking media", unit="file",
                             disable=not progress, file=sys.stderr, mininterval=1.0):
            found += problems
    return found
