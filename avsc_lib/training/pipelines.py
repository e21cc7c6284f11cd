"""Input pipelines (tf.data): random 1-s training windows with mixup, consecutive 1-s segments.

How a clip is cut into 1-s inputs is :mod:`avsc_lib.training.segments`; this module feeds
them to Keras. Training draws one window of every clip per epoch (:class:`WindowSampler`),
evaluation takes every consecutive second (:func:`segment_dataset`).

Mixup (training only, ``alpha > 0``), as the authors' ``train_audio.ipynb`` cells 15 and 19:
a second stream of windows, from its own shuffle of the training clips and its own crops, is
zipped with the first, and example ``i`` of a batch becomes ``x = lam x_i + (1 - lam) x'_i``,
``y = lam y_i + (1 - lam) y'_i`` with ``lam ~ Beta(alpha, alpha)`` per example, for every input.

The windows and the mixup are drawn in numpy from ``default_rng([seed, epoch])``, so a run is
repeatable and each epoch draws new windows (``WindowSampler.epoch`` is set by the training
loop).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from avsc_lib.core.classes import NUM_CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.training.segments import (
    CROP_RANGES, FETCH_THREADS, SegmentGeometry, SplitData, all_segments, fetch, random_cut,
)


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
            return random_cut(arrays, self.data.names[picks[position]], self.geometry, float(fractions[position]),
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
                return all_segments(arrays, data.names[first + position], geometry)

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
