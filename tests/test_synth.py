"""The synthetic TAU-format set: layout, formats, splits, determinism, atomic generation, ensure_dataset."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avsc_lib.cli import main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import PARAMS_DIR, load_params
from avsc_lib.data import synth
from avsc_lib.data.checks import check_root
from avsc_lib.data.layout import load_split, parse_name
from avsc_lib.data.synth import PROFILES, ensure_dataset, generate, is_complete, plan_clips
from avsc_lib.data.synth_design import LOOK_LAYOUTS, LOOK_RANGES, SOUND_RANGES
SMOKE = PROFILES["smoke"]


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """The synthetic smoke set, generated once per session (test_dataset.py shares the folder)."""
    root = tmp_path_factory.getbasetemp() / "build" / "data" / "smoke-seed0"
    if not is_complete(root, "smoke", 0):
        generate(root, "smoke", 0, progress=False)
    return root


def decoded_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_profiles_agree_with_params():
    for name in ("demo", "smoke"):
        params = load_params(PARAMS_DIR / f"{name}.yml")
        assert params["synth_profile"] == name
        assert params["clip_seconds"] == PROFILES[name].clip_seconds


def test_design_tables_cover_every_class():
    for table in (synth.CLASS_DESIGN, SOUND_RANGES, LOOK_RANGES, LOOK_LAYOUTS):
        assert set(table) == set(CLASSES)
    for label, design in synth.CLASS_DESIGN.items():
        assert design["sound"] and design["look"]
    assert len(synth.SOUND_ALIKE) >= 2 and len(synth.LOOK_ALIKE) >= 2
    # A pair confused by one modality is told apart by the other.
    assert not {frozenset(p) for p in synth.SOUND_ALIKE} & {frozenset(p) for p in synth.LOOK_ALIKE}
    for a, b in synth.LOOK_ALIKE:
        assert LOOK_LAYOUTS[a] == LOOK_LAYOUTS[b]


def test_layout_and_formats(smoke_root):
    assert check_root(smoke_root) == []
    assert "SYNTHETIC" in (smoke_root / "README.md").read_text()
    header = (smoke_root / "meta.csv").read_text().splitlines()[0]
    assert header == "filename_audio\tfilename_video\tscene_label\tidentifier"
    test_header = (smoke_root / "evaluation_setup/fold1_test.csv").read_text().splitlines()[0]
    assert test_header == "filename_audio\tfilename_video"
    clips = load_split(smoke_root, "train") + load_split(smoke_root, "evaluate")
    assert len(clips) == len(CLASSES) * SMOKE.clips_per_class
    for clip in clips:
        info = sf.info(str(clip.audio_path))
        assert (info.samplerate, info.channels, info.format, info.subtype) == (48000, 2, "WAV", "PCM_24")
        assert info.frames == 48000 * SMOKE.clip_seconds
    for clip in clips[::7]:
        with av.open(str(clip.video_path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert (stream.width, stream.height) == (SMOKE.width, SMOKE.height)
            assert float(stream.average_rate) == SMOKE.fps
            assert container.duration / 1e6 == pytest.approx(SMOKE.clip_seconds, abs=0.11)
        assert len(decoded_frames(clip.video_path)) == SMOKE.clip_seconds * SMOKE.fps


def test_split_is_location_disjoint_with_all_classes(smoke_root):
    train, evaluate = load_split(smoke_root, "train"), load_split(smoke_root, "evaluate")
    assert {c.location_key for c in train}.isdisjoint({c.location_key for c in evaluate})
    assert {c.scene for c in train} == set(CLASSES) == {c.scene for c in evaluate}
    assert len({c.city for c in train}) == SMOKE.cities
    for clip in train + evaluate:
        assert parse_name(clip.name).scene == clip.scene


def test_demo_plan_is_location_disjoint_and_spread_over_cities():
    demo = PROFILES["demo"]
    clips = plan_clips(demo, seed=0)
    assert len(clips) == 120 and len({c.name for c in clips}) == 120
    n_locations = demo.cities * demo.locations_per_city
    for scene in CLASSES:
        own = [c for c in clips if c.scene == scene]
        held = {(c.city, c.location_id) for c in own if c.split == "evaluate"}
        kept = {(c.city, c.location_id) for c in own if c.split == "train"}
        assert len(held) == demo.eval_locations and len(kept) == n_locations - len(held)
        assert not held & kept and 0.6 <= len(kept) / n_locations <= 0.75
        assert len({city for city, _ in held}) == min(demo.cities, demo.eval_locations)


def test_same_seed_gives_identical_files(smoke_root, tmp_path):
    again = generate(tmp_path / "again", "smoke", 0, jobs=2, progress=False)
    files = sorted(p.relative_to(smoke_root) for p in smoke_root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix == ".mp4":
            np.testing.assert_array_equal(decoded_frames(smoke_root / rel), decoded_frames(again / rel))
        else:
            assert (smoke_root / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_other_seed_gives_other_clips_and_sound(smoke_root, tmp_path):
    clip0 = plan_clips(SMOKE, 0)[0]
    clip1 = next(c for c in plan_clips(SMOKE, 1) if c.keys == clip0.keys)
    assert clip0.name != clip1.name
    audio0, audio1 = synth.render_clip_audio(clip0, SMOKE, 0), synth.render_clip_audio(clip1, SMOKE, 1)
    assert audio0.shape == audio1.shape == (96000, 2)
    assert not np.allclose(audio0, audio1)
    stored, _ = sf.read(smoke_root / "audio" / f"{clip0.name}.wav")
    np.testing.assert_allclose(stored, audio0, atol=2**-22)


def test_classes_vary_within_and_are_not_constant_codes(smoke_root):
    """Locations of a class differ in both modalities (no constant tone or pixel per class)."""
    train = load_split(smoke_root, "train")
    for scene in ("metro", "park"):
        own = [c for c in train if c.scene == scene]
        spectra = [np.abs(np.fft.rfft(sf.read(c.audio_path)[0][:, 0]))[:20000] for c in own]
        frames = [decoded_frames(c.video_path)[0].astype(float) for c in own]
        assert np.corrcoef(spectra[0], spectra[1])[0, 1] < 0.99
        assert np.abs(frames[0] - frames[1]).mean() > 5


def test_generation_is_atomic(tmp_path, monkeypatch):
    calls = []

    def failing(root, clip, profile, seed):
        calls.append(clip)
        if len(calls) == 3:
            raise RuntimeError("disk full")

    monkeypatch.setattr(synth, "_render_clip", failing)
    out = tmp_path / "set"
    with pytest.raises(RuntimeError, match="^disk full$"):
        generate(out, "smoke", 0, progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_generate_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(AvscError, match="not a synthetic data set"):
        generate(tmp_path / "mine", "smoke", 0, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_ensure_dataset_reuses_the_generated_set(smoke_root, monkeypatch):
    build = smoke_root.parent.parent
    params = load_params(PARAMS_DIR / "smoke.yml", {"build_dir": str(build)})
    monkeypatch.setattr(synth, "_render_clip", lambda *a: pytest.fail("regenerated a complete set"))
    assert ensure_dataset(params) == smoke_root
    assert is_complete(smoke_root, "smoke", 0) and not is_complete(smoke_root, "smoke", 1)
    assert main(["synth", str(smoke_root), "--profile", "smoke", "--seed", "0"]) == 0


def test_ensure_dataset_rules(smoke_root, tmp_path):
    params = load_params(PARAMS_DIR / "smoke.yml", {"data_root": str(smoke_root)})
    assert ensure_dataset(params) == smoke_root
    with pytest.raises(AvscError, match="data_root is not a folder"):
        ensure_dataset(load_params(PARAMS_DIR / "smoke.yml", {"data_root": str(tmp_path / "none")}))
    with pytest.raises(AvscError, match="clip_seconds: 2"):
        ensure_dataset(load_params(PARAMS_DIR / "smoke.yml", {"clip_seconds": 10.0,
                                                              "build_dir": str(tmp_path)}))
    with pytest.raises(AvscError, match="synth_profile"):
        ensure_dataset(load_params(PARAMS_DIR / "paper.yml", {"build_dir": str(tmp_path)}))


def test_the_marker_of_a_set_stays_what_version_1_wrote():
    """The marker is part of every run key of a synthetic set (identity.data_fingerprint): a change
    of its bytes, e.g. the generator's name following a module move, would rename every run folder
    and regenerate every set. These are the bytes the generator has written since version 1."""
    import hashlib
    import json

    from avsc_lib.data.synth import _marker

    text = json.dumps(_marker(PROFILES["smoke"], 0, len(plan_clips(PROFILES["smoke"], 0))), indent=1) + "\n"
    assert json.loads(text)["generator"] == "avsc_lib.synth"
    assert hashlib.sha256(text.encode()).hexdigest() == "009c05852cd031fa45183743653d38b2ca01a4a11d29eb8c97ba92f2aeda5558"
