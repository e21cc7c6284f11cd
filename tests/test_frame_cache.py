"""The decoded-frame cache: fidelity, size bound, partial decoding, resume, keys, bad clips, CLI."""

from __future__ import annotations


import numpy as np
import pytest

from avsc_lib.cli import main as avsc_main
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.features import frame_cache as fc
from avsc_lib.features.video import read_frames
from videos import FakeClip, write_clip  # tests/videos.py

SIZE, SECONDS, FPS = 32, 2.0, 5


@pytest.fixture
def params(tmp_path):
    return load_params(PARAMS_DIR / "smoke.yml", {"build_dir": str(tmp_path / "build"), "frame_size": SIZE,
                                                  "clip_seconds": SECONDS, "fps": FPS, "feature_jobs": 2})


@pytest.fixture
def clips(tmp_path):
    names = ["park-lyon-1-0", "bus-paris-2-0", "tram-vienna-3-0"]
    return [FakeClip(n, write_clip(tmp_path / "video" / f"{n}.mp4", seed, smooth=True)) for seed, n in enumerate(names)]


def test_cached_frames_are_the_decoded_frames_within_jpeg_error(params, clips):
    report = fc.extract_frames(clips, params, progress=False)
    assert sorted(report.computed) == sorted(c.name for c in clips) and report.ok
    for clip in clips:
        decoded = read_frames(clip.video_path, FPS, SIZE, 10)
        cached = fc.load_frames(report.cache_dir, clip.name)
        assert cached.shape == (10, SIZE, SIZE, 3) and len(cached) == 10 and cached.quality == 90
        frames = np.asarray(cached)
        assert frames.dtype == np.uint8
        assert np.abs(frames.astype(int) - decoded).mean() < 3.0
        np.testing.assert_array_equal(cached[3:5], frames[3:5])  # a window decodes on its own
        np.testing.assert_array_equal(cached[-1], frames[9])
        with pytest.raises(IndexError, match="frame 10 of a clip of 10"):
            cached[10]


def test_a_clip_that_would_not_fit_is_encoded_at_a_lower_quality(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "noise.npz"
    size = fc.write_clip(path, noise, quality=95, max_bytes=60_000)
    cached = fc.CachedFrames(path)
    assert cached.nbytes_stored <= 60_000 and size < 61_000
    assert cached.quality < 95 and cached.quality % 5 == 0


def test_second_run_reuses_and_a_broken_file_is_redone(params, clips):
    first = fc.extract_frames(clips, params, progress=False)
    again = fc.extract_frames(clips, params, progress=False)
    assert again.computed == [] and sorted(again.cached) == sorted(first.computed)
    (first.cache_dir / f"{clips[0].name}.npz").write_bytes(b"half a file")
    redo = fc.extract_frames(clips, params, progress=False)
    assert redo.computed == [clips[0].name]


def test_cache_folder_is_keyed_by_what_shapes_the_frames(params):
    base = fc.frame_cache_dir(params)
    assert base.name.startswith("frames-")
    for key, value in [("frame_size", 64), ("frame_resize", "ffmpeg"), ("fps", 10), ("frame_cache_quality", 80)]:
        assert fc.frame_cache_dir({**params, key: value}) != base, key
    assert fc.frame_cache_dir({**params, "audio_epochs": 9}) == base


def test_bad_clips_are_reported_and_the_rest_cached(params, clips, tmp_path):
    bad = tmp_path / "video" / "airport-lisbon-4-0.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    report = fc.extract_frames(clips + [FakeClip(bad.stem, bad)], params, progress=False)
    assert set(report.failed) == {bad.stem} and "not a readable video file" in report.failed[bad.stem]
    assert len(report.computed) == 3
    rows = (report.cache_dir / "failed.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{bad.stem},")  # a header and the bad clip


def test_shards_split_the_work(params, clips):
    done = []
    for shard in ("0/2", "1/2"):
        done += fc.extract_frames(clips, params, shard=shard, progress=False).computed
    assert sorted(done) == sorted(c.name for c in clips)


def test_missing_cache_file_names_the_command(tmp_path):
    with pytest.raises(Exception, match=r"nothere\.npz: no cached frames; run `avsc decode ROOT`"):
        fc.load_frames(tmp_path, "nothere")


def test_avsc_decode_on_a_root(params, clips, tmp_path, capsys):
    status = avsc_main(["decode", str(tmp_path), "--cache", str(tmp_path / "cache"), "-p", "frame_size", str(SIZE),
                        "-p", "clip_seconds", str(SECONDS), "--params", str(PARAMS_DIR / "smoke.yml")])
    assert status == 0
    out = capsys.readouterr().out
    assert "decoded frames in" in out and "3 computed" in out
    assert len(list((tmp_path / "cache").glob("frames-*/*.npz"))) == 3
