"""Print the TensorFlow requirement of a flavour: ``cpu`` as pyproject.toml lists it, ``gpu`` the
CUDA build with the same version range (one source for the range: pyproject.toml)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirement(flavor: str) -> str:
    """``tensorflow-cpu<range>`` for ``cpu``, ``tensorflow[and-cuda]<range>`` for ``gpu``."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (cpu,) = [d for d in dependencies if d.startswith("tensorflow-cpu")]
    if flavor == "cpu":
        return cpu
    if flavor == "gpu":
        return "tensorflow[and-cuda]" + cpu.removeprefix("tensorflow-cpu")
    raise SystemExit(f"unknown flavour {flavor!r}: expected cpu or gpu")


if __name__ == "__main__":
    print(requirement(sys.argv[1] if len(sys.argv) > 1 else "cpu"))
