"""The audio subnetwork: exact parameter counts, stage shapes by layer name, variants, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from avsc_lib.core.paper import PARAMETERS
from avsc_lib.models.audio import FEATURE_LAYER, build_audio_subnetwork
from avsc_lib.models.summary import count_parameters

STAGE_SHAPES = {
    "audio": (64, 50, 3),
    "audio_block1_out": (64, 50, 32),
    "audio_pool1": (64, 25, 32),
    "audio_block2_out": (64, 25, 64),
    "audio_pool2": (64, 12, 64),
    "audio_block3_out": (64, 12, 128),
    "audio_pool3": (64, 12, 128),
    "audio_gap": (128,),
    "audio_probs": (10,),
}


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return build_audio_subnetwork()


def test_parameter_counts_equal_the_paper(model):
    assert count_parameters(model) == PARAMETERS["audio"]
    assert count_parameters(model) == {"total": 323_274, "trainable": 321_930, "non_trainable": 1_344}


def test_stage_shapes(model):
    for name, shape in STAGE_SHAPES.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    assert FEATURE_LAYER == "audio_block3_out"


def test_defaults_follow_the_code(model):
    assert [model.get_layer(f"audio_dropout{i}").rate for i in (1, 2, 3)] == [0.0, 0.0, 0.0]
    assert model.get_layer("audio_pool3").pool_size == (1, 1)


@pytest.mark.parametrize("dropout, third_pool", [(0.3, 1), (0.0, 2), (0.3, 2)])
def test_text_variants_change_no_parameter_count(dropout, third_pool):
    variant = build_audio_subnetwork(dropout=dropout, third_pool=third_pool)
    assert count_parameters(variant) == PARAMETERS["audio"]
    assert variant.get_layer("audio_dropout2").rate == dropout
    assert tuple(variant.get_layer("audio_pool3").output.shape[1:]) == (64, 12 // third_pool, 128)
    assert tuple(variant.get_layer(FEATURE_LAYER).output.shape[1:]) == (64, 12, 128)


def test_bad_third_pool_is_refused():
    with pytest.raises(ValueError, match="third_pool"):
        build_audio_subnetwork(third_pool=3)


def test_forward_pass_gives_probabilities(model):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 50, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_other_input_sizes_build():
    small = build_audio_subnetwork(n_bands=16, n_frames=20, num_classes=4)
    assert small.output.shape == (None, 4)
    assert tuple(small.get_layer("audio_pool2").output.shape[1:]) == (16, 5, 64)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_save_load_round_trip_is_exact(model, tmp_path, suffix):
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64, 50, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / f"audio{suffix}"
    if suffix == ".keras":
        model.save(path)
        loaded = keras.saving.load_model(path)
    else:
        model.save_weights(path)
        loaded = build_audio_subnetwork()
        loaded.load_weights(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
