"""The notebooks' parameters: which settings of ``params/paper.yml`` each notebook uses.

Each notebook's ``parameters`` cell lists the settings it uses, one per line with the comment
that ``params/paper.yml`` gives the key, so that ``papermill NB OUT -p audio_epochs 50`` works
and ``papermill --help-notebook NB`` shows what a reader can tweak. ``None`` means "the value of
``params_file``". The cells are generated here from ``paper.yml`` (:func:`parameters_source`)
and written by ``avsc notebooks`` (:func:`sync_notebooks`), which also writes each notebook's
first cell: on Colab or another kernel without ``avsc_lib``, it fetches and installs the study
from the repository (:func:`install_source`); anywhere else it does nothing. A test keeps the
notebooks in sync with ``paper.yml``.

A notebook "uses" a setting when it changes what the notebook computes or shows, upstream steps
included: notebook 04 trains the subnetworks it starts from when their run folders are missing,
so it lists their settings too.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import BASE_FILE, NULLABLE_TYPES, PARAMS_DIR, PROJECT_ROOT, STEP_SETTINGS, defaults, key_notes

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
# Every notebook's parameters besides the settings: where the settings come from and where it writes.
STUDY_PARAMETERS = ("params_file", "overrides", "output_dir")
DEFAULT_PARAMS_FILE = "../params/demo.yml"  # relative to notebooks/, the notebooks' working folder
INSTALL_TAG = "install-avsc"  # the first cell: installs the study on Colab (the book removes it)


def _step(step: str) -> tuple[str, ...]:
    return tuple(f"{step}_{setting}" for setting in STEP_SETTINGS)


_DATA = ("profile", "data_root", "synth_profile", "synth_seed", "build_dir", "max_clips", "allow_invalid_data",
         "cache_fingerprint", "clip_seconds", "max_short_fraction", "feature_jobs")
_AUDIO_FEATURES = ("sample_rate", "n_bands", "window_s", "hop_s", "f_min", "gammatone_impl", "segment_seconds")
_AUDIO = ("feature_kind", "compare_feature_kinds", *_AUDIO_FEATURES, "audio_dropout", "third_pool")
_VIDEO = ("fps", "frame_size", "frame_resize", "weights", "weights_dir", "preprocessing", "frame_batch_size",
          "frame_cache_quality", "frame_cache_max_bytes", "segment_seconds", "frame_pooling", "vgg16_l2",
          "visual_dense_l2", "visual_unfreeze")
_TRAINING = ("seed", "precision", "jit_compile", "strategy", "crop_range", "schedule_monitor", "lr_factor", "eval_split")
_FUSION = (*_DATA, *_AUDIO, *_VIDEO, *_TRAINING, *_step("audio"), *_step("visual"), *_step("visual_unfrozen"),
           *_step("fusion"), "fusion_loss_outputs", "finetune", *_step("finetune"), "finetune_loss_outputs")

# The settings each notebook uses (listed in its parameters cell in paper.yml's order).
NOTEBOOK_KEYS: dict[str, tuple[str, ...]] = {
    "01_features": (*_DATA, "example_clip", *_AUDIO_FEATURES, "fps", "frame_size"),
    "02_audio_subnetwork": (*_DATA, *_AUDIO, *_TRAINING, *_step("audio")),
    "03_visual_subnetwork": (*_DATA, *_VIDEO, *_TRAINING, *_step("visual"), *_step("visual_unfrozen")),
    "04_fusion": _FUSION,
    "05_evaluation": (*_FUSION, "submission_split"),
}


def notebook_keys(name: str) -> tuple[str, ...]:
    """The settings a notebook uses, in ``paper.yml``'s order; AvscError for an unknown notebook."""
    name = Path(name).stem
    if name not in NOTEBOOK_KEYS:
        raise AvscError(f"unknown notebook {name!r}; the study's notebooks are {', '.join(NOTEBOOK_KEYS)}")
    wanted = set(NOTEBOOK_KEYS[name])
    return tuple(key for key in defaults() if key in wanted)


def declared_parameters(notebook: Path) -> tuple[str, ...]:
    """The names a notebook's ``parameters`` cell assigns (empty when it has none)."""
    import ast

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return ()
    names = []
    for statement in ast.parse(cells[0].source).body:
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return tuple(names)


