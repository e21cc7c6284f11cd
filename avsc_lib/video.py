"""Decode a clip's video at a fixed frame rate into square RGB frames, as the authors fed VGG16.

The authors took frames at 5 fps, resized them to 224x224 without keeping the aspect ratio
and kept the first 50 per 10-s clip. Here frame ``k`` is the decoded frame shown at time
``t = k / fps`` (the last frame whose timestamp is at or before ``t``, timestamps taken from
the first frame), which gives every 5th frame at 25 fps and the right frames at 10, 30 or
29.97 fps and with a variable frame rate. Only the chosen frames are converted and scaled
(by FFmpeg's swscale, in one step). A rotation in the display matrix (or in an old ``rotate``
tag) is applied, so frames are upright as a player shows them. A clip a little shorter than
``n_frames / fps`` seconds has its last frame repeated, with a :class:`ShortClipWarning`;
one that lacks more than ``max_short_fraction`` (default 20 %) of them is an error, since such a
file is usually truncated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from avsc_lib.errors import AvscError


class ShortClipWarning(UserWarning):
    """A clip ended before its last frame time; its last frame was repeated."""


@dataclass
class DecodedFrames:
    """Frames of one clip and what decoding found out about it.

    Attributes:
        frames: uint8 array (n_frames, size, size, 3), RGB.
        source_fps: the stream's average frame rate (frames per second), 0.0 if unknown.
        source_size: (width, height) of the coded frames, before rotation.
        rotation: counter-clockwise degrees applied to make the frames upright.
        padded: how many trailing frames repeat the last decoded frame (clip too short).
        note: a sentence for reports when something was adjusted, else "".
    """

    frames: np.ndarray
    source_fps: float
    source_size: tuple[int, int]
    rotation: int
    padded: int
    note: str


def _open(path: Path) -> av.container.InputContainer:
    """Open a container, turning FFmpeg's errors into messages that name the file."""
    if not path.is_file():
        raise AvscError(f"{path}: video file not found")
    try:
        return av.open(str(path))
    except av.FFmpegError as err:
        raise AvscError(
            f"{path}: not a readable video file (corrupt or truncated?): {err}"
        ) from None


