"""The paper's training steps as the authors' code runs them, each in a run folder of its own.

1. ``train_audio``: the audio subnetwork from scratch on 1-s crops with mixup
   (``train_audio.ipynb``).
2. ``train_visual``: the visual head on cached per-frame features of the frozen VGG16
   (``train_video.ipynb`` cells 22-27).
2b. ``train_visual_unfrozen`` (``visual_unfreeze``): the whole visual subnetwork, VGG16
   included, trained again on decoded frames from step 2's weights at a tiny learning rate
   (``train_video.ipynb`` cells 29-34). Its VGG16 then gives the visual features of step 3.
3. ``train_fusion``: the audio-visual network on cached features, both subnetworks frozen, one
   run per audio feature kind; its loss is on ``fusion_loss_outputs`` (the code's model has
   one output, late fusion: ``train_audiovisual.ipynb`` cells 30-33).
4. ``finetune_fusion`` (``finetune``): every weight unfrozen, on decoded frames, loss on
   ``finetune_loss_outputs`` (``train_audiovisual.ipynb`` cell 36).

The settings of step ``s`` are the parameters ``<s>_epochs``, ``<s>_batch_size``,
``<s>_learning_rate``, ``<s>_mixup_alpha``, ``<s>_lr_patience``, ``<s>_early_stop_patience``.
Every step validates on the 1-s segments of ``eval_split`` after each epoch (as the authors'
code), keeps the best weights by validation accuracy (of ``late`` for the fusion steps) and
schedules its learning rate and early stop as :mod:`avsc_lib.training.fitting` says. A finished run is
reused, not retrained, and an interrupted one resumes (see :mod:`avsc_lib.training.runs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras

from avsc_lib.core.errors import AvscError
from avsc_lib.training.fitting import compile_model, fit_run
from avsc_lib.features.frame_features import Backbone, backbone_info, build_encoder
from avsc_lib.core.paper import OUTPUTS
from avsc_lib.training.pipelines import SplitData, WindowSampler, segment_dataset, segment_geometry
from avsc_lib.study.inputs import load_split_data
from avsc_lib.training.runs import (
    BACKBONE_FILE, BEST_WEIGHTS, STEPS, Run, is_done, load_finished, note_run, run_dir, run_key, step_settings,
    write_backbone, write_done,
)

EVAL_BATCH_SIZE = 64
VISUAL_FEATURE_DIM = 512  # channels of VGG16's last block: one cached feature per frame
INPUT_PAIR = ("audio", "visual")


# --- models -------------------------------------------------------------------------------------


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


# --- the steps ----------------------------------------------------------------------------------


@dataclass
class StepSpec:
    """What distinguishes one training step from another.

    Attributes:
        step: one of ``STEPS``.
        kind: the audio feature kind (steps with audio), else None.
        inputs: the inputs the model takes.
        build: the uncompiled model, for training and for loading.
        settings: ``step_settings`` (epochs, batch size, learning rate, mixup, patiences).
        loss_outputs: the outputs with a loss (the audio-visual network's steps).
        visual: how the visual input is read: ``features``, ``frames`` or None.
        backbone: returns the encoder whose features ``visual: features`` reads and that the run
            records (None: the pretrained one); called only when the step trains.
    """

    step: str
    kind: str | None
    inputs: tuple[str, ...]
    build: Callable[[], keras.Model]
    settings: dict[str, Any]
    loss_outputs: tuple[str, ...] | None = None
    visual: str | None = None
    backbone: Callable[[], Backbone] | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs' names: the modality of a subnetwork, the four of the fusion network."""
        return OUTPUTS if len(self.inputs) > 1 else self.inputs

    @property
    def monitor(self) -> str:
        return "val_late_accuracy" if self.loss_outputs else "val_accuracy"


def _fusion_spec(params: Mapping[str, Any], kind: str, upstream: Mapping[str, Run]) -> StepSpec:
    audio, visual = upstream.get("audio"), upstream.get("visual")

    def build() -> keras.Model:
        return build_fusion_model(params, audio and audio.model, visual and visual.model)

    return StepSpec("fusion", kind, INPUT_PAIR, build, step_settings(params, "fusion"),
                    tuple(params["fusion_loss_outputs"]), visual="features", backbone=lambda: fusion_backbone(params))


def _finetune_spec(params: Mapping[str, Any], kind: str, upstream: Mapping[str, Run]) -> StepSpec:
    from avsc_lib.models import fusion

    fused = upstream.get("fusion")

    def build() -> keras.Model:
        if fused is None:  # loading a finished run: its file holds every weight
            encoder = untrained_encoder(params)
        elif params["visual_unfreeze"]:
            encoder = tuned_encoder(params, run_dir(params, "visual_unfrozen"))
        else:
            encoder = pretrained_encoder(params)
        model = build_fusion_model(params, encoder=encoder)
        if fused is not None:
            copy_weights(fused.model, model)
        fusion.set_subnetworks_trainable(model, True, include_backbone=True)
        return model

    return StepSpec("finetune", kind, INPUT_PAIR, build, step_settings(params, "finetune"),
                    tuple(params["finetune_loss_outputs"]), visual="frames", backbone=lambda: fusion_backbone(params))


def _visual_unfrozen_spec(params: Mapping[str, Any], upstream: Mapping[str, Run]) -> StepSpec:
    frozen = upstream.get("visual")

    def build() -> keras.Model:
        model = build_visual_frames_model(
            params, pretrained_encoder(params) if frozen is not None else untrained_encoder(params))
        if frozen is not None:
            head_of(model).set_weights(frozen.model.get_weights())
        model.get_layer("frame_features").layer.get_layer("vgg16").trainable = True  # every layer trains
        return model

    return StepSpec("visual_unfrozen", None, ("visual",), build, step_settings(params, "visual_unfrozen"),
                    visual="frames")


def step_spec(params: Mapping[str, Any], step: str, kind: str | None = None,
              upstream: Mapping[str, Run] | None = None) -> StepSpec:
    """The spec of a step; ``upstream`` runs give the weights a step starts from (none when a
    finished run is only loaded: its weights file holds every weight)."""
    upstream = upstream or {}
    kind = kind or params["feature_kind"]
    if step == "audio":
        return StepSpec(step, kind, ("audio",), lambda: build_audio_model(params), step_settings(params, step))
    if step == "visual":
        return StepSpec(step, None, ("visual",), lambda: build_visual_model(params), step_settings(params, step),
                        visual="features")
    if step == "visual_unfrozen":
        return _visual_unfrozen_spec(params, upstream)
    if step == "fusion":
        return _fusion_spec(params, kind, upstream)
    if step == "finetune":
        return _finetune_spec(params, kind, upstream)
    raise AvscError(f"unknown training step {step!r}; valid: {', '.join(STEPS)}")


def run_step(
    params: Mapping[str, Any],
    spec: StepSpec,
    train: SplitData | None = None,
    val: SplitData | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Train one step in its run folder, or load it when that folder holds a finished run.

    Args:
        params: a loaded parameter set.
        spec: the step (see :func:`step_spec`).
        train: the training split's data (default: loaded from the caches).
        val: the validation split's data (default: ``eval_split``, loaded from the caches).
        callbacks: extra Keras callbacks.
        verbose: Keras verbosity (default ``fitting.default_verbose``).
    """
    folder = run_dir(params, spec.step, spec.kind)
    if is_done(folder):
        return note_run(load_finished(spec, folder), params)
    audio = spec.kind if "audio" in spec.inputs else None
    backbone = spec.backbone() if spec.backbone else Backbone.pretrained(params) if spec.visual else None

    def load(split: str) -> SplitData:
        return load_split_data(params, split, audio=audio, visual=spec.visual, backbone=backbone)

    train = train or load("train")
    val = val or load(params["eval_split"])
    geometry = segment_geometry(params)
    targets = spec.outputs if len(spec.outputs) > 1 else None  # labels keyed by output
    settings = spec.settings
    sampler = WindowSampler(train, spec.inputs, settings["batch_size"], geometry, params["seed"],
                            settings["mixup_alpha"], targets, params["crop_range"])
    validation = segment_dataset(val, spec.inputs, EVAL_BATCH_SIZE, geometry, outputs=targets)
    model, info = fit_run(
        folder, lambda: compile_model(spec.build(), settings["learning_rate"], spec.loss_outputs,
                                      params["jit_compile"]), sampler,
        validation, spec.monitor, params, settings, callbacks, verbose,
    )
    info.update({"step": spec.step, "kind": spec.kind, "train_clips": len(train), "val_clips": len(val),
                 "val_split": params["eval_split"], "loss_outputs": list(spec.loss_outputs or spec.outputs),
                 "key": run_key(params, spec.step, spec.kind)})
    if backbone is not None:
        write_backbone(folder, backbone.info)
    write_done(folder, info)
    status = "resumed" if info["resumed"] else "computed"
    return note_run(Run(spec.step, folder, model, spec.inputs, spec.outputs, spec.kind, info, status), params)


def train_audio(params: Mapping[str, Any], kind: str | None = None, **kwargs: Any) -> Run:
    """Step 1: the audio subnetwork from scratch (``audio_*`` settings, mixup).

    Args:
        params: a loaded parameter set.
        kind: the feature kind (default ``feature_kind``).
        **kwargs: ``train``, ``val``, ``callbacks``, ``verbose`` (see :func:`run_step`).
    """
    return run_step(params, step_spec(params, "audio", kind), **kwargs)


def train_visual(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """Step 2: the visual head on the cached features of the frozen VGG16 (``visual_*`` settings)."""
    return run_step(params, step_spec(params, "visual"), **kwargs)


def train_visual_unfrozen(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """Step 2b: the whole visual subnetwork on decoded frames, from step 2's weights
    (``visual_unfrozen_*`` settings; trains step 2 first if needed)."""
    folder = run_dir(params, "visual_unfrozen")
    upstream = {} if is_done(folder) else {"visual": train_visual(params)}
    return run_step(params, step_spec(params, "visual_unfrozen", upstream=upstream), **kwargs)


def visual_subnetwork(params: Mapping[str, Any], **kwargs: Any) -> Run:
    """The visual subnetwork the fusion step starts from (and Table 1's visual column): step 2b's
    when ``visual_unfreeze`` is on, else step 2's."""
    return train_visual_unfrozen(params, **kwargs) if params["visual_unfreeze"] else train_visual(params, **kwargs)


def train_fusion(params: Mapping[str, Any], kind: str | None = None, **kwargs: Any) -> Run:
    """Step 3: the audio-visual network of one audio feature kind (default ``feature_kind``),
    both subnetworks frozen (trains them first if needed)."""
    kind = kind or params["feature_kind"]
    folder = run_dir(params, "fusion", kind)
    upstream = {}
    if not is_done(folder):
        upstream = {"audio": train_audio(params, kind), "visual": visual_subnetwork(params)}
    return run_step(params, step_spec(params, "fusion", kind, upstream), **kwargs)


def finetune_fusion(params: Mapping[str, Any], kind: str | None = None, **kwargs: Any) -> Run:
    """Step 4: every weight unfrozen (``finetune_*`` settings), on decoded frames."""
    kind = kind or params["feature_kind"]
    folder = run_dir(params, "finetune", kind)
    upstream = {} if is_done(folder) else {"fusion": train_fusion(params, kind)}
    return run_step(params, step_spec(params, "finetune", kind, upstream), **kwargs)


def final_run(params: Mapping[str, Any], kind: str | None = None, **kwargs: Any) -> Run:
    """The audio-visual network the study reports for an audio feature kind: fine-tuned when
    ``finetune`` is on, else step 3's."""
    train = finetune_fusion if params["finetune"] else train_fusion
    return train(params, kind, **kwargs)
