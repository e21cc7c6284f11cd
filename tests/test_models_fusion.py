"""The audio-visual network: counts frozen and unfrozen, shapes, both visual inputs, save/load, summary."""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pytest

from avsc_lib.core.paper import OUTPUTS, PARAMETERS
from avsc_lib.models import summary
from avsc_lib.models.audio import FEATURE_LAYER, build_audio_subnetwork
from avsc_lib.models.backbone import build_frame_encoder
from avsc_lib.models.fusion import build_audiovisual_network, copy_weights, set_subnetworks_trainable
from avsc_lib.models.summary import count_parameters
from avsc_lib.models.visual import build_visual_head

SMALL = 32
FUSION_TRAINABLE = 272_704
SUBNETWORKS_TRAINABLE = 321_930 + 105_482


def _parts(frame_size: int | None = SMALL, **audio_kwargs):
    keras.utils.set_random_seed(0)
    audio = build_audio_subnetwork(**audio_kwargs)
    head = build_visual_head()
    encoder = build_frame_encoder(frame_size, "none")[0] if frame_size else None
    return audio, head, encoder


@pytest.fixture(scope="module")
def small():
    """Both variants around the very same subnetworks (32x32 frames)."""
    audio, head, encoder = _parts()
    return {
        "audio": audio, "head": head, "encoder": encoder,
        "features": build_audiovisual_network(audio, head),
        "frames": build_audiovisual_network(audio, head, encoder),
    }


def _inputs(seed: int = 0, batch: int = 2):
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1, 1, (batch, 64, 50, 3)).astype("float32")
    frames = rng.integers(0, 256, (batch, 5, SMALL, SMALL, 3), dtype=np.uint8)
    return audio, frames


def test_frames_variant_counts_at_224_frozen_and_unfrozen():
    audio, head, encoder = _parts(224)
    model = build_audiovisual_network(audio, head, encoder)
    assert count_parameters(model) == PARAMETERS["audiovisual"]
    assert count_parameters(model) == {"total": 15_416_148, "trainable": 272_704, "non_trainable": 15_143_444}
    set_subnetworks_trainable(model, True)
    assert count_parameters(model) == {"total": 15_416_148, "trainable": FUSION_TRAINABLE + SUBNETWORKS_TRAINABLE,
                                       "non_trainable": 14_714_688 + 1_344}
    set_subnetworks_trainable(model, True, include_backbone=True)
    assert count_parameters(model)["trainable"] == 15_416_148 - 1_344  # only BN statistics stay fixed
    set_subnetworks_trainable(model, False)
    assert count_parameters(model) == PARAMETERS["audiovisual"]


def test_features_variant_has_the_same_trainable_count(small):
    model = small["features"]
    assert count_parameters(model) == {"total": 323_274 + 105_482 + FUSION_TRAINABLE,
                                       "trainable": FUSION_TRAINABLE, "non_trainable": 323_274 + 105_482}
    set_subnetworks_trainable(model, True)
    assert count_parameters(model)["trainable"] == FUSION_TRAINABLE + SUBNETWORKS_TRAINABLE
    set_subnetworks_trainable(model, False)
    assert count_parameters(model)["trainable"] == FUSION_TRAINABLE


def test_stage_shapes_and_names(small):
    model = small["features"]
    shapes = {"audio_band_mean": (1, 12, 128), "audio_band_squeeze": (12, 128), "audio_time_pool": (5, 128),
              "fusion_concat": (5, 640), "fusion_bigru": (5, 128), "fusion_average": (128,),
              "early_probs": (10,), "late_concat": (30,), "late_probs": (10,)}
    for name, shape in shapes.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    assert count_parameters(model.get_layer("fusion_bigru"))["total"] == 271_104
    assert count_parameters(model.get_layer("late_probs"))["total"] == 310
    assert set(model.input) == {"audio", "visual"} and set(model.output) == set(OUTPUTS)
    assert tuple(model.input["visual"].shape[1:]) == (5, 512)
    assert tuple(small["frames"].input["visual"].shape[1:]) == (5, SMALL, SMALL, 3)
    trunk = model.get_layer("audio_subnetwork")
    assert tuple(trunk.get_layer(FEATURE_LAYER).output.shape[1:]) == (64, 12, 128)
    assert model.get_layer("visual_head") is small["head"]


def test_text_variant_third_pool_changes_no_count():
    audio, head, _ = _parts(None, dropout=0.3, third_pool=2)
    model = build_audiovisual_network(audio, head)
    assert count_parameters(model)["trainable"] == FUSION_TRAINABLE
    assert tuple(model.get_layer("audio_time_pool").output.shape[1:]) == (5, 128)


