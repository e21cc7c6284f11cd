"""Hand the trained system to someone without the run folder: ``avsc export RUN_DIR OUT_DIR``.

The export folder holds::

    model.keras       the audio-visual network on frames (VGG16 inside, the weights the run
                      trained), standard Keras layers only: keras.saving.load_model opens it
                      without avsc_lib (with ``preprocessing: caffe`` it needs the one custom
                      layer named in settings.json)
    settings.json     what the network expects: sample rate, bands, window, hop, clip length,
                      fps, frame size and scaling, preprocessing, class order, input shapes
    MODEL_CARD.md     data set and split, parameters, backbone weights with sha256, the run's
                      scores per output, parameter counts, the data set's licence
    params.yml        every parameter of the run

``RUN_DIR`` is the run folder of an audio-visual step (``fusion-...``, ``finetune-...``) or the
folder of an ``avsc run`` (its final network for ``feature_kind`` is taken).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Mapping

from avsc_lib.core.atomic import atomic_path, write_text
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import OUTPUTS, PAPER_TITLE
from avsc_lib.core.params import build_path

MODEL_FILE = "model.keras"
SETTINGS_FILE = "settings.json"
CARD_FILE = "MODEL_CARD.md"
PARAMS_FILE = "params.yml"
SETTING_KEYS = (
    "sample_rate", "n_bands", "window_s", "hop_s", "f_min", "gammatone_impl", "feature_kind",
    "clip_seconds", "segment_seconds", "fps", "frame_size", "frame_resize", "preprocessing",
)
LICENCE = (
    "TAU Urban Audio-Visual Scenes 2021 (Tampere University, Audio Research Group): free for "
    "non-commercial research and education use, with attribution; commercial use needs the "
    "licensors' permission. A network trained on it inherits these terms."
)


def is_export(folder: str | Path) -> bool:
    """True when ``folder`` holds an export (``model.keras`` and ``settings.json``)."""
    return (Path(folder) / MODEL_FILE).is_file() and (Path(folder) / SETTINGS_FILE).is_file()


def resolve_run(path: str | Path) -> Path:
    """The run folder of the audio-visual network that ``path`` names.

    Args:
        path: a run folder of the ``fusion`` or ``finetune`` step, or the folder of an
            ``avsc run`` (its ``params.yml`` names the final network's run folder).

    Raises:
        AvscError: neither, or the network has not been trained yet.
    """
    from avsc_lib.training.runs import DONE_FILE, is_done, run_dir

    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise AvscError(f"{path}: no such folder; expected {_EXPECTED}. {_where_runs_are()}")
    if (path / DONE_FILE).is_file():
        return path
    if (path / PARAMS_FILE).is_file() and any(path.glob("0*.ipynb")):
        from avsc_lib.core.params import load_params

        metrics = path / "metrics.json"  # notebook 05 names the final network's folder
        recorded = json.loads(metrics.read_text()).get("run") if metrics.is_file() else None
        if recorded and is_done(recorded):
            return Path(recorded)
        params = load_params(path / PARAMS_FILE)
        folder = run_dir(params, "finetune" if params["finetune"] else "fusion")
        if not is_done(folder):
            raise AvscError(f"{path}: its audio-visual network ({folder.name}) has not finished training")
        return folder
    raise AvscError(f"{path}: not a run folder of the audio-visual network, an `avsc run` folder or an export; "
                    f"expected {_EXPECTED}. {_where_runs_are()}")


_EXPECTED = ("a trained run folder of the fusion or finetune step (holding done.json), or the folder of "
             "an `avsc run` (build/run-<profile>, holding params.yml and the executed notebooks)")


def _where_runs_are() -> str:
    """Where this project's trained audio-visual networks are, for an error message."""
    from avsc_lib.core.params import load_params
    from avsc_lib.training.runs import DONE_FILE

    runs = build_path(load_params(None), "runs")
    found = sorted(p for p in runs.glob("*-*") if p.name.startswith(("fusion", "finetune")) and (p / DONE_FILE).is_file())
    if not found:
        return f"No trained audio-visual network is in {runs} yet (avsc run trains them)."
    return f"Trained audio-visual networks in {runs}: " + ", ".join(p.name for p in found[:5]) + (" ..." if len(found) > 5 else "")


def network_on_frames(folder: str | Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The trained audio-visual network of a run folder, on frames (its VGG16 inside).

    Returns:
        The network, the run's parameters and the weights info of its VGG16.
    """
    from avsc_lib.training.networks import build_fusion_model, copy_weights, pretrained_encoder, run_backbone
    from avsc_lib.training.runs import recorded_weights
    from avsc_lib.training.steps import load_run

    run, params = load_run(folder)
    if run.step not in ("fusion", "finetune"):
        raise AvscError(f"{folder}: a run of the {run.step!r} step; export the audio-visual network "
                        "(a fusion-... or finetune-... run folder)")
    params = {**params, "weights": recorded_weights(run.dir) or params["weights"]}
    backbone = run_backbone(run.dir, params)
    if run.step == "finetune":
        return run.model, params, dict(backbone.info)
    encoder = backbone.build() if backbone.build is not None else pretrained_encoder(params)
    network = build_fusion_model(params, encoder=encoder)
    copy_weights(run.model, network)
    return network, params, dict(backbone.info)


def feature_settings(params: Mapping[str, Any], network: Any) -> dict[str, Any]:
    """What the exported network expects of its inputs (``settings.json``)."""
    from avsc_lib.models.backbone import FramePreprocessing

    custom = [layer.name for layer in network.get_layer("frame_features").layer.layers
              if isinstance(layer, FramePreprocessing)]
    return {
        **{key: params[key] for key in SETTING_KEYS},
        "classes": list(CLASSES),
        "outputs": list(OUTPUTS),
        "inputs": {"audio": list(network.input["audio"].shape[1:]), "visual": list(network.input["visual"].shape[1:])},
        "audio_input": ("one second of features (bands x frames x [left, right, left - right]), band 0 the "
                        "highest, min-max scaled to [-1, 1] jointly over all its values"),
        "visual_input": "the 5 frames of the same second, RGB 0-255 (uint8 or float)",
        "custom_objects": ["avsc>FramePreprocessing (avsc_lib.models.backbone)"] if custom else [],
    }


def _metrics_rows(folder: Path) -> list[str]:
    files = sorted(folder.glob("metrics_*.json"))
    if not files:
        return ["Not evaluated yet (notebook 05 or `avsc predict` writes metrics_<split>.json)."]
    rows = []
    for path in files:
        metrics = json.loads(path.read_text())
        rows.append(f"Split `{path.stem.removeprefix('metrics_')}`, 1-s segments:\n")
        rows.append("| output | accuracy (%) | log loss |\n| --- | --- | --- |")
        rows += [f"| {o} | {100 * metrics[o]['accuracy']:.1f} | {metrics[o]['log_loss']:.3f} |"
                 for o in OUTPUTS if o in metrics]
        rows.append("")
    return rows


def model_card(folder: Path, params: Mapping[str, Any], backbone: Mapping[str, Any], network: Any) -> str:
    """The Markdown model card of an export."""
    from avsc_lib.models.summary import count_parameters
    from avsc_lib.study.provenance import dataset_description, weights_description

    done = json.loads((folder / "done.json").read_text())
    counts = count_parameters(network)
    base = backbone.get("base") or backbone
    lines = [
        f"# Audio-visual scene classifier ({params['feature_kind']} input)",
        "",
        f"A reproduction of *{PAPER_TITLE}* (Naranjo-Alcazar et al., DCASE 2021) trained by avsc.",
        "",
        "## Data",
        f"- Data set: {dataset_description(params)}.",
        f"- Trained on the fold-1 `train` split ({done.get('train_clips')} clips); the best epoch chosen on "
        f"`{done.get('val_split')}` ({done.get('val_clips')} clips), by {done.get('monitor')}.",
        f"- Step `{done.get('step')}` of run `{folder.name}`: {done.get('epochs_run')} epochs "
        f"(best {done.get('best_epoch', 0) + 1}).",
        "",
        "## Inputs",
        f"- Audio: {params['feature_kind']} spectrogram, {params['n_bands']} bands, window {params['window_s']} s, "
        f"hop {params['hop_s']} s at {params['sample_rate']} Hz, channels left, right, left - right; "
        "each 1-s input min-max scaled to [-1, 1].",
        f"- Video: {params['fps']} frames per second, {params['frame_size']}x{params['frame_size']} "
        f"(scaled with {params['frame_resize']}), preprocessing {params['preprocessing']}.",
        f"- Classes, in output order: {', '.join(CLASSES)}.",
        "",
        "## Backbone",
        f"- VGG16: {weights_description(backbone)}"
        + (f"; the pretrained file's sha256 is `{base.get('sha256')}`" if base.get("sha256") else "") + ".",
        "",
        "## Scores",
        *_metrics_rows(folder),
        "## Size",
        f"- {counts['total']:,} parameters ({counts['trainable']:,} trainable as exported).",
        "",
        "## Licence",
        f"- {LICENCE}",
        "",
        "## Parameters",
        f"- All parameters of the run are in `{PARAMS_FILE}` (profile `{params['profile']}`).",
        "",
    ]
    return "\n".join(lines)


def export_run(run: str | Path, out: str | Path) -> Path:
    """Export the audio-visual network of ``run`` into the folder ``out``; returns ``out``."""
    folder = resolve_run(run)
    out = Path(out).expanduser().resolve()
    if out == folder or folder in out.parents:
        raise AvscError(f"{out}: export into a folder outside the run folder")
    network, params, backbone = network_on_frames(folder)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:  # a temporary name ending in .keras, as Keras wants
        network.save(tmp)
    write_text(out / SETTINGS_FILE, json.dumps(feature_settings(params, network), indent=2) + "\n")
    write_text(out / CARD_FILE, model_card(folder, params, backbone, network))
    shutil.copyfile(folder / PARAMS_FILE, out / PARAMS_FILE)
    return out


def cli_export(args: argparse.Namespace) -> int:
    """``avsc export RUN_DIR OUT_DIR``."""
    out = export_run(args.run_dir, args.out_dir)
    print(f"exported to {out}: {MODEL_FILE}, {SETTINGS_FILE}, {CARD_FILE}, {PARAMS_FILE}")
    return 0
