"""Parameters per network beside the paper's figures (``avsc summary``).

The networks are built at the paper's sizes (224x224 frames, VGG16 base included, random
weights: counts do not depend on the weights) without any forward pass.
"""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pandas as pd

from avsc_lib.core.paper import PARAMETERS

NETWORKS: tuple[str, ...] = ("audio", "visual", "audiovisual")
COUNTS: tuple[str, ...] = ("total", "trainable", "non_trainable")


def count_parameters(model: keras.Model) -> dict[str, int]:
    """Total, trainable and non-trainable parameters of a model (shared weights once)."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


def build_paper_networks(frame_size: int = 224) -> dict[str, keras.Model]:
    """The audio and visual subnetworks at the paper's sizes, and the parts they share.

    Returns:
        ``{"audio", "visual", "encoder", "head"}``: the audio-visual network is built from
        these (it freezes their layers, so count the subnetworks first, as in steps 1 and 2).
    """
    from avsc_lib.models.audio import build_audio_subnetwork
    from avsc_lib.models.backbone import build_frame_encoder
    from avsc_lib.models.visual import build_visual_head, build_visual_subnetwork

    audio = build_audio_subnetwork()
    encoder, _ = build_frame_encoder(frame_size, "none", download=False)
    head = build_visual_head()
    visual = build_visual_subnetwork(head=head, frame_encoder=encoder)
    return {"audio": audio, "visual": visual, "encoder": encoder, "head": head}


def parameter_counts(frame_size: int = 224) -> dict[str, dict[str, int]]:
    """This implementation's counts per network, ``{network: {total, trainable, non_trainable}}``."""
    from avsc_lib.models.fusion import build_audiovisual_network

    nets = build_paper_networks(frame_size)
    counts = {"audio": count_parameters(nets["audio"]), "visual": count_parameters(nets["visual"])}
    audiovisual = build_audiovisual_network(nets["audio"], nets["head"], nets["encoder"])
    counts["audiovisual"] = count_parameters(audiovisual)
    return counts


def parameter_table(counts: dict[str, dict[str, int]] | None = None) -> pd.DataFrame:
    """This implementation's parameter counts beside the paper's, one row per network.

    Args:
        counts: the output of :func:`parameter_counts`; None computes it.

    Returns:
        A DataFrame indexed by network with columns ``total``, ``trainable``,
        ``non_trainable``, ``paper_total``, ``paper_trainable``, ``paper_non_trainable`` and
        ``matches`` (all three equal).
    """
    counts = parameter_counts() if counts is None else counts
    rows = []
    for net in NETWORKS:
        row = {"network": net, **counts[net], **{f"paper_{k}": PARAMETERS[net][k] for k in COUNTS}}
        row["matches"] = all(counts[net][k] == PARAMETERS[net][k] for k in COUNTS)
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def cli_summary(args: argparse.Namespace) -> int:
    """``avsc summary [--json]``: the table of parameters, or only our counts as JSON."""
    counts = parameter_counts()
    if getattr(args, "json", False):
        print(json.dumps(counts, indent=2))
        return 0
    table = parameter_table(counts)
    print("Parameters per network (audio-visual: both subnetworks frozen), this implementation vs the paper")
    print(table.to_string(formatters={c: "{:,}".format for c in table.columns if c != "matches"}))
    return 0 if table["matches"].all() else 1
