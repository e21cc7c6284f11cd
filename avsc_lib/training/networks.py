"""The networks of the training steps, built from the parameters (and the VGG16s they read).

The layers live in :mod:`avsc_lib.models`; this module sizes them for a parameter set, puts
trained weights into them and names which VGG16 a step's visual features come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import keras

from avsc_lib.core.errors import AvscError
from avsc_lib.features.encoder import Backbone, backbone_info, build_encoder
from avsc_lib.training.runs import BACKBONE_FILE, BEST_WEIGHTS, is_done, run_dir
from avsc_lib.training.segments import segment_geometry

VISUAL_FEATURE_DIM = 512  # channels of VGG16's last block: one cached feature per frame


def build_audio_model(params: Mapping[str, Any]) -> keras.Model:
    """The audio subnetwork for one 1-s input of these parameters."""
    from avsc_lib.models.audio import build_audio_subnetwork

    geometry = segment_geometry(params)
    return build_audio_subnetwork(
        n_bands=params["n_bands"], n_frames=geometry.audio_frames, n_channels=3,
        dropout=params["audio_dropout"], third_pool=params["third_pool"],
    )


def build_visual_model(params: Mapping[str, Any]) -> keras.Model:
    """The visual head on the cached per-frame features of one 1-s input."""
    from avsc_lib.models.visual import build_visual_head

    return build_visual_head(n_steps=segment_geometry(params).video_frames, feature_dim=VISUAL_FEATURE_DIM,
                             dense_l2=params["visual_dense_l2"])


def build_visual_frames_model(params: Mapping[str, Any], encoder: keras.Model) -> keras.Model:
    """The whole visual subnetwork on the frames of one 1-s input, around ``encoder``."""
    from avsc_lib.models.visual import build_visual_subnetwork

    return build_visual_subnetwork(head=build_visual_model(params), frame_encoder=encoder,
                                   n_steps=segment_geometry(params).video_frames)


def untrained_encoder(params: Mapping[str, Any]) -> keras.Model:
    """A frame encoder of these settings with random weights (for loading trained weights into)."""
    return build_encoder(params, {"weights": "random"})


def pretrained_encoder(params: Mapping[str, Any]) -> keras.Model:
    """The frame encoder with the pretrained VGG16 of ``params`` (``weights``)."""
    return build_encoder(params, backbone_info(params))


def tuned_encoder(params: Mapping[str, Any], folder: str | Path) -> keras.Model:
    """The frame encoder whose VGG16 the unfrozen visual step in ``folder`` trained."""
    model = build_visual_frames_model(params, untrained_encoder(params))
    model.load_weights(str(Path(folder) / BEST_WEIGHTS))
    return model.get_layer("frame_features").layer


def fusion_backbone(params: Mapping[str, Any]) -> Backbone:
    """The VGG16 whose features the fusion step reads: the one the unfrozen visual step trained
    when ``visual_unfreeze`` is on (its features from the frames it was trained on), else the
    pretrained one."""
    if not params["visual_unfreeze"]:
        return Backbone.pretrained(params)
    return trained_backbone(run_dir(params, "visual_unfrozen"), params)


def trained_backbone(folder: str | Path, params: Mapping[str, Any]) -> Backbone:
    """The VGG16 that the finished unfrozen visual step in ``folder`` trained, keyed by the
    sha256 of its weights file; its features come from the frames it was trained on."""
    from avsc_lib.models.backbone import file_checksums

    folder = Path(folder)
    if not is_done(folder):
        raise AvscError(f"{folder}: the unfrozen visual step has not finished (train_visual_unfrozen)")
    base = json.loads((folder / BACKBONE_FILE).read_text()) if (folder / BACKBONE_FILE).is_file() else None
    info = {"weights": "trained", "run": folder.name, "path": str(folder / BEST_WEIGHTS),
            "sha256": file_checksums(folder / BEST_WEIGHTS)[1], "base": base}
    return Backbone(info, build=lambda: tuned_encoder(params, folder), from_frame_cache=True)


def run_backbone(folder: str | Path, params: Mapping[str, Any]) -> Backbone:
    """The VGG16 whose features a finished run read, as its ``backbone.json`` records it (a
    trained one is rebuilt from the run folder it names, wherever ``params`` now point)."""
    path = Path(folder) / BACKBONE_FILE
    if not path.is_file():
        return Backbone.pretrained(params)
    info = json.loads(path.read_text())
    if info.get("weights") != "trained":
        return Backbone(info)
    trained = Path(info["path"]).parent
    if not is_done(trained):
        raise AvscError(f"{path}: the VGG16 of this run was trained in {trained}, which is not there")
    return trained_backbone(trained, params)


def head_of(model: keras.Model) -> keras.Model:
    """The visual head of a visual model: the head itself, or the one inside a frames model."""
    return model if model.name == "visual_head" else model.get_layer("visual_head")


def build_fusion_model(params: Mapping[str, Any], audio: keras.Model | None = None,
                       visual: keras.Model | None = None, encoder: keras.Model | None = None) -> keras.Model:
    """The audio-visual network with both subnetworks frozen.

    Args:
        params: a loaded parameter set.
        audio: a trained audio subnetwork whose weights to start from.
        visual: a trained visual head (or visual subnetwork on frames) whose head to start from.
        encoder: take decoded frames through this frame encoder (for fine-tuning) instead of
            reading cached per-frame features.
    """
    from avsc_lib.models import fusion

    audio_model = build_audio_model(params)
    if audio is not None:
        audio_model.set_weights(audio.get_weights())
    head = build_visual_model(params)
    if visual is not None:
        head.set_weights(head_of(visual).get_weights())
    model = fusion.build_audiovisual_network(
        audio_model, head, frame_encoder=encoder, n_steps=segment_geometry(params).video_frames
    )
    fusion.set_subnetworks_trainable(model, False)
    return model


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the weights of every layer of ``source`` into the layer of the same name in ``target``.

    Raises:
        AvscError: a layer of ``source`` that has weights is missing from ``target``.
    """
    names = {layer.name for layer in target.layers}
    for layer in source.layers:
        if not layer.weights:
            continue
        if layer.name not in names:
            raise AvscError(f"layer {layer.name!r} of {source.name} has no counterpart in {target.name}")
        target.get_layer(layer.name).set_weights(layer.get_weights())