def users_of(key: str, notebooks: Iterable[str] | None = None) -> list[str]:
    """The notebooks (of ``notebooks``, default all) whose parameters list ``key``."""
    return [name for name in (notebooks or NOTEBOOK_KEYS) if key in NOTEBOOK_KEYS.get(Path(name).stem, ())]


def unused_setting_error(key: str, notebooks: str) -> AvscError:
    """The error for a setting given to notebooks that do not use it, naming those that do."""
    users = users_of(key)
    where = f"the notebooks that use it: {', '.join(users)}" if users else "no notebook uses it"
    return AvscError(f"{key!r} is not a setting of {notebooks}: it would change nothing there ({where})")


def notebook_parameters(notebooks: list[Path], overrides: Mapping[str, Any]) -> dict[Path, dict[str, Any]]:
    """The parameters each notebook is given: by name (papermill ``-p``), the settings of
    ``overrides`` that its parameters cell lists; those set to None (null) go in its
    ``overrides`` mapping, since None by name means "from params_file".

    Raises:
        AvscError: a setting none of ``notebooks`` lists, naming the notebooks that use it.
    """
    declared = {notebook: set(declared_parameters(notebook)) for notebook in notebooks}
    for key in overrides:
        if not any(key in names for names in declared.values()):
            raise unused_setting_error(key, ", ".join(n.stem for n in notebooks))
    given = {}
    for notebook, names in declared.items():
        mine = {key: value for key, value in overrides.items() if key in names}
        nulls = {key: None for key, value in mine.items() if value is None}
        given[notebook] = {key: value for key, value in mine.items() if value is not None}
        if nulls:
            given[notebook]["overrides"] = nulls
    return given


# --- the generated cells -------------------------------------------------------------------------


def _type_name(key: str, value: Any) -> str:
    """The annotation papermill shows for a key: the type of its paper.yml value."""
    if value is None:
        return NULLABLE_TYPES.get(key, (str,))[0].__name__
    return type(value).__name__


def _sections(path: Path = PARAMS_DIR / BASE_FILE) -> dict[str, str]:
    """The section each key of ``paper.yml`` belongs to: the last ``# --- name ---`` line above it."""
    sections, current = {}, ""
    for line in path.read_text().splitlines():
        heading = re.match(r"#\s*---\s*(.*?)\s*-*\s*$", line)
        if heading:
            current = heading.group(1)
        key = re.match(r"([A-Za-z_]\w*):", line)
        if key:
            sections[key.group(1)] = current
    return sections


STUDY_NOTES = {
    "params_file": "the parameter profile; every setting below left at None takes its value from it",
    "overrides": "more settings as a mapping, e.g. {'audio_epochs': 50}; the settings below win over it",
    "output_dir": "where the notebook writes its files; None: build/interactive-<profile>, never an avsc run folder",
}


def parameters_source(name: str) -> str:
    """The source of a notebook's ``parameters`` cell, generated from ``paper.yml``'s comments."""
    base, notes, sections = defaults(), key_notes(PARAMS_DIR / BASE_FILE), _sections()
    lines = [
        "# Parameters: papermill NB OUT -p NAME VALUE, or edit here; `papermill --help-notebook NB` lists them.",
        "# None takes the value of params_file (overrides can set a null). Generated from params/paper.yml",
        "# by `avsc notebooks`: edit the comments there.",
        f'params_file: str = "{DEFAULT_PARAMS_FILE}"  # {STUDY_NOTES["params_file"]}',
        f"overrides: dict = {{}}  # {STUDY_NOTES['overrides']}",
        f"output_dir: str = None  # {STUDY_NOTES['output_dir']}",
    ]
    section = None
    for key in notebook_keys(name):
        if sections.get(key) != section:
            section = sections.get(key)
            lines += ["", f"# --- {section}"] if section else [""]
        note = notes.get(key, "")
        if "=" in note or not note:
            raise AvscError(f"{BASE_FILE}: the comment of {key!r} must be one line without '=' "
                            "(papermill skips such lines)")
        lines.append(f"{key}: {_type_name(key, base[key])} = None  # {note}")
    return "\n".join(lines)


INSTALL_SOURCE = '''\
# Colab and other kernels without the study: fetch and install it (anywhere else this does nothing).
import importlib.util

if importlib.util.find_spec("avsc_lib") is None:
    import os, subprocess, sys

    REPOSITORY = "{url}"  # written by `avsc notebooks` from the repository setting (book/_config.yml)
    if not REPOSITORY:
        raise RuntimeError("avsc_lib is not installed: clone the study and run `pip install -e .` in it")
    if not os.path.isdir("avsc"):
        subprocess.run(["git", "clone", "--depth", "1", REPOSITORY, "avsc"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", "avsc"], check=True)
    sys.path.insert(0, os.path.abspath("avsc"))
    os.chdir("avsc/notebooks")'''

