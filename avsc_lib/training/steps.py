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
from avsc_lib.core.paper import OUTPUTS
from avsc_lib.core.params import load_params
from avsc_lib.features.encoder import Backbone
from avsc_lib.training.fitting import compile_model, fit_run
from avsc_lib.training.graph import Step, StepInputs, get_step, step_settings, upstream_steps, visual_subnetwork_step
from avsc_lib.training.networks import (
    build_audio_model, build_fusion_model, build_visual_frames_model, build_visual_model, copy_weights, fusion_backbone,
    head_of, pretrained_encoder, tuned_encoder, untrained_encoder,
)
from avsc_lib.training.pipelines import WindowSampler, segment_dataset
from avsc_lib.training.runs import (
    BEST_WEIGHTS, DONE_FILE, PARAMS_FILE, Run, is_done, note_run, run_dir, run_key, write_backbone,
    write_done,
)
from avsc_lib.training.segments import SplitData, segment_geometry

EVAL_BATCH_SIZE = 64


# --- the steps ----------------------------------------------------------------------------------


@dataclass
class StepSpec:
    """One training step of one feature kind, ready to build its model.

    Attributes:
        row: the step's row of :data:`avsc_lib.training.graph.STEPS`.
        kind: the audio feature kind (steps with audio), else None.
        build: the uncompiled model, for training and for loading.
        settings: ``step_settings`` (epochs, batch size, learning rate, mixup, patiences).
        loss_outputs: the outputs with a loss (the audio-visual network's steps).
        backbone: returns the encoder whose features ``visual: features`` reads and that the run
            records (None: the pretrained one); called only when the step trains.
    """

    row: Step
    kind: str | None
    build: Callable[[], keras.Model]
    settings: dict[str, Any]
    loss_outputs: tuple[str, ...] | None = None
    backbone: Callable[[], Backbone] | None = None

    @property
    def step(self) -> str:
        """The step's name."""
        return self.row.name

    @property
    def inputs(self) -> tuple[str, ...]:
        """The inputs of its model (``audio``, ``visual``)."""
        return self.row.inputs

    @property
    def visual(self) -> str | None:
        """How it reads the visual input: ``features``, ``frames`` or None."""
        return self.row.visual

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs' names: the modality of a subnetwork, the four of the fusion network."""
        return OUTPUTS if len(self.inputs) > 1 else self.inputs

    @property
    def monitor(self) -> str:
        """What the checkpoint keeps the best of: the late output's accuracy for the fusion steps."""
        return "val_late_accuracy" if self.loss_outputs else "val_accuracy"


# Each build function gets the parameters, the feature kind and the finished runs of the steps the
# row starts from, in the row's order (none when a finished run is only loaded: its weights file
# holds every weight).
Builder = Callable[[Mapping[str, Any], Step, "str | None", Sequence[Run]], StepSpec]


def _audio_spec(params: Mapping[str, Any], row: Step, kind: str | None, upstream: Sequence[Run]) -> StepSpec:
    return StepSpec(row, kind, lambda: build_audio_model(params), step_settings(params, row.name))


def _visual_spec(params: Mapping[str, Any], row: Step, kind: str | None, upstream: Sequence[Run]) -> StepSpec:
    return StepSpec(row, None, lambda: build_visual_model(params), step_settings(params, row.name))


def _visual_unfrozen_spec(params: Mapping[str, Any], row: Step, kind: str | None,
                          upstream: Sequence[Run]) -> StepSpec:
    frozen = upstream[0] if upstream else None

    def build() -> keras.Model:
        model = build_visual_frames_model(
            params, pretrained_encoder(params) if frozen is not None else untrained_encoder(params))
        if frozen is not None:
            head_of(model).set_weights(frozen.model.get_weights())
        model.get_layer("frame_features").layer.get_layer("vgg16").trainable = True  # every layer trains
        return model

    return StepSpec(row, None, build, step_settings(params, row.name))


def _fusion_spec(params: Mapping[str, Any], row: Step, kind: str | None, upstream: Sequence[Run]) -> StepSpec:
    audio, visual = upstream if upstream else (None, None)

    def build() -> keras.Model:
        return build_fusion_model(params, audio and audio.model, visual and visual.model)

    return StepSpec(row, kind, build, step_settings(params, row.name), tuple(params["fusion_loss_outputs"]),
                    backbone=lambda: fusion_backbone(params))


def _finetune_spec(params: Mapping[str, Any], row: Step, kind: str | None, upstream: Sequence[Run]) -> StepSpec:
    from avsc_lib.models import fusion

    fused = upstream[0] if upstream else None

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

    return StepSpec(row, kind, build, step_settings(params, row.name), tuple(params["finetune_loss_outputs"]),
                    backbone=lambda: fusion_backbone(params))


# The build function of every row of the step table.
BUILDERS: dict[str, Builder] = {
    "audio": _audio_spec, "visual": _visual_spec, "visual_unfrozen": _visual_unfrozen_spec,
    "fusion": _fusion_spec, "finetune": _finetune_spec,
}


def step_spec(params: Mapping[str, Any], step: str, kind: str | None = None,
              upstream: Sequence[Run] = ()) -> StepSpec:
    """The spec of a step; ``upstream`` are the finished runs of the steps its row starts from
    (none when a finished run is only loaded)."""
    row = get_step(step)
    if step not in BUILDERS:
        raise AvscError(f"training step {step!r} has no build function in avsc_lib.training.steps.BUILDERS")
    return BUILDERS[step](params, row, (kind or params["feature_kind"]) if row.per_kind else None, upstream)


