"""Mixed precision and XLA as parameters: off by default (the authors' float32), their own run
folders when on, and the probabilities kept in float32."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.training.fitting import compile_model, precision_policy
from avsc_lib.training.networks import build_fusion_model
from avsc_lib.training.runs import run_dir
from avsc_lib.training.steps import load_run, train_audio, train_fusion, train_visual
from test_training import tiny, toy_split


def test_defaults_are_the_authors_float32_without_xla():
    params = load_params(PARAMS_DIR / "paper.yml")
    assert params["precision"] == "float32" and params["jit_compile"] is False


def test_precision_and_xla_get_run_folders_of_their_own(tmp_path):
    base = tiny(tmp_path)
    folders = {run_dir(dict(base, **change), "audio") for change in
               ({}, {"precision": "mixed_bfloat16"}, {"precision": "mixed_float16"}, {"jit_compile": True})}
    assert len(folders) == 4
    assert run_dir(dict(base, precision="float32", jit_compile=False), "audio") == run_dir(base, "audio")


def test_mixed_policy_computes_in_low_precision_and_outputs_float32(tmp_path):
    with precision_policy("mixed_bfloat16"):
        model = build_fusion_model(tiny(tmp_path))
    assert keras.config.dtype_policy().name == "float32"  # restored
    assert model.get_layer("fusion_bigru").compute_dtype == "bfloat16"
    for name in ("early_probs", "late_probs", "late_concat"):
        assert model.get_layer(name).compute_dtype == "float32", name
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32
    outputs = model({"audio": np.zeros((2, 8, 50, 3), np.float32), "visual": np.zeros((2, 5, 512), np.float32)})
    for name, value in outputs.items():
        assert keras.backend.standardize_dtype(value.dtype) == "float32", name
        np.testing.assert_allclose(np.asarray(value).sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("change", [{"precision": "mixed_bfloat16"}, {"jit_compile": True}])
def test_steps_train_with_mixed_precision_or_xla(tmp_path, change):
    params = tiny(tmp_path / "build", audio_epochs=2, visual_epochs=1, fusion_epochs=1, visual_unfreeze=False, **change)
    train, val = toy_split(12, seed=0), toy_split(2, seed=1)
    audio = train_audio(params, None, train=train, val=val, verbose=0)
    visual = train_visual(params, None, train=train, val=val, verbose=0)
    fused = train_fusion(params, None, train=train, val=val, verbose=0)
    assert audio.info["epochs_run"] == 2 and fused.info["epochs_run"] == 1
    for run in (audio, visual, fused):
        assert all(np.isfinite(w).all() for w in run.model.get_weights())
    reloaded, _ = load_run(fused.dir)  # a finished run loads in float32 with the same weights
    for a, b in zip(reloaded.model.get_weights(), fused.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_compile_passes_xla_to_keras():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    assert compile_model(model, 1e-3, jit_compile=True).jit_compile is True
    assert compile_model(model, 1e-3, jit_compile=False).jit_compile is False
