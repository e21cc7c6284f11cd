"""How clips are cut into 1-s network inputs, and the data of a split that pipelines read.

A clip's audio features are ``(n_bands, n_audio_frames, 3)`` (audio frame ``f`` covers
``[f * hop, f * hop + window)``) and its visual input is ``(n_video_frames, ...)``: cached
per-frame features ``(50, 512)`` or decoded frames ``(50, H, W, 3)`` (video frame ``k`` at
``t = k / fps``). One network input is one second: 50 audio frames and the 5 video frames
of the same second.

Evaluation cuts clip second ``s`` into audio frames ``50 s .. 50 s + 49`` and video frames
``5 s .. 5 s + 4``. Training draws, every epoch, one window of every clip, as the authors'
code does (``crop_range: authors``):

- audio alone (``train_audio.ipynb`` cell 18): the first audio frame uniformly in
  ``[0, n_bands - 50)``: the code takes the range from the band axis, so every window starts
  in frames 0-13 (the first 0.28 s);
- with video (``train_video.ipynb`` cell 11, ``train_audiovisual.ipynb`` cell 20): the first
  video frame ``k`` uniformly in ``[0, n_video_frames - 5)`` (the upper end excluded, so the
  last second never starts a window) and, with audio, audio frames ``10 k .. 10 k + 49``.

``crop_range: clip`` draws from every possible start instead (the paper's text: the examples
"were randomly trimmed into 1 second segments"): audio starts in ``[0, n_audio_frames - 50]``,
video starts in ``[0, n_video_frames - 5]``.

Scaling. Each 1-s audio input is min-max scaled to [-1, 1] jointly over all its values (bands,
frames and channels), as in the authors' code; visual inputs are used as they are.

A clip's arrays come from any sequence: a list of arrays in memory, or a :class:`LazyClips`
that reads each clip's cache file when asked, a few clips at a time in threads, so the real
data set need not fit into memory. The study's inputs (:mod:`avsc_lib.study.inputs`) build
either from the caches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from avsc_lib.core.errors import AvscError

INPUTS: tuple[str, ...] = ("audio", "visual")
CROP_RANGES: tuple[str, ...] = ("authors", "clip")
FETCH_THREADS = 8  # clips read at once from a lazy source


@dataclass(frozen=True)
class SegmentGeometry:
    """How a clip is cut into 1-s network inputs.

    Attributes:
        audio_frames: audio frames per segment (1 s / hop: 50).
        video_frames: video frames per segment (1 s x fps: 5).
        clip_segments: consecutive segments per clip (clip_seconds / segment_seconds: 10).
    """

    audio_frames: int = 50
    video_frames: int = 5
    clip_segments: int = 10

    @property
    def frames_per_video_frame(self) -> int:
        """Audio frames per video frame (10)."""
        return self.audio_frames // self.video_frames


def segment_geometry(params: Mapping[str, Any]) -> SegmentGeometry:
    """The segment geometry of a parameter set (segment_seconds, hop_s, fps, clip_seconds);
    ``clip_segments`` is None with ``clip_seconds: null`` (each clip as long as its files)."""
    audio_frames = round(params["segment_seconds"] / params["hop_s"])
    video_frames = round(params["segment_seconds"] * params["fps"])
    segments = None if params["clip_seconds"] is None else round(params["clip_seconds"] / params["segment_seconds"])
    if video_frames < 1 or audio_frames % video_frames:
        raise AvscError(
            f"segment of {params['segment_seconds']} s: {audio_frames} audio frames are not a "
            f"whole multiple of {video_frames} video frames (check hop_s and fps)"
        )
    return SegmentGeometry(audio_frames, video_frames, segments)


@dataclass
class SplitData:
    """The features of one split, clip by clip.

    Attributes:
        names: clip names (stems).
        labels: class index per clip (DCASE order), or None for an unlabelled split.
        audio: per clip ``(n_bands, n_audio_frames, channels)`` features, or None.
        visual: per clip ``(n_video_frames, ...)`` cached features or decoded frames, or None.
        dropped: clips of the split left out because their files failed, and why.
    """

    names: list[str]
    labels: np.ndarray | None = None
    audio: Sequence[np.ndarray] | None = None
    visual: Sequence[np.ndarray] | None = None
    dropped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def source(self, name: str) -> Sequence[np.ndarray]:
        """The per-clip sequence of one input (``audio`` or ``visual``)."""
        values = getattr(self, name) if name in INPUTS else None
        if values is None:
            raise AvscError(f"input '{name}' is not loaded for this split (have: {self.inputs})")
        return values

    @property
    def inputs(self) -> tuple[str, ...]:
        """The inputs this split holds."""
        return tuple(name for name in INPUTS if getattr(self, name) is not None)


class LazyClips(Sequence[np.ndarray]):
    """A sequence that loads a clip's array only when indexed (for data sets larger than memory).

    Args:
        load: function from a clip name to its array, e.g. a cache reader.
        names: the clip names, in order.
    """

    def __init__(self, load: Any, names: Sequence[str]):
        self._load = load
        self._names = list(names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return self._load(self._names[index])


def minmax_scale(x: np.ndarray) -> np.ndarray:
    """Scale one input to [-1, 1] jointly over all its values; a constant input gives zeros."""
    x = np.asarray(x, dtype=np.float32)
    low, high = float(x.min()), float(x.max())
    if high - low <= 0.0:
        return np.zeros_like(x)
    return (2.0 * (x - low) / (high - low) - 1.0).astype(np.float32)


def video_start(audio_start: int, geometry: SegmentGeometry, n_video_frames: int) -> int:
    """The first video frame of the window whose audio starts at frame ``audio_start``."""
    return min(audio_start // geometry.frames_per_video_frame, n_video_frames - geometry.video_frames)


def _check_length(name: str, n_have: int, n_need: int, clip: str) -> None:
    if n_have < n_need:
        raise AvscError(f"clip {clip}: {name} has {n_have} frames, a segment needs {n_need}")


def check_lengths(data: SplitData, geometry: SegmentGeometry) -> None:
    """Raise AvscError naming the first clip too short for ``geometry.clip_segments`` segments
    (with clips as long as their files, for one segment)."""
    needed = geometry.clip_segments or 1
    for index in range(len(data)):
        if data.audio is not None:
            n = data.audio[index].shape[1]
            _check_length("audio", n, needed * geometry.audio_frames, data.names[index])
        if data.visual is not None:
            n = data.visual[index].shape[0]
            _check_length("video", n, needed * geometry.video_frames, data.names[index])


def _cut(
    arrays: Mapping[str, np.ndarray], clip: str, geometry: SegmentGeometry, audio_start: int | None,
    visual_start: int | None,
) -> dict[str, np.ndarray]:
    """One 1-s input cut from a clip's arrays (see :func:`window`)."""
    out: dict[str, np.ndarray] = {}
    if "audio" in arrays:
        audio = arrays["audio"]
        _check_length("audio", audio.shape[1], audio_start + geometry.audio_frames, clip)
        out["audio"] = minmax_scale(audio[:, audio_start : audio_start + geometry.audio_frames])
    if "visual" in arrays:
        visual = arrays["visual"]
        if visual_start is None:
            visual_start = video_start(audio_start, geometry, visual.shape[0])
        _check_length("video", visual.shape[0], visual_start + geometry.video_frames, clip)
        out["visual"] = np.asarray(visual[visual_start : visual_start + geometry.video_frames], np.float32)
    return out


