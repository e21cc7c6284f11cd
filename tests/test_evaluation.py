"""Evaluation: metrics against scikit-learn, clip scores, saved results, submission files, predict."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from avsc_lib.apply import predict
from avsc_lib.cli import main as avsc_main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params, save_params
from avsc_lib.data.layout import Clip
from avsc_lib.evaluation import evaluate as evaluation
from avsc_lib.evaluation.evaluate import evaluate_run
from avsc_lib.evaluation.metrics import (
    Evaluation,
    accuracy,
    accuracy_table,
    clip_probabilities,
    confusion,
    kind_accuracies,
    log_loss,
    per_class_accuracy,
    score,
)
from avsc_lib.evaluation.submission import read_submission, write_submission
from avsc_lib.training.runs import Run
from avsc_lib.training.segments import SplitData


def random_probs(n: int, seed: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.concatenate([np.arange(10), rng.integers(0, 10, size=n - 10)])
    return probs.astype(dtype), labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_metrics_match_scikit_learn(dtype):
    probs, labels = random_probs(200, seed=0, dtype=dtype)
    probs[0] = 0.0  # a zero probability for the true class: clipped, not infinite
    probs[0, (labels[0] + 1) % 10] = 1.0
    predicted = probs.argmax(axis=1)
    assert accuracy(probs, labels) == pytest.approx(skm.accuracy_score(labels, predicted))
    assert log_loss(probs, labels) == pytest.approx(skm.log_loss(labels, probs, labels=range(10)), rel=1e-6)
    np.testing.assert_array_equal(confusion(probs, labels), skm.confusion_matrix(labels, predicted, labels=range(10)))
    np.testing.assert_allclose(
        per_class_accuracy(probs, labels), skm.recall_score(labels, predicted, labels=range(10), average=None)
    )


def test_per_class_accuracy_is_nan_for_an_absent_class():
    probs, labels = random_probs(30, seed=1)
    keep = labels != 4
    values = per_class_accuracy(probs[keep], labels[keep])
    assert np.isnan(values[4]) and not np.isnan(np.delete(values, 4)).any()


def test_clip_scores_average_the_segments():
    # clip 0 (class 0): 6 of 10 segments lean to class 1, but the mean favours class 0
    segments = np.zeros((2, 10, 10), np.float32)
    segments[0, :6, 1], segments[0, :6, 0] = 0.55, 0.45
    segments[0, 6:, 0], segments[0, 6:, 1] = 1.0, 0.0
    segments[1, :, 2] = 1.0  # clip 1 (class 2): all right
    labels = np.array([0, 2])
    np.testing.assert_allclose(clip_probabilities(segments)[0, :2], [0.67, 0.33], atol=1e-6)
    result = score(segments, labels)
    assert result["accuracy"] == pytest.approx(14 / 20)
    assert result["clip_accuracy"] == 1.0
    assert result["n_segments"] == 20 and result["n_clips"] == 2
    assert result["per_class_accuracy"]["airport"] == pytest.approx(0.4)
    assert result["per_class_accuracy"]["metro"] == 1.0 and result["per_class_accuracy"]["bus"] is None
    assert np.array(result["confusion"]).sum() == 20
    assert result["log_loss"] == pytest.approx(skm.log_loss(np.repeat(labels, 10), segments.reshape(-1, 10), labels=range(10)))


def test_submission_file_format(tmp_path):
    probs = np.stack([random_probs(10, seed=s)[0] for s in range(3)])  # 3 clips x 10 segments
    names = ["airport-lyon-1095-40158", "bus-lyon-1-2", "metro_station-paris-3-4"]
    path = write_submission(tmp_path / "sub.csv", names, probs)
    lines = path.read_text().splitlines()
    assert lines[0] == "\t".join(["filename", "scene_label", *CLASSES])
    assert lines[0] == ("filename\tscene_label\tairport\tbus\tmetro\tmetro_station\tpark\tpublic_square\t"
                        "shopping_mall\tstreet_pedestrian\tstreet_traffic\ttram")
    assert len(lines) == 1 + 30
    assert all(len(line.split("\t")) == 12 for line in lines)
    table = read_submission(path)
    assert table["filename"].iloc[13] == "bus-lyon-1-2_3"
    assert table["filename"].iloc[29].rsplit("_", 1) == ["metro_station-paris-3-4", "9"]
    np.testing.assert_allclose(table[list(CLASSES)].to_numpy(), probs.reshape(30, 10), rtol=1e-5, atol=1e-9)
    assert (table["scene_label"] == [CLASSES[i] for i in probs.reshape(30, 10).argmax(axis=1)]).all()

    (tmp_path / "bad.csv").write_text("file\tlabel\n")
    with pytest.raises(AvscError, match="bad.csv: header"):
        read_submission(tmp_path / "bad.csv")
    with pytest.raises(AvscError, match=r"expected per clip \(segments, 10\) probabilities for 2 clips, got 3 arrays"):
        write_submission(tmp_path / "x.csv", names[:2], probs)


def test_accuracy_table_sits_beside_the_paper():
    table = accuracy_table({"gammatone": {"audio": 0.5, "visual": 0.75, "early": 0.8, "late": 0.9},
                            "logmel": {"audio": 0.45}}, label="this study")
    assert table.loc[("this study", "gammatone"), "late fusion"] == pytest.approx(90.0)
    assert np.isnan(table.loc[("this study", "log-mel"), "early fusion"])
    paper = "paper (TAU AV 2021, fold-1 evaluate)"
    assert table.loc[(paper, "gammatone"), "late fusion"] == 90.0
    assert table.loc[(paper, "log-mel"), "audio only"] == 68.4


# --- a tiny run to evaluate -----------------------------------------------------------------------


def tiny_run(tmp_path: Path) -> tuple[Run, dict]:
    """A one-layer 'audio subnetwork' that reads the class from band 0's mean value."""
    params = load_params(PARAMS_DIR / "paper.yml", {"build_dir": str(tmp_path / "build"), "n_bands": 4})
    inputs = keras.Input((4, 50, 3), name="audio")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="probs")(x))
    folder = tmp_path / "run"
    folder.mkdir()
    save_params(params, folder / "params.yml")
    return Run("audio", folder, model, ("audio",), ("audio",), "gammatone"), params


