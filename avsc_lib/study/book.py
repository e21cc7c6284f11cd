"""``avsc book``: a run's executed notebooks rendered as the study's book.

``build_book`` copies ``book/`` and a run's executed notebooks into a book source tree beside
the run folder, adds the figures and tables generated from the library
(:mod:`avsc_lib.study.bookgen`), and builds it with Jupyter Book with execution off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.study.runner import BOOK_DIR, HIDDEN_CELL_TAGS, NOTEBOOK_PATTERN, RUN_PARAMS_FILE, last_run_pointer


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
    from avsc_lib.core import repository
    from avsc_lib.study import bookgen
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
