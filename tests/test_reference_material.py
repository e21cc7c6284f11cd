"""conftest._require: a missing reference file fails unless the whole shared folder is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

import conftest  # tests/conftest.py


@pytest.fixture
def shared(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "shared"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "present.h5").write_bytes(b"x")
    monkeypatch.setattr(conftest, "SHARED", folder)
    monkeypatch.delenv("CI", raising=False)
    return folder


def test_a_present_file_is_returned(shared):
    assert conftest._require(shared / "models" / "present.h5") == shared / "models" / "present.h5"


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_missing_file_fails_when_the_shared_folder_is_there(shared, monkeypatch, ci):
    if ci:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"reference file .*renamed\.h5 is missing from"):
        conftest._require(shared / "models" / "renamed.h5")


def test_only_an_absent_shared_folder_skips(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "absent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"reference material .*absent is absent"):
        conftest._require(tmp_path / "absent" / "models" / "x.h5")
    monkeypatch.setenv("CI", "true")  # CI provides the shared folder: its absence there fails
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        conftest._require(tmp_path / "absent" / "models" / "x.h5")