def tiny_split(n_clips: int, labelled: bool = True) -> SplitData:
    rng = np.random.default_rng(0)
    audio = [rng.normal(size=(4, 500, 3)).astype(np.float32) for _ in range(n_clips)]
    labels = np.arange(n_clips) % 10 if labelled else None
    return SplitData([f"park-city-{i}-0" for i in range(n_clips)], labels, audio)


def test_evaluate_run_scores_segments_and_saves_results(tmp_path, monkeypatch):
    run, params = tiny_run(tmp_path)
    data = tiny_split(3)
    monkeypatch.setattr(evaluation, "split_data", lambda *args: data)
    result = evaluate_run(run, params, None, "evaluate")
    assert result.outputs == ("audio",) and result.probs["audio"].shape == (3, 10, 10)
    expected = run.model.predict(np.stack([evaluation_input(data, 0, s) for s in range(10)]), verbose=0)
    np.testing.assert_allclose(result.probs["audio"][0], expected, atol=1e-5)
    with np.load(run.dir / "predictions_evaluate.npz") as saved:
        assert list(saved["names"]) == data.names and list(saved["labels"]) == list(data.labels)
        np.testing.assert_array_equal(saved["probs_audio"], result.probs["audio"])
    truth, predicted = np.repeat(data.labels, 10), result.probs["audio"].reshape(-1, 10).argmax(axis=1)
    matrix = pd.read_csv(run.dir / "confusion_evaluate_audio.csv", index_col=0)
    assert list(matrix.index) == list(matrix.columns) == list(CLASSES)
    np.testing.assert_array_equal(matrix.to_numpy(), skm.confusion_matrix(truth, predicted, labels=range(10)))
    per_class = pd.read_csv(run.dir / "per_class_evaluate.csv", index_col=0)
    assert list(per_class.index) == list(CLASSES) and list(per_class.columns) == ["audio"]
    recall = 100 * skm.recall_score(truth, predicted, labels=range(10), average=None, zero_division=0)
    present = np.isin(np.arange(10), data.labels)
    np.testing.assert_allclose(per_class["audio"].to_numpy()[present], recall[present], atol=0.005)  # 2 decimals
    assert per_class["audio"][~present].isna().all()  # classes without clips: empty, not 0 %
    saved = json.loads((run.dir / "metrics_evaluate.json").read_text())
    assert saved["audio"]["accuracy"] == pytest.approx(result.metrics()["audio"]["accuracy"])
    assert result.summary().loc["audio", "log_loss"] == pytest.approx(saved["audio"]["log_loss"])
    assert list(result.per_class().index) == list(CLASSES)
    assert result.confusion("audio").to_numpy().sum() == 30

    monkeypatch.setattr(evaluation, "split_data", lambda *args: pytest.fail("saved predictions are reused"))
    again = evaluate_run(run, params, None, "evaluate")
    np.testing.assert_array_equal(again.probs["audio"], result.probs["audio"])
    assert again.names == result.names and (again.labels == result.labels).all()


