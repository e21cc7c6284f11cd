"""The step table: every row has its settings and build function, and keys, upstream runs and
the book's training chapter follow it."""

from __future__ import annotations

import pytest

from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, STEP_SETTINGS, defaults, load_params, step_names
from avsc_lib.study import bookgen
from avsc_lib.training import graph, runs
from avsc_lib.training.graph import STEPS, get_step, upstream_steps
from avsc_lib.training.steps import BUILDERS, step_spec


@pytest.fixture
def params(tmp_path):
    return load_params(PARAMS_DIR / "paper.yml", {"build_dir": str(tmp_path / "build"), "weights": "none"})


def test_every_row_has_its_settings_in_paper_yml_and_a_build_function():
    assert [step.name for step in STEPS] == step_names(defaults())
    assert set(BUILDERS) == set(graph.STEP_NAMES)
    for step in STEPS:
        assert all(f"{step.name}_{setting}" in defaults() for setting in STEP_SETTINGS), step.name
        assert all(key in defaults() for key in step.keys), step.name
        assert step.switch is None or isinstance(defaults()[step.switch], bool)
        assert set(step.starts_from) <= set(graph.STEP_NAMES) | {graph.VISUAL_SUBNETWORK}


def test_a_steps_model_takes_what_its_row_reads(params):
    frozen = {**params, "visual_unfreeze": False}
    for step in STEPS:
        spec = step_spec(frozen if step.name == "finetune" else params, step.name)
        model = spec.build()
        inputs = model.input if isinstance(model.input, dict) else {step.inputs[0]: model.input}
        assert tuple(sorted(inputs)) == tuple(sorted(step.inputs)), step.name
        if step.visual == "frames":  # decoded frames: (steps, size, size, 3)
            assert len(inputs["visual"].shape) == 5
        elif step.visual == "features":  # cached per-frame features: (steps, 512)
            assert len(inputs["visual"].shape) == 3


def test_upstream_steps_follow_the_table_and_visual_unfreeze(params):
    assert upstream_steps(params, "fusion") == ("audio", "visual_unfrozen")
    assert upstream_steps({**params, "visual_unfreeze": False}, "fusion") == ("audio", "visual")
    assert upstream_steps(params, "finetune") == ("fusion",)
    assert upstream_steps(params, "audio") == ()
    with pytest.raises(AvscError, match="unknown training step 'pretrain'"):
        get_step("pretrain")


def test_a_run_key_holds_its_upstream_keys_and_its_rows_keys(params):
    for step in STEPS:
        key = runs.run_key(params, step.name)
        assert all(name in key for name in step.keys), step.name
        for upstream in upstream_steps(params, step.name):
            assert runs.run_key(params, upstream).items() <= key.items(), (step.name, upstream)
    assert runs.run_key(params, "audio", "logmel")["feature_kind"] == "logmel"
    assert "weights_identity" in runs.run_key(params, "visual")


def test_the_books_training_chapter_has_a_row_per_step():
    text = bookgen.training_md(None)
    for step in STEPS:
        assert text.count(step.title) == 2, step.name  # the graph table and the settings table
    assert "2. visual head, VGG16 frozen or 2b. visual subnetwork" not in text
    assert "2 or 2b (visual_unfreeze)" in text


def test_readme_and_book_show_the_same_packages_in_layer_order():
    from avsc_lib.core.params import PROJECT_ROOT

    table = bookgen.packages_md()
    assert table in (PROJECT_ROOT / "README.md").read_text()
    assert "generated/packages.md" in (PROJECT_ROOT / "book" / "intro.md").read_text()
    rows = [line.split(" | ")[1].strip("`") for line in table.splitlines()[2:]]
    assert rows[0] == "cli" and rows[-1] == "core" and {"data", "features", "training", "study"} <= set(rows)
