"""The VGG16 base: weights resolution (offline), frame preprocessing, the frame encoder."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from avsc_lib.core.errors import AvscError
from avsc_lib.models import backbone
from avsc_lib.models.summary import count_parameters

IMAGENET_BIAS_START = [0.73429835, 0.09340367, 0.06775674, 0.8862966]
KERAS_IMAGENET_NAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
PLACES_NAME = "vgg16-places365_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """No weights folder, an empty Keras cache, and a downloader that fails like an offline machine."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(backbone.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    calls: list[str] = []

    def failing_download(spec, cache_dir):
        calls.append(spec.kind)
        raise OSError("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(backbone, "_download", failing_download)
    return calls


def _bias_start(encoder: keras.Model) -> np.ndarray:
    return encoder.get_layer("vgg16").get_layer("block1_conv1").bias.numpy()[:4]


# --- weights resolution ---------------------------------------------------------------------------


def test_load_by_path(offline, vgg16_imagenet_h5):
    encoder, info = backbone.build_frame_encoder(32, str(vgg16_imagenet_h5))
    np.testing.assert_allclose(_bias_start(encoder), IMAGENET_BIAS_START, rtol=1e-6)
    assert info["weights"] == "path" and info["identified_as"] == "imagenet"
    assert info["path"] == str(vgg16_imagenet_h5.resolve())
    assert info["sha256"] == backbone.KNOWN_WEIGHTS["imagenet"][1].sha256
    assert offline == []


def test_load_imagenet_through_env_folder(offline, vgg16_imagenet_h5, monkeypatch):
    monkeypatch.setenv(backbone.WEIGHTS_DIR_ENV, str(vgg16_imagenet_h5.parent))
    encoder, info = backbone.build_frame_encoder(32, "imagenet")
    np.testing.assert_allclose(_bias_start(encoder), IMAGENET_BIAS_START, rtol=1e-6)
    assert info == {"weights": "imagenet", "requested": "imagenet", "path": str(vgg16_imagenet_h5.resolve()),
                    "sha256": backbone.KNOWN_WEIGHTS["imagenet"][1].sha256}
    assert offline == []


def test_canonical_name_is_identified_by_checksum(offline, vgg16_imagenet_h5, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / KERAS_IMAGENET_NAME).symlink_to(vgg16_imagenet_h5)
    info = backbone.resolve_weights("imagenet", weights_dir=folder)
    assert info["weights"] == "imagenet" and Path(info["path"]).name == vgg16_imagenet_h5.name


def test_weights_dir_comes_before_env_and_keras_cache(offline, tmp_path, monkeypatch):
    first, second, home = tmp_path / "first", tmp_path / "second", tmp_path / "kh"
    monkeypatch.setenv(backbone.WEIGHTS_DIR_ENV, str(second))
    monkeypatch.setenv("KERAS_HOME", str(home))
    assert backbone.weights_search_dirs(first) == [first, second, home / "models"]
    for folder in (first, second, home / "models"):
        folder.mkdir(parents=True)
        (folder / PLACES_NAME).write_bytes(folder.name.encode())
    assert Path(backbone.resolve_weights("places365", first)["path"]).parent == first.resolve()
    assert Path(backbone.resolve_weights("places365")["path"]).parent == second.resolve()
    monkeypatch.delenv(backbone.WEIGHTS_DIR_ENV)
    assert Path(backbone.resolve_weights("places365")["path"]).parent == (home / "models").resolve()


def test_auto_without_any_file_falls_back_to_random_loudly(offline, caplog):
    with caplog.at_level(logging.WARNING, logger=backbone.__name__):
        with pytest.warns(RuntimeWarning, match="RANDOM weights"):
            encoder, info = backbone.build_frame_encoder(32, "auto")
    assert info["weights"] == "random" and info["requested"] == "auto" and info["path"] is None
    assert PLACES_NAME in info["reason"] and KERAS_IMAGENET_NAME in info["reason"]
    assert offline == ["places365", "imagenet"]  # tried both downloads, failing fast
    assert "RANDOM weights" in caplog.text
    assert count_parameters(encoder)["non_trainable"] == backbone.VGG16_BASE_PARAMETERS


def test_auto_without_downloads_does_not_try_the_network(offline):
    with pytest.warns(RuntimeWarning, match="RANDOM weights.*downloads are off"):
        info = backbone.resolve_weights("auto", download=False)
    assert info["weights"] == "random" and offline == []


def test_auto_prefers_places365_then_imagenet(offline, vgg16_imagenet_h5, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "vgg16_imagenet_notop.h5").symlink_to(vgg16_imagenet_h5)
    assert backbone.resolve_weights("auto", folder)["weights"] == "imagenet"
    (folder / PLACES_NAME).write_bytes(b"places365 stand-in (no published checksum)")
    info = backbone.resolve_weights("auto", folder)
    assert info["weights"] == "places365" and len(info["sha256"]) == 64
    assert offline == []


def test_download_lands_in_keras_cache(offline, vgg16_imagenet_h5, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))

    def fake_download(spec, cache_dir):
        assert spec.url.startswith("https://storage.googleapis.com/") and cache_dir == tmp_path / "kh" / "models"
        cache_dir.mkdir(parents=True)
        (cache_dir / spec.name).symlink_to(vgg16_imagenet_h5)
        return cache_dir / spec.name

    monkeypatch.setattr(backbone, "_download", fake_download)
    info = backbone.resolve_weights("imagenet")
    assert info["weights"] == "imagenet" and info["sha256"] == backbone.KNOWN_WEIGHTS["imagenet"][1].sha256


