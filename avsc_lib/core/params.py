"""Load, merge and validate a study's parameter set.

The defaults live in ``params/*.yml`` only: ``paper.yml`` holds every key with the value of
the authors' code (the published system), ``paper-text.yml`` the paper's text where it differs,
and a profile such as ``demo.yml`` names ``inherit: paper.yml`` and overrides a few. The type of
each key is the type of its value in ``paper.yml``; keys whose paper value is ``null`` and keys
restricted to a set of choices are described below. The comment after a key in a parameter
file is its note (:func:`key_notes`): the book shows those of ``paper.yml`` and
``paper-text.yml`` beside the values that differ (:func:`text_code_differences`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.param_set import Params

PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"
PROJECT_ROOT = PARAMS_DIR.parent
BASE_FILE = "paper.yml"
TEXT_FILE = "paper-text.yml"  # the paper's text where it differs from the code (inherits BASE_FILE)

# Path-valued keys; a relative path in a parameter file is taken relative to the project root.
PATH_KEYS = ("data_root", "build_dir", "weights_dir")

# Keys whose value in paper.yml is null, and the types they accept otherwise.
NULLABLE_TYPES: dict[str, tuple[type, ...]] = {
    "data_root": (str,),
    "synth_profile": (str,),
    "max_clips": (int,),
    "weights_dir": (str,),
    "example_clip": (str,),
    "clip_seconds": (float, int),  # null: every clip as long as its files (an evaluation set)
}

# Keys restricted to a set of values.
CHOICES: dict[str, tuple[Any, ...]] = {
    "synth_profile": ("demo", "smoke", None),
    "feature_kind": ("gammatone", "logmel"),
    "gammatone_impl": ("fast", "reference"),
    "preprocessing": ("raw", "caffe"),
    "frame_resize": ("cv2", "ffmpeg"),
    "cache_fingerprint": ("stat", "sha256"),
    "frame_pooling": ("max", "avg"),
    "third_pool": (1, 2),
    "crop_range": ("authors", "clip"),
    "schedule_monitor": ("val_loss", "val_accuracy"),
    "strategy": ("default", "mirrored"),
    "precision": ("float32", "mixed_float16", "mixed_bfloat16"),
    "eval_split": ("train", "evaluate"),
    "submission_split": ("evaluate", "test"),
}

# List-valued keys: the values their items may take (the outputs with a loss: at least one).
ITEM_CHOICES: dict[str, tuple[str, ...]] = {
    "compare_feature_kinds": ("gammatone", "logmel"),
    "fusion_loss_outputs": ("audio", "visual", "early", "late"),
    "finetune_loss_outputs": ("audio", "visual", "early", "late"),
}


# Numeric keys and their valid ranges, checked when the parameters are loaded so that a bad
# value is named here rather than failing deep in a notebook: (low, low included, high, high
# included), None unbounded. STEP_RANGES apply to every ``<step>_<setting>``.
_POSITIVE = (0, False, None, False)
_NON_NEGATIVE = (0, True, None, False)
_AT_LEAST_ONE = (1, True, None, False)
RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = {
    **{key: _POSITIVE for key in ("sample_rate", "n_bands", "window_s", "hop_s", "clip_seconds",
                                  "segment_seconds", "fps", "frame_size", "frame_batch_size",
                                  "frame_cache_max_bytes")},
    "max_clips": _AT_LEAST_ONE,
    "feature_jobs": _NON_NEGATIVE,
    **{key: _NON_NEGATIVE for key in ("f_min", "synth_seed", "seed", "vgg16_l2", "visual_dense_l2")},
    "lr_factor": (0, False, 1, False),
    "audio_dropout": (0, True, 1, False),
    "frame_cache_quality": (1, True, 100, True),
    "max_short_fraction": (0, True, 1, False),
}
STEP_RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = {
    "epochs": _AT_LEAST_ONE, "batch_size": _AT_LEAST_ONE, "learning_rate": _POSITIVE,
    "mixup_alpha": _NON_NEGATIVE, "lr_patience": _NON_NEGATIVE, "early_stop_patience": _NON_NEGATIVE,
}
# Every training step has these settings, as parameters ``<step>_<setting>`` (e.g. visual_batch_size);
# which steps there are, what they start from and read, is the step table of avsc_lib.training.graph.
STEP_SETTINGS: tuple[str, ...] = tuple(STEP_RANGES)


def step_names(params: Mapping[str, Any]) -> list[str]:
    """The training steps a parameter set has settings for (every ``<step>_epochs``)."""
    return [key[: -len("_epochs")] for key in params if key.endswith("_epochs")]


def _range_text(low: float | None, low_in: bool, high: float | None, high_in: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_in else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_in else '<'} {high}")
    return " and ".join(parts)


def _check_ranges(params: Mapping[str, Any], steps: list[str]) -> None:
    """ParamsError naming the first numeric key outside its valid range."""
    ranges = dict(RANGES)
    ranges.update({f"{step}_{name}": bounds for step in steps for name, bounds in STEP_RANGES.items()})
    for key, (low, low_in, high, high_in) in ranges.items():
        value = params.get(key)
        if value is None or isinstance(value, bool):
            continue
        too_low = low is not None and (value < low if low_in else value <= low)
        too_high = high is not None and (value > high if high_in else value >= high)
        if too_low or too_high:
            raise ParamsError(f"parameter '{key}': {value!r} is out of range; valid: "
                              + _range_text(low, low_in, high, high_in))
    if params.get("clip_seconds") is not None and params["segment_seconds"] > params["clip_seconds"]:
        raise ParamsError(f"parameter 'segment_seconds': {params['segment_seconds']} is longer than "
                          f"clip_seconds {params['clip_seconds']}")
    if params["hop_s"] > params["window_s"]:
        raise ParamsError(f"parameter 'hop_s': {params['hop_s']} is longer than window_s {params['window_s']}")


class ParamsError(AvscError, ValueError):
    """A parameter file or override that does not fit the study's parameters."""