def evaluation_input(data: SplitData, clip: int, second: int) -> np.ndarray:
    from avsc_lib.training.segments import minmax_scale

    return minmax_scale(data.audio[clip][:, 50 * second : 50 * second + 50])


def test_unlabelled_split_has_predictions_but_no_scores(tmp_path):
    run, params = tiny_run(tmp_path)
    result = evaluate_run(run, params, None, "test", data=tiny_split(2, labelled=False))
    assert result.labels is None and result.probs["audio"].shape == (2, 10, 10)
    with pytest.raises(AvscError, match="no labels"):
        result.metrics()


def test_avsc_predict_writes_a_submission(tmp_path, monkeypatch, capsys):
    run, params = tiny_run(tmp_path)
    (run.dir / "done.json").write_text("{}")  # a finished run folder (load_run is replaced below)
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setattr(predict, "load_run", lambda folder: (run, params))
    seen = {}

    def fake_split(run_, params_, inputs, split):
        seen.update(root=params_["data_root"], split=split)
        return tiny_split(4, labelled=split != "test")

    monkeypatch.setattr(predict, "split_data", fake_split)
    clips = [Clip(name, root / f"{name}.wav", root / f"{name}.mp4", None) for name in tiny_split(4).names]

    class Inputs:  # the root's clips, as the study's inputs would list them
        def __init__(self, params_):
            pass

        def clips(self, split):
            return clips

    monkeypatch.setattr(predict, "StudyInputs", Inputs)
    assert avsc_main(["predict", str(run.dir), str(root), "--split", "test"]) == 0
    table = read_submission(run.dir / "submission_test.csv")
    assert len(table) == 40 and seen == {"root": str(root), "split": "test"}
    out = tmp_path / "sub_eval.csv"
    assert avsc_main(["predict", str(run.dir), str(root), "--split", "evaluate", "--out", str(out)]) == 0
    assert len(read_submission(out)) == 40
    assert "accuracy" in capsys.readouterr().out

    assert avsc_main(["predict", str(run.dir), str(tmp_path / "missing")]) == 2
    assert "dataset root not found" in capsys.readouterr().err


@pytest.mark.slow
def test_avsc_predict_on_the_trained_smoke_run_and_its_root(smoke_run, tmp_path, capsys):
    from avsc_lib.study.inputs import StudyInputs
    from avsc_lib.training.runs import run_dir

    params = load_params(smoke_run / "params.yml")
    inputs = StudyInputs(params)
    root = inputs.root
    out = tmp_path / "evaluate.csv"
    capsys.readouterr()
    assert avsc_main(["predict", str(smoke_run), str(root), "--split", "evaluate", "--out", str(out)]) == 0
    table = read_submission(out)
    seconds = int(params["clip_seconds"])
    clips = inputs.clips("evaluate")
    assert table["filename"].tolist() == [f"{clip.name}_{i}" for clip in clips for i in range(seconds)]
    # the late-fusion probabilities the study saved for the same split (notebook 05), to the 6 digits printed
    with np.load(run_dir(params, "fusion") / "predictions_evaluate.npz") as saved:
        late = saved["probs_late"].reshape(-1, len(CLASSES))
    np.testing.assert_allclose(table[list(CLASSES)].to_numpy(), late, rtol=2e-5, atol=1e-6)
    assert table["scene_label"].tolist() == [CLASSES[i] for i in late.argmax(axis=1)]
    metrics = json.loads((smoke_run / "metrics.json").read_text())["late"]
    printed = capsys.readouterr().out
    assert f"{len(clips) * seconds} segments of {len(clips)} clips (late output)" in printed
    assert f"accuracy {metrics['accuracy']:.3f}, log loss {metrics['log_loss']:.3f} over 1-s segments" in printed

    assert avsc_main(["predict", str(smoke_run), str(root), "--out", str(tmp_path / "test.csv")]) == 0
    test = read_submission(tmp_path / "test.csv")
    assert test["filename"].tolist() == [f"{clip.name}_{i}" for clip in inputs.clips("test")
                                         for i in range(seconds)]
    np.testing.assert_allclose(test[list(CLASSES)].sum(axis=1), 1.0, atol=1e-4)
    assert "accuracy" not in capsys.readouterr().out  # the test split has no labels


