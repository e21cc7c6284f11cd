"""benchmarks/run_all.py reads the README's demo tables and sets a run's metrics beside them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = ("audio", "visual", "early", "late")


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO / "README.md").read_text()


def test_the_readme_holds_the_demo_accuracy_and_log_loss_tables(run_all, readme):
    accuracy, log_loss = run_all.readme_demo_tables(readme)
    assert set(accuracy) == {"gammatone", "logmel"} and set(log_loss) == {"gammatone"}
    assert all(set(row) == set(OUTPUTS) for row in (*accuracy.values(), *log_loss.values()))
    assert all(0.0 <= v <= 100.0 for row in accuracy.values() for v in row.values())
    assert accuracy["gammatone"]["visual"] == accuracy["logmel"]["visual"]  # one visual subnetwork for both rows
    for kind, title in (("gammatone", "gammatone"), ("logmel", "log-mel")):  # the numbers as printed
        cells = " | ".join(f"{accuracy[kind][o]:.1f} %" for o in OUTPUTS)
        assert f"| {title} | {cells} |" in readme


def test_a_run_is_set_beside_the_readme(run_all, readme):
    accuracy, log_loss = run_all.readme_demo_tables(readme)
    metrics = {"feature_kind": "gammatone",
               "accuracy_by_kind": {k: {o: (v[o] + 1.0) / 100 for o in OUTPUTS} for k, v in accuracy.items()},
               **{o: {"log_loss": log_loss["gammatone"][o] - 0.25} for o in OUTPUTS}}
    metrics["accuracy_by_kind"]["logmel"]["early"] = None  # a cell the run did not fill
    lines = run_all.compare_demo(metrics, readme)
    assert len(lines) == 1 + 2 * 4 + 4
    late = next(line for line in lines if line.startswith("accuracy gammatone late"))
    assert late.split()[-2:] == ["+1.0", "%"] and f"{accuracy['gammatone']['late']:.1f} %" in late
    assert next(line for line in lines if line.startswith("accuracy logmel early")).split()[-2:] == ["-", "-"]
    assert all(line.split()[-1] == "-0.250" for line in lines if line.startswith("log loss"))


def test_a_malformed_table_row_is_named(run_all):
    text = f"{run_all.TABLE_HEADER}\n| --- | --- | --- | --- | --- |\n| gammatone | 43.0 % | n/a | 0.0 % | 88.0 % |\n"
    with pytest.raises(ValueError, match="README.md line 3: not a demo row"):
        run_all.readme_demo_tables(text)
    with pytest.raises(ValueError, match="no table headed"):
        run_all.readme_demo_tables("# nothing here\n")
