"""The visual feature cache: the frozen VGG16's pooled 512-d feature of every frame, once.

The visual subnetwork's convolutional base is frozen in the paper's steps 2 and 3, so its
output for a frame never changes: it is computed once per frame here and stored, and training
reads these features instead of running VGG16 every epoch (the authors stored raw frames
instead: 97 GB of TFRecords for the development set). Layout::

    <cache root>/visual-<hash>/
        params.yml          the settings that shape the features (the key of <hash>)
        backbone.json       which backbone weights were used (name, file, sha256)
        <clip name>.npy     float32 (n_frames, 512): frame k taken at k / fps seconds
        failed.csv          the clips of the last run that failed, and why (only if some did;
                            ``failed-shard-I-of-N.csv`` for a sharded run)

``<hash>`` covers the backbone weights' identity (sha256 of the weight file, or ``random``
and the seed), preprocessing, frame size, frame scaling, fps, frame pooling, clip length, a
format version and, for a synthetic data set, its identity (``identity.data_identity``), so
changing any of them never reuses stale files. Each ``.npy`` is written atomically; a re-run
skips the clips already done. Video decoding runs in a thread pool ahead of the network (PyAV
releases the GIL), so the network, not the decoder, sets the pace. A backbone that training
changed (the unfrozen visual step) gets its features from the decoded-frame cache
(:mod:`avsc_lib.features.frame_cache`), the frames it was trained on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from avsc_lib.core.atomic import save_npy, write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path, feature_workers, params_hash, save_params
from avsc_lib.data.identity import data_identity
from avsc_lib.features.cache_entries import compute_entry, is_current, stale_temporaries, writing
from avsc_lib.features.encoder import Encoder, backbone_info, build_encoder, weights_identity
from avsc_lib.features.extraction import (
    ExtractionReport, extract_in_threads, failed_file, on_write_error, report_status, reporting, root_params,
    select_shard, split_cached, write_failures,
)
from avsc_lib.features.frame_cache import dataset_clips, decode_clip, frames_per_clip, load_frames

FORMAT_VERSION = 1  # bump when the code changes what the files hold (e.g. the frame scaling)
# Parameters that shape the cached features, besides the backbone weights' identity.
CACHE_KEYS = ("preprocessing", "frame_size", "frame_resize", "fps", "frame_pooling", "clip_seconds")
PARAMS_FILE = "params.yml"
BACKBONE_FILE = "backbone.json"

# --- cache folder -----------------------------------------------------------------------------


def cache_key(params: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that shape the cached features (hashed into the folder name)."""
    key = {name: params[name] for name in CACHE_KEYS}
    key.update(weights_identity=weights_identity(info, params), format_version=FORMAT_VERSION,
               data=data_identity(params))
    return key


def visual_cache_dir(
    params: Mapping[str, Any],
    info: Mapping[str, Any] | None = None,
    cache_root: str | Path | None = None,
) -> Path:
    """The cache folder for these frame settings and backbone weights.

    Args:
        params: a loaded parameter set.
        info: the frame encoder's weights info; resolved from ``params`` when None.
        cache_root: the folder holding all caches; default ``build_path(params, "cache")``.

    Returns:
        ``<cache_root>/visual-<hash of cache_key>``.
    """
    info = backbone_info(params) if info is None else info
    root = Path(cache_root) if cache_root is not None else build_path(params, "cache")
    return root / f"visual-{params_hash(cache_key(params, info))}"


def _write_description(cache_dir: Path, params: Mapping[str, Any], info: Mapping[str, Any]) -> None:
    """Record the cache's key and backbone beside its files (once)."""
    if not (cache_dir / PARAMS_FILE).exists():
        save_params(cache_key(params, info), cache_dir / PARAMS_FILE)
    if not (cache_dir / BACKBONE_FILE).exists():
        write_text(cache_dir / BACKBONE_FILE, json.dumps(dict(info), indent=2, default=str) + "\n")


def _is_done(path: Path, n_frames: int | None) -> bool:
    """True when ``path`` holds a complete feature file of ``n_frames`` frames, any number for
    None (atomic writes: present means whole)."""
    if not path.is_file():
        return False
    try:
        found = np.load(path, mmap_mode="r").shape[0]
    except (OSError, ValueError):
        return False
    return n_frames is None or found == n_frames


def load_frame_features(cache_dir: str | Path, clip_name: str) -> np.ndarray:
    """The cached per-frame features of one clip.

    Args:
        cache_dir: a folder from :func:`visual_cache_dir`.
        clip_name: the clip's name (file stem).

    Returns:
        float32 array (n_frames, 512).

    Raises:
        AvscError: the file is missing (run ``avsc frames``) or unreadable.
    """
    path = Path(cache_dir) / f"{clip_name}.npy"
    try:
        features = np.load(path)
    except FileNotFoundError:
        raise AvscError(f"{path}: no cached frame features; run `avsc frames ROOT` first") from None
    except (OSError, ValueError) as err:
        raise AvscError(f"{path}: unreadable cached frame features: {err}") from None
    if features.ndim != 2:
        raise AvscError(f"{path}: expected (frames, features), got shape {features.shape}")
    return features.astype(np.float32, copy=False)


