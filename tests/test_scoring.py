"""`avsc score`: a submission against labels, as the challenge's evaluation scores it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from avsc_lib.cli import main as avsc_main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.evaluation.scoring import score_submission
from avsc_lib.evaluation.submission import write_clip_submission, write_submission


def reference(path, names, labels, column="filename"):
    lines = [f"{column}\tscene_label"] + [f"audio/{n}.wav\t{CLASSES[label]}" for n, label in zip(names, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def probabilities(n, seed):
    rng = np.random.default_rng(seed)
    p = rng.random((n, len(CLASSES))) ** 3
    return p / p.sum(axis=-1, keepdims=True)


def test_a_clip_submission_scores_as_sklearn_does(tmp_path):
    names, labels = [str(i) for i in range(30)], np.arange(30) % 10
    probs = probabilities(30, 0)
    sub = write_clip_submission(tmp_path / "sub.csv", names, [p[None] for p in probs])
    scores = score_submission(sub, reference(tmp_path / "ref.csv", names, labels))
    assert scores["rows"] == scores["files"] == 30
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(labels, probs.argmax(axis=1)))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(labels, probs, labels=range(10)), rel=1e-4)
    matrix = np.array(scores["confusion"])
    assert matrix.sum() == 30 and np.trace(matrix) == round(30 * scores["accuracy"])
    assert set(scores["per_class_accuracy"]) == set(CLASSES)


def test_a_development_submission_scores_against_the_clip_labels(tmp_path):
    names = ["park-lyon-1-0", "bus-paris-2-0"]
    segment_probs = np.stack([probabilities(10, 1), probabilities(10, 2)])
    sub = write_submission(tmp_path / "dev.csv", names, segment_probs)
    ref = tmp_path / "fold1_evaluate.csv"
    ref.write_text("filename_audio\tfilename_video\tscene_label\n"
                   "audio/park-lyon-1-0.wav\tvideo/park-lyon-1-0.mp4\tpark\n"
                   "audio/bus-paris-2-0.wav\tvideo/bus-paris-2-0.mp4\tbus\n")
    scores = score_submission(sub, ref)
    labels = np.repeat([CLASSES.index("park"), CLASSES.index("bus")], 10)
    assert scores["rows"] == 20 and scores["files"] == 2
    assert scores["accuracy"] == pytest.approx(np.mean(segment_probs.reshape(20, 10).argmax(1) == labels))


@pytest.fixture
def good(tmp_path):
    names = [str(i) for i in range(4)]
    ref = reference(tmp_path / "ref.csv", names, [0, 1, 2, 3])
    sub = write_clip_submission(tmp_path / "sub.csv", names, [p[None] for p in probabilities(4, 3)])
    return sub, ref


def rewrite(path, edit):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def test_missing_and_extra_rows_are_named(good):
    sub, ref = good
    rewrite(sub, lambda lines: lines[:-1])
    with pytest.raises(AvscError, match=r"no row for 1 file\(s\) of .*ref\.csv: 3"):
        score_submission(sub, ref)
    rewrite(sub, lambda lines: lines + ["3\tbus" + "\t0.1" * 10, "extra-7\tbus" + "\t0.1" * 10])
    with pytest.raises(AvscError, match=r"1 row\(s\) name files that .*does not list: extra-7"):
        score_submission(sub, ref)


def test_unknown_classes_and_bad_probabilities_are_named(good, tmp_path):
    sub, ref = good
    rewrite(sub, lambda lines: [lines[0], lines[1].replace(lines[1].split("\t")[1], "beach", 1), *lines[2:]])
    with pytest.raises(AvscError, match="unknown scene label.*beach"):
        score_submission(sub, ref)
    rewrite(sub, lambda lines: [lines[0]] + ["\t".join([f"{i}", "bus"] + ["0.2"] * 10) for i in range(4)])
    with pytest.raises(AvscError, match=r"probabilities of 4 row\(s\) do not sum to one: 0 \(2\.0000\)"):
        score_submission(sub, ref)
    bad_ref = tmp_path / "bad_ref.csv"
    bad_ref.write_text("filename\tscene_label\n0\tbeach\n")
    with pytest.raises(AvscError, match="bad_ref.csv: unknown scene label"):
        score_submission(sub, bad_ref)
    no_columns = tmp_path / "cols.csv"
    no_columns.write_text("name\tlabel\n0\tbus\n")
    with pytest.raises(AvscError, match="needs the columns filename"):
        score_submission(sub, no_columns)
    wrong_header = tmp_path / "sub2.csv"
    wrong_header.write_text("file\tlabel\n")
    with pytest.raises(AvscError, match="header is file label"):
        score_submission(wrong_header, ref)


def test_avsc_score_prints_the_tables_and_writes_json(good, tmp_path, capsys):
    sub, ref = good
    assert avsc_main(["score", str(sub), str(ref), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "4 rows for 4 files: accuracy" in out and "confusion (rows true, columns predicted)" in out
    assert json.loads((tmp_path / "s.json").read_text())["rows"] == 4
    rewrite(sub, lambda lines: lines[:-1])
    assert avsc_main(["score", str(sub), str(ref)]) == 2
    assert "no row for 1 file" in capsys.readouterr().err
