"""The book's generated figures and tables, written into the book source tree by ``avsc book``.

The Markdown chapters in ``book/`` include these files (``generated/<name>.md``, figures
``generated/<name>.png``), so that no number in a chapter is typed by hand: the paper's
published numbers come from ``avsc_lib.core.paper``, this implementation's from the library and
the run folder (``params.yml``, ``run.json``, ``metrics.json``).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from avsc_lib.core import paper
from avsc_lib.core.params import defaults
from avsc_lib.study.provenance import dataset_description, local_weights_info, provenance_rows, weights_description
from avsc_lib.study.runner import RUN_LOG_FILE

UNAVAILABLE = "Not available in this build"
METRICS_FILE = "metrics.json"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table."""
    def cell(value: Any) -> str:
        return str("–" if value is None else value).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f}"


def _unavailable(what: str, err: Exception) -> str:
    return f"*{UNAVAILABLE}: {what} ({type(err).__name__}: {err}).*\n"


# --- provenance -------------------------------------------------------------------------------


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``metrics.json`` (written by notebook 05), or None before it exists."""
    path = run_dir / METRICS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def weights_info(run_dir: Path, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The backbone weights the run used (from ``metrics.json``), else those found locally."""
    metrics = read_metrics(run_dir) or {}
    for key in ("backbone", "weights", "backbone_weights"):
        if isinstance(metrics.get(key), Mapping):
            return metrics[key]
    return local_weights_info(params)


def provenance_md(run_dir: Path, params: Mapping[str, Any] | None) -> str:
    """The admonition each Markdown chapter shows: which run and parameters produced it."""
    if params is None:
        return f":::{{note}}\nBuilt from the notebooks in `{run_dir.name}` (no `params.yml` found).\n:::\n"
    record = json.loads((run_dir / RUN_LOG_FILE).read_text()) if (run_dir / RUN_LOG_FILE).exists() else {}
    rows = provenance_rows(params, record.get("params_file"), record.get("overrides"),
                                 weights_info(run_dir, params))
    table = markdown_table(("produced with", "value"), rows)
    return f":::{{admonition}} What produced this chapter\n:class: note\n\n{table}\n:::\n"


# --- figures ----------------------------------------------------------------------------------


def write_figures(dest: Path, params: Mapping[str, Any] | None) -> list[Path]:
    """The drawn figures (Fig. 1 and Fig. 2 analogues) as PNG files in ``dest``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avsc_lib.evaluation import diagrams

    params = params or defaults()
    figures = {
        "conv_block.png": diagrams.conv_block_diagram(),
        "architecture.png": diagrams.architecture_diagram(
            frame_size=params["frame_size"], n_bands=params["n_bands"],
            n_frames=round(params["segment_seconds"] / params["hop_s"]),
            n_steps=round(params["segment_seconds"] * params["fps"]),
            frame_pooling=params["frame_pooling"], third_pool=params["third_pool"]),
    }
    paths = []
    for name, fig in figures.items():
        fig.savefig(dest / name, dpi=130, bbox_inches="tight")
        plt.close(fig)
        paths.append(dest / name)
    return paths


# --- tables -----------------------------------------------------------------------------------


def paper_tables_md() -> str:
    """The paper's Table 1 (development, fold-1 evaluate) and Table 2 (evaluation set)."""
    names = {"logmel": "log-mel", "gammatone": "gammatone"}
    dev = [(names[kind], *(v.get(o) for o in paper.OUTPUTS))
           for (kind, split), v in paper.ACCURACY.items() if split == "development"]
    ev = [(names[kind], *(v.get(o) for o in paper.OUTPUTS))
          for (kind, split), v in paper.ACCURACY.items() if split == "evaluation"]
    header = ("audio input", "audio only", "visual only", "early fusion", "late fusion")
    return ("**Table 1 (paper)**: accuracy (%) on the fold-1 evaluate split of the development set, "
            "1-s segments.\n\n" + markdown_table(header, dev)
            + "\n**Table 2 (paper)**: accuracy (%) on the DCASE 2021 Task 1B evaluation set.\n\n"
            + markdown_table(header, ev))


def reference_systems_md() -> str:
    """Other systems on the same task, for scale."""
    rows = [(name, v["accuracy"], v["log_loss"]) for name, v in paper.REFERENCE_SYSTEMS.items()]
    return markdown_table(("system", "accuracy (%)", "log loss"), rows)


def _output_metrics(metrics: Mapping[str, Any], output: str) -> Mapping[str, Any]:
    for container in (metrics.get("outputs"), metrics.get("segment"), metrics):
        if isinstance(container, Mapping) and isinstance(container.get(output), Mapping):
            return container[output]
    return {}