def load_finished(spec: StepSpec, folder: Path, info: dict[str, Any] | None = None) -> Run:
    """Load a finished run of a step: build its model and load the best weights (``info``: its
    ``done.json`` when already read)."""
    model = spec.build()
    model.load_weights(str(folder / BEST_WEIGHTS))
    info = info if info is not None else json.loads((folder / DONE_FILE).read_text())
    return Run(spec.step, folder, model, spec.inputs, spec.outputs, spec.kind, info)


def load_run(folder: str | Path) -> tuple[Run, dict[str, Any]]:
    """Load a finished run from its folder alone (its ``params.yml`` and ``done.json``).

    Returns:
        The run and the parameters it was trained with.
    """
    folder = Path(folder)
    if not is_done(folder):
        raise AvscError(f"{folder}: not a finished training run (no {DONE_FILE} and {BEST_WEIGHTS})")
    params = load_params(folder / PARAMS_FILE)
    info = json.loads((folder / DONE_FILE).read_text())
    return load_finished(step_spec(params, info["step"], info.get("kind")), folder, info), params


def run_step(
    params: Mapping[str, Any],
    spec: StepSpec,
    inputs: StepInputs | None,
    train: SplitData | None = None,
    val: SplitData | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Train one step in its run folder, or load it when that folder holds a finished run.

    Args:
        params: a loaded parameter set.
        spec: the step (see :func:`step_spec`).
        inputs: where the step reads its splits (the study layer's
            :class:`~avsc_lib.study.inputs.StudyInputs`); None when ``train`` and ``val`` are
            given, or to only load a finished run.
        train: the training split's data (default: ``inputs.split("train", ...)``).
        val: the validation split's data (default: ``eval_split`` from ``inputs``).
        callbacks: extra Keras callbacks.
        verbose: Keras verbosity (default ``fitting.default_verbose``).
    """
    folder = run_dir(params, spec.step, spec.kind)
    if is_done(folder):
        return note_run(load_finished(spec, folder), params)
    audio = spec.kind if "audio" in spec.inputs else None
    backbone = spec.backbone() if spec.backbone else Backbone.pretrained(params) if spec.visual else None

    def load(split: str) -> SplitData:
        if inputs is None:
            raise AvscError(f"{folder.name}: no inputs to train on; pass the study's inputs "
                            "(avsc_lib.study.inputs.StudyInputs(params)) or train and val data")
        return inputs.split(split, audio=audio, visual=spec.visual, backbone=backbone)

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


def train_step(params: Mapping[str, Any], inputs: StepInputs | None, step: str, kind: str | None = None,
               **kwargs: Any) -> Run:
    """Train a step, first the steps its row starts from (each reused when finished).

    Args:
        params: a loaded parameter set.
        inputs: where the steps read their splits (see :func:`run_step`).
        step: the name of a step of :data:`avsc_lib.training.graph.STEPS`.
        kind: the feature kind of a step trained per kind (default ``feature_kind``).
        **kwargs: ``train``, ``val``, ``callbacks``, ``verbose`` for this step (see :func:`run_step`).
    """
    kind = kind or params["feature_kind"]
    folder = run_dir(params, step, kind)
    upstream = () if is_done(folder) else tuple(train_step(params, inputs, up, kind)
                                                  for up in upstream_steps(params, step))
    return run_step(params, step_spec(params, step, kind, upstream), inputs, **kwargs)


def train_audio(params: Mapping[str, Any], inputs: StepInputs | None, kind: str | None = None, **kwargs: Any) -> Run:
    """Step 1: the audio subnetwork from scratch (``audio_*`` settings, mixup) of a feature kind."""
    return train_step(params, inputs, "audio", kind, **kwargs)


def train_visual(params: Mapping[str, Any], inputs: StepInputs | None, **kwargs: Any) -> Run:
    """Step 2: the visual head on the cached features of the frozen VGG16 (``visual_*`` settings)."""
    return train_step(params, inputs, "visual", **kwargs)


def train_visual_unfrozen(params: Mapping[str, Any], inputs: StepInputs | None, **kwargs: Any) -> Run:
    """Step 2b: the whole visual subnetwork on decoded frames, from step 2's weights
    (``visual_unfrozen_*`` settings; trains step 2 first if needed)."""
    return train_step(params, inputs, "visual_unfrozen", **kwargs)


def visual_subnetwork(params: Mapping[str, Any], inputs: StepInputs | None, **kwargs: Any) -> Run:
    """The visual subnetwork the fusion step starts from (and Table 1's visual column): step 2b's
    when ``visual_unfreeze`` is on, else step 2's."""
    return train_step(params, inputs, visual_subnetwork_step(params), **kwargs)


def train_fusion(params: Mapping[str, Any], inputs: StepInputs | None, kind: str | None = None, **kwargs: Any) -> Run:
    """Step 3: the audio-visual network of one audio feature kind (default ``feature_kind``),
    both subnetworks frozen (trains them first if needed)."""
    return train_step(params, inputs, "fusion", kind, **kwargs)


def finetune_fusion(params: Mapping[str, Any], inputs: StepInputs | None, kind: str | None = None,
                    **kwargs: Any) -> Run:
    """Step 4: every weight unfrozen (``finetune_*`` settings), on decoded frames."""
    return train_step(params, inputs, "finetune", kind, **kwargs)


def final_run(params: Mapping[str, Any], inputs: StepInputs | None, kind: str | None = None, **kwargs: Any) -> Run:
    """The audio-visual network the study reports for an audio feature kind: fine-tuned when
    ``finetune`` is on, else step 3's."""
    return train_step(params, inputs, "finetune" if params["finetune"] else "fusion", kind, **kwargs)