def test_missing_named_weights_say_which_file_to_put_where(offline, tmp_path):
    with pytest.raises(AvscError, match=re.escape(KERAS_IMAGENET_NAME)) as err:
        backbone.resolve_weights("imagenet", weights_dir=tmp_path / "mine")
    message = str(err.value)
    assert KERAS_IMAGENET_NAME in message and "vgg16_imagenet_notop.h5" in message
    assert str(tmp_path / "mine") in message and backbone.WEIGHTS_DIR_ENV in message
    assert str(backbone.keras_cache_dir()) in message and "download" in message
    assert offline == ["imagenet"]
    with pytest.raises(AvscError, match=PLACES_NAME):
        backbone.resolve_weights("places365", download=False)
    assert offline == ["imagenet"]


def test_missing_path_unknown_name_and_bad_files_are_clear_errors(offline, tmp_path):
    with pytest.raises(AvscError, match="nowhere/base.h5: VGG16 weights file not found"):
        backbone.resolve_weights(str(tmp_path / "nowhere" / "base.h5"))
    with pytest.raises(AvscError, match="unknown VGG16 weights 'imagnet'"):
        backbone.resolve_weights("imagnet")
    junk = tmp_path / "vgg16_imagenet_notop.h5"
    junk.write_bytes(b"not weights")
    with pytest.raises(AvscError, match="checksum does not match"):
        backbone.resolve_weights("imagenet", weights_dir=tmp_path)
    with pytest.raises(AvscError, match="not a VGG16 notop weights file"):
        backbone.build_frame_encoder(32, str(junk))


def test_none_means_random_without_lookup(offline):
    assert backbone.resolve_weights("none") == {"weights": "random", "requested": "none", "path": None, "sha256": None}
    assert offline == []


# --- preprocessing and the encoder ----------------------------------------------------------------


def test_caffe_preprocessing_matches_keras_imagenet_utils():
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    caffe = backbone.FramePreprocessing("caffe")(frames)
    expected = keras.applications.vgg16.preprocess_input(frames.astype("float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(caffe), expected, rtol=1e-6, atol=1e-4)
    raw = backbone.FramePreprocessing("raw")(frames)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(raw), frames.astype("float32"))
    with pytest.raises(ValueError, match="preprocessing"):
        backbone.FramePreprocessing("torch")


@pytest.fixture(scope="module")
def encoder_224():
    encoder, _ = backbone.build_frame_encoder(224, "none", download=False)
    return encoder


def test_encoder_counts_and_shapes_at_224(encoder_224):
    assert count_parameters(encoder_224) == {"total": 14_714_688, "trainable": 0, "non_trainable": 14_714_688}
    vgg = encoder_224.get_layer("vgg16")
    assert tuple(vgg.get_layer("block5_pool").output.shape[1:]) == (7, 7, 512)
    assert tuple(encoder_224.get_layer("frame_pooling").output.shape[1:]) == (512,)
    assert isinstance(encoder_224.get_layer("frame_preprocessing"), keras.layers.Identity)


@pytest.mark.parametrize("pooling, reduce", [("max", np.max), ("avg", np.mean)])
@pytest.mark.parametrize("preprocessing", ["raw", "caffe"])
def test_encoder_pools_vgg_maps_and_takes_uint8_or_float(pooling, reduce, preprocessing):
    keras.utils.set_random_seed(0)
    encoder, _ = backbone.build_frame_encoder(64, "none", frame_pooling=pooling, preprocessing=preprocessing)
    assert count_parameters(encoder)["total"] == backbone.VGG16_BASE_PARAMETERS
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    features = encoder.predict(frames, verbose=0)
    assert features.shape == (2, 512)
    np.testing.assert_array_equal(encoder.predict(frames.astype("float32"), verbose=0), features)
    vgg = encoder.get_layer("vgg16")
    pre = keras.ops.convert_to_numpy(encoder.get_layer("frame_preprocessing")(frames))
    maps = vgg.predict(pre, verbose=0)
    assert maps.shape == (2, 2, 2, 512)
    np.testing.assert_allclose(features, reduce(maps, axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_frames_smaller_than_32_are_refused():
    with pytest.raises(ValueError, match="at least 32"):
        backbone.build_vgg16_base(16)


def test_known_urls_are_the_published_ones():
    places = backbone.KNOWN_WEIGHTS["places365"][0]
    assert places.url.startswith("https://github.com/GKalliatakis/Keras-VGG16-places365/releases/download/")
    assert places.url.endswith(PLACES_NAME) and places.md5 is None and places.sha256 is None
    imagenet = backbone.KNOWN_WEIGHTS["imagenet"][0]
    assert imagenet.url.endswith(KERAS_IMAGENET_NAME) and imagenet.md5 == "6d6bbae143d832006294945121d1f1fc"
    assert os.path.basename(imagenet.url) == imagenet.name
