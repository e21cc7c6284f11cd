"""`avsc classify` and `avsc export`: any recording through the trained smoke system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avsc_lib.apply.classify import Classifier, plot_paths
from avsc_lib.cli import main as avsc_main
from avsc_lib.core.classes import CLASSES
from avsc_lib.core.errors import AvscError
from avsc_lib.core.paper import OUTPUTS
from avsc_lib.core.params import load_params

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning")]


@pytest.fixture(scope="module")
def classifier(smoke_run) -> Classifier:
    return Classifier.load(smoke_run)


@pytest.fixture(scope="module")
def smoke_root(smoke_run) -> Path:
    return smoke_run.parent / "build" / "data" / "smoke-seed0"


def mux(path: Path, frames: np.ndarray | None, fps: int, audio: np.ndarray | None = None, rate: int = 48000,
        audio_codec: str = "aac") -> Path:
    """Write frames (n, h, w, 3) and/or audio (samples, channels) into one container."""
    with av.open(str(path), "w") as container:
        video = None
        if frames is not None:
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        sound = None
        if audio is not None:
            layout = "stereo" if audio.shape[1] == 2 else "mono"
            sound = container.add_stream(audio_codec, rate=rate, layout=layout)
        if video is not None:
            for image in frames:
                for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
        if sound is not None:
            samples = np.ascontiguousarray(audio.T.astype(np.float32))
            step = 1024
            for start in range(0, samples.shape[1], step):
                frame = av.AudioFrame.from_ndarray(samples[:, start:start + step], format="fltp",
                                                   layout="stereo" if audio.shape[1] == 2 else "mono")
                frame.sample_rate = rate
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


@pytest.fixture(scope="module")
def phone_video(smoke_root, tmp_path_factory) -> Path:
    """A smoke clip's pictures and sound in one MOV file, as a phone writes it."""
    name = sorted((smoke_root / "video").glob("*.mp4"))[0].stem
    with av.open(str(smoke_root / "video" / f"{name}.mp4")) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    audio, rate = sf.read(smoke_root / "audio" / f"{name}.wav")
    return mux(tmp_path_factory.mktemp("media") / f"{name}.mov", frames, 10, audio, rate)


def test_real_videos_without_sound_get_the_visual_output(classifier, video_sample_dir):
    bikes = classifier.classify(video_sample_dir / "bikes.mp4")  # 10 s, 25 fps, 640x272
    assert set(bikes.probs) == {"visual"} and bikes.seconds == 10
    assert "no audio stream" in bikes.notes[0] and bikes.label in CLASSES
    np.testing.assert_allclose(bikes.probs["visual"].sum(axis=1), 1.0, rtol=1e-5)
    street = classifier.classify(video_sample_dir / "vtest.avi")  # 79.5 s, 10 fps, MS-MPEG4
    assert street.seconds == 79


def test_real_tau_audio_gets_the_audio_output(classifier, audio_sample_dir):
    result = classifier.classify(audio_sample_dir / "park-london-96-2689.flac")
    assert set(result.probs) == {"audio"} and result.seconds == 10 and "no video stream" in result.notes[0]
    assert [name for name, _ in result.top("audio")] == [CLASSES[i] for i in np.argsort(result.mean("audio"))[::-1][:3]]


def test_a_video_with_sound_gets_all_four_outputs(classifier, phone_video):
    result = classifier.classify(phone_video)
    assert set(result.probs) == set(OUTPUTS) and result.seconds == 2 and result.main_output == "late"
    text = result.summary()
    assert text.splitlines()[0].startswith(f"{phone_video}: {result.label} (2 s, late output)")
    assert all(f"  {o}" in text for o in OUTPUTS)


def test_audio_formats_and_conversions(classifier, tmp_path, smoke_root):
    audio, rate = sf.read(sorted((smoke_root / "audio").glob("*.wav"))[0])
    mono = mux(tmp_path / "voice.ogg", None, 0, audio[:, :1], rate, audio_codec="libopus")  # Ogg Opus, 48 kHz
    result = classifier.classify(mono)
    assert set(result.probs) == {"audio"} and result.seconds == 2
    assert any("mono audio" in note for note in result.notes)
    mp3 = mux(tmp_path / "song.mp3", None, 0, audio, rate, audio_codec="libmp3lame")
    assert classifier.classify(mp3).seconds == 2


def test_bad_input_is_one_line_per_file_and_the_rest_is_classified(smoke_run, phone_video, tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros((24000, 2)), 48000)  # 0.5 s
    truncated = tmp_path / "cut.mp4"
    data = phone_video.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    text = tmp_path / "notes.txt"
    text.write_text("not media\n")
    status = avsc_main(["classify", str(text), str(short), str(truncated), str(phone_video), str(tmp_path / "gone.mp4"),
                        "--model", str(smoke_run), "--out", str(tmp_path / "seconds.csv"),
                        "--plot", str(tmp_path / "timeline.png")])
    assert status == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("avsc classify:")]
    assert errors[0] == f"avsc classify: {text}: not a media file FFmpeg can read: " + errors[0].split("read: ", 1)[1]
    assert f"{short}: 0.50 s long, shorter than one 1-s segment" in errors[1]
    assert str(truncated) in errors[2] and f"{tmp_path / 'gone.mp4'}: file not found" in errors[3]
    assert errors[4] == "avsc classify: 4 of 5 file(s) could not be classified"
    assert f"{phone_video}: " in captured.out
    rows = (tmp_path / "seconds.csv").read_text().splitlines()
    assert rows[0].split(",")[:4] == ["file", "second", "output", "label"] and len(rows) == 1 + 2 * 4
    assert f"timeline: {tmp_path / 'timeline.png'}" in captured.out  # one file classified: one plot
    from PIL import Image

    with Image.open(tmp_path / "timeline.png") as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.int16)
    assert 0.8 * 9 * 120 < width < 2 * 9 * 120 and 0.8 * 3 * 120 < height < 2 * 3 * 120  # 9 x 3 in at 120 dpi
    ink = pixels < 200
    assert 0.01 < ink.mean() < 0.5 and ink.any(axis=0).mean() > 0.5  # drawn, across the width


