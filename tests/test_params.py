from pathlib import Path

import pytest

from avsc_lib.params import PARAMS_DIR, ParamsError, load_params, params_hash, parse_override


@pytest.mark.parametrize("name", ["paper.yml", "demo.yml", "smoke.yml"])
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
    with pytest.raises(ParamsError) as err:
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
    from avsc_lib.params import PROJECT_ROOT, build_path

    params = load_params(PARAMS_DIR / "smoke.yml", {"data_root": "~/tau"})
    assert Path(params["build_dir"]) == PROJECT_ROOT / "build"
    assert params["data_root"] == str(Path("~/tau").expanduser())
    assert build_path(params, "cache") == PROJECT_ROOT / "build" / "cache"


def test_overrides_as_text_from_papermill():
    params = load_params(PARAMS_DIR / "smoke.yml", '{"audio_epochs": 5, "frame_pooling": avg}')
    assert params["audio_epochs"] == 5 and params["frame_pooling"] == "avg"
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(PARAMS_DIR / "smoke.yml", "[1, 2]")
