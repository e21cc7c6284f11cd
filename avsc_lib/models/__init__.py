"""The paper's three networks in Keras 3 (functional API, ``keras.layers``/``keras.ops`` only).

- ``blocks``: the Conv-StandardPOST block with scSE;
- ``audio``: the audio subnetwork;
- ``backbone``: the frozen VGG16 base, its weights and the frame preprocessing;
- ``visual``: the visual head and the full visual subnetwork;
- ``fusion``: the audio-visual network (early and late fusion);
- ``summary``: parameter counts beside the paper's (``avsc summary``).
"""

from __future__ import annotations

from pathlib import Path

from avsc_lib.models import audio, backbone, blocks, fusion, visual


def load_model(path: str | Path):
    """Load a saved ``.keras`` model of this package (the layer of ``caffe`` preprocessing is registered on import)."""
    import keras

    return keras.saving.load_model(str(path))


__all__ = ["audio", "backbone", "blocks", "fusion", "visual", "load_model"]
