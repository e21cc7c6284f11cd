"""Input pipelines (tf.data): random 1-s training windows, consecutive 1-s evaluation segments.

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

Mixup (training only, ``alpha > 0``), as the authors' ``train_audio.ipynb`` cells 15 and 19:
a second stream of windows, from its own shuffle of the training clips and its own crops, is
zipped with the first, and example ``i`` of a batch becomes ``x = lam x_i + (1 - lam) x'_i``,
``y = lam y_i + (1 - lam) y'_i`` with ``lam ~ Beta(alpha, alpha)`` per example, for every input.

The windows and the mixup are drawn in numpy from ``default_rng([seed, epoch])``, so a run is
repeatable and each epoch draws new windows (``WindowSampler.epoch`` is set by the training
loop). A clip's arrays come from any sequence: a list of arrays in memory, or a
:class:`LazyClips` that reads each clip's cache file when asked, a few clips at a time in
threads, so the real data set need not fit into memory. ``splits.load_split_data`` builds
either from the caches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from avsc_lib.core.classes import NUM_CLASSES
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


def _random_cut(
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


def _segments(arrays: Mapping[str, np.ndarray], clip: str, geometry: SegmentGeometry) -> dict[str, np.ndarray]:
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
    return _segments(_arrays(data, index, inputs), data.names[index], geometry)


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


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """One-hot rows (float32) of integer class indices."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def mix_pairs(
    x: Mapping[str, np.ndarray], y: np.ndarray, x2: Mapping[str, np.ndarray], y2: np.ndarray, lam: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Mixup of two batches, example by example: ``lam x + (1 - lam) x2``, the same for ``y``.

    Args:
        x, x2: input name -> batch array (first axis: examples).
        y, y2: one-hot or soft labels, ``(batch, classes)``.
        lam: one weight in [0, 1] per example (``Beta(alpha, alpha)`` draws).

    Returns:
        The mixed inputs and labels (labels still sum to 1 per example).
    """
    n = len(y)
    lam = np.asarray(lam, np.float32)

    def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        weight = lam.reshape((n,) + (1,) * (a.ndim - 1))
        return (weight * a + (1.0 - weight) * b).astype(np.float32)

    return {name: mix(a, x2[name]) for name, a in x.items()}, mix(y, y2)


def _input_signature(data: SplitData, inputs: Sequence[str], geometry: SegmentGeometry) -> dict:
    specs = {}
    if "audio" in inputs:
        bands, _, channels = data.audio[0].shape  # type: ignore[index]
        specs["audio"] = tf.TensorSpec((None, bands, geometry.audio_frames, channels), tf.float32)
    if "visual" in inputs:
        rest = data.visual[0].shape[1:]  # type: ignore[index]
        specs["visual"] = tf.TensorSpec((None, geometry.video_frames) + tuple(rest), tf.float32)
    return specs


def _structure(x: dict[str, Any], y: Any, outputs: Sequence[str] | None) -> tuple:
    """(x, y) as the model wants them: a bare tensor for one input, a dict for several."""
    features = x[next(iter(x))] if len(x) == 1 else x
    if y is None:
        return (features,)
    targets = {name: y for name in outputs} if outputs else y
    return features, targets


def _signature(data: SplitData, inputs: Sequence[str], geometry: SegmentGeometry, labels: bool,
               outputs: Sequence[str] | None) -> tuple:
    x = _input_signature(data, inputs, geometry)
    y = tf.TensorSpec((None, NUM_CLASSES), tf.float32) if labels else None
    return _structure(x, y, outputs)


class WindowSampler:
    """Training batches of random 1-s windows, one per clip per epoch, optionally mixed up.

    Args:
        data: the training split (labels required).
        inputs: which inputs the model takes, e.g. ``("audio",)`` or ``("audio", "visual")``.
        batch_size: examples per batch (the last batch of an epoch may be smaller).
        geometry: the segment geometry.
        seed: base seed; epoch ``e`` draws from ``default_rng([seed, e])``.
        mixup_alpha: mixup parameter; 0 disables mixup.
        outputs: when given, the labels are repeated as a dict ``{output: y}``.
        crop_range: ``authors`` or ``clip``: where windows may start (see the module doc).
    """

    def __init__(
        self,
        data: SplitData,
        inputs: Sequence[str],
        batch_size: int,
        geometry: SegmentGeometry = SegmentGeometry(),
        seed: int = 0,
        mixup_alpha: float = 0.0,
        outputs: Sequence[str] | None = None,
        crop_range: str = "authors",
    ):
        if data.labels is None:
            raise AvscError("training needs a labelled split")
        for name in inputs:
            data.source(name)
        if crop_range not in CROP_RANGES:
            raise AvscError(f"crop range {crop_range!r}: expected one of {', '.join(CROP_RANGES)}")
        self.data, self.inputs, self.batch_size = data, tuple(inputs), int(batch_size)
        self.geometry, self.seed, self.mixup_alpha = geometry, int(seed), float(mixup_alpha)
        self.outputs = tuple(outputs) if outputs else None
        self.crop_range = crop_range
        self.epoch = 0

    @property
    def steps(self) -> int:
        """Batches per epoch."""
        return -(-len(self.data) // self.batch_size)

    def _batch(self, picks: np.ndarray, fractions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The windows of the clips ``picks``, each at its ``fractions`` start, and their labels."""
        def cut(position: int, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return _random_cut(arrays, self.data.names[picks[position]], self.geometry, float(fractions[position]),
                               self.crop_range)

        items = fetch(self.data, picks, self.inputs, cut)
        x = {name: np.stack([item[name] for item in items]) for name in self.inputs}
        return x, one_hot(self.data.labels[picks])  # type: ignore[index]

    def epoch_batches(self, epoch: int) -> Iterator[tuple]:
        """The batches of one epoch, as numpy arrays."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.data)
        order, fractions = rng.permutation(n), rng.random(n)
        if self.mixup_alpha > 0:  # the second stream: its own shuffle and crops
            partners, partner_fractions = rng.permutation(n), rng.random(n)
        for first in range(0, n, self.batch_size):
            batch = slice(first, first + self.batch_size)
            x, y = self._batch(order[batch], fractions[batch])
            if self.mixup_alpha > 0:
                x2, y2 = self._batch(partners[batch], partner_fractions[batch])
                lam = rng.beta(self.mixup_alpha, self.mixup_alpha, size=len(y))
                x, y = mix_pairs(x, y, x2, y2, lam)
            yield _structure(x, y, self.outputs)

    def _generate(self) -> Iterator[tuple]:
        epoch = self.epoch
        self.epoch += 1  # the training loop may overwrite it with the true epoch index
        yield from self.epoch_batches(epoch)

    def dataset(self) -> tf.data.Dataset:
        """A tf.data pipeline of one epoch per iteration (Keras iterates it once per epoch)."""
        signature = _signature(self.data, self.inputs, self.geometry, True, self.outputs)
        ds = tf.data.Dataset.from_generator(self._generate, output_signature=signature)
        return ds.apply(tf.data.experimental.assert_cardinality(self.steps)).prefetch(2)


def segment_dataset(
    data: SplitData,
    inputs: Sequence[str],
    batch_size: int,
    geometry: SegmentGeometry = SegmentGeometry(),
    labels: bool = True,
    outputs: Sequence[str] | None = None,
    total_segments: int | None = None,
) -> tf.data.Dataset:
    """Every clip's consecutive 1-s segments, clip by clip, in order (for validation and scoring).

    Segment ``s`` of clip ``i`` is element ``i * clip_segments + s``, so predictions reshape to
    ``(n_clips, clip_segments, classes)``; with clips as long as their files (``clip_segments``
    None) each clip gives its whole seconds (:func:`segments_in`), one after the other.

    Args:
        data: the split.
        inputs: which inputs the model takes.
        batch_size: segments per batch.
        geometry: the segment geometry.
        labels: yield ``(x, y)`` (each segment labelled with its clip's class) instead of ``(x,)``.
        outputs: when given, the labels are repeated as a dict ``{output: y}``.
        total_segments: the number of segments of clips as long as their files, when known
            (:func:`segments_in`), so that the pipeline knows its length.
    """
    if labels and data.labels is None:
        raise AvscError("this split has no labels; use labels=False")
    for name in inputs:
        data.source(name)

    def generate() -> Iterator[tuple]:
        for first in range(0, len(data), FETCH_THREADS):
            indices = range(first, min(first + FETCH_THREADS, len(data)))
            def cut(position: int, arrays: dict[str, np.ndarray], first: int = first) -> dict[str, np.ndarray]:
                return _segments(arrays, data.names[first + position], geometry)

            for index, x in zip(indices, fetch(data, indices, inputs, cut)):
                y = None
                if labels:
                    y = np.repeat(one_hot(data.labels[index : index + 1]), len(next(iter(x.values()))), axis=0)  # type: ignore[index]
                yield _structure(x, y, outputs)

    signature = _signature(data, inputs, geometry, labels, outputs)
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature).unbatch().batch(batch_size)
    total = len(data) * geometry.clip_segments if geometry.clip_segments is not None else total_segments
    if total is None:
        return ds.prefetch(2)
    n_batches = -(-total // batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)
