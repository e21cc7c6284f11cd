"""The audio feature cache: every clip's gammatone or log-mel features, computed once.

Layout (default cache root ``build/cache``, i.e. ``build_path(params, "cache")``; ``avsc
features --cache DIR`` or ``cache_root=`` names another root)::

    <cache root>/audio-<kind>-<hash>/
        params.yml          the settings that shape the features (the key of <hash>)
        <clip name>.npy     float32 (n_bands, n_frames, 3): bands x frames x (L, R, L-R),
                            row 0 the highest band; (64, 500, 3) for a 10-s clip
        failed.csv          the clips of the last run that failed, and why (only if some did;
                            ``failed-shard-I-of-N.csv`` for a sharded run)

``<hash>`` covers exactly the parameters that shape the files: kind, sample rate, bands,
window, hop, lowest frequency, clip length, a format version bumped when the feature code
changes, and for a synthetic data set its identity (``identity.data_identity``: a regenerated set
reuses clip names with new content); a changed parameter gives another folder and never reuses stale files. The gammatone
implementation (``gammatone_impl``) is not part of the key: fast and reference agree to about
1e-10 dB, far below the float32 resolution of the stored values (about 1e-5 dB), so their
files are interchangeable.

Each ``.npy`` is written atomically (a temporary file renamed into place), so an interrupted
run leaves no half-written file, and a re-run skips the clips already done. ``jobs > 1`` runs
worker processes (started by a fork server, so that TensorFlow, if the caller imported it, is
never inherited); ``shard="i/n"`` processes every n-th clip by sorted name from the i-th, so
that array jobs of a cluster split a data set into disjoint, complete parts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
from tqdm import tqdm

from avsc_lib.core.atomic import save_npy
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path, params_hash, save_params
from avsc_lib.core.progress import Progress
from avsc_lib.data.identity import data_identity
from avsc_lib.features.cache_entries import CacheWriteError, compute_entry, stale_temporaries, writing
from avsc_lib.features.extraction import (
    ExtractionReport, exit_with_parent, failed_file, on_write_error, report_status, reporting, root_clips, root_params,
    select_shard, split_cached, write_failures,
)

FORMAT_VERSION = 1  # bump when the feature code changes what the files hold
CACHE_KEYS = ("sample_rate", "n_bands", "window_s", "hop_s", "f_min", "clip_seconds")
PARAMS_FILE = "params.yml"
AUDIO_SUFFIXES = (".wav", ".flac")


class AudioClip(NamedTuple):
    """The two fields extraction needs; ``dataset.Clip`` records work the same way."""

    name: str
    audio_path: Path


# --- cache folder ----------------------------------------------------------------------------


def cache_key(params: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The settings that shape the cached features of ``kind`` (hashed into the folder name)."""
    from avsc_lib.features.audio import FEATURE_KINDS, RESAMPLER

    kind = kind or params["feature_kind"]
    if kind not in FEATURE_KINDS:
        raise AvscError(f"feature kind {kind!r}: expected one of {', '.join(FEATURE_KINDS)}")
    key = {k: params[k] for k in CACHE_KEYS}
    key.update(kind=kind, resampler=RESAMPLER, format_version=FORMAT_VERSION, data=data_identity(params))
    return key


def audio_cache_dir(
    params: Mapping[str, Any], kind: str | None = None, cache_root: str | Path | None = None
) -> Path:
    """The cache folder of ``kind`` (default ``params["feature_kind"]``) for these settings.

    Returns:
        ``<cache_root>/audio-<kind>-<hash of cache_key>``; the root defaults to
        ``build_path(params, "cache")``.
    """
    key = cache_key(params, kind)
    root = Path(cache_root) if cache_root is not None else build_path(params, "cache")
    return root / f"audio-{key['kind']}-{params_hash(key)}"


