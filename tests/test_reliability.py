"""Nothing silently wrong, on copies of the smoke study's root: a root that `avsc check` rejects is
not trained on, predictions cover every second of every clip or fail naming the clip, media
are checked themselves, and the metrics name the data set actually used."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avsc_lib.cli import main as avsc_main
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.data import validation as data_check
from avsc_lib.data.checks import check_root
from avsc_lib.data.identity import describe_data
from avsc_lib.data.layout import load_split
from avsc_lib.evaluation.submission import read_submission
from avsc_lib.study import provenance

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning")]


def smoke_root(smoke_run: Path) -> Path:
    return smoke_run.parent / "build" / "data" / "smoke-seed0"


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a root whose files are hard links (replace a file by unlinking it first)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def rewrite_rows(path: Path, change) -> None:
    """Rewrite a tab-separated table through ``change(rows) -> rows`` (unlinking the hard link)."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    rows = change(rows)
    path.unlink()
    with open(path, "w", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)


def double_length(clip_audio: Path, clip_video: Path) -> None:
    """Make a clip twice as long: its audio and its frames played twice."""
    data, rate = sf.read(clip_audio)
    clip_audio.unlink()
    sf.write(clip_audio, np.concatenate([data, data]), rate, subtype="PCM_16")
    with av.open(str(clip_video)) as source:
        stream_in = source.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in source.decode(stream_in)]
        rate_in = stream_in.average_rate
    clip_video.unlink()
    with av.open(str(clip_video), "w") as out:
        stream = out.add_stream("libx264", rate=rate_in)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames + frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# --- the gate before training ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_root(smoke_run, tmp_path_factory):
    root = linked_copy(smoke_root(smoke_run), tmp_path_factory.mktemp("bad") / "root")
    train = root / "evaluation_setup" / "fold1_train.csv"
    evaluate = root / "evaluation_setup" / "fold1_evaluate.csv"
    first_eval = load_split(root, "evaluate")[0]

    def leak_and_duplicate(rows):
        moved = [f"audio/{first_eval.name}.wav", f"video/{first_eval.name}.mp4", first_eval.scene]
        return rows + [moved, rows[1]]  # a location of evaluate in train, a row twice

    rewrite_rows(train, leak_and_duplicate)
    rewrite_rows(evaluate, lambda rows: rows[:1] + [[rows[1][0], rows[1][1], "tram" if "tram" not in rows[1][0] else "park"]] + rows[2:])
    return root


def test_avsc_run_refuses_a_root_that_check_rejects(bad_root, tmp_path, capsys):
    kinds = {p.kind for p in check_root(bad_root)}
    assert {"location-leak", "duplicate", "label-mismatch"} <= kinds
    out = tmp_path / "run"
    status = avsc_main(["run", "--params", str(PARAMS_DIR / "smoke.yml"), "--data", str(bad_root), "--out", str(out),
                        "-p", "build_dir", str(tmp_path / "build")])
    err = capsys.readouterr().err
    assert status == 2
    assert "the data set has problems; nothing was run" in err and "spans train and evaluate" in err
    assert "-p allow_invalid_data true" in err
    assert not list(out.glob("*.ipynb"))  # no notebook ran


def test_accepted_problems_reach_the_provenance_box(bad_root, tmp_path):
    params = load_params(PARAMS_DIR / "smoke.yml", {"data_root": str(bad_root), "allow_invalid_data": True,
                                                     "build_dir": str(tmp_path / "build")})
    accepted = data_check.validate_data(params, log=lambda line: None)
    assert len(accepted) >= 3 and any("spans train and evaluate" in line for line in accepted)
    rows = dict(provenance.provenance_rows(params))
    assert rows["accepted data problems"].startswith(f"{len(accepted)}: ")
    assert "spans train and evaluate" in rows["accepted data problems"]
    with pytest.raises(AvscError, match="the data set has problems"):
        data_check.validate_data(dict(params, allow_invalid_data=False), log=lambda line: None)


# --- predictions: every second of every clip, or a failure naming the clip --------------------


