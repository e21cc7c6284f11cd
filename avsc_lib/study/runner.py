"""The one-command study: ``avsc run`` executes the notebooks, ``avsc book`` renders them.

``run_study`` executes ``notebooks/0[1-5]_*.ipynb`` in order with papermill into a run folder
(never over ``notebooks/``), each with the parameters ``params_file`` and ``output_dir`` and, by
name, the settings given on the command line that its parameters cell lists. ``build_book``
copies ``book/`` and a run's executed notebooks into a book source tree beside the run folder,
adds the figures and tables generated from the library (``avsc_lib.study.bookgen``), and builds it
with Jupyter Book with execution off.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.study.nbparams import notebook_parameters
from avsc_lib.core.params import PROJECT_ROOT, build_path, load_params, save_params
from avsc_lib.core.progress import Monitor

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


# --- the book -------------------------------------------------------------------------------


def resolve_run_dir(run: str | Path | None) -> Path:
    """The run folder given, or the one the last ``avsc run`` recorded."""
    if run is None:
        pointer = last_run_pointer()
        if not pointer.exists():
            raise AvscError(f"{pointer}: no run recorded yet; run 'avsc run' first or pass --run DIR")
        run = pointer.read_text().strip()
    run_dir = Path(run).expanduser().resolve()
    if not run_dir.is_dir():
        raise AvscError(f"{run_dir}: run folder not found")
    if not sorted(run_dir.glob(NOTEBOOK_PATTERN)):
        raise AvscError(f"{run_dir}: holds no executed notebooks ({NOTEBOOK_PATTERN}); run 'avsc run' first")
    return run_dir


def default_book_dir(run_dir: Path) -> Path:
    """Where the book of a run is assembled and built: ``<run folder>/../book-<run name>``."""
    return run_dir.parent / f"book-{run_dir.name}"


def run_params(run_dir: Path) -> dict[str, Any] | None:
    """The parameters a run was given (its ``params.yml``), or None for a foreign folder."""
    path = run_dir / RUN_PARAMS_FILE
    return yaml.safe_load(path.read_text()) if path.exists() else None


def hide_parameter_cells(notebook_json: dict[str, Any]) -> dict[str, Any]:
    """Tag the parameters and injected-parameters cells ``remove-cell`` (the book states them)."""
    for cell in notebook_json.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(tag in tags for tag in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    return notebook_json


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def drop_widget_outputs(notebook_json: dict[str, Any]) -> dict[str, Any]:
    """Remove widget outputs (e.g. tqdm bars) and widget state: their JS would come from a CDN."""
    for cell in notebook_json.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if WIDGET_MIME not in o.get("data", {})]
    notebook_json.get("metadata", {}).pop("widgets", None)
    return notebook_json


def _copy_notebooks(run_dir: Path, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for executed in sorted(run_dir.glob(NOTEBOOK_PATTERN)):
        notebook_json = drop_widget_outputs(hide_parameter_cells(json.loads(executed.read_text())))
        (dest / executed.name).write_text(json.dumps(notebook_json, indent=1))
        names.append(executed.stem)
    return names


def _prune_toc(entries: list[dict[str, Any]], src: Path) -> list[dict[str, Any]]:
    """Drop table-of-contents entries whose file is absent (a run without some notebooks)."""
    kept = []
    for entry in entries:
        if "file" in entry and not any(src.glob(entry["file"] + ".*")):
            continue
        for key in ("sections", "chapters", "parts"):
            if key in entry:
                entry[key] = _prune_toc(entry[key], src)
                if not entry[key]:
                    del entry[key]
        if "file" in entry or any(k in entry for k in ("sections", "chapters")):
            kept.append(entry)
    return kept


def assemble_book(run_dir: Path, src: Path) -> Path:
    """Write the book source tree: ``book/`` + the run's notebooks + generated figures/tables, its
    launch and repository buttons set for the repository's URL (none when it is unknown)."""
    from avsc_lib.study import bookgen
    from avsc_lib.core import repository
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK_DIR, src, ignore=shutil.ignore_patterns("_build", "generated"))
    _copy_notebooks(run_dir, src / "notebooks")
    bookgen.write_generated(src / "generated", run_dir, run_params(run_dir))
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    toc["parts"] = _prune_toc(toc.get("parts", []), src)
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    config = yaml.safe_load((src / "_config.yml").read_text())
    config = repository.configure_book(config, repository.repository_url(config))
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return src


def _jupyter_book_build(src: Path, out: Path, strict: bool) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
               "build", str(src), "--path-output", str(out), "--builder", "html"]
    if strict:
        command += ["--warningiserror", "--keep-going"]
    return subprocess.run(command, capture_output=True, text=True)


def build_book(run_dir: str | Path, out: str | Path | None = None, strict: bool = False) -> Path:
    """Build the Jupyter Book of a run folder with execution off.

    Args:
        run_dir: a run folder written by ``avsc run`` (holds ``0N_*.ipynb`` and ``params.yml``).
        out: the folder for the book (default ``<run folder>/../book-<run name>``); the source
            tree goes to ``out/src`` and the HTML to ``out/_build/html``.
        strict: fail on any Sphinx warning (the tests use it).

    Returns:
        The path of the built ``index.html``.
    """
    run_dir = resolve_run_dir(run_dir)
    book_dir = Path(out).expanduser().resolve() if out else default_book_dir(run_dir)
    src = assemble_book(run_dir, book_dir / "src")
    result = _jupyter_book_build(src, book_dir, strict)
    log_path = book_dir / "build.log"
    write_text(log_path, result.stdout + "\n" + result.stderr)
    index = book_dir / "_build" / "html" / "index.html"
    if result.returncode != 0 or not index.exists():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise AvscError(f"{src}: the book build failed (full log: {log_path}):\n{tail}")
    return index


