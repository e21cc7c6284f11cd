"""Progress of long work: reports from the notebooks' side, the display of ``avsc run``."""

from __future__ import annotations

import io
import json

import keras
import numpy as np
import pytest

from avsc_lib.core import progress
from avsc_lib.training.fitting import EpochProgress


@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    return path


def test_reports_go_nowhere_without_avsc_run(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.report({"task": "x", "done": 1, "total": 2})
    assert list(tmp_path.iterdir()) == []


def test_a_loop_reports_its_count_and_the_time_left(progress_file):
    shown = progress.Progress("gammatone features", 4)
    shown.update()
    state = json.loads(progress_file.read_text())  # the first report comes at once
    assert (state["task"], state["done"], state["total"], state["unit"]) == ("gammatone features", 1, 4, "clip")
    shown.update(3)
    state = json.loads(progress_file.read_text())  # and the last one always
    assert state["done"] == 4 and state["remaining"] == 0


def test_describe_and_clock():
    line = progress.describe({"task": "fusion-gammatone", "done": 3, "total": 200, "unit": "epoch",
                              "val_accuracy": 0.8125, "val_loss": 0.5, "elapsed": 65, "remaining": 3725,
                              "at_most": True})
    assert line == ("fusion-gammatone: epoch 3 of 200, val accuracy 81.2 %, val loss 0.500, 1:05 elapsed, "
                    "about 1:02:05 left at most")
    assert progress.clock(None) == "?" and progress.clock(59.6) == "1:00"


def test_training_reports_every_epoch(progress_file):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 3), np.float32), np.eye(10, dtype=np.float32)[np.arange(8)]
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(json.loads(progress_file.read_text()))

    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=[EpochProgress("toy", 5), Spy()])
    assert [s["done"] for s in seen] == [1, 2, 3] and all(s["total"] == 5 and s["unit"] == "epoch" for s in seen)
    assert seen[-1]["val_accuracy"] is not None and seen[-1]["val_loss"] > 0 and seen[-1]["at_most"]


def test_monitor_writes_one_line_per_epoch_to_the_log_and_a_pipe(tmp_path):
    stream, log = io.StringIO(), tmp_path / "run.log"
    with progress.Monitor(tmp_path / "progress.json", log, stream=stream, interval=60) as monitor:
        for done in (1, 1, 2):  # the same state twice is shown once
            progress.report({"task": "visual", "done": done, "total": 3, "unit": "epoch", "elapsed": done})
            monitor.poll()
        for done in range(1, 11):  # other work: a line per tenth
            progress.report({"task": "frame features", "done": done, "total": 100, "unit": "clip", "elapsed": 1})
            monitor.poll()
    lines = stream.getvalue().splitlines()
    assert lines == ["visual: epoch 1 of 3, 0:01 elapsed", "visual: epoch 2 of 3, 0:02 elapsed",
                     "frame features: clip 1 of 100, 0:01 elapsed", "frame features: clip 10 of 100, 0:01 elapsed"]
    assert [line.split(" ", 1)[1] for line in log.read_text().splitlines()] == lines
    assert progress.PROGRESS_ENV not in __import__("os").environ


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_monitor_updates_in_place_on_a_terminal(tmp_path):
    stream = FakeTerminal()
    with progress.Monitor(tmp_path / "progress.json", tmp_path / "run.log", stream=stream, interval=60) as monitor:
        for done in (1, 2):
            progress.report({"task": "audio-gammatone", "done": done, "total": 2, "unit": "epoch", "elapsed": 1})
            monitor.poll()
    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") >= 3 and "epoch 2 of 2" in text
    assert len((tmp_path / "run.log").read_text().splitlines()) == 2
