"""What every feature cache shares: the run's report, shards, failures, threads and workers.

The audio cache (:mod:`avsc_lib.features.audio_cache`), the decoded-frame cache
(:mod:`avsc_lib.features.frame_cache`) and the frame-feature cache
(:mod:`avsc_lib.features.frame_features`) each compute their entries with these helpers, and
their commands (``avsc features``, ``avsc decode``, ``avsc frames``) report through them.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import threading
import time
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from tqdm import tqdm

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import display_path, load_params
from avsc_lib.core.progress import Progress
from avsc_lib.features.cache_entries import CacheWriteError, is_current


@dataclass
class ExtractionReport:
    """What one extraction run of a feature cache (audio or visual) did.

    Attributes:
        cache_dir: the cache folder written to.
        what: what the cache holds, for the summary (``audio features``, ``visual features``).
        computed: clips whose features were computed in this run.
        cached: clips skipped because their features were already in the cache.
        failed: clip name -> why it could not be processed (nothing written for it).
        notes: clip name -> conversions worth knowing (mono audio, a short video padded, ...).
        write_error: why the cache folder could not be written, when that stopped the run.
    """

    cache_dir: Path
    what: str = "features"
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    write_error: str | None = None

    @property
    def ok(self) -> bool:
        """True when no clip failed and the cache could be written."""
        return not self.failed and self.write_error is None

    def summary(self, params: Mapping[str, Any] | None = None) -> str:
        """A few lines for the terminal: counts, then every failure and note (the cache folder
        relative to the project, or to the build folder of ``params``, where it lies below)."""
        lines = [f"{self.what} in {display_path(self.cache_dir, params)}: {len(self.computed)} computed, "
                 f"{len(self.cached)} already cached, {len(self.failed)} failed"]
        lines += [f"  FAILED {name}: {message}" for name, message in sorted(self.failed.items())]
        lines += [f"  note {name}: {message}" for name, message in sorted(self.notes.items())]
        return "\n".join(lines)


def parse_shard(shard: str | None) -> tuple[int, int]:
    """``"i/n"`` (0-based) -> (i, n); None -> (0, 1)."""
    if shard is None:
        return 0, 1
    try:
        index, count = (int(part) for part in str(shard).split("/"))
    except ValueError:
        raise AvscError(f"shard {shard!r}: expected I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise AvscError(f"shard {shard!r}: need 0 <= I < N")
    return index, count


def select_shard(clips: Iterable, shard: str | None) -> list:
    """Every n-th clip by sorted name from the i-th: the shards of a list are disjoint and complete."""
    index, count = parse_shard(shard)
    return sorted(clips, key=lambda clip: clip.name)[index::count]


def split_cached(clips: Iterable, report: ExtractionReport, entry_of: Callable[[Any], Path],
                 source_of: Callable[[Any], Path], done: Callable[[Path], bool], mode: str) -> list:
    """The clips whose cache entry is missing, incomplete or older than its source file; the
    names of the others go to ``report.cached``.

    Args:
        clips: clip records (with ``name``).
        report: the run's report.
        entry_of: a clip's cache entry.
        source_of: the file a clip's entry is computed from.
        done: whether an entry is complete.
        mode: ``cache_fingerprint`` (``stat`` or ``sha256``).
    """
    todo = []
    for clip in clips:
        entry = entry_of(clip)
        if done(entry) and is_current(entry, Path(source_of(clip)), mode):
            report.cached.append(clip.name)
        else:
            todo.append(clip)
    return todo


def failed_file(cache_dir: Path, shard: str | None) -> Path:
    """``failed.csv``, or ``failed-shard-I-of-N.csv`` so that concurrent shards never clash."""
    if shard is None:
        return cache_dir / "failed.csv"
    index, count = parse_shard(shard)
    return cache_dir / f"failed-shard-{index}-of-{count}.csv"


def write_failures(path: Path, failed: Mapping[str, str], paths: Mapping[str, Path]) -> None:
    """Write this run's failures as CSV (clip, path, problem); remove an old file if none failed."""
    if not failed:
        path.unlink(missing_ok=True)
        return
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["clip", "path", "problem"])
    for name, message in sorted(failed.items()):
        writer.writerow([name, str(paths[name]), message])
    write_text(path, text.getvalue())