def cli_book(args: argparse.Namespace) -> int:
    """``avsc book [--run DIR]``: build the book and print the path of its index.html."""
    index = build_book(resolve_run_dir(args.run))
    print(index)
    return 0


# --- helpers the notebooks call ---------------------------------------------------------------


def dataset_description(params: Mapping[str, Any]) -> str:
    """In words: the real data set at a root, or the synthetic set of a profile and seed."""
    if params.get("data_root"):
        return f"real data set in the TAU layout ({Path(params['data_root']).name})"
    return (f"SYNTHETIC demo set (profile {params['synth_profile']}, seed {params['synth_seed']}), "
            "generated by avsc_lib.data.synth; not real recordings")


def weights_description(info: Mapping[str, Any] | None) -> str:
    """In words: which VGG16 weights a resolved ``info`` (``models.backbone``) names; for a VGG16
    the unfrozen visual step trained, its run and the pretrained weights it started from."""
    if not info:
        return "not resolved"
    if info.get("weights") == "trained":
        base = weights_description(info.get("base")) if info.get("base") else "unknown weights"
        return f"trained by {info.get('run')} (sha256 {str(info.get('sha256'))[:12]}) from {base}"
    text = str(info.get("weights"))
    if info.get("path"):
        text += f" ({Path(str(info['path'])).name}"
        text += f", sha256 {str(info['sha256'])[:12]})" if info.get("sha256") else ")"
    if info.get("reason"):
        text += f" ({str(info['reason']).split('. ')[0]})"
    return text


def local_weights_info(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The backbone weights ``params`` resolve to on this machine, without downloading."""
    import warnings

    try:
        from avsc_lib.models import backbone

        with warnings.catch_warnings():  # the fallback's warning is in the returned "reason"
            warnings.simplefilter("ignore")
            return backbone.resolve_weights(params["weights"], params["weights_dir"], download=False)
    except Exception as err:  # missing file, module not importable: say so, don't fail the page
        return {"weights": f"{params['weights']} (unresolved: {err})"}


def provenance_rows(params: Mapping[str, Any], params_file: str | Path | None = None,
                    overrides: Mapping[str, Any] | None = None,
                    weights_info: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The facts that say what produced a chapter: profile, data set, weights, overrides."""
    rows = [("profile", str(params["profile"]))]
    if params_file is not None:
        rows.append(("parameter file", Path(params_file).name))
    from avsc_lib.core.params import PATH_KEYS

    shown = {k: (Path(str(v)).name if k in PATH_KEYS and v else v)
             for k, v in (overrides or {}).items() if k != "data_root"}
    rows.append(("overrides", ", ".join(f"{k}={v}" for k, v in shown.items()) or "none"))
    rows.append(("data set", dataset_description(params)))
    if params.get("data_root") and params.get("allow_invalid_data"):
        from avsc_lib.data.validation import accepted_problems

        accepted = accepted_problems(params)
        rows.append(("accepted data problems", f"{len(accepted)}: " + "; ".join(accepted[:5])
                     + (" ..." if len(accepted) > 5 else "") if accepted else "none found"))
    used = ("; used " + weights_description(weights_info)) if weights_info else " (not used in this chapter)"
    rows.append(("backbone weights", f"requested {params['weights']}{used}"))
    return rows


def provenance_markdown(params: Mapping[str, Any], params_file: str | Path | None = None,
                        overrides: Mapping[str, Any] | None = None,
                        weights_info: Mapping[str, Any] | None = None) -> str:
    """A small Markdown table of ``provenance_rows``."""
    lines = ["| produced with | value |", "| --- | --- |"]
    for key, value in provenance_rows(params, params_file, overrides, weights_info):
        lines.append(f"| {key} | {value.replace('|', '/')} |")
    return "\n".join(lines)


def show_provenance(params: Mapping[str, Any], params_file: str | Path | None = None,
                    overrides: Mapping[str, Any] | None = None,
                    weights_info: Mapping[str, Any] | None = None) -> None:
    """Display which parameters produced a notebook (call it right after loading ``params``).

    Displays a small Markdown table wherever in a cell it is called. ``weights_info`` is the
    dict of ``models.backbone.resolve_weights`` for the notebooks that use the backbone; None
    says that this notebook does not (and imports no TensorFlow).
    """
    from IPython.display import Markdown, display

    display(Markdown(provenance_markdown(params, params_file, overrides, weights_info)))


def pick_clip(clips: list, name: str | None = None):
    """The clip called ``name`` (None: the first one); AvscError naming the split otherwise."""
    if not clips:
        raise AvscError("the split holds no clips")
    if name is None:
        return clips[0]
    for clip in clips:
        if clip.name == name:
            return clip
    raise AvscError(f"clip {name!r} is not in the split (e.g. {clips[0].name!r})")


def split_table(splits: Mapping[str, list]):
    """A DataFrame of clips per class (rows, DCASE order) and split (columns), with totals."""
    import pandas as pd

    from avsc_lib.core.classes import CLASSES

    table = pd.DataFrame({split: [sum(c.scene == label for c in clips) for label in CLASSES]
                          for split, clips in splits.items()}, index=list(CLASSES))
    table.index.name = "class"
    table.loc["total"] = table.sum()
    return table


def first_clip_per_class(clips: list) -> dict[str, Any]:
    """The first clip of each class present, in DCASE order."""
    from avsc_lib.core.classes import CLASSES

    chosen = {}
    for label in CLASSES:
        match = next((c for c in clips if c.scene == label), None)
        if match is not None:
            chosen[label] = match
    return chosen
