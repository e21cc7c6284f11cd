"""Which data set a parameter set names, and what identifies it, without generating anything.

The root is ``data_root`` or the synthetic set of ``synth_profile`` and ``synth_seed`` under
``<build>/data/<profile>-seed<seed>`` (which :func:`avsc_lib.data.synth.ensure_dataset`
writes). Caches key their files by :func:`data_identity`, run folders by
:func:`data_fingerprint`; the book and ``metrics.json`` describe the set by
:func:`describe_data`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path
from avsc_lib.data.layout import split_file

SYNTH_VERSION = 1  # bump when the generator's output changes; stale sets are regenerated
MARKER = "synth.json"  # the synthetic generator's marker in the root of a set it wrote
# The generator's name in the marker: a fixed identifier (the module's path when version 1 was
# written), not where the module lives now. The marker is part of every run key of a synthetic set
# (data_fingerprint), so changing it renames every run folder and regenerates every set.
GENERATOR_ID = "avsc_lib.synth"


def synth_root(params: Mapping[str, Any]) -> Path:
    """Where the synthetic set of ``synth_profile`` and ``synth_seed`` lives (or will)."""
    return build_path(params, "data", f"{params['synth_profile']}-seed{int(params['synth_seed'])}")


def dataset_root(params: Mapping[str, Any]) -> Path:
    """The data set root a parameter set names (``data_root``, else its synthetic set's folder).

    Raises:
        AvscError: neither ``data_root`` nor ``synth_profile`` is set.
    """
    if params.get("data_root"):
        return Path(params["data_root"])
    if params.get("synth_profile") is None:
        raise AvscError("no data set: set data_root to a TAU-layout root or synth_profile to demo|smoke")
    return synth_root(params)


def read_marker(root: str | Path) -> dict[str, Any] | None:
    """The synthetic generator's marker in ``root`` (None when there is none or it is unreadable)."""
    try:
        return json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def describe_data(params: Mapping[str, Any]) -> dict[str, Any]:
    """The data set a study used: its root, and the synthetic profile and seed it was generated
    with (read from the marker of a ``data_root``; None for a real data set)."""
    profile, seed = params.get("synth_profile"), params.get("synth_seed")
    if params.get("data_root"):
        try:
            marker = read_marker(params["data_root"])
            profile, seed = marker["profile"]["name"], marker["seed"]
        except (KeyError, TypeError):
            profile, seed = None, None
    return {"data_root": params.get("data_root"), "synth_profile": profile, "synth_seed": seed,
            "max_clips": params.get("max_clips")}


def data_identity(params: Mapping[str, Any]) -> str | None:
    """What a feature cache must know of the data set beyond clip names, as a short hash.

    A regenerated synthetic set reuses its clip names with new content, so a synthetic set is
    identified by its generator version, profile and seed (read from its marker, or from the
    parameters before it is generated). A real data set returns None: its clip names identify
    their content.
    """
    if params.get("data_root"):
        try:
            marker = read_marker(params["data_root"])
            identity = [marker["version"], marker["profile"]["name"], marker["seed"]]
        except (KeyError, TypeError):
            return None
    elif params.get("synth_profile"):
        identity = [SYNTH_VERSION, params["synth_profile"], int(params["synth_seed"])]
    else:
        return None
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]


def data_fingerprint(params: Mapping[str, Any]) -> str | None:
    """What identifies the data set of a run: a hash of its fold-1 train and evaluate lists and,
    for a synthetic set, of its generator marker; None when no data set is configured (training
    on data passed in directly).

    Raises:
        AvscError: the data set is not there yet (the study layer makes it before training:
            ``avsc run`` or :class:`avsc_lib.study.inputs.StudyInputs`).
    """
    if not params.get("data_root") and not params.get("synth_profile"):
        return None
    root = dataset_root(params)
    if not root.is_dir():
        raise AvscError(f"{root}: the data set is not there yet (avsc run, or avsc_lib.study.inputs.StudyInputs, "
                        "makes it before any training step)")
    digest = hashlib.sha256()
    for path in (split_file(root, "train"), split_file(root, "evaluate"), root / MARKER):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
