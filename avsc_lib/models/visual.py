"""The visual subnetwork (paper section 2.2): frozen VGG16 per frame, then a recurrent head.

Frames (5, 224, 224, 3) -> ``frame_features`` = TimeDistributed(frame encoder: VGG16 base +
global max pooling) -> (5, 512) -> ``visual_head``: BiGRU 32+32 returning sequences ->
Dropout 0.5 -> per-step Dense(10, softmax) -> average over the steps -> (10,).
14,820,170 parameters, 105,482 trainable (the head).

The head is a model of its own on (5, 512) features, so that training can run it on cached
per-frame features; the full network calls that very head object, so both share its weights.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from avsc_lib.models.backbone import build_frame_encoder

GRU_UNITS = 32
HEAD_DROPOUT = 0.5


def build_visual_head(n_steps: int = 5, feature_dim: int = 512, num_classes: int = 10,
                      dense_l2: float = 0.0) -> keras.Model:
    """The trainable head of the visual subnetwork, on per-frame features.

    Args:
        n_steps: frames per input (5 frames = one second at 5 fps).
        feature_dim: size of one frame's feature (512 for VGG16).
        num_classes: number of scene classes.
        dense_l2: L2 penalty on the per-step dense layer's kernel (the authors': 0.001,
            ``train_video.ipynb`` cell 24).

    Returns:
        A model named ``visual_head``: (n_steps, feature_dim) -> (num_classes,). Layers
        ``visual_bigru`` (n_steps, 64), ``visual_dropout``, ``visual_step_probs``
        (n_steps, num_classes), ``visual_average`` (num_classes,).
    """
    features = keras.Input((n_steps, feature_dim), name="visual_features")
    x = layers.Bidirectional(
        layers.GRU(GRU_UNITS, return_sequences=True, name="gru"), name="visual_bigru"
    )(features)
    x = layers.Dropout(HEAD_DROPOUT, name="visual_dropout")(x)
    regularizer = keras.regularizers.L2(dense_l2) if dense_l2 > 0 else None
    x = layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32",
                     name="visual_step_probs")(x)
    probs = layers.GlobalAveragePooling1D(dtype="float32", name="visual_average")(x)
    return keras.Model(features, probs, name="visual_head")


def frame_features_layer(frame_encoder: keras.Model, name: str = "frame_features") -> layers.Layer:
    """The frame encoder applied to every frame: (n_steps, H, W, 3) -> (n_steps, 512)."""
    return layers.TimeDistributed(frame_encoder, name=name)


def build_visual_subnetwork(
    frame_size: int = 224,
    n_steps: int = 5,
    weights: str = "none",
    weights_dir: str | Path | None = None,
    frame_pooling: str = "max",
    preprocessing: str = "raw",
    head: keras.Model | None = None,
    frame_encoder: keras.Model | None = None,
    num_classes: int = 10,
) -> keras.Model:
    """The full visual subnetwork on frames.

    Args:
        frame_size: height and width of each frame.
        n_steps: frames per input.
        weights: VGG16 weights (see ``backbone.resolve_weights``); ignored with ``frame_encoder``.
        weights_dir: folder searched first for the weights file.
        frame_pooling: per-frame global pooling, ``max`` (code) or ``avg`` (paper text).
        preprocessing: ``raw`` or ``caffe`` (see ``backbone.frame_preprocessing``).
        head: an existing ``visual_head`` to share (for example one trained on cached
            features); None builds a new one.
        frame_encoder: an existing frame encoder to use (it carries its own weights,
            pooling and preprocessing); None builds one from the arguments above.
        num_classes: number of scene classes (for a new head).

    Returns:
        A model named ``visual_subnetwork``: uint8 or float RGB frames (n_steps, frame_size,
        frame_size, 3), input ``frames`` -> (num_classes,). Layers ``frame_features``
        (TimeDistributed frame encoder) and ``visual_head`` (nested head).
    """
    if frame_encoder is None:
        frame_encoder, _ = build_frame_encoder(frame_size, weights, weights_dir, frame_pooling, preprocessing)
    frame_size = frame_encoder.input.shape[1]
    feature_dim = frame_encoder.output.shape[-1]
    if head is None:
        head = build_visual_head(n_steps, feature_dim, num_classes)
    frames = keras.Input((n_steps, frame_size, frame_size, 3), name="frames")
    features = frame_features_layer(frame_encoder)(frames)
    probs = head(features)
    return keras.Model(frames, probs, name="visual_subnetwork")
