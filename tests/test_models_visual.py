"""The visual head and the full visual subnetwork: counts, shapes, one shared head, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from avsc_lib.core.paper import PARAMETERS
from avsc_lib.models import backbone
from avsc_lib.models.summary import count_parameters
from avsc_lib.models.visual import build_visual_head, build_visual_subnetwork

SMALL = 32  # VGG16 maps a 32x32 frame to 1x1x512: fast, same parameter count


@pytest.fixture(scope="module")
def head() -> keras.Model:
    return build_visual_head()


@pytest.fixture(scope="module")
def small_network(head) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_visual_subnetwork(frame_size=SMALL, head=head)


def _frames(batch: int = 2, size: int = SMALL, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, 5, size, size, 3), dtype=np.uint8)


def test_head_counts_and_shapes(head):
    assert count_parameters(head) == {"total": 105_482, "trainable": 105_482, "non_trainable": 0}
    assert count_parameters(head.get_layer("visual_bigru"))["total"] == 104_832
    shapes = {"visual_features": (5, 512), "visual_bigru": (5, 64), "visual_dropout": (5, 64),
              "visual_step_probs": (5, 10), "visual_average": (10,)}
    for name, shape in shapes.items():
        assert tuple(head.get_layer(name).output.shape[1:]) == shape, name
    assert head.get_layer("visual_dropout").rate == 0.5


@pytest.mark.parametrize("frame_pooling", ["max", "avg"])
def test_full_network_counts_at_224(frame_pooling):
    network = build_visual_subnetwork(frame_size=224, frame_pooling=frame_pooling)
    assert count_parameters(network) == PARAMETERS["visual"]
    assert count_parameters(network) == {"total": 14_820_170, "trainable": 105_482, "non_trainable": 14_714_688}
    assert tuple(network.get_layer("frames").output.shape[1:]) == (5, 224, 224, 3)
    assert tuple(network.get_layer("frame_features").output.shape[1:]) == (5, 512)
    encoder = network.get_layer("frame_features").layer
    assert tuple(encoder.get_layer("vgg16").output.shape[1:]) == (7, 7, 512)
    assert tuple(network.output.shape[1:]) == (10,)


def test_defaults_follow_the_code(small_network):
    encoder = small_network.get_layer("frame_features").layer
    assert isinstance(encoder.get_layer("frame_pooling"), keras.layers.GlobalMaxPooling2D)
    assert isinstance(encoder.get_layer("frame_preprocessing"), keras.layers.Identity)  # raw RGB


def test_network_shares_the_head_object(small_network, head):
    assert small_network.get_layer("visual_head") is head


def test_head_on_cached_features_equals_network_on_frames(small_network, head):
    frames = _frames()
    encoder = small_network.get_layer("frame_features").layer
    features = encoder.predict(frames.reshape(-1, SMALL, SMALL, 3), verbose=0).reshape(2, 5, 512)
    on_features = head.predict(features, verbose=0)
    on_frames = small_network.predict(frames, verbose=0)
    assert on_frames.shape == (2, 10)
    np.testing.assert_allclose(on_features, on_frames, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_frames.sum(axis=1), 1.0, rtol=1e-5)


def test_given_frame_encoder_is_used(head):
    encoder, _ = backbone.build_frame_encoder(SMALL, "none", frame_pooling="avg", preprocessing="caffe")
    network = build_visual_subnetwork(head=head, frame_encoder=encoder)
    assert network.get_layer("frame_features").layer is encoder
    assert tuple(network.input.shape[1:]) == (5, SMALL, SMALL, 3)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_save_load_round_trip_is_exact(small_network, tmp_path, suffix):
    frames = _frames(seed=1)
    expected = small_network.predict(frames, verbose=0)
    path = tmp_path / f"visual{suffix}"
    if suffix == ".keras":
        small_network.save(path)
        loaded = keras.saving.load_model(path)
    else:
        small_network.save_weights(path)
        loaded = build_visual_subnetwork(frame_size=SMALL)
        loaded.load_weights(path)
    assert count_parameters(loaded) == count_parameters(small_network)
    np.testing.assert_array_equal(loaded.predict(frames, verbose=0), expected)
