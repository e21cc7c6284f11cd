"""The GPU and backend switches: `make GPU=1` installs TensorFlow's CUDA build in the same
version range, `BACKEND=jax` reaches the notebooks, and the whole smoke study runs on JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from tensorflow_requirement import requirement  # noqa: E402


def test_gpu_flavour_swaps_tensorflow_cpu_for_the_cuda_build_in_the_same_range():
    cpu = requirement("cpu")
    assert cpu.startswith("tensorflow-cpu") and requirement("gpu") == "tensorflow[and-cuda]" + cpu[len("tensorflow-cpu"):]
    with pytest.raises(SystemExit, match="unknown flavour"):
        requirement("tpu")


def test_make_gpu_1_installs_the_gpu_flavour(tmp_path):
    venv = tmp_path / "venv"
    dry = subprocess.run(["make", "-n", "venv", "GPU=1", f"VENV={venv}"], cwd=REPO, capture_output=True, text=True)
    assert f'scripts/setup_venv.sh "python3" "{venv}" gpu' in dry.stdout
    assert f"touch {venv}/.installed-gpu" in dry.stdout
    plain = subprocess.run(["make", "-n", "venv", f"VENV={venv}"], cwd=REPO, capture_output=True, text=True)
    assert f'"{venv}" cpu' in plain.stdout


def test_backend_reaches_the_commands_make_runs(tmp_path):
    shown = subprocess.run(["make", "-s", "--eval", "show-backend: ; @echo $$KERAS_BACKEND", "show-backend",
                            "BACKEND=jax"], cwd=REPO, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"})
    assert shown.stdout.strip() == "jax"


@pytest.mark.slow
def test_the_smoke_study_runs_on_jax(tmp_path):
    import jax  # noqa: F401 - part of the test install (the jax extra)

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = tmp_path / "run"
    done = subprocess.run([str(Path(sys.executable).parent / "avsc"), "run", "--params", str(REPO / "params" / "smoke.yml"),
                           "--out", str(out), "-p", "build_dir", str(tmp_path / "build")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "jax"
    assert all(0.0 <= metrics[name]["accuracy"] <= 1.0 for name in ("audio", "visual", "early", "late"))
    runs = sorted((tmp_path / "build" / "runs").glob("*/done.json"))
    assert runs and all(json.loads(path.read_text())["backend"] == "jax" for path in runs)
