"""Any recording a user has: what it holds, and its sound and pictures in blocks of bounded size.

A phone's or camera's video (MP4, MOV, MKV, AVI) carries its sound in the container; an audio
file (WAV, FLAC, MP3, OGG where FFmpeg reads them) has no pictures. :func:`probe` says which
streams a file has and how long it is; :func:`audio_blocks` decodes the first audio stream with
FFmpeg, converts it as the TAU audio is converted (float, stereo: mono duplicated, extra
channels dropped; resampled with soxr's high-quality mode, streamed, which gives exactly the
samples of resampling the whole file at once) and yields it ``block_seconds`` at a time;
frames come from :func:`avsc_lib.features.video.iter_frames`. A 10-minute file is read a block at a
time, never whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from avsc_lib.core.errors import AvscError
from avsc_lib.features.audio import RESAMPLER, note_rate, to_stereo


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds.

    Attributes:
        path: the file.
        audio: whether it has an audio stream.
        video: whether it has a video stream (a still cover image of an audio file is not one).
        duration: its length in seconds, as the container states it (None if it does not).
    """

    path: Path
    audio: bool
    video: bool
    duration: float | None


def _is_picture(stream: av.video.stream.VideoStream) -> bool:
    """A cover image attached to an audio file (MP3 album art), not a video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def probe(path: str | Path) -> MediaInfo:
    """Open a file and say which streams it has.

    Raises:
        AvscError: the file is missing, empty, not a media file FFmpeg reads, or has neither
            sound nor pictures; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise AvscError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AvscError(f"{path}: empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            audio = bool(container.streams.audio)
            video = any(not _is_picture(s) for s in container.streams.video)
            duration = container.duration / av.time_base if container.duration else None
    except av.FFmpegError as err:
        raise AvscError(f"{path}: not a media file FFmpeg can read: {err}") from None
    if not audio and not video:
        raise AvscError(f"{path}: has neither an audio nor a video stream")
    return MediaInfo(path, audio, video, duration)


def _decoded_audio(path: Path) -> Iterator[tuple[np.ndarray, int]]:
    """The first audio stream as float64 (channels, samples) pieces at its own rate."""
    to_float = av.AudioResampler(format="fltp")  # planar float, full scale +-1, rate and channels kept
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    yield converted.to_ndarray().astype(np.float64), converted.sample_rate
        except av.FFmpegError as err:
            raise AvscError(f"{path}: decoding the audio failed (corrupt or truncated?): {err}") from None


def audio_blocks(path: str | Path, sample_rate: int = 44100, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """A file's sound as stereo float64 blocks (2, samples) of ``block_seconds`` at ``sample_rate``.

    The last block holds what remains. Conversions (mono, extra channels, another sample rate
    than 48 kHz) are announced once with an :class:`~avsc_lib.features.audio.AudioNote`.

    Raises:
        AvscError: no audio stream, or one that cannot be decoded.
    """
    import soxr

    path = Path(path)
    block = int(round(block_seconds * sample_rate))
    resampler, pending = None, None
    for data, rate in _decoded_audio(path):
        if pending is None:  # the first piece: announce conversions once
            channels = data.shape[0]
            data = to_stereo(data, path)
            note_rate(rate, sample_rate, path)
            if rate != sample_rate:
                resampler = soxr.ResampleStream(rate, sample_rate, 2, dtype="float64", quality=RESAMPLER)
            pending = np.zeros((2, 0))
        elif channels != 2:
            data = np.concatenate([data, data]) if channels == 1 else data[:2]
        if resampler is not None:
            data = resampler.resample_chunk(np.ascontiguousarray(data.T)).T
        pending = np.concatenate([pending, data], axis=1)
        while pending.shape[1] >= block:
            yield pending[:, :block]
            pending = pending[:, block:]
    if pending is None:
        raise AvscError(f"{path}: the audio stream holds no samples")
    if resampler is not None:
        pending = np.concatenate([pending, resampler.resample_chunk(np.zeros((0, 2)), last=True).T], axis=1)
    while pending.shape[1] >= block:
        yield pending[:, :block]
        pending = pending[:, block:]
    if pending.shape[1]:
        yield pending