def test_predict_scores_every_second_of_clips_longer_than_the_training_clips(smoke_run, tmp_path, capsys):
    root = linked_copy(smoke_root(smoke_run), tmp_path / "root")
    clips = load_split(root, "evaluate")
    for clip in clips:
        double_length(clip.audio_path, clip.video_path)
    out = tmp_path / "long.csv"
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "evaluate", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"note: {len(clips)} clip(s) are not 2 s long" in printed and "audio 4.00 s" in printed
    table = read_submission(out)
    assert len(table) == 4 * len(clips)  # 4 s clips scored by a 2-s model: 4 segments each
    assert sorted(table["filename"]) == sorted(f"{c.name}_{i}" for c in clips for i in range(4))


def test_predict_fails_naming_a_clip_it_cannot_read(smoke_run, tmp_path, capsys):
    root = linked_copy(smoke_root(smoke_run), tmp_path / "root")
    clips = load_split(root, "evaluate")
    broken = clips[1]
    broken.audio_path.unlink()
    broken.audio_path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    out = tmp_path / "sub.csv"
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "evaluate", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"1 of {len(clips)} clips cannot be scored, no submission written" in err
    assert f"{broken.name}: no gammatone features" in err and not out.exists()
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "evaluate", "--out", str(out),
                      "--allow-missing"]) == 0
    assert f"leaves out 1 of {len(clips)} clips" in capsys.readouterr().out
    names = {name.rsplit("_", 1)[0] for name in read_submission(out)["filename"]}
    assert names == {c.name for c in clips} - {broken.name}


def test_predict_on_a_missing_folder_says_what_it_expected(smoke_run, tmp_path, capsys):
    assert avsc_main(["predict", str(tmp_path / "nothing"), str(smoke_root(smoke_run))]) == 2
    err = capsys.readouterr().err
    assert "no such folder; expected a trained run folder of the fusion or finetune step" in err


# --- media checked themselves ---------------------------------------------------------------------


def test_check_reads_the_media_and_deep_decodes_them(smoke_run, tmp_path):
    root = linked_copy(smoke_root(smoke_run), tmp_path / "root")
    clips = load_split(root, "train")
    wav, mp4 = clips[0].audio_path, clips[1].video_path
    wav.unlink()
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(64))
    data = mp4.read_bytes()
    mp4.unlink()
    mp4.write_bytes(data[: len(data) * 6 // 10])  # truncated
    found = {(p.file, p.kind) for p in check_root(root, clip_seconds=2.0)}
    assert (f"audio/{wav.name}", "bad-audio") in found
    assert (f"video/{mp4.name}", "bad-video") in found
    assert not any("audio-only" in p.message for p in check_root(root, clip_seconds=2.0))

    # a video whose header promises 2 s and whose frames stop after one: only --deep sees it
    root2 = linked_copy(smoke_root(smoke_run), tmp_path / "root2")
    target = load_split(root2, "train")[2].video_path
    with av.open(str(target)) as source:
        frames = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
        rate = source.streams.video[0].average_rate
    target.unlink()
    with av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    whole = target.read_bytes()
    target.unlink()
    target.write_bytes(whole[: len(whole) // 2])
    assert not [p for p in check_root(root2, clip_seconds=2.0) if p.file == f"video/{target.name}"]
    deep = [p for p in check_root(root2, clip_seconds=2.0, deep=True) if p.file == f"video/{target.name}"]
    assert deep and deep[0].kind in ("short-video", "bad-video")


def test_metrics_name_the_seed_of_the_root_actually_used(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "synth.json").write_text(json.dumps({"version": 1, "profile": {"name": "smoke"}, "seed": 5}))
    described = describe_data(load_params(PARAMS_DIR / "smoke.yml", {"data_root": str(root)}))
    assert described == {"data_root": str(root), "synth_profile": "smoke", "synth_seed": 5, "max_clips": None}
    real = tmp_path / "real"
    real.mkdir()
    assert describe_data(load_params(PARAMS_DIR / "paper.yml", {"data_root": str(real)}))["synth_seed"] is None
