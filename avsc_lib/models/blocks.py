"""The Conv-StandardPOST residual block with scSE attention (paper section 2.1.2).

Main path: Conv2D 3x3 -> BN -> ELU -> Conv2D 3x3 -> BN. Shortcut: Conv2D 1x1 -> BN, always
present. ``x = ELU(main + shortcut)``, ``y = scSE(x)``, output ``y + shortcut``: the authors'
code adds the shortcut twice, once before and once after the attention.

Every layer is named ``<block name>_<part>``; the block's output layer is ``<block name>_out``.
"""

from __future__ import annotations

import keras
from keras import layers


def scse(x: keras.KerasTensor, filters: int, name: str, ratio: int = 2) -> keras.KerasTensor:
    """Concurrent spatial and channel squeeze-excitation (scSE), the sum of both branches.

    Args:
        x: feature maps (batch, height, width, filters).
        filters: number of channels of ``x``.
        name: prefix of the layer names.
        ratio: reduction ratio of the channel branch's bottleneck.

    Returns:
        The recalibrated feature maps, same shape as ``x``.
    """
    # Channel branch (cSE): squeeze space, excite channels.
    c = layers.GlobalAveragePooling2D(name=f"{name}_cse_pool")(x)
    c = layers.Dense(filters // ratio, activation="relu", use_bias=False, name=f"{name}_cse_reduce")(c)
    c = layers.Dense(filters, activation="sigmoid", use_bias=False, name=f"{name}_cse_expand")(c)
    c = layers.Reshape((1, 1, filters), name=f"{name}_cse_reshape")(c)
    c = layers.Multiply(name=f"{name}_cse_scale")([x, c])
    # Spatial branch (sSE): squeeze channels, excite positions.
    s = layers.Conv2D(1, 1, activation="sigmoid", use_bias=False, name=f"{name}_sse_conv")(x)
    s = layers.Multiply(name=f"{name}_sse_scale")([x, s])
    return layers.Add(name=f"{name}_scse")([c, s])


def conv_standard_post_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """One Conv-StandardPOST block with scSE, as in the authors' code.

    Args:
        x: input feature maps (batch, height, width, channels).
        filters: number of filters F of every convolution in the block.
        name: prefix of the layer names; the output layer is ``f"{name}_out"``.

    Returns:
        Feature maps (batch, height, width, filters).
    """
    shortcut = layers.Conv2D(filters, 1, padding="same", name=f"{name}_shortcut_conv")(x)
    shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)

    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ELU(name=f"{name}_elu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)

    y = layers.Add(name=f"{name}_residual")([y, shortcut])
    y = layers.ELU(name=f"{name}_elu2")(y)
    y = scse(y, filters, name=name)
    return layers.Add(name=f"{name}_out")([y, shortcut])