def test_predict_names_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "root").mkdir()
    assert avsc_main(["predict", str(tmp_path), str(tmp_path / "root")]) == 2
    assert "not a run folder of the audio-visual network, an `avsc run` folder" in capsys.readouterr().err


def test_evaluation_tables_from_predictions():
    probs = np.stack([random_probs(10, seed=s)[0] for s in range(4)])
    result = Evaluation("evaluate", ["a", "b", "c", "d"], np.array([0, 1, 2, 3]), {"audio": probs, "late": probs})
    assert list(result.summary().index) == ["audio", "late"]
    assert list(result.per_class().columns) == ["audio", "late"]
    assert result.per_class().loc["airport", "audio"] == pytest.approx(100 * per_class_accuracy(probs.reshape(40, 10), np.repeat([0, 1, 2, 3], 10))[0])


def test_kind_accuracies_and_study_metrics(tmp_path):
    probs = np.stack([random_probs(10, seed=s)[0] for s in range(4)])
    labels = np.array([0, 1, 2, 3])
    fused = Evaluation("evaluate", list("abcd"), labels, {o: probs for o in ("audio", "visual", "early", "late")})
    other = Evaluation("evaluate", list("abcd"), labels, {"audio": probs[::-1].copy()})
    visual = Evaluation("evaluate", list("abcd"), labels, {"visual": np.roll(probs, 1, axis=2)})
    params = load_params(PARAMS_DIR / "paper.yml")
    by_kind = kind_accuracies({"gammatone": fused, "logmel": other}, visual, {"gammatone": fused})
    assert by_kind["logmel"]["early"] is None and by_kind["gammatone"]["late"] == fused.metrics()["late"]["accuracy"]
    # the visual column is the visual subnetwork on its own, in every row
    assert by_kind["logmel"]["visual"] == by_kind["gammatone"]["visual"] == visual.metrics()["visual"]["accuracy"]
    assert by_kind["gammatone"]["visual"] != fused.metrics()["visual"]["accuracy"]
    assert by_kind["logmel"]["audio"] == other.metrics()["audio"]["accuracy"]
    assert evaluation.feature_kinds(params) == ["gammatone", "logmel"]
    assert evaluation.feature_kinds({**params, "compare_feature_kinds": [], "feature_kind": "logmel"}) == ["logmel"]

    (tmp_path / "backbone.json").write_text(json.dumps({"weights": "imagenet", "sha256": "abc"}))
    run = Run("fusion", tmp_path, None, ("audio", "visual"), ("audio", "visual", "early", "late"), "gammatone")
    result = evaluation.study_metrics(params, run, fused, by_kind)
    for output in ("audio", "visual", "early", "late"):
        assert result[output]["accuracy"] == pytest.approx(fused.metrics()[output]["accuracy"])
        assert result[output]["log_loss"] == pytest.approx(fused.metrics()[output]["log_loss"])
    assert result["split"] == "evaluate" and result["backbone"]["weights"] == "imagenet"
    json.dumps(result)  # serialisable as metrics.json


def test_training_and_evaluation_figures():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    from matplotlib.figure import Figure

    from avsc_lib.evaluation import plots
    log = pd.DataFrame({"epoch": [0, 1, 2], "accuracy": [0.1, 0.2, 0.3], "val_accuracy": [0.1, 0.3, 0.2]})
    fused_log = pd.DataFrame({"epoch": [0, 1], **{f"{p}{o}_accuracy": [0.1, 0.5] for p in ("", "val_")
                                                    for o in ("audio", "visual", "early", "late")}})
    fig = plots.learning_curves({"audio-gammatone": log, "fusion": fused_log})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].get_lines() if not line.get_label().startswith("_")] == \
        ["audio", "visual", "early", "late"]
    probs = np.stack([random_probs(10, seed=s)[0] for s in range(10)])
    result = Evaluation("evaluate", list("abcdefghij"), np.arange(10), {"audio": probs, "late": probs})
    fig = plots.per_class_accuracy(result.per_class())
    assert len(fig.axes[0].patches) == 20  # 10 classes x 2 outputs
    fig = plots.confusion_matrices({o: result.confusion(o) for o in result.outputs})
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "late"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(int(t) for t in texts) == 100  # every segment counted once
