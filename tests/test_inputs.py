"""The study's inputs (study/inputs.py) on the smoke profile's synthetic set: the data set made
once, the clips of a split, ``max_clips``, audio features, decoded frames (the fine-tuning
input), the lazy switch for large splits, and clips whose files fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avsc_lib.core.classes import label_to_index
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.data.layout import load_split
from avsc_lib.data.synth import PROFILES, ensure_dataset
from avsc_lib.features import audio_cache as cache
from avsc_lib.features import frame_cache
from avsc_lib.study import inputs as splits
from avsc_lib.study.inputs import StudyInputs
from avsc_lib.training.pipelines import WindowSampler
from avsc_lib.training.segments import LazyClips, segment_geometry

SMOKE = PROFILES["smoke"]
FRAMES = int(SMOKE.clip_seconds * 5)  # 5 frames a second


@pytest.fixture(scope="module")
def params(tmp_path_factory) -> dict:
    """smoke.yml with a build folder of this module; its synthetic set generated once."""
    params = load_params(PARAMS_DIR / "smoke.yml", {"build_dir": str(tmp_path_factory.mktemp("splits") / "build")})
    ensure_dataset(params)
    return params


@pytest.fixture(scope="module")
def root(params) -> Path:
    return ensure_dataset(params)


def names(clips) -> list[str]:
    return [clip.name for clip in clips]


def split_clips(params, split: str) -> list:
    return StudyInputs(params).clips(split)


def load_split_data(params, split: str, **options):
    return StudyInputs(params).split(split, **options)


def test_split_clips_are_the_splits_rows_and_max_clips_keeps_the_first(params, root):
    train, evaluate = split_clips(params, "train"), split_clips(params, "evaluate")
    assert names(train) == names(load_split(root, "train")) and names(evaluate) == names(load_split(root, "evaluate"))
    per_class = SMOKE.cities * SMOKE.locations_per_city
    assert (len(train), len(evaluate)) == (10 * (per_class - SMOKE.eval_locations), 10 * SMOKE.eval_locations)
    assert names(split_clips({**params, "max_clips": 4}, "train")) == names(train)[:4]
    assert names(split_clips({**params, "max_clips": 1000}, "train")) == names(train)


def test_audio_features_come_from_the_cache_in_the_splits_order(params):
    data = load_split_data(params, "evaluate", audio="gammatone")
    clips = split_clips(params, "evaluate")
    assert data.names == names(clips) and data.visual is None
    assert data.labels.tolist() == [label_to_index(clip.scene) for clip in clips]
    assert isinstance(data.audio, list)  # a small split is read at once
    folder = cache.audio_cache_dir(params, "gammatone")
    for name, features in zip(data.names, data.audio, strict=True):
        assert features.shape == (params["n_bands"], int(SMOKE.clip_seconds / params["hop_s"]), 3)
        np.testing.assert_array_equal(features, cache.load_audio_features(folder, name))


def test_max_clips_limits_what_is_loaded(params):
    data = load_split_data({**params, "max_clips": 3}, "train", audio="logmel")
    assert data.names == names(split_clips(params, "train"))[:3] and len(data.audio) == len(data.labels) == 3


def test_the_test_split_has_no_labels(params):
    data = load_split_data(params, "test", audio="gammatone")
    assert data.labels is None and len(data) == len(split_clips(params, "test")) > 0


def test_large_splits_are_read_lazily(params, monkeypatch):
    eager = load_split_data(params, "evaluate", audio="gammatone")
    n = len(eager)
    monkeypatch.setattr(splits, "LAZY_ABOVE_CLIPS", n)  # n clips: not more than the bound
    assert isinstance(load_split_data(params, "evaluate", audio="gammatone").audio, list)
    monkeypatch.setattr(splits, "LAZY_ABOVE_CLIPS", n - 1)  # one clip more than the bound
    lazy = load_split_data(params, "evaluate", audio="gammatone")
    assert isinstance(lazy.audio, LazyClips) and len(lazy.audio) == n
    for i in range(n):
        np.testing.assert_array_equal(lazy.audio[i], eager.audio[i])
    assert isinstance(load_split_data(params, "evaluate", audio="gammatone", lazy=False).audio, list)
    monkeypatch.setattr(splits, "LAZY_ABOVE_CLIPS", 2000)
    assert isinstance(load_split_data(params, "evaluate", audio="gammatone", lazy=True).audio, LazyClips)


def test_decoded_frames_feed_the_finetuning_windows(params):
    from avsc_lib.training.steps import step_spec

    assert step_spec(params, "finetune").visual == "frames"  # what run_step loads for fine-tuning
    data = load_split_data(params, "train", audio="gammatone", visual="frames", lazy=False)
    assert data.names == names(split_clips(params, "train"))
    assert isinstance(data.audio, list) and isinstance(data.visual, LazyClips)  # frames: a few at a time
    folder = frame_cache.frame_cache_dir(params)
    assert sorted(p.stem for p in folder.glob("*.npz")) == sorted(data.names)
    size = params["frame_size"]
    for i in (0, len(data) - 1):
        frames = np.asarray(data.visual[i])
        assert frames.shape == (FRAMES, size, size, 3) and frames.dtype == np.uint8
        np.testing.assert_array_equal(frames, np.asarray(frame_cache.load_frames(folder, data.names[i])))
        assert frames.std() > 1.0  # real pictures, not a constant fill
    geometry = segment_geometry(params)
    sampler = WindowSampler(data, ("audio", "visual"), 4, geometry, seed=0)
    x, y = next(sampler.epoch_batches(0))
    assert x["visual"].shape == (4, geometry.video_frames, size, size, 3)
    assert x["audio"].shape == (4, params["n_bands"], geometry.audio_frames, 3) and y.shape == (4, 10)


def test_clips_whose_files_fail_are_left_out_with_a_warning(params, root, tmp_path, capsys):
    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    first = names(split_clips(params, "train"))[:4]
    (copy / "audio" / f"{first[1]}.wav").write_bytes(b"not audio")
    video = copy / "video" / f"{first[2]}.mp4"
    video.write_bytes(video.read_bytes()[:200])  # truncated: no frame decodes
    # caches of its own: the copy is the same synthetic set, whose cached files would be reused
    broken = {**params, "data_root": str(copy), "max_clips": 4, "build_dir": str(tmp_path / "build")}
    capsys.readouterr()
    data = load_split_data(broken, "train", audio="gammatone", visual="frames")
    assert data.names == [first[0], first[3]] and len(data.audio) == len(data.visual) == len(data.labels) == 2
    err = capsys.readouterr().err
    assert f"warning: 1 clip(s) without gammatone features are left out: {first[1]}" in err
    assert f"warning: 1 clip(s) without decoded frames are left out: {first[2]}" in err
    audio_only = load_split_data(broken, "train", audio="gammatone")
    assert audio_only.names == [first[0], first[2], first[3]]  # the bad video does not matter here


def test_a_bad_visual_input_and_an_empty_split_are_errors(params, root, tmp_path):
    with pytest.raises(AvscError, match="visual input 'pixels': expected 'features', 'frames' or None"):
        load_split_data(params, "train", visual="pixels")
    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    csv = copy / "evaluation_setup" / "fold1_evaluate.csv"
    csv.write_text(csv.read_text().splitlines()[0] + "\n")  # the header alone
    with pytest.raises(AvscError, match="split 'evaluate' of the data set has no clips"):
        load_split_data({**params, "data_root": str(copy)}, "evaluate", audio="gammatone")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning")
def test_finetuning_trains_on_the_decoded_frames_of_the_smoke_root(smoke_run):
    """The smoke profile does not fine-tune: one epoch of step 4 on its trained step 3."""
    from avsc_lib.training.runs import is_done, run_dir
    from avsc_lib.training.steps import finetune_fusion

    params = load_params(smoke_run / "params.yml", {"finetune": True, "finetune_epochs": 1})
    assert is_done(run_dir(params, "fusion")) and not is_done(run_dir(params, "finetune"))  # step 3 is reused
    run = finetune_fusion(params, StudyInputs(params), verbose=0)
    train, evaluate = split_clips(params, "train"), split_clips(params, "evaluate")
    assert run.step == "finetune" and run.info["epochs_run"] == 1
    assert (run.info["train_clips"], run.info["val_clips"]) == (len(train), len(evaluate))
    size = params["frame_size"]
    assert run.model.input["visual"].shape[1:] == (segment_geometry(params).video_frames, size, size, 3)
    folder = frame_cache.frame_cache_dir(params)
    assert {p.stem for p in folder.glob("*.npz")} >= set(names(train) + names(evaluate))
    backbone = json.loads((run.dir / "backbone.json").read_text())
    assert backbone["weights"] == "trained" and backbone["run"] == run_dir(params, "visual_unfrozen").name