def _read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, naming the file in any error."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: parameter file not found") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a parameter file and the files it inherits from, later keys winning."""
    path = path.resolve()
    if path in seen:
        raise ParamsError(f"{path}: 'inherit' loops back to itself")
    data = _read_yaml(path)
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    base = _load_chain((path.parent / str(parent)), seen + (path,))
    base.update(data)
    return base


def defaults() -> dict[str, Any]:
    """The paper's parameter set, the base of every profile."""
    return _read_yaml(PARAMS_DIR / BASE_FILE)


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _coerce(key: str, value: Any, reference: Any) -> Any:
    """Check (and where lossless, convert) one value against its reference value's type."""
    if value is None and (reference is None or key in NULLABLE_TYPES):
        return None
    if reference is None:
        types = NULLABLE_TYPES.get(key, (object,))
    elif isinstance(reference, bool):
        types = (bool,)
    elif isinstance(reference, float):
        types = (float, int)
    elif isinstance(reference, int):
        types = (int,)
    else:
        types = (type(reference),)
    if isinstance(value, bool) and bool not in types:
        raise ParamsError(f"parameter '{key}': expected {_type_name(types)}, got bool {value!r}")
    if not isinstance(value, types):
        raise ParamsError(
            f"parameter '{key}': expected {_type_name(types)}, got {type(value).__name__} {value!r}"
        )
    if isinstance(reference, float) and isinstance(value, int):
        value = float(value)
    return value


