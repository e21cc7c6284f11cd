"""What the study hands its steps: the data set, made once, and each split's data from the caches.

:class:`StudyInputs` makes the data set when created (the synthetic set is generated once) and
gives a split's :class:`~avsc_lib.training.segments.SplitData` on request: its audio features
of one kind, and its visual input as cached per-frame features of a VGG16 or as decoded
frames from the frame cache, computing the missing cache files first; clips whose files
failed are left out with a warning. Training and evaluation receive it; they never make data.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

import numpy as np

from avsc_lib.core.classes import label_to_index
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import feature_workers
from avsc_lib.data.layout import Clip, load_split
from avsc_lib.data.synth import ensure_dataset
from avsc_lib.features import audio_cache, frame_cache, frame_features
from avsc_lib.features.encoder import Backbone
from avsc_lib.training.segments import LazyClips, SplitData, check_lengths, segment_geometry

LAZY_ABOVE_CLIPS = 2000  # larger splits are read clip by clip as the pipeline asks (the real data set)


def _drop_failed(clips: list, failed: Mapping[str, str], what: str, dropped: dict[str, str]) -> list:
    """The clips without a failure; the failures are added to ``dropped`` and named in a warning."""
    if failed:
        names = ", ".join(sorted(failed)[:5]) + (" ..." if len(failed) > 5 else "")
        print(f"warning: {len(failed)} clip(s) without {what} are left out: {names}", file=sys.stderr)
        dropped.update({name: f"no {what}: {why}" for name, why in failed.items() if name not in dropped})
    return [clip for clip in clips if clip.name not in failed]


class StudyInputs:
    """The data set of a parameter set, made on creation, and the splits its steps read.

    Training steps and evaluations receive one (see
    :class:`avsc_lib.training.graph.StepInputs`); it fills the feature caches a split needs
    when the split is first asked for.

    Args:
        params: a loaded parameter set.
    """

    def __init__(self, params: Mapping[str, Any]):
        self.params = params
        self.root = ensure_dataset(params)

    def clips(self, split: str) -> list[Clip]:
        """The clips of a fold-1 split of the data set (the first ``max_clips`` if set)."""
        clips = load_split(self.root, split)
        return clips[: self.params["max_clips"]] if self.params["max_clips"] else clips

    def split(
        self,
        split: str,
        audio: str | None = None,
        visual: str | None = None,
        lazy: bool | None = None,
        backbone: Any = None,
    ) -> SplitData:
        """Load a split's features, computing missing cache files first.

        Args:
            split: ``train``, ``evaluate`` or ``test``.
            audio: the audio feature kind to load (``gammatone``, ``logmel``), or None.
            visual: ``features`` (per-frame features of a frame encoder, cached), ``frames``
                (decoded frames from the frame cache, for the steps that train VGG16), or None.
            lazy: read each clip's file only when the pipeline asks for it (default: lazily for
                more than ``LAZY_ABOVE_CLIPS`` clips, so the real data set need not fit into memory).
            backbone: the :class:`~avsc_lib.features.encoder.Backbone` whose features ``visual:
                features`` reads; default the pretrained VGG16 of ``params``.

        Returns:
            The split's :class:`SplitData` (clips whose features failed are left out, with a
            warning); labels are None for an unlabelled split.
        """
        if visual not in (None, "features", "frames"):
            raise AvscError(f"visual input {visual!r}: expected 'features', 'frames' or None")
        clips = self.clips(split)
        if not clips:
            raise AvscError(f"split '{split}' of the data set has no clips")
        lazy = len(clips) > LAZY_ABOVE_CLIPS if lazy is None else lazy
        dropped: dict[str, str] = {}
        progress = sys.stderr.isatty()
        loaders: dict[str, Callable[[str], Any]] = {}
        if audio is not None:
            report = audio_cache.extract_audio_features(clips, self.params, kind=audio,
                                                        jobs=feature_workers(self.params), progress=progress)
            clips = _drop_failed(clips, report.failed, f"{audio} features", dropped)
            audio_dir = audio_cache.audio_cache_dir(self.params, audio)
            loaders["audio"] = lambda name: audio_cache.load_audio_features(audio_dir, name)
        frames_dir = None
        if visual == "frames" or (visual == "features" and backbone is not None and backbone.from_frame_cache):
            report = frame_cache.extract_frames(clips, self.params, progress=progress)
            clips = _drop_failed(clips, report.failed, "decoded frames", dropped)
            frames_dir = report.cache_dir
            loaders["visual"] = lambda name: frame_cache.load_frames(frames_dir, name)
        if visual == "features":
            backbone = backbone or Backbone.pretrained(self.params)
            report = frame_features.extract_frame_features(
                clips, self.params, encoder_info=backbone.info, build=backbone.build, progress=progress,
                frame_cache=frames_dir if backbone.from_frame_cache else None,
            )
            clips = _drop_failed(clips, report.failed, "frame features", dropped)
            visual_dir = report.cache_dir
            loaders["visual"] = lambda name: frame_features.load_frame_features(visual_dir, name)
        names = [clip.name for clip in clips]
        values = {}
        for key, load in loaders.items():
            on_demand = lazy or (key == "visual" and visual == "frames")  # frames: decoded a few at a time
            values[key] = LazyClips(load, names) if on_demand else [load(name) for name in names]
        labels = None
        if all(clip.scene is not None for clip in clips):
            labels = np.array([label_to_index(clip.scene) for clip in clips], dtype=np.int64)
        data = SplitData(names, labels, values.get("audio"), values.get("visual"), dropped)
        if not lazy and visual != "frames":
            check_lengths(data, segment_geometry(self.params))
        return data
