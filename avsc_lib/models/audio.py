"""The audio subnetwork (paper section 2.1): three Conv-StandardPOST blocks, GAP, softmax.

Input (64 bands, 50 frames, 3 channels) -> blocks of 32, 64, 128 filters, each followed by a
max pooling on the time axis and a dropout -> global average pooling -> Dense(10, softmax).
323,274 parameters, 321,930 trainable.

Paper text vs the authors' code (the code is the default; neither changes a parameter count):
dropout 0.3 vs 0.0 after each pooling, third time pool 2 vs 1.
"""

from __future__ import annotations

import keras
from keras import layers

from avsc_lib.models.blocks import conv_standard_post_block

BLOCK_FILTERS: tuple[int, ...] = (32, 64, 128)
FIRST_TIME_POOLS: tuple[int, ...] = (2, 2)
FEATURE_LAYER = "audio_block3_out"
"""The last block's output (before its pooling), taken by the audio-visual network."""


def build_audio_subnetwork(
    n_bands: int = 64,
    n_frames: int = 50,
    n_channels: int = 3,
    dropout: float = 0.0,
    third_pool: int = 1,
    num_classes: int = 10,
) -> keras.Model:
    """Build the audio subnetwork.

    Args:
        n_bands: frequency bands of the input (rows).
        n_frames: time frames of the input (columns); 50 is one second.
        n_channels: input channels (left, right, left minus right).
        dropout: rate of the dropout after each pooling (code 0.0, paper text 0.3).
        third_pool: time pool size after the third block (code 1, paper text 2).
        num_classes: number of scene classes.

    Returns:
        A model named ``audio_subnetwork`` mapping (n_bands, n_frames, n_channels) to class
        probabilities (num_classes,). The blocks are ``audio_block1`` ... ``audio_block3``
        (outputs ``audio_block<i>_out``), pools ``audio_pool<i>``, dropouts ``audio_dropout<i>``.
    """
    if third_pool not in (1, 2):
        raise ValueError(f"third_pool must be 1 or 2, got {third_pool!r}")
    inputs = keras.Input((n_bands, n_frames, n_channels), name="audio")
    x = inputs
    pools = FIRST_TIME_POOLS + (third_pool,)
    for i, (filters, pool) in enumerate(zip(BLOCK_FILTERS, pools), start=1):
        x = conv_standard_post_block(x, filters, name=f"audio_block{i}")
        x = layers.MaxPooling2D((1, pool), name=f"audio_pool{i}")(x)
        x = layers.Dropout(dropout, name=f"audio_dropout{i}")(x)
    x = layers.GlobalAveragePooling2D(name="audio_gap")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="audio_probs")(x)
    return keras.Model(inputs, outputs, name="audio_subnetwork")
