"""Cache entries notice changed sources, survive kills and concurrent runs, and blame a full or
read-only disk on the cache folder, for the audio cache and the decoded-frame cache."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avsc_lib import cli
from avsc_lib.core.params import load_params
from avsc_lib.features import audio_cache as cache
from avsc_lib.features import cache_entries
from avsc_lib.features import frame_cache
from test_cache import make_clips, write_wav
from videos import write_clip as write_video

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def params(tmp_path):
    return load_params(overrides={"clip_seconds": 1.0, "build_dir": str(tmp_path / "build"),
                                  "fps": 5, "frame_size": 32})


def extract(paths, params, **kwargs):
    return cache.extract_audio_features(paths, params, "gammatone", progress=False, **kwargs)


# --- fingerprints ------------------------------------------------------------------------------


def test_a_replaced_wav_is_recomputed(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 3)
    first = extract(paths, params)
    before = np.load(first.cache_dir / f"{paths[1].stem}.npy")
    write_wav(paths[1], seed=99)  # new content under the same name
    again = extract(paths, params)
    assert again.computed == [paths[1].stem] and len(again.cached) == 2
    assert not np.array_equal(np.load(again.cache_dir / f"{paths[1].stem}.npy"), before)


def test_a_broken_wav_is_not_served_from_the_cache(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 3)
    extract(paths, params)
    paths[0].write_bytes(b"RIFF....not audio any more")
    report = extract(paths, params)
    assert list(report.failed) == [paths[0].stem] and len(report.cached) == 2


def test_an_entry_without_a_source_record_is_adopted_then_watched(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 2)
    report = extract(paths, params)
    record = cache_entries.source_record(report.cache_dir / f"{paths[0].stem}.npy")
    record.unlink()  # as a cache written before records existed
    assert extract(paths, params).computed == [] and record.is_file()
    write_wav(paths[0], seed=11)
    assert extract(paths, params).computed == [paths[0].stem]


def test_sha256_fingerprint_ignores_a_touch_but_not_new_content(tmp_path, params):
    params = dict(params, cache_fingerprint="sha256")
    paths = make_clips(tmp_path / "audio", 2)
    extract(paths, params)
    os.utime(paths[0], ns=(1, 1))  # same bytes, another time
    assert extract(paths, params).computed == []
    write_wav(paths[0], seed=42)
    assert extract(paths, params).computed == [paths[0].stem]


def test_a_replaced_video_is_decoded_again(tmp_path, params):
    videos = [write_video(tmp_path / f"park-lyon-{i}-{i}.mp4", i, seconds=1.2)
              for i in range(2)]
    first = frame_cache.extract_frames(videos, params, progress=False)
    assert sorted(first.computed) == sorted(v.stem for v in videos)
    write_video(videos[0], 7, seconds=1.2)
    again = frame_cache.extract_frames(videos, params, progress=False)
    assert again.computed == [videos[0].stem] and again.cached == [videos[1].stem]


# --- leftovers, permissions --------------------------------------------------------------------


def test_temporary_files_of_a_killed_run_are_removed(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 2)
    cache_dir = cache.audio_cache_dir(params, "gammatone")
    cache_dir.mkdir(parents=True)
    leftovers = [cache_dir / f".{paths[0].stem}.ab12cd34.tmp.npy", cache_dir / f".{paths[1].stem}.zz99yy88.tmp.npy"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    extract(paths, params)
    assert not any(path.exists() for path in leftovers)
    assert not list(cache_dir.glob(".*.tmp*"))


def test_cache_files_follow_the_umask(tmp_path, params):
    old = os.umask(0o022)
    try:
        report = extract(make_clips(tmp_path / "audio", 1), params)
    finally:
        os.umask(old)
    for path in report.cache_dir.glob("*.npy*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# --- a full or read-only disk ------------------------------------------------------------------


def test_a_full_disk_is_the_caches_problem_not_the_clips(tmp_path, params, monkeypatch, capsys):
    paths = make_clips(tmp_path / "audio", 3)
    saved = []
    real_save = cache.save_npy

    def save_until_full(path, array):
        if len(saved) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, array)
        saved.append(path)

    monkeypatch.setattr(cache, "save_npy", save_until_full)
    root = tmp_path / "root"
    (root / "audio").mkdir(parents=True)
    for path in paths:
        os.link(path, root / "audio" / path.name)
    status = cli.main(["features", str(root), "-p", "clip_seconds", "1.0", "-p", "build_dir", str(tmp_path / "build")])
    out, err = capsys.readouterr()
    assert status == 2
    assert "1 computed, 0 already cached, 0 failed" in out  # the report first, no clip blamed
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in err
    assert errors[0].startswith("avsc features: error: ") and "cannot write the cache (the disk is full" in errors[0]
    assert str(cache.audio_cache_dir(load_params(overrides={"clip_seconds": 1.0, "build_dir": str(tmp_path / "build"),
                                                            "data_root": str(root)}), "gammatone")) in err
    assert len(saved) == 1 and saved[0].is_file()  # the finished clip is kept


def test_a_short_write_of_the_frame_cache_stops_with_one_line(tmp_path, params, monkeypatch):
    videos = [write_video(tmp_path / f"park-lyon-{i}-{i}.mp4", i, seconds=1.2) for i in range(2)]

    def short_write(*args, **kwargs):
        raise OSError("5120 requested and 2016 written")

    monkeypatch.setattr(frame_cache, "write_clip", short_write)
    with pytest.raises(cache_entries.CacheWriteError, match=r"frames-.*: cannot write the cache \(the disk is full") as caught:
        frame_cache.extract_frames(videos, params, progress=False, workers=1)
    assert caught.value.report.failed == {}


def test_a_read_only_filesystem_is_named(tmp_path, params, monkeypatch):
    paths = make_clips(tmp_path / "audio", 1)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(cache_entries.CacheWriteError, match=r"audio-gammatone-\w+: cannot write the cache \(Read-only file system"):
        extract(paths, params)


# --- concurrent runs and killed commands ------------------------------------------------------

_EXTRACT = """
import json, sys
from avsc_lib.core.params import load_params
from avsc_lib.features import audio_cache as cache
params = load_params(overrides={"clip_seconds": 1.0, "build_dir": sys.argv[1]})
report = cache.extract_audio_features(sys.argv[2:], params, "gammatone", progress=False)
print(json.dumps({"computed": report.computed, "cached": report.cached, "failed": report.failed}))
"""


def test_two_extractions_into_one_cache_compute_each_clip_once(tmp_path, params):
    import json

    paths = make_clips(tmp_path / "audio", 8)
    args = [sys.executable, "-c", _EXTRACT, params["build_dir"], *map(str, paths)]
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(run.communicate(timeout=300)[0]) for run in runs]
    computed = sorted(results[0]["computed"] + results[1]["computed"])
    assert computed == sorted(p.stem for p in paths)  # each clip exactly once
    assert all(not r["failed"] for r in results)
    single = extract(paths, dict(params, build_dir=str(tmp_path / "single")))
    shared_dir = cache.audio_cache_dir(params, "gammatone")
    for path in paths:
        assert (shared_dir / f"{path.stem}.npy").read_bytes() == (single.cache_dir / f"{path.stem}.npy").read_bytes()


def _children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    found, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            for child in map(int, task.read_text().split()):
                if child not in found:
                    found.add(child)
                    frontier.add(child)
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_killing_features_with_two_jobs_leaves_no_workers(tmp_path):
    root = tmp_path / "root"
    make_clips(root / "audio", 60)
    command = [str(Path(sys.executable).parent / "avsc"), "features", str(root), "--jobs", "2",
               "-p", "clip_seconds", "1.0", "-p", "build_dir", str(tmp_path / "build")]
    main = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers: set[int] = set()
    while time.time() < deadline and len(workers) < 3:  # the fork server and two workers
        workers = _children(main.pid)
        time.sleep(0.2)
    assert len(workers) >= 3, "the workers never started"
    main.send_signal(signal.SIGKILL)
    main.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(map(_running, workers)):
        time.sleep(0.2)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived the killed command"


def test_a_sources_hash_is_computed_once_until_the_file_changes(tmp_path):
    from avsc_lib.features.cache_entries import _sha256, fingerprint

    source = tmp_path / "clip.wav"
    source.write_bytes(b"a" * 1000)
    _sha256.cache_clear()
    first = fingerprint(source, "sha256")
    assert [fingerprint(source, "sha256") for _ in range(3)] == [first] * 3
    assert (_sha256.cache_info().misses, _sha256.cache_info().hits) == (1, 3)
    source.write_bytes(b"b" * 1000)  # the same size, new content (and a new modification time)
    os.utime(source, ns=(1, 2))
    assert fingerprint(source, "sha256") != first and _sha256.cache_info().misses == 2
