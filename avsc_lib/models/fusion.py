"""The audio-visual network (paper section 2.3): early and late fusion of the two subnetworks.

- Audio: the last audio block's output (64, 12, 128) -> mean over the bands (12, 128) ->
  AveragePooling1D(3, stride 2) -> (5, 128).
- Visual: the per-frame features (5, 512), cached or computed by the frame encoder.
- Early fusion: concatenate (5, 640) -> BiGRU 64+64 returning sequences -> average over the
  steps -> Dense(10, softmax).
- Late fusion: Dense(10, softmax) over the early, audio and visual probabilities (30).

Inputs ``audio`` and ``visual``; outputs are a dict ``{"audio", "visual", "early", "late"}``
(``predict`` returns a dict; ``compile``/``fit`` take losses and targets keyed by these names).
15,416,148 parameters with the VGG16 base (frames variant), 272,704 trainable with both
subnetworks frozen.
"""

from __future__ import annotations

import keras
from keras import layers

from avsc_lib.models.audio import FEATURE_LAYER
from avsc_lib.models.visual import frame_features_layer

FUSION_GRU_UNITS = 64
AUDIO_POOL, AUDIO_POOL_STRIDE = 3, 2
SUBNETWORKS: tuple[str, ...] = ("audio_subnetwork", "visual_head")
"""Names of the nested pretrained subnetworks inside the audio-visual network."""
FUSION_LAYERS: tuple[str, ...] = ("fusion_bigru", "early_probs", "late_probs")
"""Names of the layers with weights that the audio-visual network adds."""


def audio_trunk(audio_model: keras.Model) -> keras.Model:
    """The audio subnetwork with a second output, its last block's feature maps.

    The trunk shares every layer (and weight) with ``audio_model``.

    Returns:
        A model named ``audio_subnetwork``: input -> [feature maps (bands, frames, 128), probabilities].
    """
    feature_maps = audio_model.get_layer(FEATURE_LAYER).output
    return keras.Model(audio_model.input, [feature_maps, audio_model.output], name="audio_subnetwork")


def pool_audio_features(feature_maps: keras.KerasTensor, n_steps: int = 5) -> keras.KerasTensor:
    """(bands, frames, channels) -> mean over the bands -> (frames, channels) -> (n_steps, channels)."""
    n_bands, n_frames, channels = feature_maps.shape[1:]
    x = layers.AveragePooling2D((n_bands, 1), name="audio_band_mean")(feature_maps)
    x = layers.Reshape((n_frames, channels), name="audio_band_squeeze")(x)
    x = layers.AveragePooling1D(AUDIO_POOL, strides=AUDIO_POOL_STRIDE, name="audio_time_pool")(x)
    if x.shape[1] != n_steps:
        raise ValueError(f"pooled audio features have {x.shape[1]} steps, the visual input {n_steps}")
    return x


def build_audiovisual_network(
    audio_model: keras.Model,
    visual_head: keras.Model,
    frame_encoder: keras.Model | None = None,
    n_steps: int = 5,
    num_classes: int = 10,
) -> keras.Model:
    """The audio-visual network around a trained audio subnetwork and visual head.

    Args:
        audio_model: the audio subnetwork (``models.audio.build_audio_subnetwork``); its
            layers and weights are shared, not copied.
        visual_head: the visual head (``models.visual.build_visual_head``), shared too.
        frame_encoder: None: input ``visual`` is cached per-frame features (n_steps, 512);
            else input ``visual`` is frames (n_steps, H, W, 3) passed through this encoder.
        n_steps: visual steps per input (5 frames = one second).
        num_classes: number of scene classes.

    Returns:
        A model named ``audiovisual_network`` with inputs ``{"audio", "visual"}`` and outputs
        ``{"audio", "visual", "early", "late"}`` (class probabilities each). Both subnetworks
        start frozen; :func:`set_subnetworks_trainable` unfreezes them for fine-tuning.
        The layers are shared, so this also freezes ``audio_model`` and ``visual_head``
        themselves (set their ``trainable`` back to train them on their own again).
    """
    audio_in = keras.Input(audio_model.input.shape[1:], name="audio")
    if frame_encoder is None:
        visual_in = keras.Input((n_steps, visual_head.input.shape[-1]), name="visual")
        visual_features = visual_in
    else:
        visual_in = keras.Input((n_steps, *frame_encoder.input.shape[1:]), name="visual")
        visual_features = frame_features_layer(frame_encoder)(visual_in)

    feature_maps, audio_probs = audio_trunk(audio_model)(audio_in)
    visual_probs = visual_head(visual_features)

    audio_steps = pool_audio_features(feature_maps, n_steps)
    x = layers.Concatenate(name="fusion_concat")([audio_steps, visual_features])
    x = layers.Bidirectional(
        layers.GRU(FUSION_GRU_UNITS, return_sequences=True, name="gru"), name="fusion_bigru"
    )(x)
    x = layers.GlobalAveragePooling1D(name="fusion_average")(x)
    early = layers.Dense(num_classes, activation="softmax", dtype="float32", name="early_probs")(x)

    x = layers.Concatenate(dtype="float32", name="late_concat")([early, audio_probs, visual_probs])
    late = layers.Dense(num_classes, activation="softmax", dtype="float32", name="late_probs")(x)

    model = keras.Model(
        {"audio": audio_in, "visual": visual_in},
        {"audio": audio_probs, "visual": visual_probs, "early": early, "late": late},
        name="audiovisual_network",
    )
    set_subnetworks_trainable(model, False)
    return model


def set_subnetworks_trainable(model: keras.Model, trainable: bool, include_backbone: bool = False) -> None:
    """Freeze or unfreeze the pretrained parts of the audio-visual network.

    Args:
        model: a network built by :func:`build_audiovisual_network`.
        trainable: False for step 3 (train the fusion layers only), True for step 4
            (fine-tune the audio subnetwork and the visual head too).
        include_backbone: also set the VGG16 base of a frames-variant network (the paper
            keeps it frozen; its 14.7 M weights stay frozen unless this is True).

    Recompile the model afterwards for the change to take effect in training.
    """
    for name in SUBNETWORKS:
        model.get_layer(name).trainable = trainable
    if any(layer.name == "frame_features" for layer in model.layers):
        encoder = model.get_layer("frame_features").layer
        encoder.get_layer("vgg16").trainable = trainable and include_backbone


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the subnetworks' and fusion layers' weights between two audio-visual networks.

    For example from the features variant (trained on cached features) to a frames variant
    (which runs on video frames); the VGG16 base is not copied.
    """
    for name in SUBNETWORKS + FUSION_LAYERS:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())
