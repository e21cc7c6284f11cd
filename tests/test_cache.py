"""The audio feature cache: keyed by parameters, atomic, resumable, parallel, sharded, robust."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from avsc_lib import cli
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.features import audio_cache as cache
from avsc_lib.features import extraction

SECONDS = 1.0


def write_wav(path: Path, seconds: float = SECONDS, rate: int = 48000, channels: int = 2,
              seed: int = 0) -> Path:
    data = np.random.default_rng(seed).uniform(-0.3, 0.3, (int(round(seconds * rate)), channels))
    sf.write(path, data, rate, subtype="PCM_24")
    return path


def make_clips(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_wav(folder / f"park-lyon-{i}-{i}.wav", seed=i) for i in range(n)]


@pytest.fixture
def params(tmp_path):
    return load_params(overrides={"clip_seconds": SECONDS, "build_dir": str(tmp_path / "build")})


# --- the folder and its key ------------------------------------------------------------------


def test_folder_is_keyed_by_feature_parameters(params):
    base = cache.audio_cache_dir(params, "gammatone")
    assert base.parent == Path(params["build_dir"]) / "cache"
    assert base.name.startswith("audio-gammatone-")
    assert cache.audio_cache_dir(params) == base  # feature_kind defaults to gammatone
    changed = [dict(params, hop_s=0.01), dict(params, n_bands=32), dict(params, sample_rate=48000),
               dict(params, window_s=0.05), dict(params, f_min=50.0), dict(params, clip_seconds=2.0)]
    names = {cache.audio_cache_dir(p, "gammatone").name for p in changed}
    assert len(names) == len(changed) and base.name not in names
    assert cache.audio_cache_dir(params, "logmel").name.startswith("audio-logmel-")
    # equal outputs (within 1e-10 dB): one folder for both implementations
    assert cache.audio_cache_dir(dict(params, gammatone_impl="reference"), "gammatone") == base
    # settings that do not shape the features do not split the cache
    assert cache.audio_cache_dir(dict(params, audio_epochs=3, frame_size=32), "gammatone") == base


def test_folder_records_its_parameters(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 1)
    report = cache.extract_audio_features(paths, params, "gammatone", progress=False)
    recorded = yaml.safe_load((report.cache_dir / "params.yml").read_text())
    assert recorded == cache.cache_key(params, "gammatone")
    assert recorded["hop_s"] == 0.02 and recorded["kind"] == "gammatone"


def test_changed_parameter_never_reuses_files(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 2)
    first = cache.extract_audio_features(paths, params, "gammatone", progress=False)
    other = cache.extract_audio_features(paths, dict(params, hop_s=0.01), "gammatone", progress=False)
    assert other.cache_dir != first.cache_dir
    assert sorted(other.computed) == sorted(first.computed) and not other.cached
    assert cache.load_audio_features(other.cache_dir, paths[0].stem).shape == (64, 100, 3)


# --- writing and resuming --------------------------------------------------------------------


def test_extract_writes_one_npy_per_clip(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 3)
    for kind in ("gammatone", "logmel"):
        report = cache.extract_audio_features(paths, params, kind, progress=False)
        assert report.ok and sorted(report.computed) == sorted(p.stem for p in paths)
        for path in paths:
            features = cache.load_audio_features(report.cache_dir, path.stem)
            assert features.shape == (64, 50, 3) and features.dtype == np.float32


def test_rerun_skips_finished_clips(tmp_path, params, monkeypatch):
    paths = make_clips(tmp_path / "audio", 3)
    cache.extract_audio_features(paths[:2], params, progress=False)

    calls = []
    real = cache.extract_one
    monkeypatch.setattr(cache, "extract_one", lambda *a: calls.append(a[0]) or real(*a))
    report = cache.extract_audio_features(paths, params, progress=False)
    assert calls == [paths[2].stem]
    assert sorted(report.cached) == sorted(p.stem for p in paths[:2])

    calls.clear()
    again = cache.extract_audio_features(paths, params, progress=False)
    assert calls == [] and not again.computed and len(again.cached) == 3


def test_a_crash_mid_write_leaves_no_file(tmp_path, params, monkeypatch):
    paths = make_clips(tmp_path / "audio", 1)
    real_save = np.save

    def crash(handle, array):
        handle.write(b"\x93NUMPY partial")  # some bytes reach the disk, then the process dies
        raise KeyboardInterrupt("the process dies mid-write")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(KeyboardInterrupt, match="the process dies mid-write"):
        cache.extract_audio_features(paths, params, progress=False)
    folder = cache.audio_cache_dir(params)
    assert not (folder / f"{paths[0].stem}.npy").exists()
    assert not [p for p in folder.iterdir() if p.suffix == ".npy" or ".tmp" in p.name]

    monkeypatch.setattr(np, "save", real_save)
    report = cache.extract_audio_features(paths, params, progress=False)
    assert report.computed == [paths[0].stem]


def test_a_damaged_cache_file_is_recomputed(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 1)
    report = cache.extract_audio_features(paths, params, progress=False)
    (report.cache_dir / f"{paths[0].stem}.npy").write_bytes(b"garbage")
    again = cache.extract_audio_features(paths, params, progress=False)
    assert again.computed == [paths[0].stem]


def test_load_missing_features_is_a_clear_error(tmp_path):
    with pytest.raises(AvscError, match="no cached audio features"):
        cache.load_audio_features(tmp_path, "nope")


# --- bad input in a batch --------------------------------------------------------------------


def test_bad_clips_are_reported_and_good_ones_processed(tmp_path, params):
    folder = tmp_path / "audio"
    good = make_clips(folder, 2)
    truncated = write_wav(folder / "bus-a-1-1.wav")
    truncated.write_bytes(truncated.read_bytes()[:5000])
    empty = folder / "bus-a-1-2.wav"
    empty.write_bytes(b"")
    missing = folder / "bus-a-1-3.wav"
    mono = write_wav(folder / "bus-a-1-4.wav", channels=1)
    low_rate = write_wav(folder / "bus-a-1-5.wav", rate=22050)

    report = cache.extract_audio_features([*good, truncated, empty, missing, mono, low_rate],
                                          params, progress=False)
    assert sorted(report.computed) == sorted(p.stem for p in [*good, mono, low_rate])
    assert set(report.failed) == {truncated.stem, empty.stem, missing.stem}
    assert "truncated WAV" in report.failed[truncated.stem] and str(truncated) in report.failed[truncated.stem]
    assert "empty file" in report.failed[empty.stem] and str(empty) in report.failed[empty.stem]
    assert "not found" in report.failed[missing.stem] and str(missing) in report.failed[missing.stem]
    assert "mono" in report.notes[mono.stem] and "22050 Hz" in report.notes[low_rate.stem]
    assert not report.ok and "3 failed" in report.summary()

    with open(report.cache_dir / "failed.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["clip"] for row in rows} == set(report.failed)
    assert {row["path"] for row in rows} == {str(truncated), str(empty), str(missing)}


# --- processes and shards --------------------------------------------------------------------


def test_two_jobs_give_the_same_files_as_one(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 4)
    one = cache.extract_audio_features(paths, params, jobs=1, cache_dir=tmp_path / "one", progress=False)
    two = cache.extract_audio_features(paths, params, jobs=2, cache_dir=tmp_path / "two", progress=False)
    assert sorted(one.computed) == sorted(two.computed) == sorted(p.stem for p in paths)
    for path in paths:
        name = f"{path.stem}.npy"
        assert (one.cache_dir / name).read_bytes() == (two.cache_dir / name).read_bytes()


def test_two_jobs_report_bad_clips(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 2) + [tmp_path / "audio" / "gone-x-1-1.wav"]
    report = cache.extract_audio_features(paths, params, jobs=2, progress=False)
    assert list(report.failed) == ["gone-x-1-1"] and len(report.computed) == 2


def test_shards_partition_the_clips(tmp_path, params):
    paths = make_clips(tmp_path / "audio", 7)
    names = sorted(p.stem for p in paths)
    parts = [[c.name for c in extraction.select_shard([cache.AudioClip(p.stem, p) for p in paths], f"{i}/3")]
             for i in range(3)]
    assert sorted(sum(parts, [])) == names and sum(map(len, parts)) == len(names)
    assert [len(p) for p in parts] == [3, 2, 2]
    assert parts == [names[0::3], names[1::3], names[2::3]]  # every 3rd clip by sorted name from the i-th
    assert parts[1] == ["park-lyon-1-1", "park-lyon-4-4"]

    done = []
    for i in range(3):
        report = cache.extract_audio_features(paths, params, shard=f"{i}/3", progress=False)
        assert sorted(report.computed) == sorted(parts[i])
        done += report.computed
    assert sorted(done) == names


@pytest.mark.parametrize("shard", ["3/3", "1", "a/b", "0/0", "-1/2"])
def test_bad_shard_is_a_clear_error(shard):
    with pytest.raises(AvscError, match="shard"):
        extraction.parse_shard(shard)


# --- command line ----------------------------------------------------------------------------


def tau_root(root: Path, names: list[str]) -> Path:
    """A minimal TAU-layout root: fold-1 train/evaluate lists and their audio."""
    setup = root / "evaluation_setup"
    setup.mkdir(parents=True)
    header = "filename_audio\tfilename_video\tscene_label\n"
    rows = [f"audio/{n}.wav\tvideo/{n}.mp4\t{n.split('-')[0]}\n" for n in names]
    (setup / "fold1_train.csv").write_text(header + "".join(rows[:-1]))
    (setup / "fold1_evaluate.csv").write_text(header + rows[-1])
    (setup / "fold1_test.csv").write_text("filename_audio\tfilename_video\n" + rows[-1].rsplit("\t", 1)[0] + "\n")
    (root / "audio").mkdir()
    for i, name in enumerate(names):
        write_wav(root / "audio" / f"{name}.wav", seed=i)
    return root


def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.yml"
    path.write_text(f"inherit: {PARAMS_DIR / 'paper.yml'}\n"
                    f"clip_seconds: {SECONDS}\nbuild_dir: {tmp_path / 'build'}\n")
    return path


def test_cli_features_on_a_tau_root(tmp_path, capsys):
    names = ["park-lyon-1-1", "bus-lyon-2-2", "tram-lyon-3-3"]
    root = tau_root(tmp_path / "root", names)
    argv = ["features", str(root), "--kind", "logmel", "--cache", str(tmp_path / "c"),
            "--params", str(params_file(tmp_path))]
    assert cli.main(argv) == 0
    assert "3 computed" in capsys.readouterr().out
    folders = list((tmp_path / "c").glob("audio-logmel-*"))
    assert len(folders) == 1 and sorted(p.stem for p in folders[0].glob("*.npy")) == sorted(names)
    assert cli.main(argv) == 0
    assert "3 already cached" in capsys.readouterr().out


def test_cli_features_fails_when_a_clip_fails(tmp_path, capsys):
    root = tmp_path / "root"
    make_clips(root / "audio", 2)
    (root / "audio" / "bus-x-1-1.wav").write_bytes(b"")  # no evaluation_setup/: scans audio/
    argv = ["features", str(root), "--jobs", "2", "--cache", str(tmp_path / "c"),
            "--params", str(params_file(tmp_path))]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "2 computed" in out and "FAILED bus-x-1-1" in out and "empty file" in out


def test_cli_features_on_a_missing_root(tmp_path, capsys):
    assert cli.main(["features", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


# --- workers never carry TensorFlow ----------------------------------------------------------


def test_audio_modules_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, avsc_lib.features.audio_cache, avsc_lib.features.audio, avsc_lib.features.gammatone_fast; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_workers_do_not_inherit_the_callers_modules(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))  # as if imported
    with cache._pool(1) as pool:
        assert pool.submit(eval, "'tensorflow' in __import__('sys').modules").result() is False


def test_cache_folder_follows_the_synthetic_data_set(tmp_path):
    """A regenerated synthetic set reuses clip names with new content: its cache must differ."""
    from avsc_lib.core.params import PARAMS_DIR
    from avsc_lib.features.audio_cache import audio_cache_dir
    from avsc_lib.features.frame_features import visual_cache_dir

    smoke = load_params(PARAMS_DIR / "smoke.yml", {"build_dir": str(tmp_path)})
    other_seed = dict(smoke, synth_seed=1)
    real = dict(smoke, data_root=str(tmp_path))  # no synth.json: a real data set
    info = {"weights": "random"}
    assert audio_cache_dir(smoke) != audio_cache_dir(other_seed)
    assert visual_cache_dir(smoke, info) != visual_cache_dir(other_seed, info)
    assert audio_cache_dir(real) not in (audio_cache_dir(smoke), audio_cache_dir(other_seed))
