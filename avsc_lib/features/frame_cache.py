"""The decoded-frame cache: every clip's frames, decoded once, for the steps that train VGG16.

The unfrozen visual step and the fine-tuning step change VGG16's weights, so they need pixels,
not cached features, in every epoch. Decoding a 1280x720 H.264 clip takes about a second per
core; this cache decodes each clip once (``avsc decode ROOT``, or on first use) and stores its
``clip_seconds x fps`` frames, scaled to ``frame_size`` (``frame_resize``), as JPEG images::

    <cache root>/frames-<hash>/
        params.yml          the settings that shape the frames (the key of <hash>)
        <clip name>.npz     ``jpeg`` (uint8, every frame's JPEG bytes one after the other),
                            ``offsets`` (int64, n_frames + 1), ``quality`` (the JPEG quality used)
        failed.csv          the clips of the last run that failed, and why

JPEG at quality ``frame_cache_quality`` (90) without chroma subsampling keeps the frames within
about 1.5 grey levels of the decoded ones on average; a clip whose frames would take more than
``frame_cache_max_bytes`` (1 MB; the authors' raw-frame TFRecords took 7.9 MB a clip) is
encoded again at a quality 5 lower until it fits. Each frame decodes on its own, so a training
window reads 5 frames, not 50 (:class:`CachedFrames`). ``<hash>`` covers fps, frame size,
scaling, clip length, JPEG settings, a format version and the synthetic set's identity; files
are written atomically and a re-run skips the clips already done; ``--shard I/N`` splits the
work as for the other caches.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np
from PIL import Image

from avsc_lib.core.atomic import atomic_path
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path, feature_workers, params_hash, save_params
from avsc_lib.data.identity import data_identity
from avsc_lib.features.cache_entries import compute_entry, stale_temporaries, writing
from avsc_lib.features.extraction import (
    ExtractionReport, extract_in_threads, failed_file, on_write_error, report_status, reporting, root_clips, root_params,
    select_shard, split_cached, write_failures,
)
from avsc_lib.features.video import decode_frames, iter_frames

FORMAT_VERSION = 1
CACHE_KEYS = ("fps", "frame_size", "frame_resize", "clip_seconds", "frame_cache_quality", "frame_cache_max_bytes")
PARAMS_FILE = "params.yml"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
QUALITY_STEP = 5
MIN_QUALITY = 10


class VideoClip(NamedTuple):
    """The two fields extraction needs; ``dataset.Clip`` records work the same way."""

    name: str
    video_path: Path


def frames_per_clip(params: Mapping[str, Any]) -> int | None:
    """Frames per clip: clip length x fps (50 for 10 s at 5 fps); None with ``clip_seconds:
    null`` (every frame of each clip's video)."""
    if params["clip_seconds"] is None:
        return None
    return int(round(params["clip_seconds"] * params["fps"]))


def decode_clip(path: str | Path, params: Mapping[str, Any], threads: int = 0) -> tuple[np.ndarray, str]:
    """A clip's frames as the study takes them, and a note when a short video was padded: the
    first ``clip_seconds x fps``, or with ``clip_seconds: null`` every frame of the video."""
    n_frames = frames_per_clip(params)
    if n_frames is None:
        frames = np.stack(list(iter_frames(path, params["fps"], params["frame_size"], params["frame_resize"], threads)))
        return frames, ""
    decoded = decode_frames(path, params["fps"], params["frame_size"], n_frames, threads=threads,
                            max_short_fraction=params["max_short_fraction"], resize=params["frame_resize"])
    return decoded.frames, decoded.note


def cache_key(params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that shape the cached frames (hashed into the folder name)."""
    key = {name: params[name] for name in CACHE_KEYS}
    key.update(format_version=FORMAT_VERSION, data=data_identity(params))
    return key


def frame_cache_dir(params: Mapping[str, Any], cache_root: str | Path | None = None) -> Path:
    """``<cache_root>/frames-<hash of cache_key>``; the root defaults to ``build/cache``."""
    root = Path(cache_root) if cache_root is not None else build_path(params, "cache")
    return root / f"frames-{params_hash(cache_key(params))}"


# --- one clip's file --------------------------------------------------------------------------


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    """One RGB frame as JPEG bytes (no chroma subsampling)."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    """JPEG bytes back to an RGB uint8 frame."""
    with Image.open(io.BytesIO(bytes(data))) as image:
        return np.asarray(image.convert("RGB"))


def encode_clip(frames: np.ndarray, quality: int, max_bytes: int) -> tuple[list[bytes], int]:
    """The JPEG bytes of a clip's frames at ``quality``, or lower in steps of 5 until they fit
    ``max_bytes``; returns them and the quality used."""
    while True:
        images = [encode_jpeg(frame, quality) for frame in frames]
        if sum(map(len, images)) <= max_bytes or quality - QUALITY_STEP < MIN_QUALITY:
            return images, quality
        quality -= QUALITY_STEP


def write_clip(path: str | Path, frames: np.ndarray, quality: int = 90, max_bytes: int = 1_000_000) -> int:
    """Write a clip's frames (n, size, size, 3) uint8 as one cache file, atomically; its bytes."""
    images, used = encode_clip(frames, quality, max_bytes)
    offsets = np.cumsum([0] + [len(image) for image in images], dtype=np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, jpeg=np.frombuffer(b"".join(images), np.uint8), offsets=offsets,
                     quality=np.int64(used))
    return Path(path).stat().st_size


class CachedFrames(Sequence):
    """A clip's cached frames, decoded only when indexed: ``clip[5:10]`` decodes 5 frames.

    Behaves like the uint8 array (n_frames, size, size, 3) the frames were: ``len``, ``shape``,
    integer and slice indexing, ``np.asarray``.

    Args:
        path: a ``<clip name>.npz`` of the cache.

    Raises:
        AvscError: the file is missing or unreadable (the message names it).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with np.load(self.path) as saved:
                self._jpeg, self._offsets = saved["jpeg"], saved["offsets"]
                self.quality = int(saved["quality"])
        except FileNotFoundError:
            raise AvscError(f"{self.path}: no cached frames; run `avsc decode ROOT` first") from None
        except (OSError, ValueError, KeyError) as err:
            raise AvscError(f"{self.path}: unreadable cached frames: {err}") from None
        first = decode_jpeg(self._image(0))
        self.shape = (len(self._offsets) - 1, *first.shape)

    def _image(self, index: int) -> np.ndarray:
        return self._jpeg[self._offsets[index]:self._offsets[index + 1]]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int | slice) -> np.ndarray:  # type: ignore[override]
        if isinstance(index, slice):
            chosen = range(*index.indices(len(self)))
            if not chosen:
                return np.zeros((0, *self.shape[1:]), np.uint8)
            return np.stack([decode_jpeg(self._image(i)) for i in chosen])
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} of a clip of {len(self)}")
        return decode_jpeg(self._image(index % len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype)

    @property
    def nbytes_stored(self) -> int:
        """Bytes of JPEG data in the file."""
        return int(self._offsets[-1])


def load_frames(cache_dir: str | Path, clip_name: str) -> CachedFrames:
    """The cached frames of one clip (decoded when indexed)."""
    return CachedFrames(Path(cache_dir) / f"{clip_name}.npz")


def _is_done(path: Path, n_frames: int | None) -> bool:
    """A finished cache file: readable, with ``n_frames`` frames, any number for None (atomic
    writes: present means whole)."""
    try:
        with np.load(path) as saved:
            return n_frames is None or len(saved["offsets"]) == n_frames + 1
    except (OSError, ValueError, KeyError):
        return False


# --- extraction ---------------------------------------------------------------------------------


def _as_clip(item: Any) -> VideoClip:
    if isinstance(item, (str, Path)):
        return VideoClip(Path(item).stem, Path(item))
    return VideoClip(item.name, Path(item.video_path))


def extract_frames(
    clips: Iterable,
    params: Mapping[str, Any],
    cache_root: str | Path | None = None,
    shard: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ExtractionReport:
    """Decode and cache the frames of every clip not cached yet.

    Args:
        clips: records with ``name`` and ``video_path`` (``dataset.Clip``), or video paths.
        params: frame settings (``fps``, ``frame_size``, ``frame_resize``, ``clip_seconds``,
            ``frame_cache_quality``, ``frame_cache_max_bytes``).
        cache_root: the folder holding all caches (default ``build/cache``).
        shard: ``"i/n"``: process only shard i of n.
        workers: threads decoding and encoding (default ``feature_jobs``).
        progress: show a progress bar.

    Returns:
        An :class:`~avsc_lib.features.extraction.ExtractionReport`; bad clips are listed there (and in
        ``failed.csv``) while the good ones are cached.
    """
    clips = select_shard([_as_clip(c) for c in clips], shard)
    cache_dir = frame_cache_dir(params, cache_root)
    report = ExtractionReport(cache_dir, "decoded frames")
    n_frames, mode = frames_per_clip(params), params["cache_fingerprint"]
    todo = split_cached(clips, report, lambda clip: cache_dir / f"{clip.name}.npz", lambda clip: clip.video_path,
                        lambda entry: _is_done(entry, n_frames), mode)
    if not todo:
        return report
    workers = max(1, workers or feature_workers(params))
    with on_write_error(report):
        with writing(cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
            if not (cache_dir / PARAMS_FILE).exists():
                save_params(cache_key(params), cache_dir / PARAMS_FILE)
        leftovers = stale_temporaries(cache_dir)

        def work(clip: VideoClip) -> tuple[bool, str]:
            entry = cache_dir / f"{clip.name}.npz"

            def compute() -> str:
                frames, note = decode_clip(clip.video_path, params, threads=1 if workers > 1 else 0)
                with writing(cache_dir):
                    write_clip(entry, frames, params["frame_cache_quality"], params["frame_cache_max_bytes"])
                return note

            computed, note = compute_entry(cache_dir, clip.name, entry, clip.video_path, mode,
                                           lambda: _is_done(entry, n_frames), compute, leftovers.get(clip.name))
            return computed, note or ""

        try:
            extract_in_threads(todo, work, lambda clip, done: done, report, workers, progress)
        finally:
            with writing(cache_dir):
                write_failures(failed_file(cache_dir, shard), report.failed, {c.name: c.video_path for c in todo})
    return report


# --- command line -------------------------------------------------------------------------------


def dataset_clips(root: str | Path, params: Mapping[str, Any]) -> list:
    """The clips of a root whose videos ``avsc decode`` and ``avsc frames`` cache (see
    ``extraction.root_clips``)."""
    return root_clips(root, params, "video", VIDEO_SUFFIXES, VideoClip)


def cli_decode(args: argparse.Namespace) -> int:
    """``avsc decode ROOT``: cache the decoded frames of every clip; 1 if any clip failed."""
    params = root_params(args)
    with reporting(args.shard):
        report = extract_frames(dataset_clips(args.root, params), params, cache_root=args.cache, shard=args.shard)
    return report_status(report, args.shard)