def _is_done(path: Path, shape: tuple[int | None, ...]) -> bool:
    """A finished cache file: a readable ``.npy`` of the expected shape, None matching any length
    (only the header is read)."""
    try:
        found = np.load(path, mmap_mode="r").shape
    except (OSError, ValueError):
        return False
    return len(found) == len(shape) and all(want is None or want == have for want, have in zip(shape, found))


def load_audio_features(cache_dir: str | Path, clip_name: str) -> np.ndarray:
    """The cached features of one clip: float32 (n_bands, n_frames, 3).

    Raises:
        AvscError: no such file (run ``avsc features`` first) or an unreadable one.
    """
    path = Path(cache_dir) / f"{clip_name}.npy"
    try:
        return np.load(path)
    except FileNotFoundError:
        raise AvscError(f"{path}: no cached audio features; run `avsc features ROOT` first") from None
    except (OSError, ValueError) as err:
        raise AvscError(f"{path}: unreadable cached audio features: {err}") from None


# --- extraction ------------------------------------------------------------------------------


def _as_clip(item: Any) -> AudioClip:
    """A clip record from a ``dataset.Clip``, an ``AudioClip`` or a path (named by its stem)."""
    if isinstance(item, (str, Path)):
        return AudioClip(Path(item).stem, Path(item))
    return AudioClip(item.name, Path(item.audio_path))


def extract_one(name: str, audio_path: Path, out_path: Path, params: Mapping[str, Any], kind: str,
                shape: tuple[int | None, ...] = (None, None, None),
                leftovers: Sequence[Path] = ()) -> tuple[str, str | None, str | None, bool]:
    """Compute and save one clip's features under its claim -> (name, error or None, notes or
    None, whether it was computed: False when another process had just done it).

    Runs in worker processes: bad input becomes the returned error, never an exception; a
    cache that cannot be written raises :class:`~avsc_lib.features.cache_entries.CacheWriteError`.
    """
    from avsc_lib.features.audio import AudioNote, clip_features

    def compute() -> None:
        features = clip_features(audio_path, params, kind)
        with writing(out_path.parent):
            save_npy(out_path, features)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AudioNote)
        try:
            computed, _ = compute_entry(out_path.parent, name, out_path, audio_path, params["cache_fingerprint"],
                                        lambda: _is_done(out_path, shape), compute, list(leftovers))
        except CacheWriteError:
            raise
        except AvscError as err:
            return name, str(err), None, True
        except Exception as err:  # noqa: BLE001 - one bad clip must not stop a batch
            return name, f"{audio_path}: {type(err).__name__}: {err}", None, True
    notes = "; ".join(str(w.message) for w in caught if issubclass(w.category, AudioNote))
    return name, None, notes or None, computed


def _warm_up(params: Mapping[str, Any], kind: str) -> None:
    """Compile (or load from numba's disk cache) the fast gammatone kernel before workers start."""
    if kind == "gammatone" and params["gammatone_impl"] == "fast":
        from avsc_lib.features.audio import gammatone_spectrogram

        gammatone_spectrogram(np.zeros((3, 1)), params["sample_rate"], params["n_bands"],
                              params["window_s"], params["hop_s"], params["f_min"])


def _pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes forked from a fresh server process, which preloads the audio code; each
    exits when this process is gone (a killed command leaves no workers behind)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["avsc_lib.features.audio", "avsc_lib.features.gammatone_fast"])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=exit_with_parent,
                               initargs=(os.getpid(),))


