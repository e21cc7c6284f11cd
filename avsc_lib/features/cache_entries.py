"""One cache entry per clip: its source's fingerprint, its claim, its leftovers, its write errors.

Every cache of the study (audio features, decoded frames, frame features) stores one file per
clip. This module holds what they share about such an entry:

- **fingerprint**: ``<entry>.source`` records the source file an entry was computed from (size
  and modification time, as make and DVC do, or with ``cache_fingerprint: sha256`` a hash of
  its content). An entry whose source changed is computed again; an entry without a record
  (from before records existed) is adopted and recorded.
- **claim**: a process computing an entry holds an exclusive lock on ``.locks/<clip>.lock``
  (``flock``; released by the kernel when the process dies), and checks again under the lock
  whether the entry is current: two extractions into one cache never compute a clip twice.
- **leftovers**: the temporary files (``.<clip>.<random>.tmp...``) that a killed run leaves
  beside its entries are removed by the next run that claims the clip.
- **write errors**: a full or read-only disk is the cache's problem, not the clip's; it stops
  the extraction with :class:`CacheWriteError`, which names the cache folder and the cause.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError

SOURCE_SUFFIX = ".source"
LOCK_DIR = ".locks"
_TEMP = re.compile(r"^\.(?P<name>.+?)\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
_T = TypeVar("_T")


class CacheWriteError(AvscError):
    """The cache folder cannot be written (disk full, read-only, no permission)."""


def write_error(cache_dir: Path, err: OSError) -> CacheWriteError:
    """A one-line error that blames the cache folder, not the clip, for a failed write."""
    cause = os.strerror(err.errno) if err.errno else str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT) or (err.errno is None and "written" in str(err)):
        cause = "the disk is full"
    return CacheWriteError(f"{cache_dir}: cannot write the cache ({cause}: {err}); "
                           "the clips finished before are kept, run the command again when it can be written")


@contextmanager
def writing(cache_dir: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing into the cache into :class:`CacheWriteError`."""
    try:
        yield
    except CacheWriteError:
        raise
    except OSError as err:
        raise write_error(cache_dir, err) from None


def fingerprint(source: Path, mode: str = "stat") -> str:
    """What identifies a source file's content: ``size mtime_ns``; with ``sha256`` its size and hash.

    A file's hash is computed once per process for a given size and modification time (a clip is
    checked before its extraction, under its claim and again after it), not once per check.
    """
    info = os.stat(source)
    if mode == "stat":
        return f"{info.st_size} {info.st_mtime_ns}"
    return f"{info.st_size} sha256:{_sha256(str(source), info.st_size, info.st_mtime_ns, info.st_ino)}"


@lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    """The sha256 of a file's content, cached by its path, size, modification time and inode."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_record(entry: Path) -> Path:
    """The file beside an entry that records its source's fingerprint."""
    return entry.with_name(entry.name + SOURCE_SUFFIX)


def is_current(entry: Path, source: Path, mode: str = "stat") -> bool:
    """True when ``entry`` was computed from ``source`` as it is now (its record matches).

    An entry without a record (written before records existed, or by a run killed between the
    entry and its record) is adopted: its record is written now, so that from now on a change
    of the source is noticed, and the caches of earlier versions are not computed again.
    """
    try:
        current = fingerprint(source, mode)
    except OSError:
        return False
    record = source_record(entry)
    try:
        return record.read_text().strip() == current
    except FileNotFoundError:
        try:
            write_text(record, current + "\n")
        except OSError:
            return False
        return True
    except OSError:
        return False


def record_source(entry: Path, source: Path, mode: str = "stat") -> None:
    """Record the fingerprint of the source an entry was just computed from."""
    write_text(source_record(entry), fingerprint(source, mode) + "\n")


def stale_temporaries(cache_dir: Path) -> dict[str, list[Path]]:
    """The temporary files below ``cache_dir`` by the clip they belong to (written by
    ``atomic.atomic_path``; a killed run leaves them behind)."""
    found: dict[str, list[Path]] = {}
    try:
        entries = list(os.scandir(cache_dir))
    except OSError:
        return found
    for item in entries:
        match = _TEMP.match(item.name)
        if match:
            name = match.group("name")
            for suffix in (SOURCE_SUFFIX, ".npy", ".npz"):
                name = name[: -len(suffix)] if name.endswith(suffix) else name
            found.setdefault(name, []).append(Path(item.path))
    return found


@contextmanager
def claim(cache_dir: Path, name: str) -> Iterator[None]:
    """Hold the exclusive claim on clip ``name`` of a cache (waits while another process has it)."""
    locks = cache_dir / LOCK_DIR
    with writing(cache_dir):
        locks.mkdir(parents=True, exist_ok=True)
        handle = open(locks / f"{name}.lock", "a")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compute_entry(cache_dir: Path, name: str, entry: Path, source: Path, mode: str,
                  done: Callable[[], bool], compute: Callable[[], _T],
                  leftovers: list[Path] | None = None) -> tuple[bool, _T | None]:
    """Compute one entry under its claim unless, checked again under it, it is current.

    Args:
        cache_dir: the cache folder.
        name: the clip.
        entry: the entry's file.
        source: the file it is computed from.
        mode: ``stat`` or ``sha256`` (see :func:`fingerprint`).
        done: whether the entry file is complete (its shape, readable).
        compute: computes and writes the entry; its result is returned.
        leftovers: temporary files of this clip that a killed run left; removed first.

    Returns:
        (True, result of ``compute``), or (False, None) when the entry was current.

    Raises:
        CacheWriteError: writing the entry or its record failed.
    """
    with claim(cache_dir, name):
        if done() and is_current(entry, source, mode):
            return False, None
        for path in leftovers or ():
            path.unlink(missing_ok=True)
        result = compute()
        with writing(cache_dir):
            record_source(entry, source, mode)
        return True, result
