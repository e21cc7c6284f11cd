"""The one-command study: ``avsc run`` executes the notebooks into a run folder.

``run_study`` executes ``notebooks/0[1-5]_*.ipynb`` in order with papermill into a run folder
(never over ``notebooks/``), each with the parameters ``params_file`` and ``output_dir`` and, by
name, the settings given on the command line that its parameters cell lists; before any
notebook it checks the data set (:mod:`avsc_lib.data.validation`). ``avsc book``
(:mod:`avsc_lib.study.book`) renders the run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping


from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PROJECT_ROOT, build_path, load_params, save_params
from avsc_lib.core.progress import Monitor
from avsc_lib.study.nbparams import notebook_parameters
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
BOOK_DIR = PROJECT_ROOT / "book"
NOTEBOOK_PATTERN = "0[1-5]_*.ipynb"
KERNEL_NAME = "python3"
LAST_RUN_FILE = "last_run"  # below the build folder: the path of the last run folder
RUN_PARAMS_FILE = "params.yml"  # in a run folder: the parameters the run was given, resolved
RUN_LOG_FILE = "run.json"  # in a run folder: what ran, when, and how long it took
RUN_TEXT_LOG = "run.log"  # in a run folder: the notebooks and the progress inside them, line by line
PROGRESS_FILE = "progress.json"  # in a run folder: the latest progress a notebook reported
HIDDEN_CELL_TAGS = ("injected-parameters", "parameters")

def study_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The study's notebooks in execution order (whichever of 01-05 exist)."""
    return sorted(notebook_dir.glob(NOTEBOOK_PATTERN))


def default_run_dir(params: Mapping[str, Any]) -> Path:
    """The run folder of a parameter set: ``<build>/run-<profile>``."""
    return build_path(params, f"run-{params['profile']}")


def last_run_pointer(params: Mapping[str, Any] | None = None) -> Path:
    """The file that records the last run folder (below the build folder of ``params``)."""
    params = params if params is not None else load_params(None)
    return build_path(params, LAST_RUN_FILE)


def _check_run_dir(run_dir: Path) -> None:
    notebooks = NOTEBOOK_DIR.resolve()
    if run_dir == notebooks or notebooks in run_dir.parents:
        raise AvscError(f"{run_dir}: the run folder must lie outside {notebooks} (sources stay output-free)")


def _execution_error(notebook: Path, executed: Path, err: Exception) -> AvscError:
    """A user-facing error that names the notebook, the failing cell and the partial copy."""
    cell = getattr(err, "cell_index", None)
    count = getattr(err, "exec_count", None)
    source = (getattr(err, "source", "") or "").strip().splitlines()
    first_line = source[0] if source else ""
    reason = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"
    where = f"cell {cell} (In [{count}]: {first_line!r})" if cell is not None else "before any cell ran"
    return AvscError(
        f"{notebook.name} failed at {where}: {reason}\n"
        f"  the partially executed copy is {executed}"
    )


def execute_notebook(
    notebook: Path, executed: Path, parameters: Mapping[str, Any], cwd: Path = NOTEBOOK_DIR
) -> None:
    """Execute one notebook with papermill into ``executed``; AvscError if a cell fails."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=dict(parameters),
            kernel_name=KERNEL_NAME,
            cwd=str(cwd),
            log_output=False,
            progress_bar=False,
            report_mode=False,
        )
    except PapermillExecutionError as err:
        raise _execution_error(notebook, executed, err) from None
    except Exception as err:  # kernel missing or died, unreadable notebook, ...
        if isinstance(err, AvscError):
            raise
        raise _execution_error(notebook, executed, err) from None


def run_study(
    params_file: str | Path,
    data: str | Path | None = None,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    notebooks: list[Path] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Execute the study's notebooks in order with papermill.

    Args:
        params_file: the parameter file (e.g. ``params/demo.yml``).
        data: a dataset root in the TAU layout; sets ``data_root`` (None: the file's value,
            which is the synthetic set when that is null).
        out: the run folder for the executed notebooks (default ``<build>/run-<profile>``).
        overrides: ``key: value`` pairs that win over the file, as ``-p key value``.
        notebooks: the notebooks to execute (default: ``notebooks/0[1-5]_*.ipynb``, sorted).
        log: where progress lines go.

    Returns:
        The run folder, holding the executed notebooks and ``params.yml``.
    """
    params_file = Path(params_file).expanduser().resolve()
    overrides = dict(overrides or {})
    if data is not None:
        root = Path(data).expanduser().resolve()
        if not root.is_dir():
            raise AvscError(f"{root}: dataset root not found (see 'avsc check ROOT')")
        overrides["data_root"] = str(root)
    params = load_params(params_file, overrides)  # fails early, naming a bad key
    if params["data_root"]:
        from avsc_lib.data.validation import validate_data

        validate_data(params, log)
    run_dir = Path(out).expanduser().resolve() if out else default_run_dir(params)
    _check_run_dir(run_dir)
    notebooks = study_notebooks() if notebooks is None else list(notebooks)
    if not notebooks:
        raise AvscError(f"{NOTEBOOK_DIR}: no notebooks matching {NOTEBOOK_PATTERN}")

    parameters = notebook_parameters(notebooks, overrides)  # fails early, naming where a key belongs
    run_dir.mkdir(parents=True, exist_ok=True)
    save_params(params, run_dir / RUN_PARAMS_FILE)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernels inherit it: quieter outputs
    text_log = run_dir / RUN_TEXT_LOG
    text_log.unlink(missing_ok=True)

    def say(line: str) -> None:
        log(line)
        with open(text_log, "a") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    say(f"avsc run: {len(notebooks)} notebook(s), parameters {params_file.name}"
        + (f" {overrides}" if overrides else "") + f", into {run_dir}")
    record = {"params_file": str(params_file), "overrides": overrides, "notebooks": []}
    started = time.perf_counter()
    with Monitor(run_dir / PROGRESS_FILE, text_log) as monitor:
        for i, notebook in enumerate(notebooks, 1):
            executed = run_dir / notebook.name
            say(f"[{i}/{len(notebooks)}] {notebook.name} ...")
            t0 = time.perf_counter()
            execute_notebook(notebook, executed,
                             {"params_file": str(params_file), "output_dir": str(run_dir), **parameters[notebook]})
            seconds = time.perf_counter() - t0
            record["notebooks"].append({"name": notebook.name, "seconds": round(seconds, 1)})
            monitor.clear()
            say(f"[{i}/{len(notebooks)}] {notebook.name} done in {seconds:.1f} s")
    record["seconds"] = round(time.perf_counter() - started, 1)
    write_text(run_dir / RUN_LOG_FILE, json.dumps(record, indent=2))
    write_text(last_run_pointer(params), str(run_dir) + "\n")
    say(f"avsc run: finished in {record['seconds']:.1f} s; executed notebooks in {run_dir}")
    return run_dir


def cli_run(args: argparse.Namespace) -> int:
    """``avsc run --params FILE [--data ROOT] [--out DIR] [-p KEY VALUE ...]``."""
    run_study(args.params, data=args.data, out=args.out, overrides=args.overrides or {})
    return 0
