"""The training steps as one table: what each starts from, what it reads, what shapes it.

Run-folder keys (:mod:`avsc_lib.training.runs`), the orchestration
(:func:`avsc_lib.training.steps.train_step`), the book's training chapter and the tests read
:data:`STEPS`. Adding a step means adding a row here, its settings ``<name>_epochs``,
``<name>_batch_size``, ... to ``params/paper.yml`` and its build function to
``avsc_lib.training.steps.BUILDERS``.

A step reads the data it trains on through :class:`StepInputs`, which the study layer hands
it (:class:`avsc_lib.study.inputs.StudyInputs`): nothing in training makes the data set or the
feature caches itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import STEP_SETTINGS

# What a step reads.
AUDIO_FEATURES = "audio features"  # the audio cache of the step's feature kind
FRAME_FEATURES = "frame features"  # cached per-frame features of a VGG16 (frozen during the step)
FRAMES = "frames"  # decoded frames from the frame cache, through a VGG16 that trains
VISUAL_SUBNETWORK = "visual subnetwork"  # in starts_from: visual_unfrozen when visual_unfreeze, else visual

# The parameters that shape every step's result (beside its own keys): the data set (with the
# data fingerprint) and the schedule.
DATA_KEYS = ("synth_profile", "synth_seed", "max_clips", "eval_split")
SCHEDULE_KEYS = ("seed", "lr_factor", "schedule_monitor", "crop_range")
# Keys of the training arithmetic, in a run key only when they differ from the authors' (float32,
# no XLA), so that the runs of the default settings keep their folders.
COMPUTE_DEFAULTS = {"precision": "float32", "jit_compile": False}
AUDIO_KEYS = (
    "sample_rate", "n_bands", "window_s", "hop_s", "f_min", "gammatone_impl", "clip_seconds",
    "segment_seconds", "audio_dropout", "third_pool",
)
VISUAL_KEYS = (
    "fps", "frame_size", "frame_resize", "preprocessing", "frame_pooling", "clip_seconds",
    "segment_seconds", "visual_dense_l2",
)
FRAME_KEYS = ("vgg16_l2", "frame_cache_quality", "frame_cache_max_bytes")


@dataclass(frozen=True)
class Step:
    """One training step.

    Attributes:
        name: the step's name: its run folders' prefix and its settings' prefix.
        title: how the book names it.
        per_kind: trained once per audio feature kind (``compare_feature_kinds``).
        starts_from: the steps whose trained weights it starts from (:data:`VISUAL_SUBNETWORK`
            stands for the visual step ``visual_unfreeze`` picks).
        reads: what it trains on: :data:`AUDIO_FEATURES`, :data:`FRAME_FEATURES`, :data:`FRAMES`.
        keys: the parameters of its own that shape its result (beside its settings).
        identity: what else its key records: ``feature_kind`` (the audio input of the run),
            ``weights_identity`` (the pretrained VGG16 the frame features came from).
        switch: the parameter that turns it on (None: it always runs).
    """

    name: str
    title: str
    per_kind: bool
    starts_from: tuple[str, ...]
    reads: tuple[str, ...]
    keys: tuple[str, ...]
    identity: tuple[str, ...] = ()
    switch: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The inputs of its model: ``audio``, ``visual`` or both."""
        visual = FRAME_FEATURES in self.reads or FRAMES in self.reads
        return tuple(name for name, reads in (("audio", AUDIO_FEATURES in self.reads), ("visual", visual)) if reads)

    @property
    def visual(self) -> str | None:
        """How it reads the visual input: ``features`` (cached), ``frames`` (decoded) or None."""
        return "frames" if FRAMES in self.reads else "features" if FRAME_FEATURES in self.reads else None


STEPS: tuple[Step, ...] = (
    Step("audio", "1. audio subnetwork from scratch", True, (), (AUDIO_FEATURES,), AUDIO_KEYS,
         identity=("feature_kind",)),
    Step("visual", "2. visual head, VGG16 frozen", False, (), (FRAME_FEATURES,), VISUAL_KEYS,
         identity=("weights_identity",)),
    Step("visual_unfrozen", "2b. visual subnetwork, VGG16 unfrozen", False, ("visual",), (FRAMES,), FRAME_KEYS,
         switch="visual_unfreeze"),
    Step("fusion", "3. audio-visual network, subnetworks frozen", True, ("audio", VISUAL_SUBNETWORK),
         (AUDIO_FEATURES, FRAME_FEATURES), ("visual_unfreeze", "fusion_loss_outputs")),
    Step("finetune", "4. fine-tuning, every weight", True, ("fusion",), (AUDIO_FEATURES, FRAMES),
         FRAME_KEYS + ("finetune_loss_outputs",), switch="finetune"),
)
STEP_NAMES: tuple[str, ...] = tuple(step.name for step in STEPS)
KIND_STEPS: tuple[str, ...] = tuple(step.name for step in STEPS if step.per_kind)
FRAME_STEPS: tuple[str, ...] = tuple(step.name for step in STEPS if step.visual == "frames")


def get_step(name: str) -> Step:
    """The row of a step.

    Raises:
        AvscError: no step has that name.
    """
    for step in STEPS:
        if step.name == name:
            return step
    raise AvscError(f"unknown training step {name!r}; valid: {', '.join(STEP_NAMES)}")


def visual_subnetwork_step(params: Mapping[str, Any]) -> str:
    """The visual step the fusion starts from: ``visual_unfrozen`` when ``visual_unfreeze`` is on."""
    return "visual_unfrozen" if params["visual_unfreeze"] else "visual"


def upstream_steps(params: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """The steps whose results a step starts from, for these parameters."""
    return tuple(visual_subnetwork_step(params) if up == VISUAL_SUBNETWORK else up
                 for up in get_step(name).starts_from)


def step_settings(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A step's settings: ``{"epochs": params["<step>_epochs"], ...}`` (see ``STEP_SETTINGS``)."""
    return {setting: params[f"{name}_{setting}"] for setting in STEP_SETTINGS}


def runs_in(params: Mapping[str, Any], name: str) -> bool:
    """Whether a step runs in the study of these parameters (its switch, if any, is on)."""
    switch = get_step(name).switch
    return switch is None or bool(params.get(switch))


class StepInputs(Protocol):
    """What steps and evaluations read: the clips of a split and their data.

    The study layer implements it (:class:`avsc_lib.study.inputs.StudyInputs`: the data set
    made, the caches filled); a test can hand in any object with these two methods.
    """

    def clips(self, split: str) -> list:
        """The clips of a fold-1 split (the first ``max_clips`` if set)."""

    def split(self, split: str, audio: str | None = None, visual: str | None = None,
              lazy: bool | None = None, backbone: Any = None) -> Any:
        """A split's :class:`~avsc_lib.training.segments.SplitData` (see ``StudyInputs.split``)."""
