"""The visual feature cache: content, reuse without encoder calls, keys, bad clips, shards, CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from avsc_lib.cli import main as avsc_main
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.features import frame_features as ff
from avsc_lib.features.frame_cache import dataset_clips
from avsc_lib.features.video import read_frames
from videos import FakeClip, write_clip  # tests/videos.py

SIZE, SECONDS, FPS = 32, 2.0, 5
N_FRAMES = int(SECONDS * FPS)


@pytest.fixture
def params(tmp_path):
    return load_params(
        PARAMS_DIR / "smoke.yml",
        {"build_dir": str(tmp_path / "build"), "frame_size": SIZE, "clip_seconds": SECONDS,
         "fps": FPS, "weights": "none", "frame_batch_size": 4, "feature_jobs": 2},
    )


@pytest.fixture
def clips(tmp_path):
    names = ["park-lyon-1-0", "bus-paris-2-0", "tram-vienna-3-0"]
    return [FakeClip(n, write_clip(tmp_path / "video" / f"{n}.mp4", seed)) for seed, n in enumerate(names)]


class CountingEncoder:
    """A tiny stand-in for the frame encoder that counts its calls and frames."""

    def __init__(self, fail_on_call: int | None = None):
        import keras

        keras.utils.set_random_seed(1)
        frame = keras.Input((SIZE, SIZE, 3), name="frame")
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(frame)
        self.model = keras.Model(frame, keras.layers.Dense(512, name="proj")(pooled))
        self.calls = self.frames = 0
        self.fail_on_call = fail_on_call

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.frames += len(batch)
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        return np.asarray(self.model(batch, training=False))


INFO = {"weights": "stand-in"}


def npy_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".npy")


def test_features_written_then_reused_without_encoder_calls(params, clips):
    encoder = CountingEncoder()
    report = ff.extract_frame_features(clips, params, encoder, INFO, progress=False)
    assert report.ok and sorted(report.computed) == sorted(c.name for c in clips)
    assert encoder.frames == 3 * N_FRAMES and encoder.calls == 3 * 3  # batches of 4, 4, 2
    cache = report.cache_dir
    assert cache == ff.visual_cache_dir(params, INFO)
    assert npy_files(cache) == sorted(f"{c.name}.npy" for c in clips)
    for clip in clips:
        features = ff.load_frame_features(cache, clip.name)
        assert features.shape == (N_FRAMES, 512) and features.dtype == np.float32
        frames = read_frames(clip.video_path, FPS, SIZE, N_FRAMES).astype(np.float32)
        expected = np.asarray(encoder.model(frames, training=False))
        np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    described = yaml.safe_load((cache / "params.yml").read_text())
    assert described["frame_size"] == SIZE and described["weights_identity"] == "stand-in"
    assert json.loads((cache / "backbone.json").read_text()) == INFO  # the weights the features came from

    again = CountingEncoder()
    report = ff.extract_frame_features(clips, params, again, INFO, progress=False)
    assert again.calls == 0 and report.computed == [] and len(report.cached) == 3


def test_decoding_runs_in_background_threads(params, clips, monkeypatch):
    threads = []
    decode = ff.decode_clip

    def recording_decode(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return decode(*args, **kwargs)

    monkeypatch.setattr(ff, "decode_clip", recording_decode)
    ff.extract_frame_features(clips, params, CountingEncoder(), INFO, progress=False)
    assert len(threads) == 3 and all(name.startswith("decode") for name in threads)
    assert threading.current_thread().name not in threads


def test_cache_folder_is_keyed_by_what_shapes_the_features(params, tmp_path):
    base = ff.visual_cache_dir(params, INFO)
    assert base.parent == tmp_path / "build" / "cache" and base.name.startswith("visual-")
    assert ff.visual_cache_dir(dict(params, audio_epochs=99, n_bands=32), INFO) == base
    for key, value in [("frame_size", 64), ("fps", 10), ("preprocessing", "caffe"),
                       ("frame_pooling", "avg"), ("clip_seconds", 4.0)]:
        assert ff.visual_cache_dir(dict(params, **{key: value}), INFO) != base, key
    random0 = ff.visual_cache_dir(params, {"weights": "random"})
    assert ff.visual_cache_dir(dict(params, seed=1), {"weights": "random"}) != random0
    a = ff.visual_cache_dir(params, {"weights": "imagenet", "sha256": "a" * 64})
    b = ff.visual_cache_dir(params, {"weights": "imagenet", "sha256": "b" * 64})
    assert a != b and ff.visual_cache_dir(params, {"weights": "path", "sha256": "a" * 64}) == a


def test_weight_file_sha256_keys_the_cache(params, vgg16_imagenet_h5):
    folder = ff.visual_cache_dir(dict(params, weights=str(vgg16_imagenet_h5)))
    sha = "5ffcc3e2b95af5308e66dbecb80d746dc9161e354eea851fbeab09a6fe1287d2"
    assert folder == ff.visual_cache_dir(params, {"sha256": sha})
    assert ff.weights_identity({"sha256": sha}, params) == f"sha256:{sha}"


def test_bad_clips_are_reported_and_good_ones_processed(params, clips, tmp_path):
    corrupt = tmp_path / "video" / "metro-oslo-4-0.mp4"
    corrupt.write_bytes(b"\x00garbage" * 64)
    bad = [FakeClip("airport-lyon-5-0", tmp_path / "video" / "missing.mp4"),
           FakeClip("metro-oslo-4-0", corrupt)]
    report = ff.extract_frame_features(clips + bad, params, CountingEncoder(), INFO, progress=False)
    assert not report.ok and len(report.computed) == 3
    assert "missing.mp4: video file not found" in report.failed["airport-lyon-5-0"]
    assert "metro-oslo-4-0.mp4: not a readable video" in report.failed["metro-oslo-4-0"]
    assert npy_files(report.cache_dir) == sorted(f"{c.name}.npy" for c in clips)
    assert "FAILED airport-lyon-5-0" in report.summary()
    rows = (report.cache_dir / "failed.csv").read_text().splitlines()
    assert rows[0] == "clip,path,problem" and rows[1].startswith("airport-lyon-5-0,") and len(rows) == 3

    write_clip(corrupt, 9)  # both bad clips fixed: the re-run computes just them
    write_clip(tmp_path / "video" / "missing.mp4", 8)
    report = ff.extract_frame_features(clips + bad, params, CountingEncoder(), INFO, progress=False)
    assert report.ok and len(report.computed) == 2 and len(report.cached) == 3
    assert not (report.cache_dir / "failed.csv").exists()  # fixed: the old list is gone


def test_short_clip_is_padded_and_noted(params, tmp_path):
    short = FakeClip("park-riga-6-0", write_clip(tmp_path / "video" / "short.mp4", 7, seconds=1.7))
    report = ff.extract_frame_features([short], params, CountingEncoder(), INFO, progress=False)
    assert report.computed == ["park-riga-6-0"] and "repeated 1 time" in report.notes["park-riga-6-0"]
    assert ff.load_frame_features(report.cache_dir, short.name).shape == (N_FRAMES, 512)


def test_interrupted_run_leaves_no_half_file_and_resumes(params, clips):
    with pytest.raises(KeyboardInterrupt, match="simulated interruption"):  # dies in the second clip's second batch
        ff.extract_frame_features(clips, params, CountingEncoder(fail_on_call=5), INFO, progress=False)
    cache = ff.visual_cache_dir(params, INFO)
    assert len(npy_files(cache)) == 1
    others = sorted(p.name for p in cache.iterdir() if p.suffix not in (".npy", ".source"))
    assert others == [".locks", "backbone.json", "params.yml"]  # no temporary file left behind
    assert sorted(p.name for p in cache.glob("*.source")) == [f"{n}.source" for n in npy_files(cache)]
    encoder = CountingEncoder()
    report = ff.extract_frame_features(clips, params, encoder, INFO, progress=False)
    assert len(report.cached) == 1 and len(report.computed) == 2 and encoder.frames == 2 * N_FRAMES


def test_shards_are_disjoint_and_complete(params, clips):
    names = [sorted(c.name for c in ff.select_shard(clips, f"{i}/2")) for i in range(2)]
    assert sorted(names[0] + names[1]) == sorted(c.name for c in clips) and not set(names[0]) & set(names[1])
    everything = sorted(c.name for c in clips)
    assert names == [everything[0::2], everything[1::2]]  # every 2nd clip by sorted name from the i-th
    report = ff.extract_frame_features(clips, params, CountingEncoder(), INFO, shard="1/2", progress=False)
    assert sorted(report.computed) == names[1]
    for shard in ["2/2", "x", "1/0", "1-2"]:
        with pytest.raises(AvscError, match="shard"):
            ff.select_shard(clips, shard)


def test_missing_features_name_the_file_and_the_command(tmp_path):
    with pytest.raises(AvscError, match=r"nope\.npy: no cached frame features; run `avsc frames"):
        ff.load_frame_features(tmp_path, "nope")


# --- the real frame encoder (VGG16 at 32x32, random weights) ----------------------------------


def write_root(root: Path, clips: list[FakeClip]) -> Path:
    """A TAU-layout root (CSV files only; the videos are the clips')."""
    setup = root / "evaluation_setup"
    setup.mkdir(parents=True)
    header = "filename_audio\tfilename_video\tscene_label\n"
    rows = [f"audio/{c.name}.wav\t{c.video_path.relative_to(root)}\t{c.name.split('-')[0]}\n" for c in clips]
    (setup / "fold1_train.csv").write_text(header + "".join(rows[:2]))
    (setup / "fold1_evaluate.csv").write_text(header + "".join(rows[2:]))
    return root


def test_real_frame_encoder_and_cli(params, clips, tmp_path, monkeypatch, capsys):
    root = write_root(tmp_path, clips)
    cache_root = tmp_path / "frames-cache"
    argv = ["frames", str(root), "--cache", str(cache_root), "--params", str(PARAMS_DIR / "smoke.yml"),
            "-p", "build_dir", str(tmp_path / "build"), "-p", "frame_size", str(SIZE),
            "-p", "clip_seconds", str(SECONDS), "-p", "weights", "none", "-p", "feature_jobs", "2"]
    assert avsc_main(argv) == 0
    assert "3 computed, 0 already cached, 0 failed" in capsys.readouterr().out
    cache = ff.visual_cache_dir(dict(params, data_root=str(root)), {"weights": "random"}, cache_root)
    assert npy_files(cache) == sorted(f"{c.name}.npy" for c in clips)
    assert yaml.safe_load((cache / "params.yml").read_text())["weights_identity"] == "random-seed0"

    encoder = ff.build_encoder(params, {"weights": "random"})  # same seed: the same weights
    frames = read_frames(clips[0].video_path, FPS, SIZE, N_FRAMES)
    expected = encoder.predict_on_batch(frames.astype(np.float32))
    cached = ff.load_frame_features(cache, clips[0].name)
    assert cached.shape == (N_FRAMES, 512)
    np.testing.assert_allclose(cached, expected, rtol=1e-4, atol=1e-4)

    def no_network(*args, **kwargs):
        raise AssertionError("the encoder was built although every clip is cached")

    monkeypatch.setattr(ff, "build_encoder", no_network)
    assert avsc_main(argv) == 0
    assert "0 computed, 3 already cached" in capsys.readouterr().out

    bad_root = tmp_path / "bad"
    write_root(bad_root, [FakeClip(f"park-lyon-9-{i}", bad_root / "video" / "gone.mp4") for i in range(3)])
    assert avsc_main(argv[:1] + [str(bad_root)] + argv[2:]) == 1  # and no network was built
    out = capsys.readouterr().out
    assert "gone.mp4: video file not found" in out and "failed clips listed in" in out


def test_root_without_setup_lists_its_videos(params, clips, tmp_path):
    found = dataset_clips(tmp_path, params)
    assert sorted(c.name for c in found) == sorted(c.name for c in clips)
    with pytest.raises(AvscError, match="no evaluation_setup/ and no video files"):
        dataset_clips(tmp_path / "video", params)