def extract_audio_features(
    clips: Iterable,
    params: Mapping[str, Any],
    kind: str | None = None,
    jobs: int = 1,
    shard: str | None = None,
    cache_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> ExtractionReport:
    """Compute and cache the features of every clip not cached yet.

    Args:
        clips: ``dataset.Clip`` records (or anything with ``name`` and ``audio_path``), or paths
            of audio files (named by their stem).
        params: feature settings (``sample_rate``, ``n_bands``, ``window_s``, ``hop_s``,
            ``f_min``, ``clip_seconds``, ``gammatone_impl``, ``feature_kind``).
        kind: ``gammatone`` or ``logmel``; default ``params["feature_kind"]``.
        jobs: worker processes; 1 computes in this process.
        shard: ``"i/n"``: process only shard i of n (see :func:`select_shard`).
        cache_root: the folder holding all caches (default ``build/cache``).
        cache_dir: write here instead of the folder :func:`audio_cache_dir` names.
        progress: show a tqdm progress bar.

    Returns:
        An :class:`ExtractionReport`; bad clips are listed there (and in ``failed.csv``) while the
        good ones are processed.
    """
    from avsc_lib.features.audio import frames_per_clip

    kind = kind or params["feature_kind"]
    cache_dir = Path(cache_dir) if cache_dir else audio_cache_dir(params, kind, cache_root)
    clips = select_shard([_as_clip(c) for c in clips], shard)
    report = ExtractionReport(cache_dir, "audio features")
    shape = (params["n_bands"], frames_per_clip(params), 3)
    todo = split_cached(clips, report, lambda clip: cache_dir / f"{clip.name}.npy", lambda clip: clip.audio_path,
                        lambda entry: _is_done(entry, shape), params["cache_fingerprint"])
    if not todo:
        return report
    with on_write_error(report):
        with writing(cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
            if not (cache_dir / PARAMS_FILE).exists():
                save_params(cache_key(params, kind), cache_dir / PARAMS_FILE)
        _warm_up(params, kind)
        try:
            _run(todo, params, kind, jobs, report, progress, shape)
        finally:
            with writing(cache_dir):
                write_failures(failed_file(cache_dir, shard), report.failed, {c.name: c.audio_path for c in todo})
    return report


def _run(todo: list[AudioClip], params: Mapping[str, Any], kind: str, jobs: int,
         report: ExtractionReport, progress: bool, shape: tuple[int | None, ...]) -> None:
    """Extract the clips of ``todo`` in this process or in ``jobs`` workers, filling ``report``.

    Raises:
        CacheWriteError: the cache folder cannot be written.
    """
    params = dict(params)
    leftovers = stale_temporaries(report.cache_dir)
    tasks = [(c.name, c.audio_path, report.cache_dir / f"{c.name}.npy", params, kind, shape,
              leftovers.get(c.name, [])) for c in todo]
    bar = tqdm(total=len(tasks), desc=f"{kind} features", unit="clip", disable=not progress,
               mininterval=1.0, file=sys.stderr)
    shown = Progress(f"{kind} features", len(tasks))

    def record(result: tuple[str, str | None, str | None, bool]) -> None:
        name, error, notes, computed = result
        if error is not None:
            report.failed[name] = error
        else:
            (report.computed if computed else report.cached).append(name)
        if notes:
            report.notes[name] = notes
        bar.update()
        shown.update()

    try:
        if jobs <= 1 or len(tasks) == 1:
            for task in tasks:
                record(extract_one(*task))
        else:
            with _pool(min(jobs, len(tasks))) as pool:
                futures = [pool.submit(extract_one, *task) for task in tasks]
                try:
                    for future in as_completed(futures):
                        record(future.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
        report.computed.sort()
        report.cached.sort()


# --- command line ----------------------------------------------------------------------------


def feature_clips(root: str | Path, params: Mapping[str, Any]) -> list:
    """The clips of a root whose audio ``avsc features`` caches (see ``extraction.root_clips``)."""
    return root_clips(root, params, "audio", AUDIO_SUFFIXES, AudioClip)


def cli_features(args: argparse.Namespace) -> int:
    """``avsc features ROOT``: cache the audio features of every clip; 1 if any clip failed."""
    params = root_params(args)
    with reporting(args.shard):
        report = extract_audio_features(feature_clips(args.root, params), params, kind=args.kind,
                                        jobs=args.jobs, shard=args.shard, cache_root=args.cache)
    return report_status(report, args.shard)
