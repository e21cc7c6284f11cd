"""The TAU-layout index (load_split, parse_name) and `avsc check` on a synthetic root and broken copies."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from avsc_lib.cli import main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.data.checks import check_root
from avsc_lib.data.layout import DatasetError, load_split, parse_name
from avsc_lib.data.synth import generate, is_complete

TRAIN = "evaluation_setup/fold1_train.csv"
EVALUATE = "evaluation_setup/fold1_evaluate.csv"
TEST = "evaluation_setup/fold1_test.csv"


def smoke_set(tmp_path_factory) -> Path:
    """The synthetic smoke set, generated once per test session (shared with test_synth.py)."""
    root = tmp_path_factory.getbasetemp() / "build" / "data" / "smoke-seed0"
    if not is_complete(root, "smoke", 0):
        generate(root, "smoke", 0, progress=False)
    return root


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    return smoke_set(tmp_path_factory)


@pytest.fixture
def broken(smoke_root, tmp_path) -> Path:
    """A copy of the smoke root to break: CSVs copied, media files linked (so cheap to delete)."""
    root = tmp_path / "root"
    for folder in ("audio", "video"):
        (root / folder).mkdir(parents=True)
        for path in (smoke_root / folder).iterdir():
            os.symlink(path, root / folder / path.name)
    (root / "evaluation_setup").mkdir()
    for rel in ("meta.csv", TRAIN, EVALUATE, TEST):
        shutil.copy(smoke_root / rel, root / rel)
    return root


def rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def write_rows(path: Path, table: list[list[str]]) -> None:
    path.write_text("".join("\t".join(row) + "\n" for row in table))


def find(problems, kind):
    found = [p for p in problems if p.kind == kind]
    assert found, f"no {kind} problem in {[str(p) for p in problems]}"
    return found


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest.update(f"{path.relative_to(root)} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()


# --- names and splits -----------------------------------------------------------------


def test_parse_name_real_names():
    assert parse_name("airport-lyon-1095-40158") == ("airport", "lyon", "1095", "40158")
    parts = parse_name("audio/street_pedestrian-barcelona-143-4336.wav")
    assert parts.scene == "street_pedestrian" and parts.city == "barcelona"
    assert parts.location == "143" and parts.segment == "4336"


@pytest.mark.parametrize("name", ["airport-lyon-1095", "street-pedestrian-lyon-1-2", "airport--1-2", ""])
def test_parse_name_rejects_malformed(name):
    with pytest.raises(DatasetError, match="not of the form"):
        parse_name(name)


def test_load_split_indexes_the_smoke_root(smoke_root):
    train, evaluate, test = (load_split(smoke_root, s) for s in ("train", "evaluate", "test"))
    assert (len(train), len(evaluate), len(test)) == (30, 10, 10)
    assert {c.scene for c in train} == set(CLASSES) == {c.scene for c in evaluate}
    assert all(c.scene is None for c in test)
    assert [c.name for c in test] == [c.name for c in evaluate]
    clip = train[0]
    assert clip.audio_path == smoke_root.resolve() / "audio" / f"{clip.name}.wav"
    assert clip.video_path.is_file() and clip.audio_path.is_file()
    assert (clip.scene, clip.city, clip.location, clip.segment) == tuple(parse_name(clip.name))
    assert clip.location_key == f"{clip.city}-{clip.location}"


def test_load_split_errors_name_file_and_line(broken):
    table = rows(broken / TRAIN)
    table[3][2] = "spaceport"
    write_rows(broken / TRAIN, table)
    with pytest.raises(DatasetError, match=r"fold1_train\.csv:4: unknown scene label 'spaceport'"):
        load_split(broken, "train")
    write_rows(broken / EVALUATE, [["filename_audio", "scene_label"], ["audio/x.wav", "bus"]])
    with pytest.raises(DatasetError, match=r"fold1_evaluate\.csv:1: header lacks column\(s\) filename_video"):
        load_split(broken, "evaluate")
    (broken / TEST).unlink()
    with pytest.raises(AvscError, match=r"fold1_test\.csv: required file is missing"):
        load_split(broken, "test")
    with pytest.raises(DatasetError, match="unknown split"):
        load_split(broken, "validation")


# --- check -----------------------------------------------------------------------------


def test_check_accepts_the_smoke_root_and_modifies_nothing(smoke_root, capsys):
    before = tree_digest(smoke_root)
    assert check_root(smoke_root) == []
    assert main(["check", str(smoke_root)]) == 0
    out = capsys.readouterr().out
    assert "OK: no problems found" in out and "airport" in out and "total" in out
    assert tree_digest(smoke_root) == before


def test_missing_audio_file(broken, capsys):
    name = rows(broken / TRAIN)[1][0]
    (broken / name).unlink()
    problems = find(check_root(broken), "missing-file")
    assert {(p.file, p.line) for p in problems} >= {(TRAIN, 2)}
    assert any(p.file == "meta.csv" and p.line is not None for p in problems)
    assert main(["check", str(broken)]) == 1
    assert f"{TRAIN}:2: {name} does not exist" in capsys.readouterr().out


def test_unknown_label(broken):
    table = rows(broken / TRAIN)
    table[5][2] = "beach"
    write_rows(broken / TRAIN, table)
    (problem,) = find(check_root(broken), "unknown-label")
    assert (problem.file, problem.line) == (TRAIN, 6) and "'beach'" in problem.message
    assert main(["check", str(broken)]) == 1


def test_label_disagreeing_with_name(broken):
    table = rows(broken / EVALUATE)
    wrong = "park" if table[1][2] != "park" else "bus"
    table[1][2] = wrong
    write_rows(broken / EVALUATE, table)
    problems = find(check_root(broken), "label-mismatch")
    assert any((p.file, p.line) == (EVALUATE, 2) and "disagrees with the name" in p.message for p in problems)
    assert main(["check", str(broken)]) == 1


def test_duplicated_row(broken):
    table = rows(broken / TRAIN)
    write_rows(broken / TRAIN, table + [table[2]])
    (problem,) = find(check_root(broken), "duplicate")
    assert (problem.file, problem.line) == (TRAIN, len(table) + 1) and "line 3" in problem.message
    assert main(["check", str(broken)]) == 1


def test_location_spanning_train_and_evaluate(broken, capsys):
    evaluate = rows(broken / EVALUATE)
    scene, city, location, _ = parse_name(evaluate[4][0])
    stem = f"{scene}-{city}-{location}-99999"  # a new segment of an evaluate location, put in train
    original = parse_name(evaluate[4][0])
    for folder, ext in (("audio", "wav"), ("video", "mp4")):
        source = (broken / folder / f"{'-'.join(original)}.{ext}").resolve()
        os.symlink(source, broken / folder / f"{stem}.{ext}")
    new_row = [f"audio/{stem}.wav", f"video/{stem}.mp4", scene]
    write_rows(broken / TRAIN, rows(broken / TRAIN) + [new_row])
    write_rows(broken / "meta.csv", rows(broken / "meta.csv") + [new_row + [f"{city}-{location}"]])
    problems = check_root(broken)
    (problem,) = find(problems, "location-leak")
    assert (problem.file, problem.line) == (EVALUATE, 5)
    assert f"{city}-{location}" in problem.message and "fold1_train.csv line 32" in problem.message
    assert main(["check", str(broken)]) == 1
    assert f"{EVALUATE}:5: location {city}-{location} spans train and evaluate" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, kind",
    [(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage", "unreadable"),
     (b"this is not a table\nat all\n", "missing-column"),
     (b"filename_audio,filename_video,scene_label\naudio/a.wav,video/a.mp4,bus\n", "missing-column"),
     (b"", "unreadable")],
)
def test_garbage_csv(broken, content, kind, capsys):
    (broken / EVALUATE).write_bytes(content)
    (problem,) = find(check_root(broken), kind)
    assert problem.file == EVALUATE
    assert main(["check", str(broken)]) == 1
    assert EVALUATE in capsys.readouterr().out
    with pytest.raises(DatasetError, match="fold1_evaluate.csv"):
        load_split(broken, "evaluate")


def test_malformed_row_and_missing_required_files(broken):
    with (broken / TRAIN).open("a") as handle:
        handle.write("audio/only-two-fields.wav\tvideo/only-two-fields.mp4\n")
    (broken / "meta.csv").unlink()
    shutil.rmtree(broken / "video")
    problems = check_root(broken)
    (malformed,) = find(problems, "malformed-row")
    assert (malformed.file, malformed.line) == (TRAIN, 32)
    assert any(p.file == "meta.csv" and "required file is missing" in p.message for p in problems)
    assert any(p.file == "video" and "required folder" in p.message for p in problems)


def test_check_of_a_missing_root(tmp_path):
    assert main(["check", str(tmp_path / "nowhere")]) == 1


def test_empty_media_file(broken):
    name = rows(broken / EVALUATE)[3][1]
    (broken / name).unlink()
    (broken / name).write_bytes(b"")
    problems = find(check_root(broken), "empty-file")
    assert (EVALUATE, 4) in {(p.file, p.line) for p in problems}