def prefetch(pool: Executor, items: Sequence, work: Callable[[Any], Any], depth: int) -> Iterator[tuple[Any, Future]]:
    """Yield (item, future of work(item)) in order, keeping ``depth`` items in flight."""
    pending: deque[tuple[Any, Future]] = deque()
    for item in items:
        pending.append((item, pool.submit(work, item)))
        if len(pending) > depth:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def extract_in_threads(todo: Sequence, work: Callable[[Any], Any],
                       keep: Callable[[Any, Any], tuple[bool, str | None]],
                       report: ExtractionReport, workers: int, progress: bool) -> None:
    """Run ``work(clip)`` for every clip in ``workers`` threads ahead of this one (video decoding
    releases the GIL), then ``keep(clip, result)`` here, in order; fill ``report``.

    A clip whose ``work`` raises is listed in ``report.failed`` and the others go on; ``keep``
    returns whether it computed the clip (False: another process had) and a note, or None.

    Raises:
        CacheWriteError: the cache folder cannot be written (the run stops).
    """
    bar = tqdm(total=len(todo), desc=report.what, unit="clip", disable=not progress, mininterval=1.0,
               file=sys.stderr)
    shown = Progress(report.what, len(todo))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for clip, future in prefetch(pool, todo, work, depth=2 * workers):
                try:
                    computed, note = keep(clip, future.result())
                except CacheWriteError:
                    raise
                except AvscError as err:
                    report.failed[clip.name] = str(err)
                except Exception as err:  # noqa: BLE001 - one odd file must not stop a batch
                    report.failed[clip.name] = f"{clip.video_path}: {type(err).__name__}: {err}"
                else:
                    (report.computed if computed else report.cached).append(clip.name)
                    if note:
                        report.notes[clip.name] = note
                bar.update()
                shown.update()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def exit_with_parent(pid: int, interval: float = 0.5) -> None:
    """In a worker: a daemon thread that ends the worker once process ``pid`` is gone."""
    def watch() -> None:
        while _alive(pid):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextmanager
def on_write_error(report: ExtractionReport) -> Iterator[None]:
    """Record a :class:`CacheWriteError` in ``report`` and attach the report to it (so that a
    command prints what was done before the one-line error)."""
    try:
        yield
    except CacheWriteError as err:
        report.write_error = report.write_error or str(err)
        err.report = report  # type: ignore[attr-defined]
        raise


def root_clips(root: str | Path, params: Mapping[str, Any], media: str, suffixes: tuple[str, ...],
               record: Callable[[str, Path], Any]) -> list:
    """The clips of a root for a cache command (``data.layout.feature_clips``): fold-1 train and
    evaluate, each cut to ``max_clips``; a root without ``evaluation_setup/`` gives every file in
    ``<media>/``, each as ``record(stem, path)``."""
    from avsc_lib.data.layout import feature_clips

    clips = feature_clips(root, media, suffixes, params["max_clips"])
    return [record(c.stem, c) if isinstance(c, Path) else c for c in clips]


def root_params(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of a cache command: ``--params`` and ``-p`` overrides, data root ``ROOT``;
    on an evaluation set every clip is as long as its files (``clip_seconds: null``)."""
    from avsc_lib.data.layout import is_evaluation_root

    overrides = {**(getattr(args, "overrides", None) or {}), "data_root": str(Path(args.root).resolve())}
    if is_evaluation_root(args.root):
        overrides["clip_seconds"] = None
    return load_params(args.params, overrides)


@contextmanager
def reporting(shard: str | None = None) -> Iterator[None]:
    """In a cache command: print the per-clip report before a cache write error's one line."""
    try:
        yield
    except CacheWriteError as err:
        report = getattr(err, "report", None)
        if report is not None:
            print(report.summary())
            if report.failed:
                print(f"failed clips listed in {failed_file(report.cache_dir, shard)}")
        raise


def report_status(report: ExtractionReport, shard: str | None) -> int:
    """Print a cache command's report; its exit status, 1 if any clip failed."""
    print(report.summary())
    if report.failed:
        print(f"failed clips listed in {failed_file(report.cache_dir, shard)}")
    return 0 if report.ok else 1