def run_results_md(run_dir: Path, params: Mapping[str, Any] | None) -> str:
    """This run's accuracy and log loss per output beside the paper's Table 1 row."""
    metrics = read_metrics(run_dir)
    if metrics is None or params is None:
        return f"*{UNAVAILABLE}: this run has no `{METRICS_FILE}` yet (notebook 05 writes it).*\n"
    kind = params["feature_kind"]
    published = paper.ACCURACY.get((kind, "development"), {})
    rows = []
    for output in paper.OUTPUTS:
        m = _output_metrics(metrics, output)
        log_loss = m.get("log_loss")
        rows.append((output, _percent(m.get("accuracy")),
                     None if log_loss is None else f"{log_loss:.3f}", published.get(output)))
    label = (f"this run: {dataset_description(params)}, "
             f"backbone {weights_description(weights_info(run_dir, params))}")
    return (f"Accuracy and log loss over 1-s segments of the `{params['eval_split']}` split ({label}) "
            f"beside the paper's Table 1 ({kind} input, real development set, Places365 VGG16).\n\n"
            + markdown_table(("output", "accuracy (%), this run", "log loss, this run",
                              "accuracy (%), paper"), rows))


def parameters_md() -> str:
    """Parameters per network, this implementation beside the paper (section 2.6)."""
    try:
        from avsc_lib.models import summary

        table = summary.parameter_table()
    except Exception as err:  # the models module is optional for a partial build
        return _unavailable("the parameter table of avsc_lib.models.summary", err)
    names = {"audio": "audio subnetwork", "visual": "visual subnetwork",
             "audiovisual": "audio-visual network (subnetworks frozen)"}
    rows = []
    for network, row in table.iterrows():
        for i, count in enumerate(("total", "trainable", "non_trainable")):
            ours, theirs = int(row[count]), int(row["paper_" + count])
            rows.append((names.get(str(network), network) if i == 0 else "", count.replace("_", "-"),
                         f"{ours:,}", f"{theirs:,}", "yes" if ours == theirs else "**no**"))
    return markdown_table(("network", "parameters", "this study", "paper", "equal"), rows)


def differences_md(params: Mapping[str, Any] | None) -> str:
    """Where the paper's text and the authors' code differ: one row per key whose value in
    ``params/paper-text.yml`` differs from ``params/paper.yml``, with the notes of both files."""
    from avsc_lib.core.params import BASE_FILE, PARAMS_DIR, TEXT_FILE, key_notes, text_code_differences

    code_notes, text_notes = key_notes(PARAMS_DIR / BASE_FILE), key_notes(PARAMS_DIR / TEXT_FILE)
    header = ("setting", "the paper's text (paper-text.yml)", "the authors' code (paper.yml, the default)", "this run")
    rows = [(f"`{key}`", f"**{_short(text)}**: {text_notes.get(key, '')}", f"**{_short(code)}**: {code_notes.get(key, '')}",
             _short(params.get(key)) if params else "–")
            for key, text, code in text_code_differences()]
    return markdown_table(header, rows)


def tau_facts_md() -> str:
    """The published size of the real development set."""
    f = paper.TAU_DEVELOPMENT
    rows = [("clips of 10 s", f["clips"]), ("hours", f["hours"]), ("cities", f["cities"]),
            ("fold-1 train clips", f["fold1_train_clips"]), ("fold-1 evaluate clips", f["fold1_evaluate_clips"]),
            ("download (zip), GB", f["zip_gb"]), ("of which audio, GB", f["audio_zip_gb"]),
            ("of which video, GB", f["video_zip_gb"])]
    return markdown_table(("TAU Urban Audio-Visual Scenes 2021, development set", "value"), rows)


def synth_design_md() -> str:
    """The synthetic set's design, from ``avsc_lib.data.synth`` (its docstring and CLASS_DESIGN)."""
    try:
        from avsc_lib.data import synth
    except Exception as err:
        return _unavailable("avsc_lib.data.synth", err)
    text = inspect.cleandoc(synth.__doc__ or "")
    design = getattr(synth, "CLASS_DESIGN", None)
    if isinstance(design, Mapping) and design:
        first = next(iter(design.values()))
        if isinstance(first, Mapping):
            columns = list(first)
            rows = [(label, *(_short(v.get(c)) for c in columns)) for label, v in design.items()]
            text += "\n\n" + markdown_table(("class", *columns), rows)
        else:
            text += "\n\n" + markdown_table(("class", "design"), [(k, _short(v)) for k, v in design.items()])
    return text + "\n"