def _stream_rotation(stream: av.video.stream.VideoStream) -> int:
    """Counter-clockwise rotation from an old-style ``rotate`` tag (clockwise degrees), else 0."""
    for key, value in stream.metadata.items():
        if key.lower() == "rotate":
            try:
                return -int(float(value))
            except ValueError:
                return 0
    return 0


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an image counter-clockwise by a multiple of 90 degrees (others are rounded)."""
    quarter_turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _to_rgb(frame: av.VideoFrame, size: int, rotation: int) -> np.ndarray:
    """Scale a decoded frame to size x size RGB (aspect ratio not kept) and make it upright.

    Rotating after scaling to a square equals scaling the rotated frame, and is cheaper.
    """
    image = frame.reformat(width=size, height=size, format="rgb24", interpolation="BILINEAR")
    return _upright(image.to_ndarray(), rotation)


@dataclass
class _Shown:
    """A decoded frame with its display time and duration in seconds; RGB made at most once."""

    frame: av.VideoFrame
    time: Fraction
    duration: Fraction | None
    rotation: int
    _rgb: np.ndarray | None = None

    def rgb(self, size: int) -> np.ndarray:
        if self._rgb is None:
            self._rgb = _to_rgb(self.frame, size, self.rotation)
        return self._rgb


def _timed_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[_Shown]:
    """The stream's decoded frames with times from the first frame's, rotation from its metadata.

    The rotation is the first frame's display matrix, else the stream's ``rotate`` tag.
    """
    origin = rotation = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        time_base = frame.time_base or stream.time_base
        time = Fraction(frame.pts) * time_base
        if origin is None:
            origin, rotation = time, int(frame.rotation or _stream_rotation(stream))
        duration = Fraction(frame.duration) * time_base if frame.duration else None
        yield _Shown(frame, time - origin, duration, rotation)


def _pick_frames(
    frames: Iterator[_Shown], slot_times: list[Fraction], size: int
) -> tuple[list[np.ndarray], _Shown | None]:
    """For each slot time, the RGB of the last frame shown at or before it; stops when all are
    filled. Returns the filled slots (fewer if the video ends first) and the last frame seen."""
    chosen: list[np.ndarray] = []
    last = None
    for shown in frames:
        while len(chosen) < len(slot_times) and slot_times[len(chosen)] < shown.time:
            chosen.append(last.rgb(size))
        if len(chosen) == len(slot_times):
            break
        last = shown
    return chosen, last


def decode_frames(
    path: str | Path,
    fps: float = 5,
    size: int = 224,
    n_frames: int = 50,
    threads: int = 0,
    max_short_fraction: float = 0.2,
) -> DecodedFrames:
    """Decode the first ``n_frames`` frames of a video at ``fps``, scaled to size x size RGB.

    Args:
        path: a video file in any container and codec FFmpeg reads (MP4, AVI, MKV, ...).
        fps: frames per second to take.
        size: output width and height in pixels.
        n_frames: how many frames to return (50 for 10 s at 5 fps).
        threads: decoder threads; 0 lets FFmpeg choose.
        max_short_fraction: the largest fraction of the ``n_frames`` that may lie past the end
            of the video and be filled with its last frame.

    Returns:
        The frames and what decoding found (see :class:`DecodedFrames`).

    Raises:
        AvscError: the file is missing, unreadable, has no video stream or no decodable frame,
            or is more than ``max_short_fraction`` too short.
    """
    path = Path(path)
    slot_times = [Fraction(k) / Fraction(fps) for k in range(n_frames)]
    with _open(path) as container:
        if not container.streams.video:
            raise AvscError(f"{path}: has no video stream (audio-only file?)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        try:
            chosen, last = _pick_frames(_timed_frames(container, stream), slot_times, size)
        except av.FFmpegError as err:
            raise AvscError(f"{path}: decoding failed (corrupt or truncated?): {err}") from None
        if last is None:
            raise AvscError(f"{path}: contains no decodable video frames")
        rate = stream.average_rate or stream.guessed_rate
        source_size = (stream.codec_context.width, stream.codec_context.height)

    padded, note = 0, ""
    if len(chosen) < n_frames:
        end_time = last.time + (last.duration or (1 / Fraction(rate) if rate else Fraction(0)))
        padded = sum(1 for t in slot_times[len(chosen):] if t >= end_time)
        chosen.extend([last.rgb(size)] * (n_frames - len(chosen)))
        if padded > max_short_fraction * n_frames:
            raise AvscError(
                f"{path}: video ends at {float(end_time):.2f} s but {n_frames} frames at {fps} fps "
                f"need {n_frames / fps:.2f} s (truncated?)"
            )
        if padded:
            note = (
                f"{path}: video ends at {float(end_time):.2f} s, before frame {n_frames - padded} "
                f"of {n_frames} at {fps} fps; the last frame is repeated {padded} time(s)"
            )
    source_fps = float(rate) if rate else 0.0
    return DecodedFrames(np.stack(chosen), source_fps, source_size, last.rotation, padded, note)


def read_frames(
    path: str | Path,
    fps: float = 5,
    size: int = 224,
    n_frames: int = 50,
    threads: int = 0,
    max_short_fraction: float = 0.2,
) -> np.ndarray:
    """Frames of a video at ``fps``, resized to size x size without keeping the aspect ratio.

    Args:
        path: a video file (MP4, AVI, MKV, ...); rotation metadata is applied.
        fps: frames per second to take (the paper: 5).
        size: output width and height (the paper: 224).
        n_frames: frames to return (the paper: the first 50 of a 10-s clip).
        threads: decoder threads; 0 lets FFmpeg choose.
        max_short_fraction: the largest fraction of frames that may repeat the last one.

    Returns:
        uint8 array (n_frames, size, size, 3), RGB. A clip shorter than ``n_frames / fps``
        seconds has its last frame repeated, with a :class:`ShortClipWarning`.

    Raises:
        AvscError: a missing, corrupt or audio-only file, one without decodable frames, or
            one too short (truncated).
    """
    decoded = decode_frames(path, fps, size, n_frames, threads, max_short_fraction)
    if decoded.note:
        warnings.warn(decoded.note, ShortClipWarning, stacklevel=2)
    return decoded.frames