# --- extraction -------------------------------------------------------------------------------


def encode_frames(encoder: Encoder, frames: np.ndarray, batch_size: int) -> np.ndarray:
    """Run the encoder over one clip's frames in batches -> float32 (n_frames, features)."""
    predict = getattr(encoder, "predict_on_batch", encoder)
    outputs = []
    for start in range(0, len(frames), batch_size):
        batch = frames[start:start + batch_size].astype(np.float32)
        outputs.append(np.asarray(predict(batch), dtype=np.float32))
    features = np.concatenate(outputs)
    if features.ndim != 2 or features.shape[0] != len(frames):
        raise AvscError(f"frame encoder gave shape {features.shape} for {len(frames)} frames")
    return features


def extract_frame_features(
    clips: Iterable,
    params: Mapping[str, Any],
    encoder: Encoder | None = None,
    encoder_info: Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    shard: str | None = None,
    decode_workers: int | None = None,
    progress: bool = True,
    frame_cache: str | Path | None = None,
    build: Callable[[], Encoder] | None = None,
) -> ExtractionReport:
    """Compute and cache the per-frame features of every clip not cached yet.

    Args:
        clips: records with ``name`` and ``video_path`` (``dataset.Clip``).
        params: frame settings (``fps``, ``frame_size``, ``clip_seconds``, ``weights``, ...).
        encoder: a frame encoder (keras.Model or callable, (B, H, W, 3) -> (B, 512)); when
            None, ``models.backbone.build_frame_encoder`` builds it from ``params``, and only
            if some clip still needs it.
        encoder_info: the weights info of a given ``encoder`` (keys the cache); when an
            encoder is given without it, its identity is ``custom``.
        cache_dir: write here instead of the folder :func:`visual_cache_dir` names.
        cache_root: the folder holding all caches (default ``build/cache``).
        shard: ``"i/n"``: process only shard i of n (see :func:`select_shard`).
        decode_workers: threads decoding ahead of the network (default ``feature_jobs``).
        progress: show a tqdm progress bar.
        frame_cache: read the frames from this decoded-frame cache folder
            (:mod:`avsc_lib.features.frame_cache`) instead of decoding the videos.
        build: returns the encoder when ``encoder`` is None and some clip needs one (default
            :func:`build_encoder` of ``params`` and the weights info).

    Returns:
        An :class:`~avsc_lib.features.extraction.ExtractionReport`; bad clips are listed there (and in ``failed.csv``) while the
        good ones are processed.
    """
    clips = select_shard(clips, shard)
    if encoder is not None and encoder_info is None:
        encoder_info = {"weights": "custom"}
    info = dict(encoder_info) if encoder_info is not None else backbone_info(params)
    cache_dir = Path(cache_dir) if cache_dir else visual_cache_dir(params, info, cache_root)
    report = ExtractionReport(cache_dir, "visual features")
    n_frames, mode = frames_per_clip(params), params["cache_fingerprint"]

    def current(clip) -> bool:
        entry = cache_dir / f"{clip.name}.npy"
        return _is_done(entry, n_frames) and is_current(entry, Path(clip.video_path), mode)

    todo = split_cached(clips, report, lambda clip: cache_dir / f"{clip.name}.npy", lambda clip: clip.video_path,
                        lambda entry: _is_done(entry, n_frames), mode)
    if not todo:
        return report
    workers = max(1, decode_workers or feature_workers(params))
    built = [encoder]
    with on_write_error(report):
        with writing(cache_dir):
            _write_description(cache_dir, params, info)
        leftovers = stale_temporaries(cache_dir)

        def decode(clip) -> tuple[np.ndarray, str] | None:
            if current(clip):  # another process has just done it
                return None
            if frame_cache is not None:
                return np.asarray(load_frames(frame_cache, clip.name)), ""
            return decode_clip(clip.video_path, params, threads=1 if workers > 1 else 0)

        def keep(clip, decoded: tuple[np.ndarray, str] | None) -> tuple[bool, str | None]:
            if decoded is None:
                return False, None
            frames, note = decoded
            entry = cache_dir / f"{clip.name}.npy"

            def compute() -> None:
                if built[0] is None:  # built once a clip needs it
                    built[0] = build() if build is not None else build_encoder(params, info)
                features = encode_frames(built[0], frames, params["frame_batch_size"])
                with writing(cache_dir):
                    save_npy(entry, features)

            computed, _ = compute_entry(cache_dir, clip.name, entry, Path(clip.video_path), mode,
                                        lambda: _is_done(entry, n_frames), compute, leftovers.get(clip.name))
            return computed, note

        try:
            extract_in_threads(todo, decode, keep, report, workers, progress)
        finally:
            with writing(cache_dir):
                write_failures(failed_file(cache_dir, shard), report.failed,
                               {clip.name: clip.video_path for clip in todo})
    return report


# --- command line -----------------------------------------------------------------------------


def cli_frames(args: argparse.Namespace) -> int:
    """``avsc frames ROOT``: cache the per-frame features of every clip; 1 if any clip failed."""
    params = root_params(args)
    with reporting(args.shard):
        report = extract_frame_features(dataset_clips(args.root, params), params, cache_root=args.cache,
                                        shard=args.shard)
    return report_status(report, args.shard)
