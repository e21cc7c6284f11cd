"""An evaluation set like the challenge's (short anonymous clips, no labels): check, caches,
prediction, submission and score, on one cut from the synthetic smoke set."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from avsc_lib.cli import main as avsc_main
from avsc_lib.data.checks import check_root
from avsc_lib.data.evaluation_set import make_evaluation_root, media_seconds
from avsc_lib.data.layout import feature_clips, is_evaluation_root, load_split
from avsc_lib.evaluation.submission import read_submission

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def evaluation_root(smoke_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("evalset")
    source = smoke_run.parent / "build" / "data" / "smoke-seed0"
    root = make_evaluation_root(source, base / "root", base / "labels.csv", seconds=(1.0, 1.9))
    return root, base / "labels.csv"


def test_the_root_is_an_evaluation_set_and_checks_clean(evaluation_root, capsys):
    root, labels = evaluation_root
    assert is_evaluation_root(root) and not list(root.glob("meta.csv"))
    clips = load_split(root, "test")
    assert [c.name for c in clips] == [str(i) for i in range(len(clips))] and all(c.scene is None for c in clips)
    assert all(1.0 <= media_seconds(c.audio_path) < 2.0 for c in clips)
    assert feature_clips(root, "audio", (".wav",)) == clips
    assert check_root(root) == []
    assert avsc_main(["check", str(root)]) == 0
    assert "an evaluation set" in capsys.readouterr().out
    assert "scene_label" not in (root / "evaluation_setup" / "fold1_test.csv").read_text()
    assert labels.read_text().count("\n") == len(clips) + 1


def test_check_names_a_clip_shorter_than_a_second(evaluation_root, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(evaluation_root[0], root)
    data, rate = sf.read(root / "audio" / "0.wav")
    sf.write(root / "audio" / "0.wav", data[: rate // 2], rate, subtype="PCM_24")
    (root / "video" / "1.mp4").write_bytes(b"")
    problems = {(p.line, p.kind) for p in check_root(root)}
    assert (2, "too-short") in problems and (3, "empty-file") in problems


def test_caches_read_each_clip_as_long_as_its_files(evaluation_root, smoke_run, tmp_path):
    root, _ = evaluation_root
    cache = tmp_path / "cache"
    assert avsc_main(["features", str(root), "--cache", str(cache), "--params", str(smoke_run / "params.yml")]) == 0
    assert avsc_main(["decode", str(root), "--cache", str(cache), "--params", str(smoke_run / "params.yml")]) == 0
    clips = load_split(root, "test")
    (audio_dir,) = cache.glob("audio-gammatone-*")
    lengths = [np.load(audio_dir / f"{c.name}.npy").shape[1] for c in clips]
    expected = [round(media_seconds(c.audio_path) / 0.02) for c in clips]
    assert lengths == expected and len(set(lengths)) > 1  # not cut or padded to one length
    (frames_dir,) = cache.glob("frames-*")
    assert "clip_seconds: null" in (frames_dir / "params.yml").read_text()


def test_predict_writes_one_row_per_clip_and_score_reads_it(evaluation_root, smoke_run, tmp_path, capsys):
    root, labels = evaluation_root
    submission = tmp_path / "submission.csv"
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "test", "--out", str(submission)]) == 0
    table = read_submission(submission)
    clips = load_split(root, "test")
    assert list(table["filename"].astype(str)) == [c.name for c in clips]
    np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(float).sum(axis=1), 1.0, atol=1e-5)
    capsys.readouterr()
    assert avsc_main(["score", str(submission), str(labels)]) == 0
    out = capsys.readouterr().out
    assert f"{len(clips)} rows for {len(clips)} files: accuracy" in out
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "evaluate"]) == 2
    assert "only the test split" in capsys.readouterr().err


def test_a_development_submission_scores_against_fold1_evaluate(smoke_run, capsys):
    root = smoke_run.parent / "build" / "data" / "smoke-seed0"
    submission = smoke_run / "submission_test.csv"  # notebook 05: test split = the evaluate clips
    assert avsc_main(["score", str(submission), str(root / "evaluation_setup" / "fold1_evaluate.csv")]) == 0
    assert "rows for" in capsys.readouterr().out
