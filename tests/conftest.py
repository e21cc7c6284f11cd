"""Shared fixtures: the read-only reference material in ../shared, and small synthetic roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AVSC_SHARED", REPO.parent / "shared"))
AUDIO_SAMPLE_DIR = SHARED / "data" / "tau-av-2021-audio-sample"
VIDEO_SAMPLE_DIR = SHARED / "data" / "video"
VGG16_IMAGENET_H5 = SHARED / "models" / "vgg16_imagenet_notop.h5"


def _require(path: Path) -> Path:
    """``path`` in the reference material; skip only where the whole shared folder is absent.

    With the shared folder present (as beside a CI checkout), or whenever ``CI`` is set, a
    missing file fails the test: a renamed file must not turn real-data tests into skips.
    """
    if path.exists():
        return path
    if not SHARED.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"reference material {SHARED} is absent (it lies beside a CI checkout only)")
    pytest.fail(f"reference file {path} is missing from {SHARED}"
                + (" (CI is set: the reference material must be complete)" if os.environ.get("CI") else ""),
                pytrace=False)


@pytest.fixture(scope="session")
def audio_sample_dir() -> Path:
    """The 26 real TAU AV 2021 audio clips (FLAC)."""
    return _require(AUDIO_SAMPLE_DIR)


@pytest.fixture(scope="session")
def video_sample_dir() -> Path:
    """Two real camera videos (25 fps MP4, 10 fps AVI)."""
    return _require(VIDEO_SAMPLE_DIR)


@pytest.fixture(scope="session")
def vgg16_imagenet_h5() -> Path:
    """The ImageNet VGG16 conv base in Keras' HDF5 layout."""
    return _require(VGG16_IMAGENET_H5)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One ``avsc run`` of params/smoke.yml (all notebooks), shared by the study and book tests.

    Everything it writes (synthetic data, caches, runs, executed notebooks) stays in a
    temporary build folder.
    """
    from avsc_lib.cli import main

    base = tmp_path_factory.mktemp("smoke")
    out = base / "run-smoke"
    status = main(["run", "--params", str(REPO / "params" / "smoke.yml"), "--out", str(out),
                   "-p", "build_dir", str(base / "build")])
    assert status == 0, "avsc run --params params/smoke.yml failed (see the output above)"
    return out
