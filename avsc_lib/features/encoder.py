"""The VGG16 whose per-frame features a step reads: which weights, and the encoder built from them.

A :class:`Backbone` names the weights (``models.backbone.resolve_weights``, or a run that
trained them) that key the frame-feature cache (:mod:`avsc_lib.features.frame_features`);
:func:`build_encoder` builds the frozen encoder only when some clip still needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

# A frame encoder: a keras.Model or any callable mapping (batch, H, W, 3) frames to (batch, 512).
Encoder = Callable[[np.ndarray], Any]


def weights_identity(info: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """What makes two backbones' features equal: the weight file's sha256, or random + seed."""
    if info.get("sha256"):
        return f"sha256:{info['sha256']}"
    if info.get("weights") == "random":
        return f"random-seed{params['seed']}"
    return str(info.get("weights", "unknown"))


def backbone_info(params: Mapping[str, Any]) -> dict[str, Any]:
    """Which backbone weights ``params`` resolve to (``models.backbone.resolve_weights``).

    Finding the file (and its sha256) is enough to name the cache; the network is built
    only when some clip still needs it.
    """
    from avsc_lib.models import backbone

    return backbone.resolve_weights(params["weights"], params["weights_dir"])


@dataclass(frozen=True)
class Backbone:
    """A frame encoder whose per-frame features a step reads.

    Attributes:
        info: its weights info (``models.backbone.resolve_weights``, or a trained run's),
            which keys the feature cache.
        build: returns the encoder, called only when some clip still needs it; None builds the
            pretrained encoder of the parameters (:func:`build_encoder`).
        from_frame_cache: take the frames from the decoded-frame cache (the frames a backbone
            that training changed was trained on) instead of decoding the videos.
    """

    info: Mapping[str, Any]
    build: Callable[[], Encoder] | None = None
    from_frame_cache: bool = False

    @classmethod
    def pretrained(cls, params: Mapping[str, Any]) -> "Backbone":
        """The pretrained VGG16 that ``params`` name (``weights``, ``weights_dir``)."""
        return cls(backbone_info(params))


def build_encoder(params: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
    """The frozen frame encoder of ``params`` with the weights file ``info`` resolved to (random
    weights, seeded by ``seed``, when it names no file)."""
    import keras

    from avsc_lib.models import backbone

    if not info.get("path"):  # random weights: make them "random-seed<seed>", as keyed
        keras.utils.set_random_seed(params["seed"])
    encoder, _ = backbone.build_frame_encoder(
        params["frame_size"], info.get("path") or "none", params["weights_dir"],
        params["frame_pooling"], params["preprocessing"], l2=params["vgg16_l2"],
    )
    return encoder