def _short(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def classes_md() -> str:
    """The scene classes in DCASE order (``avsc_lib.core.classes``)."""
    from avsc_lib.core.classes import CLASSES

    return markdown_table(("index", "scene class"), [(i, f"`{c}`") for i, c in enumerate(CLASSES)])


def training_md(params: Mapping[str, Any] | None) -> str:
    """The step table (:data:`avsc_lib.training.graph.STEPS`): what each step starts from and reads,
    and its settings in this run, with paper.yml's (the authors' code) where they differ."""
    from avsc_lib.training.graph import STEP_SETTINGS, STEPS, VISUAL_SUBNETWORK, runs_in

    default = defaults()
    params = params or default

    def both(key: str) -> str:
        ours, theirs = params.get(key), default[key]
        text = _short(ours)
        return text if ours == theirs else f"{text} (code {_short(theirs)})"

    titles = {step.name: step.title.split(" ", 1)[0].rstrip(".") for step in STEPS}
    rows, graph = [], []
    for step in STEPS:
        ran = "yes" if runs_in(params, step.name) else f"no ({step.switch}: false)"
        loss = both(f"{step.name}_loss_outputs") if f"{step.name}_loss_outputs" in default else "–"
        rows.append((step.title, ran, *(both(f"{step.name}_{setting}") for setting in STEP_SETTINGS), loss))
        starts = [f"{titles['visual']} or {titles['visual_unfrozen']} (visual_unfreeze)" if up == VISUAL_SUBNETWORK
                  else titles[up] for up in step.starts_from]
        graph.append((step.title, "per audio feature kind" if step.per_kind else "once", ", ".join(starts) or "–",
                      ", ".join(step.reads), f"`{step.name}-…`"))
    text = markdown_table(("step", "trained", "starts from", "reads", "run folders"), graph) + "\n"
    text += markdown_table(("step", "runs", "max epochs", "batch", "learning rate", "mixup alpha",
                            "halve the rate after", "stop after", "loss on"), rows)
    schedule = [("what the plateau and the early stop watch", both("schedule_monitor")),
                ("learning-rate factor on a plateau", both("lr_factor")),
                ("where training windows start", both("crop_range"))]
    return text + "\n" + markdown_table(("all steps", "this run"), schedule)


def storage_md(params: Mapping[str, Any] | None) -> str:
    """What the real development set needs on disk: the download and this study's caches."""
    params = params or defaults()
    clips = paper.TAU_DEVELOPMENT["clips"]
    n_frames = round(params["clip_seconds"] / params["hop_s"])
    audio_bytes = params["n_bands"] * n_frames * 3 * 4
    video_frames = round(params["clip_seconds"] * params["fps"])
    visual_bytes = video_frames * 512 * 4
    kinds = len(params.get("compare_feature_kinds") or [params["feature_kind"]])
    rows = [("download (zip)", f"{paper.TAU_DEVELOPMENT['zip_gb']:.1f}"),
            (f"audio feature cache, per feature kind ({kinds} trained)", f"{audio_bytes * clips / 1e9:.1f}"),
            ("visual feature cache (per-frame VGG16 features)", f"{visual_bytes * clips / 1e9:.1f}")]
    return markdown_table(("what", "GB"), rows)


def timing_md(run_dir: Path) -> str:
    """Seconds per notebook of the run (``run.json``)."""
    path = run_dir / RUN_LOG_FILE
    if not path.exists():
        return f"*{UNAVAILABLE}: the run has no `{RUN_LOG_FILE}`.*\n"
    record = json.loads(path.read_text())
    rows = [(n["name"], f"{n['seconds']:.0f}") for n in record.get("notebooks", [])]
    rows.append(("total", f"{record.get('seconds', sum(n['seconds'] for n in record.get('notebooks', []))):.0f}"))
    return markdown_table(("notebook", "seconds"), rows)


def packages_md() -> str:
    """The packages of ``avsc_lib`` in the layer order of the import contract (``pyproject.toml``,
    checked by ``lint-imports``), each with its job (its docstring's first line) and modules."""
    import importlib
    import tomllib

    from avsc_lib.core.params import PROJECT_ROOT

    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c.get("id") == "layers"]
    rows = []
    for depth, name in enumerate(layers, start=1):
        package = importlib.import_module(name)
        job = (package.__doc__ or "").strip().splitlines()[0].replace("``", "`")
        folder = Path(package.__file__).parent
        modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__") if package.__file__.endswith(
            "__init__.py") else []
        rows.append((depth, f"`{name.removeprefix('avsc_lib.')}`", job, ", ".join(modules) or "–"))
    return markdown_table(("layer", "package", "its job", "modules"), rows)


def write_generated(dest: Path, run_dir: Path, params: Mapping[str, Any] | None) -> list[Path]:
    """Write every generated figure and table of the book into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Callable[[], str]] = {
        "provenance.md": lambda: provenance_md(run_dir, params),
        "paper_tables.md": paper_tables_md,
        "reference_systems.md": reference_systems_md,
        "run_results.md": lambda: run_results_md(run_dir, params),
        "parameters.md": parameters_md,
        "differences.md": lambda: differences_md(params),
        "tau_facts.md": tau_facts_md,
        "synth_design.md": synth_design_md,
        "timing.md": lambda: timing_md(run_dir),
        "classes.md": classes_md,
        "training.md": lambda: training_md(params),
        "storage.md": lambda: storage_md(params),
        "packages.md": packages_md,
    }
    paths = write_figures(dest, params)
    for name, make in tables.items():
        (dest / name).write_text(make())
        paths.append(dest / name)
    return paths