def test_both_variants_agree_and_reuse_the_subnetworks(small):
    copy_weights(small["features"], small["frames"])  # the fusion layers; the subnetworks are shared
    audio, frames = _inputs()
    on_frames = small["frames"].predict({"audio": audio, "visual": frames}, verbose=0)
    encoder = small["encoder"]
    features = encoder.predict(frames.reshape(-1, SMALL, SMALL, 3), verbose=0).reshape(2, 5, 512)
    on_features = small["features"].predict({"audio": audio, "visual": features}, verbose=0)
    assert set(on_frames) == set(OUTPUTS)
    for name in OUTPUTS:
        assert on_frames[name].shape == (2, 10)
        np.testing.assert_allclose(on_frames[name].sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(on_features[name], on_frames[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_features["audio"], small["audio"].predict(audio, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_features["visual"], small["head"].predict(features, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_copy_weights_between_variants():
    audio_model, head, encoder = _parts()
    source = build_audiovisual_network(audio_model, head)
    target = build_audiovisual_network(*_parts()[:2], encoder)
    rng = np.random.default_rng(5)
    for name in ("audio_subnetwork", "late_probs"):  # make the source differ from the target
        source.get_layer(name).set_weights([rng.normal(size=w.shape) for w in source.get_layer(name).get_weights()])
    assert not np.array_equal(source.get_layer("late_probs").get_weights()[0],
                              target.get_layer("late_probs").get_weights()[0])
    copy_weights(source, target)
    for name in ("audio_subnetwork", "visual_head", "fusion_bigru", "early_probs", "late_probs"):
        for a, b in zip(source.get_layer(name).get_weights(), target.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_one_training_step_moves_only_the_fusion_layers(small):
    audio_model, head = small["audio"], small["head"]
    model = build_audiovisual_network(audio_model, head)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss={k: "categorical_crossentropy" for k in OUTPUTS},
                  run_eagerly=True)  # one step: tracing would cost more than it saves
    audio, _ = _inputs()
    features = np.random.default_rng(2).normal(size=(2, 5, 512)).astype("float32")
    targets = {k: np.eye(10, dtype="float32")[[1, 3]] for k in OUTPUTS}
    frozen_before = [w.copy() for w in audio_model.get_weights() + head.get_weights()]
    fusion_before = model.get_layer("early_probs").get_weights()[0].copy()
    history = model.fit({"audio": audio, "visual": features}, targets, epochs=1, verbose=0)
    assert {"loss", "audio_loss", "visual_loss", "early_loss", "late_loss"} <= set(history.history)
    for before, after in zip(frozen_before, audio_model.get_weights() + head.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(fusion_before, model.get_layer("early_probs").get_weights()[0])


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_save_load_round_trip_is_exact(small, tmp_path, suffix):
    audio, _ = _inputs(seed=3)
    features = np.random.default_rng(4).normal(size=(2, 5, 512)).astype("float32")
    inputs = {"audio": audio, "visual": features}
    model = small["features"]
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / f"audiovisual{suffix}"
    if suffix == ".keras":
        model.save(path)
        loaded = keras.saving.load_model(path)
    else:
        model.save_weights(path)
        audio_model, head, _ = _parts(None)
        loaded = build_audiovisual_network(audio_model, head)
        loaded.load_weights(path)
    assert count_parameters(loaded) == count_parameters(model)
    predicted = loaded.predict(inputs, verbose=0)
    for name in OUTPUTS:
        np.testing.assert_array_equal(predicted[name], expected[name])


# --- avsc summary -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counts():
    return summary.parameter_counts()


def test_parameter_table_matches_the_paper(counts):
    table = summary.parameter_table(counts)
    assert list(table.index) == ["audio", "visual", "audiovisual"]
    assert table["matches"].all()
    for net in table.index:
        for key in summary.COUNTS:
            assert table.loc[net, key] == table.loc[net, f"paper_{key}"] == PARAMETERS[net][key]


def test_parameter_table_flags_a_difference(counts):
    changed = {net: dict(c) for net, c in counts.items()}
    changed["audio"]["total"] += 1
    assert list(summary.parameter_table(changed)["matches"]) == [False, True, True]


def test_cli_summary_json_prints_only_our_counts(capsys):
    assert summary.cli_summary(argparse.Namespace(json=True)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == PARAMETERS


def test_cli_summary_table(capsys, monkeypatch, counts):
    monkeypatch.setattr(summary, "parameter_counts", lambda: counts)
    assert summary.cli_summary(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert "15,416,148" in out and "audiovisual" in out and "paper_total" in out
