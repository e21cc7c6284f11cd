import re
from pathlib import Path

import pytest
import yaml

from avsc_lib.core.params import (
    PARAMS_DIR, ParamsError, key_notes, load_params, params_hash, parse_override, text_code_differences,
)


@pytest.mark.parametrize("name", ["paper.yml", "paper-text.yml", "demo.yml", "smoke.yml"])
def test_profiles_load(name):
    params = load_params(PARAMS_DIR / name)
    assert params["profile"] == name.removesuffix(".yml")
    assert params["n_bands"] == 64


def test_profile_overrides_paper():
    paper, demo = load_params(PARAMS_DIR / "paper.yml"), load_params(PARAMS_DIR / "demo.yml")
    assert paper["weights"] == "places365" and demo["weights"] == "auto"
    assert demo["sample_rate"] == paper["sample_rate"]


def test_unknown_key_names_key_and_lists_valid(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(f"inherit: {PARAMS_DIR / 'smoke.yml'}\naudio_epoch: 3\n")
    with pytest.raises(ParamsError, match="'audio_epoch'") as err:
        load_params(path)
    message = str(err.value)
    assert "'audio_epoch'" in message and "audio_epochs" in message and str(path) in message


def test_wrong_type_names_key():
    with pytest.raises(ParamsError, match="'audio_epochs': expected int, got str"):
        load_params(PARAMS_DIR / "smoke.yml", {"audio_epochs": "many"})
    with pytest.raises(ParamsError, match="'finetune': expected bool"):
        load_params(PARAMS_DIR / "smoke.yml", {"finetune": 1})


def test_choices_and_int_to_float():
    with pytest.raises(ParamsError, match="'feature_kind'"):
        load_params(PARAMS_DIR / "smoke.yml", {"feature_kind": "mfcc"})
    params = load_params(PARAMS_DIR / "smoke.yml", {"audio_learning_rate": 1})
    assert params["audio_learning_rate"] == 1.0 and isinstance(params["audio_learning_rate"], float)


def test_overrides_parse_as_yaml():
    assert parse_override("3") == 3 and parse_override("1e-3") == 0.001
    assert parse_override("null") is None and parse_override("[a, b]") == ["a", "b"]


def test_hash_depends_only_on_chosen_keys():
    params = load_params(PARAMS_DIR / "smoke.yml")
    changed = dict(params, audio_epochs=99)
    assert params_hash(params, ["n_bands", "hop_s"]) == params_hash(changed, ["n_bands", "hop_s"])
    assert params_hash(params) != params_hash(changed)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yml")


def test_paths_are_absolute_from_project_root():
    from avsc_lib.core.params import PROJECT_ROOT, build_path

    params = load_params(PARAMS_DIR / "smoke.yml", {"data_root": "~/tau"})
    assert Path(params["build_dir"]) == PROJECT_ROOT / "build"
    assert params["data_root"] == str(Path("~/tau").expanduser())
    assert build_path(params, "cache") == PROJECT_ROOT / "build" / "cache"


def test_overrides_as_text_from_papermill():
    params = load_params(PARAMS_DIR / "smoke.yml", '{"audio_epochs": 5, "frame_pooling": avg}')
    assert params["audio_epochs"] == 5 and params["frame_pooling"] == "avg"
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(PARAMS_DIR / "smoke.yml", "[1, 2]")


def test_every_difference_between_text_and_code_has_a_note_in_both_profiles():
    differences = text_code_differences()
    assert len(differences) >= 20
    text_notes, code_notes = key_notes(PARAMS_DIR / "paper-text.yml"), key_notes(PARAMS_DIR / "paper.yml")
    undocumented = [key for key, _, _ in differences if not text_notes.get(key) or not code_notes.get(key)]
    assert not undocumented, f"keys that differ without a note: {undocumented}"
    text_keys = set(yaml.safe_load((PARAMS_DIR / "paper-text.yml").read_text())) - {"inherit", "profile"}
    assert text_keys == {key for key, _, _ in differences}  # paper-text.yml holds differences only
    assert all(note.startswith("§") for key, note in text_notes.items() if key in text_keys)  # cites the text


def test_paper_profile_is_the_authors_code():
    code, text = load_params(PARAMS_DIR / "paper.yml"), load_params(PARAMS_DIR / "paper-text.yml")
    assert (code["visual_batch_size"], code["visual_learning_rate"], code["fusion_learning_rate"]) == (16, 1e-4, 1e-4)
    assert code["visual_unfreeze"] and code["fusion_loss_outputs"] == ["late"] and code["finetune_epochs"] == 200
    assert (code["crop_range"], code["schedule_monitor"], code["frame_resize"]) == ("authors", "val_loss", "cv2")
    assert not text["visual_unfreeze"] and text["fusion_loss_outputs"] == ["early", "late"]
    assert (text["finetune_epochs"], text["finetune_learning_rate"]) == (2, 1e-5)
    from avsc_lib.training.graph import STEP_NAMES as STEPS, STEP_SETTINGS

    notes = key_notes(PARAMS_DIR / "paper.yml")
    settings = [f"{step}_{name}" for step in STEPS for name in STEP_SETTINGS]
    uncited = [key for key in settings if " cell" not in notes.get(key, "")]
    assert not uncited, f"training settings of paper.yml without the notebook cell they come from: {uncited}"


def test_key_notes_read_trailing_and_continued_comments(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text('a: 1   # one\nb: "x # not a comment"  # two\n   # and more\nc: 3\n# stray\nd: [x, y] # four\n')
    assert key_notes(path) == {"a": "one", "b": "two and more", "d": "four"}


def test_loss_outputs_are_checked():
    with pytest.raises(ParamsError, match="'fusion_loss_outputs': expected a list of"):
        load_params(PARAMS_DIR / "smoke.yml", {"fusion_loss_outputs": ["middle"]})
    with pytest.raises(ParamsError, match="'finetune_loss_outputs'"):
        load_params(PARAMS_DIR / "smoke.yml", {"finetune_loss_outputs": []})
    with pytest.raises(ParamsError, match="'crop_range'"):
        load_params(PARAMS_DIR / "smoke.yml", {"crop_range": "middle"})


@pytest.mark.parametrize("key, value, valid", [
    ("fps", -5, "> 0"), ("frame_size", 0, "> 0"), ("clip_seconds", 0.0, "> 0"), ("audio_epochs", 0, ">= 1"),
    ("finetune_batch_size", 0, ">= 1"), ("visual_learning_rate", 0.0, "> 0"), ("lr_factor", 1.5, "> 0 and < 1"),
    ("frame_cache_quality", 101, ">= 1 and <= 100"), ("max_short_fraction", 1.0, ">= 0 and < 1"),
    ("feature_jobs", -1, ">= 0"), ("max_clips", 0, ">= 1"),
])
def test_out_of_range_values_are_rejected_at_load_naming_the_key(key, value, valid):
    with pytest.raises(ParamsError, match=rf"parameter '{key}': {value!r} is out of range; valid: {re.escape(valid)}$"):
        load_params(overrides={key: value})


def test_a_segment_longer_than_the_clip_is_rejected():
    with pytest.raises(ParamsError, match="parameter 'segment_seconds': 1.0 is longer than clip_seconds 0.5"):
        load_params(overrides={"clip_seconds": 0.5})


def test_the_parameter_set_is_read_only_with_attributes_and_sections(tmp_path):
    import pickle

    from avsc_lib.core.param_set import Params, Section

    params = load_params(PARAMS_DIR / "demo.yml")
    assert isinstance(params, Params) and params.fps == params["fps"] and params == dict(params)
    assert params.sections == ("study", "data", "audio_features", "video_frames", "model_variants", "training",
                               "evaluation")
    audio = params.audio_features
    assert isinstance(audio, Section) and audio.hop_s == params.hop_s and "fps" not in audio
    assert sum(len(params.section(name)) for name in params.sections) == len(params)  # every key in one section
    with pytest.raises(TypeError, match="does not support item assignment"):
        params["fps"] = 10
    with pytest.raises(TypeError, match="read-only"):
        params.fps = 10
    with pytest.raises(TypeError, match="read-only"):
        audio.hop_s = 0.01
    with pytest.raises(AttributeError, match="no parameter or section 'fsp'"):
        params.fsp
    with pytest.raises(KeyError, match="not a parameter of the section 'audio_features'"):
        audio["fps"]
    changed = params.replace(fps=10, build_dir=str(tmp_path))
    assert (changed.fps, params.fps, changed.build_dir) == (10, 5, str(tmp_path))
    with pytest.raises(ParamsError, match="parameter 'fps': -1 is out of range"):
        params.replace(fps=-1)
    assert pickle.loads(pickle.dumps(params)) == params  # worker processes get it
    assert params_hash(params) == params_hash(dict(params))
