"""Atomic writes: whole files or none, with the permissions a plain write gives."""

from __future__ import annotations

import stat

import pytest

from avsc_lib.core.atomic import atomic_path, write_text


def test_an_atomic_file_gets_the_mode_of_a_plain_one(tmp_path):
    write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    mode = [stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("atomic.txt", "plain.txt")]
    assert mode[0] == mode[1]


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="^interrupted$"):
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
