"""What a study notebook does first and last: its parameters, its output folder, its steps.

A notebook's first code cell calls :func:`start` with its name and ``globals()``: the values of
its parameters cell (and those papermill injected after it) become the parameter set, the
settings that are not None winning over ``overrides`` and ``params_file``. A setting of
``params/paper.yml`` that the notebook does not use is an error naming the notebooks that do.

Run by hand (Jupyter, nbclient, papermill without ``output_dir``), a notebook writes into a
folder of its own, ``<build>/interactive-<profile>``, never into the run folder of ``avsc run``,
so that ``avsc book`` never renders a mix of two parameter sets. The training steps it needs
come from their run folders when they exist (keyed by the parameters that shape them) and are
trained otherwise; :func:`steps_table` says which were reused and which computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import yaml

from avsc_lib.core.errors import AvscError
from avsc_lib.core.param_set import Params
from avsc_lib.core.params import build_path, defaults, display_path, load_params, parse_override
from avsc_lib.study.inputs import StudyInputs
from avsc_lib.study.nbparams import (
    DEFAULT_PARAMS_FILE, NOTEBOOK_DIR, notebook_keys, notebook_overrides, unused_setting_error,
)
from avsc_lib.study.runner import RUN_PARAMS_FILE

INTERACTIVE_PREFIX = "interactive-"


@dataclass
class Setup:
    """A notebook's parameters, resolved.

    Attributes:
        name: the notebook, e.g. ``02_audio_subnetwork``.
        params: the complete, validated parameter set.
        params_file: the parameter file it came from.
        overrides: what won over the file: ``overrides`` and the notebook's settings that are set.
        output_dir: where the notebook writes its files.
    """

    name: str
    params: Params
    params_file: Path
    overrides: dict[str, Any]
    output_dir: Path

    @cached_property
    def inputs(self) -> StudyInputs:
        """What the notebook's steps read: the data set of ``params`` (made on first use) and its splits."""
        return StudyInputs(self.params)


def resolve_params_file(value: str | Path | None) -> Path:
    """The parameter file: as given (relative to the working folder), else relative to
    ``notebooks/`` (a kernel started elsewhere), default ``params/demo.yml``."""
    path = Path(value if value else DEFAULT_PARAMS_FILE).expanduser()
    if not path.is_absolute() and not path.exists() and (NOTEBOOK_DIR / path).exists():
        path = NOTEBOOK_DIR / path
    return path.resolve()


def _mapping(overrides: Any) -> dict[str, Any]:
    """``overrides`` as a dict (papermill passes ``-p overrides '{...}'`` as text)."""
    if isinstance(overrides, str):
        overrides = parse_override(overrides)
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise AvscError(f"overrides: expected a mapping such as {{'audio_epochs': 5}}, got {overrides!r}")
    return dict(overrides)


def check_output_dir(output_dir: Path, params: Mapping[str, Any], name: str) -> None:
    """AvscError when ``output_dir`` is the run folder of ``avsc run`` with other settings of
    this notebook: writing there would give its book a mix of two parameter sets."""
    recorded = output_dir / RUN_PARAMS_FILE
    if not recorded.is_file():
        return
    run = yaml.safe_load(recorded.read_text()) or {}
    differ = [f"{key} {params[key]!r} (run: {run.get(key)!r})" for key in notebook_keys(name)
              if key in run and run[key] != params[key]]
    if differ:
        raise AvscError(f"{display_path(output_dir, params)} is the run folder of 'avsc run' with other settings "
                        f"({'; '.join(differ)}); leave output_dir at None for a folder of this notebook's own")


def start(name: str, namespace: Mapping[str, Any]) -> Setup:
    """Resolve a notebook's parameters from its namespace (its first code cell: ``globals()``).

    Args:
        name: the notebook's name without ``.ipynb``.
        namespace: the notebook's globals after its parameters cell (and papermill's injected one).

    Returns:
        The :class:`Setup`; its output folder exists.

    Raises:
        AvscError: a setting this notebook does not use, naming the notebooks that use it.
        ParamsError: a value that does not fit the setting.
    """
    from avsc_lib.training.runs import forget_touched_runs

    overrides = _mapping(namespace.get("overrides"))
    keys, known = set(notebook_keys(name)), set(defaults())
    for key in overrides:
        if key in known and key not in keys:
            raise unused_setting_error(key, name)
    overrides.update(notebook_overrides(name, namespace))
    params_file = resolve_params_file(namespace.get("params_file"))
    params = load_params(params_file, overrides)
    given = namespace.get("output_dir")
    if given:
        output_dir = Path(given).expanduser().resolve()
        check_output_dir(output_dir, params, name)
    else:
        output_dir = build_path(params, f"{INTERACTIVE_PREFIX}{params['profile']}")
    output_dir.mkdir(parents=True, exist_ok=True)
    forget_touched_runs()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return Setup(name, params, params_file, overrides, output_dir)


def step_summary(run: Any) -> dict[str, Any]:
    """One training step in a row: its run folder's name, reused or computed, epochs, the best
    epoch's validation accuracy and the loss then, and the training time."""
    info, log = run.info, run.log
    best = info.get("best_epoch")
    val_loss = None
    if best is not None and "val_loss" in log and best < len(log):
        val_loss = float(log["val_loss"].iloc[best])
    return {
        "run": run.dir.name,
        "this time": run.status,
        "epochs": f"{info.get('epochs_run')} of {info.get('max_epochs')}",
        "best epoch": None if best is None else best + 1,
        "val accuracy (%)": None if info.get("best") is None else round(100 * info["best"], 1),
        "val loss": None if val_loss is None else round(val_loss, 3),
        "time (s)": info.get("seconds"),
    }


def steps_table(params: Mapping[str, Any] | None = None, runs: list | None = None) -> Any:
    """A DataFrame of :func:`step_summary` for ``runs`` (default: every run the notebook reused
    or computed since :func:`start`), indexed by run folder; the index's name says where those
    lie (``run folder in build/runs/``), and each keeps its per-epoch log as ``log.csv``."""
    import pandas as pd

    from avsc_lib.training.runs import touched_runs

    runs = touched_runs() if runs is None else runs
    if not runs:
        return pd.DataFrame()
    table = pd.DataFrame([step_summary(run) for run in runs]).set_index("run")
    table.index.name = f"run folder in {display_path(runs[0].dir.parent, params)}/"
    return table