_INSTALL_URL = re.compile(r'^    REPOSITORY = "([^"]*)"', re.M)


def install_source(url: str | None) -> str:
    """The source of a notebook's first cell, which installs the study from ``url`` on Colab."""
    if url and ('"' in url or "\\" in url):
        raise AvscError(f"{url!r}: not a repository URL")
    return INSTALL_SOURCE.format(url=url or "")


def install_url(source: str) -> str | None:
    """The repository URL an install cell names ("" when none), or None for another cell."""
    match = _INSTALL_URL.search(source)
    return match.group(1) if match else None


# --- the notebooks in git ------------------------------------------------------------------------


def _tagged(nb: Any, tag: str) -> list[Any]:
    return [cell for cell in nb.cells if tag in cell.get("metadata", {}).get("tags", [])]


def synced(nb: Any, name: str, url: str | None) -> Any:
    """A copy of a notebook whose install and parameters cells are the generated ones."""
    import copy

    from nbformat.v4 import new_code_cell

    nb = copy.deepcopy(nb)
    install = _tagged(nb, INSTALL_TAG)
    if not install:
        nb.cells.insert(0, new_code_cell("", metadata={"tags": ["remove-cell", INSTALL_TAG]}))
        install = nb.cells[:1]
    install[0].source = install_source(url)
    parameters = _tagged(nb, "parameters")
    if len(parameters) != 1:
        raise AvscError(f"{name}: {len(parameters)} cells tagged 'parameters'; expected one")
    parameters[0].source = parameters_source(name)
    return nb


def sync_notebooks(url: str | None, check: bool = False, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Write (or with ``check`` only compare) the generated cells of the study's notebooks.

    Args:
        url: the repository the install cell fetches (None: the cell only explains).
        check: change nothing; return the notebooks whose cells differ.
        notebook_dir: the folder of ``0N_*.ipynb``.

    Returns:
        The notebooks that were (with ``check``: would be) changed.
    """
    import nbformat

    changed = []
    for path in sorted(notebook_dir.glob("0[1-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        new = synced(nb, path.stem, url)
        if new != nb:
            changed.append(path)
            if not check:
                nbformat.write(new, path)
    return changed


def committed_url(notebook_dir: Path = NOTEBOOK_DIR) -> str | None:
    """The repository URL the notebooks' install cells name (the first notebook's)."""
    import nbformat

    for path in sorted(notebook_dir.glob("0[1-9]_*.ipynb")):
        for cell in _tagged(nbformat.read(path, as_version=4), INSTALL_TAG):
            return install_url(cell.source) or None
    return None


def cli_notebooks(args: argparse.Namespace) -> int:
    """``avsc notebooks [--check]``: generate the notebooks' install and parameters cells."""
    from avsc_lib.core.repository import repository_url

    url = repository_url()
    changed = sync_notebooks(url, check=args.check)
    names = ", ".join(p.name for p in changed)
    if args.check:
        if changed:
            print(f"out of sync with params/{BASE_FILE} or the repository ({url or 'none'}): {names}; "
                  "run 'avsc notebooks'")
            return 1
        print("the notebooks' parameters and install cells are in sync")
        return 0
    print(f"rewrote {names}" if changed else "nothing to change", f"(repository: {url or 'unknown'})")
    return 0


def parse_value(key: str, value: Any) -> Any:
    """A value given as text (papermill ``-p finetune true``) for a key that is no string, parsed
    as YAML; other values unchanged."""
    from avsc_lib.core.params import parse_override

    reference = defaults()[key]
    wants_text = isinstance(reference, str) or (reference is None and str in NULLABLE_TYPES.get(key, ()))
    return parse_override(value) if isinstance(value, str) and not wants_text else value


def notebook_overrides(name: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a notebook's namespace sets (not None), checked: AvscError naming the
    notebooks that use a setting of ``paper.yml`` this notebook does not list."""
    keys = set(notebook_keys(name))
    for key in defaults():
        if key in namespace and key not in keys:
            raise unused_setting_error(key, name)
    return {key: parse_value(key, namespace[key]) for key in notebook_keys(name) if namespace.get(key) is not None}
