"""Decode a video at a fixed frame rate into square RGB frames, as the authors fed VGG16.

The authors (``generate_tfrecords_gammatone.ipynb`` cell 9) took frames at 5 fps with
moviepy at full resolution, squashed each to 224x224 with ``cv2.resize`` (bilinear, the
aspect ratio not kept) and kept the first 50 per 10-s clip. Here frame ``k`` is the decoded
frame shown at time ``t = k / fps`` (the last frame whose timestamp is at or before ``t``,
timestamps taken from the first frame), which gives every 5th frame at 25 fps and the right
frames at 10, 30 or 29.97 fps and with a variable frame rate; only the chosen frames are
converted to RGB. Two ways of scaling (``resize``):

- ``cv2``: the full-resolution RGB frame scaled by :func:`resize_bilinear`, which computes what
  ``cv2.resize(frame, (size, size))`` computes (bilinear from the 2x2 nearest source pixels,
  OpenCV's fixed-point weights; no anti-aliasing, so a large frame shrunk 5x aliases): the
  authors' frames.
- ``ffmpeg``: FFmpeg's swscale bilinear filter in one step with the colour conversion; its
  kernel widens with the shrink factor, so it averages (anti-aliases) instead.

A rotation in the display matrix (or in an old ``rotate`` tag) is applied, so frames are
upright as a player shows them. :func:`decode_frames` reads the first ``n_frames``: a clip a
little shorter than ``n_frames / fps`` seconds has its last frame repeated, with a
:class:`ShortClipWarning`; one that lacks more than ``max_short_fraction`` (default 20 %) of
them is an error, since such a file is usually truncated. :func:`iter_frames` streams every
frame of a file of any length in bounded memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from avsc_lib.core.errors import AvscError

RESIZE_METHODS: tuple[str, ...] = ("cv2", "ffmpeg")
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS: weights are integers out of 2048


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


# --- scaling --------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _bilinear_axis(source: int, target: int) -> tuple[np.ndarray, ...]:
    """Source indices and fixed-point weights of one axis, as OpenCV's INTER_LINEAR sets them up."""
    position = ((np.arange(target) + 0.5) * (source / target) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = (position - first).astype(np.float32)
    before, after = first < 0, first >= source - 1
    fraction[before | after] = 0.0
    first[before], first[after] = 0, source - 1
    scale = 1 << _COEF_BITS
    w_first = np.round((1.0 - fraction.astype(np.float64)) * scale).astype(np.int32)
    w_second = np.round(fraction.astype(np.float64) * scale).astype(np.int32)
    return first, np.minimum(first + 1, source - 1), w_first, w_second


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """Scale an RGB uint8 image to size x size as ``cv2.resize(image, (size, size))`` does.

    Bilinear interpolation between the 2x2 source pixels around each target pixel's centre,
    with OpenCV's fixed-point arithmetic (11-bit weights, its vectorised rounding), so that a
    shrunk frame equals OpenCV's bit for bit; an enlarged one may differ by 1 in a few values.

    Args:
        image: uint8 array (height, width, channels).
        size: the target width and height.

    Returns:
        uint8 array (size, size, channels).
    """
    rows0, rows1, b0, b1 = _bilinear_axis(image.shape[0], size)
    cols0, cols1, a0, a1 = _bilinear_axis(image.shape[1], size)
    a0, a1 = a0[None, :, None], a1[None, :, None]

    def horizontal(rows: np.ndarray) -> np.ndarray:
        return rows[:, cols0].astype(np.int32) * a0 + rows[:, cols1].astype(np.int32) * a1

    top, bottom = horizontal(image[rows0]), horizontal(image[rows1])
    value = ((b0[:, None, None] * (top >> 4)) >> 16) + ((b1[:, None, None] * (bottom >> 4)) >> 16)
    return ((value + 2) >> 2).clip(0, 255).astype(np.uint8)


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an image counter-clockwise by a multiple of 90 degrees (others are rounded)."""
    quarter_turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _to_rgb(frame: av.VideoFrame, size: int, rotation: int, resize: str) -> np.ndarray:
    """Scale a decoded frame to size x size RGB (aspect ratio not kept) and make it upright.

    Rotating after scaling to a square equals scaling the rotated frame, and is cheaper.
    """
    if resize == "cv2":
        image = resize_bilinear(frame.to_ndarray(format="rgb24"), size)
    else:
        image = frame.reformat(width=size, height=size, format="rgb24", interpolation="BILINEAR").to_ndarray()
    return _upright(image, rotation)


def check_resize(resize: str) -> str:
    """The resize method, or AvscError naming the valid ones."""
    if resize not in RESIZE_METHODS:
        raise AvscError(f"frame resize {resize!r}: expected one of {', '.join(RESIZE_METHODS)}")
    return resize


# --- decoding -------------------------------------------------------------------------------------


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


@dataclass
class _Shown:
    """A decoded frame with its display time and duration in seconds; RGB made at most once."""

    frame: av.VideoFrame | None
    time: Fraction
    duration: Fraction | None
    rotation: int
    _rgb: np.ndarray | None = None

    def rgb(self, size: int, resize: str) -> np.ndarray:
        if self._rgb is None:
            self._rgb = _to_rgb(self.frame, size, self.rotation, resize)
            self.frame = None  # the full-size decoded frame is no longer needed
        return self._rgb

    def end(self, rate: Fraction | None) -> Fraction:
        """When the frame stops being shown: its duration, else one frame period, else now."""
        return self.time + (self.duration or (1 / Fraction(rate) if rate else Fraction(0)))


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


def _slots(frames: Iterator[_Shown], fps: Fraction, rate: Fraction | None) -> Iterator[_Shown]:
    """For slot times k / fps, k = 0, 1, ..., the frame shown then; ends with the video (the
    last frame fills the slots before its display ends)."""
    k, last = 0, None
    for shown in frames:
        while last is not None and k / fps < shown.time:
            yield last
            k += 1
        last = shown
    if last is not None:
        end = last.end(rate)
        while k / fps < end:
            yield last
            k += 1


@dataclass
class _Video:
    """An open video stream and what is known of it before decoding."""

    path: Path
    container: av.container.InputContainer
    stream: av.video.stream.VideoStream

    @property
    def rate(self) -> Fraction | None:
        rate = self.stream.average_rate or self.stream.guessed_rate
        return Fraction(rate) if rate else None

    @property
    def size(self) -> tuple[int, int]:
        return self.stream.codec_context.width, self.stream.codec_context.height


def _open_video(path: Path, threads: int) -> _Video:
    container = _open(path)
    if not container.streams.video:
        container.close()
        raise AvscError(f"{path}: has no video stream (audio-only file?)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return _Video(path, container, stream)


class _Tracked:
    """An iterator of frames that remembers the last one it gave."""

    def __init__(self, frames: Iterator[_Shown]):
        self.frames, self.last = frames, None

    def __iter__(self) -> Iterator[_Shown]:
        for shown in self.frames:
            self.last = shown
            yield shown


def _decoding(path: Path, shown: Iterator[_Shown]) -> Iterator[_Shown]:
    """``shown`` with FFmpeg's decoding errors turned into messages that name the file."""
    try:
        yield from shown
    except av.FFmpegError as err:
        raise AvscError(f"{path}: decoding failed (corrupt or truncated?): {err}") from None


def iter_frames(
    path: str | Path, fps: float = 5, size: int = 224, resize: str = "cv2", threads: int = 0
) -> Iterator[np.ndarray]:
    """Every frame of a video at ``fps``, scaled to size x size RGB, one at a time.

    Frame ``k`` is the one shown at ``k / fps`` s; the iteration ends with the video, so a file
    of any length is read in bounded memory.

    Raises:
        AvscError: a missing, unreadable or audio-only file, or one without decodable frames.
    """
    path, resize = Path(path), check_resize(resize)
    video = _open_video(path, threads)
    with video.container:
        count = 0
        slots = _slots(_timed_frames(video.container, video.stream), Fraction(fps), video.rate)
        for shown in _decoding(path, slots):
            count += 1
            yield shown.rgb(size, resize)
        if not count:
            raise AvscError(f"{path}: contains no decodable video frames")


def decode_frames(
    path: str | Path,
    fps: float = 5,
    size: int = 224,
    n_frames: int = 50,
    threads: int = 0,
    max_short_fraction: float = 0.2,
    resize: str = "cv2",
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
        resize: ``cv2`` (the authors' scaling) or ``ffmpeg`` (see the module doc).

    Returns:
        The frames and what decoding found (see :class:`DecodedFrames`).

    Raises:
        AvscError: the file is missing, unreadable, has no video stream or no decodable frame,
            or is more than ``max_short_fraction`` too short.
    """
    path, resize = Path(path), check_resize(resize)
    chosen: list[_Shown] = []
    video = _open_video(path, threads)
    with video.container:
        decoded = _Tracked(_decoding(path, _timed_frames(video.container, video.stream)))
        for shown in _slots(iter(decoded), Fraction(fps), video.rate):
            shown.rgb(size, resize)  # converted now: the decoded frame need not be kept
            chosen.append(shown)
            if len(chosen) == n_frames:
                break
        rate, source_size, last = video.rate, video.size, decoded.last
    if last is None:
        raise AvscError(f"{path}: contains no decodable video frames")
    padded, note = n_frames - len(chosen), ""
    if padded:  # the slots past the end of the video repeat its last frame
        end_time = last.end(rate)
        if padded > max_short_fraction * n_frames:
            raise AvscError(
                f"{path}: video ends at {float(end_time):.2f} s but {n_frames} frames at {fps} fps "
                f"need {n_frames / fps:.2f} s (truncated?)"
            )
        note = (
            f"{path}: video ends at {float(end_time):.2f} s, before frame {n_frames - padded} "
            f"of {n_frames} at {fps} fps; the last frame is repeated {padded} time(s)"
        )
        chosen.extend([last] * padded)
    frames = np.stack([shown.rgb(size, resize) for shown in chosen])
    return DecodedFrames(frames, float(rate) if rate else 0.0, source_size, last.rotation, padded, note)


def read_frames(
    path: str | Path,
    fps: float = 5,
    size: int = 224,
    n_frames: int = 50,
    threads: int = 0,
    max_short_fraction: float = 0.2,
    resize: str = "cv2",
) -> np.ndarray:
    """Frames of a video at ``fps``, resized to size x size without keeping the aspect ratio.

    Args:
        path: a video file (MP4, AVI, MKV, ...); rotation metadata is applied.
        fps: frames per second to take (the paper: 5).
        size: output width and height (the paper: 224).
        n_frames: frames to return (the paper: the first 50 of a 10-s clip).
        threads: decoder threads; 0 lets FFmpeg choose.
        max_short_fraction: the largest fraction of frames that may repeat the last one.
        resize: ``cv2`` (the authors' scaling) or ``ffmpeg`` (see the module doc).

    Returns:
        uint8 array (n_frames, size, size, 3), RGB. A clip shorter than ``n_frames / fps``
        seconds has its last frame repeated, with a :class:`ShortClipWarning`.

    Raises:
        AvscError: a missing, corrupt or audio-only file, one without decodable frames, or
            one too short (truncated).
    """
    decoded = decode_frames(path, fps, size, n_frames, threads, max_short_fraction, resize)
    if decoded.note:
        warnings.warn(decoded.note, ShortClipWarning, stacklevel=2)
    return decoded.frames