def validate(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check every key and type against paper.yml; return a complete, checked copy."""
    base = defaults()
    unknown = sorted(set(params) - set(base))
    if unknown:
        raise ParamsError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; valid keys are: "
            + ", ".join(sorted(base))
        )
    checked = dict(base)
    for key, value in params.items():
        checked[key] = _coerce(key, value, base[key])
    for key, allowed in CHOICES.items():
        if checked[key] not in allowed:
            raise ParamsError(
                f"parameter '{key}': {checked[key]!r} is not one of "
                + ", ".join(map(repr, allowed))
            )
    for key, allowed in ITEM_CHOICES.items():
        wrong = [item for item in checked[key] if item not in allowed]
        if wrong or (not checked[key] and key.endswith("_loss_outputs")):
            raise ParamsError(
                f"parameter '{key}': expected a list of " + ", ".join(map(repr, allowed))
                + f", got {checked[key]!r}"
            )
    _check_ranges(checked, step_names(base))
    return checked


def parse_override(text: str) -> Any:
    """Parse a command-line override value as YAML (``-p epochs 3`` gives the int 3)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" as a string
            return float(value)
        except ValueError:
            pass
    return value


def sections(path: str | Path = PARAMS_DIR / BASE_FILE) -> dict[str, tuple[str, ...]]:
    """The sections of a parameter file: each ``# --- name (...) ---`` header names the keys
    below it (``audio features (section 2.1.1)`` is ``audio_features``); keys before the first
    header are the section ``study``."""
    found: dict[str, list[str]] = {"study": []}
    current = "study"
    for line in Path(path).read_text().splitlines():
        header = re.match(r"#\s*---\s*([^-(]+?)\s*(\(.*\))?\s*-*\s*$", line)
        key = re.match(r"([A-Za-z_]\w*):", line)
        if header:
            current = re.sub(r"\W+", "_", header.group(1).strip().lower())
            found.setdefault(current, [])
        elif key and key.group(1) != "inherit":
            found[current].append(key.group(1))
    return {name: tuple(keys) for name, keys in found.items() if keys}


def load_params(
    path: str | Path | None = None, overrides: Mapping[str, Any] | str | None = None
) -> Params:
    """Load a parameter file (default ``params/paper.yml``), apply overrides, validate.

    Args:
        path: a YAML file; ``inherit: other.yml`` inside it is resolved relative to it.
        overrides: key -> value pairs that win over the file (e.g. from ``-p key value``), or
            that mapping as YAML/JSON text (what papermill's ``-p overrides '{...}'`` passes).

    Returns:
        The complete, validated, read-only parameter set (:class:`~avsc_lib.core.param_set.Params`:
        a mapping whose keys are also attributes, grouped in the sections of ``paper.yml``); the
        path keys (``PATH_KEYS``) are absolute, relative ones taken from the project root.
    """
    path = Path(path) if path is not None else PARAMS_DIR / BASE_FILE
    params = _load_chain(path)
    if isinstance(overrides, str):  # e.g. papermill -p overrides '{"audio_epochs": 5}'
        text, overrides = overrides, parse_override(overrides)
        if overrides is not None and not isinstance(overrides, dict):
            raise ParamsError(f"overrides: expected a mapping such as {{audio_epochs: 5}}, got {text!r}")
    if overrides:
        params.update(overrides)
    try:
        checked = validate(params)
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from None
    return Params(_absolute_paths(checked), sections(), _revalidate)


def _absolute_paths(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with its path keys absolute, relative ones taken from the project root."""
    for key in PATH_KEYS:
        if params[key] is not None:
            params[key] = str((PROJECT_ROOT / Path(params[key]).expanduser()).resolve())
    return params


def _revalidate(params: Mapping[str, Any]) -> dict[str, Any]:
    """A changed copy of a loaded parameter set, checked as at load (``Params.replace``)."""
    return _absolute_paths(validate(params))


def _comment(text: str) -> str:
    """The comment of a YAML line's value part (a ``#`` outside quotes, after a space), else ""."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[i + 1:].strip()
    return ""


def key_notes(path: str | Path) -> dict[str, str]:
    """The comment after each top-level key of a parameter file (its note), in the file's order.

    A comment may go on over the following lines that hold an indented comment only. Keys
    without a comment are left out. Only the file itself is read, not the ones it inherits.
    """
    notes: dict[str, str] = {}
    current = None
    for line in Path(path).read_text().splitlines():
        match = re.match(r"([A-Za-z_]\w*):(.*)$", line)
        if match:
            current = match.group(1)
            notes[current] = _comment(match.group(2))
        elif current is not None and line[:1].isspace() and line.strip().startswith("#"):
            notes[current] = f"{notes[current]} {line.strip()[1:].strip()}".strip()
        else:
            current = None
    return {key: note for key, note in notes.items() if note}


def text_code_differences() -> list[tuple[str, Any, Any]]:
    """Where the paper's text and the authors' code differ: ``(key, text value, code value)``
    for every key whose value in ``paper-text.yml`` differs from ``paper.yml``'s, in the order of
    ``paper-text.yml`` (the profile's name aside)."""
    code, text = load_params(PARAMS_DIR / BASE_FILE), load_params(PARAMS_DIR / TEXT_FILE)
    keys = [key for key in _read_yaml(PARAMS_DIR / TEXT_FILE) if key not in ("inherit", "profile")]
    return [(key, text[key], code[key]) for key in keys if text[key] != code[key]]


def feature_workers(params: Mapping[str, Any]) -> int:
    """Processes or threads for feature extraction and decoding: ``feature_jobs``, 0 every core."""
    import os

    return int(params.get("feature_jobs") or os.cpu_count() or 1)


def build_path(params: Mapping[str, Any], *parts: str) -> Path:
    """A path below the study's build folder, e.g. ``build_path(params, "cache")``."""
    return Path(params["build_dir"]).joinpath(*parts)


def _display_bases(params: Mapping[str, Any] | None) -> list[Path]:
    return [PROJECT_ROOT] + ([Path(params["build_dir"]).resolve().parent] if params else [])


def display_path(path: str | Path, params: Mapping[str, Any] | None = None) -> str:
    """A path as notebooks and the book show it: relative to the project (``build/cache/...``),
    or to the folder holding the build folder of ``params`` when that lies elsewhere, so that no
    output names the machine's absolute paths; otherwise the path itself."""
    path = Path(path).resolve()
    for base in _display_bases(params):
        if path == base or base in path.parents:
            return str(path.relative_to(base)) or "."
    return str(path)


def display_text(text: str, params: Mapping[str, Any] | None = None) -> str:
    """A message with every path below the project (or the build folder of ``params``) made
    relative as :func:`display_path` does (e.g. a classifier's notes on the files it read)."""
    for base in sorted(_display_bases(params), key=lambda b: len(str(b)), reverse=True):
        text = text.replace(f"{base}/", "")
    return text


def params_hash(params: Mapping[str, Any], keys: list[str] | tuple[str, ...] | None = None) -> str:
    """A short, stable hash of the given keys (all keys when None) for cache and run folder names."""
    chosen = {k: params[k] for k in (sorted(keys) if keys is not None else sorted(params))}
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def save_params(params: Mapping[str, Any], path: str | Path) -> None:
    """Write a parameter mapping as YAML (atomically) beside the results it produced."""
    write_text(path, yaml.safe_dump(dict(params), sort_keys=True))