def _arrays(data: SplitData, index: int, inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """Clip ``index``'s array of each input (read once: a lazy source reads a file per access)."""
    return {name: data.source(name)[index] for name in inputs}


def window(
    data: SplitData, index: int, inputs: Sequence[str], geometry: SegmentGeometry, audio_start: int | None,
    visual_start: int | None = None,
) -> dict[str, np.ndarray]:
    """One 1-s input of clip ``index``: audio frames from ``audio_start``, the video second aligned.

    When ``inputs`` has no audio, the video window starts at ``visual_start``; with audio and
    no ``visual_start``, at the video second aligned with ``audio_start``. The audio is
    min-max scaled; every array is float32.
    """
    return _cut(_arrays(data, index, inputs), data.names[index], geometry, audio_start, visual_start)


def window_starts(arrays: Mapping[str, np.ndarray], geometry: SegmentGeometry, crop_range: str) -> int:
    """How many first frames a training window may have (the leading input's: video when the
    inputs include it, else audio); see the module doc. At least 1."""
    if crop_range not in CROP_RANGES:
        raise AvscError(f"crop range {crop_range!r}: expected one of {', '.join(CROP_RANGES)}")
    if "visual" in arrays:
        last = arrays["visual"].shape[0] - geometry.video_frames
        return max(last if crop_range == "authors" else last + 1, 1)
    bands, n_frames = arrays["audio"].shape[:2]
    last = n_frames - geometry.audio_frames
    if crop_range == "authors":  # the range of the band axis, as train_audio.ipynb cell 18
        return max(min(bands - geometry.audio_frames, last + 1), 1)
    return max(last + 1, 1)


def random_cut(
    arrays: Mapping[str, np.ndarray], clip: str, geometry: SegmentGeometry, fraction: float, crop_range: str
) -> dict[str, np.ndarray]:
    """A 1-s training input whose start is ``fraction`` in [0, 1) of the way through the
    possible starts (:func:`window_starts`)."""
    start = int(fraction * window_starts(arrays, geometry, crop_range))
    if "visual" in arrays:
        audio_start = start * geometry.frames_per_video_frame if "audio" in arrays else None
        return _cut(arrays, clip, geometry, audio_start, start)
    return _cut(arrays, clip, geometry, start, None)


def segments_in(arrays: Mapping[str, np.ndarray], geometry: SegmentGeometry) -> int:
    """How many consecutive 1-s segments a clip holds: ``clip_segments``, or with clips as long
    as their files (``clip_segments`` None) the whole seconds every input has."""
    if geometry.clip_segments is not None:
        return geometry.clip_segments
    counts = []
    if "audio" in arrays:
        counts.append(arrays["audio"].shape[1] // geometry.audio_frames)
    if "visual" in arrays:
        counts.append(arrays["visual"].shape[0] // geometry.video_frames)
    return min(counts)


def all_segments(arrays: Mapping[str, np.ndarray], clip: str,
                 geometry: SegmentGeometry) -> dict[str, np.ndarray]:
    """Every whole 1-s segment of a clip, stacked per input: (segments, ...) arrays."""
    count = segments_in(arrays, geometry)
    if count < 1:
        raise AvscError(f"clip {clip}: shorter than one segment of {geometry.audio_frames} audio / "
                        f"{geometry.video_frames} video frames")
    segments = [_cut(arrays, clip, geometry, s * geometry.audio_frames, s * geometry.video_frames) for s in range(count)]
    return {name: np.stack([seg[name] for seg in segments]) for name in arrays}


def clip_segments(
    data: SplitData, index: int, inputs: Sequence[str], geometry: SegmentGeometry
) -> dict[str, np.ndarray]:
    """The consecutive 1-s segments of clip ``index``, stacked: ``{input: (clip_segments, ...)}``."""
    return all_segments(_arrays(data, index, inputs), data.names[index], geometry)


def fetch(data: SplitData, indices: Sequence[int], inputs: Sequence[str],
          transform: Callable[[int, dict[str, np.ndarray]], Any] | None = None) -> list[Any]:
    """The arrays of several clips, in order; read by ``FETCH_THREADS`` threads from a lazy
    source (file reads, JPEG and video decoding release the GIL). ``transform(position,
    arrays)`` runs in the reading thread too: cutting a window of cached frames decodes them."""
    indices = [int(i) for i in indices]

    def read(position: int) -> Any:
        arrays = _arrays(data, indices[position], inputs)
        return transform(position, arrays) if transform is not None else arrays

    lazy = any(isinstance(data.source(name), LazyClips) for name in inputs)
    if not lazy or len(indices) < 2:
        return [read(k) for k in range(len(indices))]
    with ThreadPoolExecutor(min(FETCH_THREADS, len(indices))) as pool:
        return list(pool.map(read, range(len(indices))))