def test_a_ten_minute_recording_is_read_in_bounded_memory(classifier, tmp_path):
    seconds, fps, rate = 600, 5, 16000
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (seconds * fps, 48, 64, 3), dtype=np.uint8)
    audio = 0.1 * rng.standard_normal((seconds * rate, 1))
    path = mux(tmp_path / "long.mkv", frames, fps, audio, rate)
    del frames, audio
    tracemalloc.start()
    result = classifier.classify(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.seconds == seconds and set(result.probs) == set(OUTPUTS)
    whole_signal = seconds * 44100 * 2 * 8  # the file's sound as one float64 array: 423 MB
    assert peak < whole_signal / 4, f"peak {peak / 1e6:.0f} MB"


def test_plot_paths_one_per_file(tmp_path):
    class Fake:
        def __init__(self, name):
            self.path = Path(name)

    assert plot_paths(tmp_path / "t.png", [Fake("a.mp4")]) == [tmp_path / "t.png"]
    assert plot_paths(tmp_path / "t.png", [Fake("a.mp4"), Fake("b.wav")]) == [tmp_path / "t-a.png", tmp_path / "t-b.png"]


# --- export ---------------------------------------------------------------------------------------


BLOCK_AVSC = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "avsc_lib" or name.startswith("avsc_lib."):
            raise ImportError("avsc_lib is not installed here")
sys.meta_path.insert(0, Block())
import json, numpy as np, keras
model = keras.saving.load_model(sys.argv[1])
inputs = np.load(sys.argv[2])
out = model.predict({"audio": inputs["audio"], "visual": inputs["visual"]}, verbose=0)
np.savez(sys.argv[3], **{k: np.asarray(v) for k, v in out.items()})
print(json.dumps(sorted(out)))
"""


@pytest.fixture(scope="module")
def exported(smoke_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "system"
    assert avsc_main(["export", str(smoke_run), str(out)]) == 0
    return out


def test_export_holds_the_network_its_settings_and_a_model_card(exported, smoke_run):
    assert sorted(p.name for p in exported.iterdir()) == ["MODEL_CARD.md", "model.keras", "params.yml", "settings.json"]
    assert load_params(exported / "params.yml") == load_params(smoke_run / "params.yml")  # the run's, every key
    settings = json.loads((exported / "settings.json").read_text())
    assert settings["classes"] == list(CLASSES) and settings["outputs"] == list(OUTPUTS)
    assert settings["sample_rate"] == 44100 and settings["frame_resize"] == "cv2" and settings["custom_objects"] == []
    assert settings["inputs"] == {"audio": [64, 50, 3], "visual": [5, 32, 32, 3]}
    card = (exported / "MODEL_CARD.md").read_text()
    for needed in ("SYNTHETIC", "non-commercial", "sha256", "parameters (", "| late |", "fold-1 `train` split"):
        assert needed in card, needed


def test_the_export_loads_without_avsc_lib_and_gives_the_run_folders_probabilities(exported, classifier, tmp_path):
    rng = np.random.default_rng(0)
    inputs = {"audio": rng.uniform(-1, 1, (3, 64, 50, 3)).astype(np.float32),
              "visual": rng.integers(0, 255, (3, 5, 32, 32, 3)).astype(np.float32)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", BLOCK_AVSC, str(exported / "model.keras"), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == sorted(OUTPUTS)
    expected = classifier.network.predict(inputs, verbose=0)
    with np.load(tmp_path / "out.npz") as got:
        for output in OUTPUTS:
            np.testing.assert_allclose(got[output], expected[output], atol=1e-5)


def test_classify_with_the_export_equals_the_run_folder(exported, classifier, phone_video):
    from_export = Classifier.load(exported).classify(phone_video)
    from_run = classifier.classify(phone_video)
    for output in OUTPUTS:
        np.testing.assert_allclose(from_export.probs[output], from_run.probs[output], atol=1e-5)


def test_export_refuses_what_is_not_the_audio_visual_network(smoke_run, tmp_path, capsys):
    audio_run = next((smoke_run.parent / "build" / "runs").glob("audio-gammatone-*"))
    assert avsc_main(["export", str(audio_run), str(tmp_path / "x")]) == 2
    assert "a run of the 'audio' step" in capsys.readouterr().err
    with pytest.raises(AvscError, match="not a run folder"):
        Classifier.load(tmp_path)
