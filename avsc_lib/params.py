"""Load, merge and validate a study's parameter set.

The defaults live in ``params/*.yml`` only: ``paper.yml`` holds every key with the paper's
value, and a profile such as ``demo.yml`` names ``inherit: paper.yml`` and overrides a few.
The type of each key is the type of its value in ``paper.yml``; keys whose paper value is
``null`` and keys restricted to a set of choices are described below.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from avsc_lib.atomic import write_text
from avsc_lib.errors import AvscError

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"
PROJECT_ROOT = PARAMS_DIR.parent
BASE_FILE = "paper.yml"

# Path-valued keys; a relative path in a parameter file is taken relative to the project root.
PATH_KEYS = ("data_root", "build_dir", "weights_dir")

# Keys whose value in paper.yml is null, and the types they accept otherwise.
NULLABLE_TYPES: dict[str, tuple[type, ...]] = {
    "data_root": (str,),
    "synth_profile": (str,),
    "max_clips": (int,),
    "weights_dir": (str,),
}

# Keys restricted to a set of values.
CHOICES: dict[str, tuple[Any, ...]] = {
    "synth_profile": ("demo", "smoke", None),
    "feature_kind": ("gammatone", "logmel"),
    "gammatone_impl": ("fast", "reference"),
    "preprocessing": ("raw", "caffe"),
    "frame_pooling": ("max", "avg"),
    "third_pool": (1, 2),
    "strategy": ("default", "mirrored"),
    "eval_split": ("train", "evaluate"),
    "submission_split": ("evaluate", "test"),
}


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


def load_params(
    path: str | Path | None = None, overrides: Mapping[str, Any] | str | None = None
) -> dict[str, Any]:
    """Load a parameter file (default ``params/paper.yml``), apply overrides, validate.

    Args:
        path: a YAML file; ``inherit: other.yml`` inside it is resolved relative to it.
        overrides: key -> value pairs that win over the file (e.g. from ``-p key value``), or
            that mapping as YAML/JSON text (what papermill's ``-p overrides '{...}'`` passes).

    Returns:
        The complete, validated parameter mapping; the path keys (``PATH_KEYS``) are absolute,
        relative ones taken from the project root.
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
    for key in PATH_KEYS:
        if checked[key] is not None:
            checked[key] = str((PROJECT_ROOT / Path(checked[key]).expanduser()).resolve())
    return checked


def build_path(params: Mapping[str, Any], *parts: str) -> Path:
    """A path below the study's build folder, e.g. ``build_path(params, "cache")``."""
    return Path(params["build_dir"]).joinpath(*parts)


def params_hash(params: Mapping[str, Any], keys: list[str] | tuple[str, ...] | None = None) -> str:
    """A short, stable hash of the given keys (all keys when None) for cache and run folder names."""
    chosen = {k: params[k] for k in (sorted(keys) if keys is not None else sorted(params))}
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def save_params(params: Mapping[str, Any], path: str | Path) -> None:
    """Write a parameter mapping as YAML (atomically) beside the results it produced."""
    write_text(path, yaml.safe_dump(dict(params), sort_keys=True))
