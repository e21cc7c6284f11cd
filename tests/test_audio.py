"""Reading, resampling, channels, spectrogram shapes and band order, and bad audio input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsc_lib.core.params import load_params
from avsc_lib.features import audio
from avsc_lib.features.audio import AudioError, AudioNote


def write_wav(path: Path, seconds: float = 1.0, rate: int = 48000, channels: int = 2,
              seed: int = 0, subtype: str = "PCM_24") -> Path:
    """A noise WAV like the dataset's (48 kHz, 24 bit, stereo by default)."""
    data = np.random.default_rng(seed).uniform(-0.3, 0.3, (int(round(seconds * rate)), channels))
    sf.write(path, data, rate, subtype=subtype)
    return path


def tone(freq: float, seconds: float = 1.0, rate: int = 48000) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


@pytest.fixture(scope="module")
def params():
    return load_params()


# --- reading and resampling ------------------------------------------------------------------


def test_load_audio_resamples_48k_to_44k1(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([tone(1000), tone(3000)], axis=1), 48000, subtype="PCM_24")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioNote)  # 48 kHz stereo is the normal case: no note
        stereo = audio.load_audio(path, 44100)
    assert stereo.shape == (2, 44100) and stereo.dtype == np.float64
    peaks = np.abs(np.fft.rfft(stereo[:, 1000:-1000], axis=1)).argmax(axis=1)
    freqs = np.fft.rfftfreq(stereo.shape[1] - 2000, 1 / 44100)[peaks]
    np.testing.assert_allclose(freqs, [1000, 3000], atol=2)


def test_flac_reads_like_wav(tmp_path):
    samples = np.random.default_rng(0).integers(-2**22, 2**22, (4800, 2))
    data = (samples * 256).astype(np.int32)  # 24-bit values: stored exactly by both formats
    sf.write(tmp_path / "a.wav", data, 48000, subtype="PCM_24")
    sf.write(tmp_path / "a.flac", data, 48000, subtype="PCM_24")
    np.testing.assert_array_equal(audio.load_audio(tmp_path / "a.wav"), audio.load_audio(tmp_path / "a.flac"))


def test_mono_is_duplicated_with_a_note(tmp_path):
    path = write_wav(tmp_path / "mono.wav", channels=1)
    with pytest.warns(AudioNote, match="mono.wav: mono audio"):
        stereo = audio.load_audio(path)
    assert stereo.shape == (2, 44100)
    np.testing.assert_array_equal(stereo[0], stereo[1])


def test_other_rate_is_resampled_with_a_note(tmp_path):
    path = write_wav(tmp_path / "low.wav", rate=22050)
    with pytest.warns(AudioNote, match="low.wav: sample rate 22050 Hz"):
        stereo = audio.load_audio(path, 44100)
    assert stereo.shape == (2, 44100)


def test_more_channels_keep_the_first_two(tmp_path):
    path = write_wav(tmp_path / "four.wav", channels=4)
    raw, _ = sf.read(path)
    with pytest.warns(AudioNote, match="4 channels"):
        stereo = audio.load_audio(path, 48000)
    np.testing.assert_allclose(stereo, raw[:, :2].T)


def test_audio_channels_are_left_right_difference():
    stereo = np.array([[1.0, 2.0, 3.0], [0.5, 2.0, -1.0]])
    np.testing.assert_array_equal(audio.audio_channels(stereo), [[1, 2, 3], [0.5, 2, -1], [0.5, 0, 4]])


# --- bad input -------------------------------------------------------------------------------


def missing_wav(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def empty_wav(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


def junk_wav(tmp_path: Path) -> Path:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"not audio at all" * 10)
    return path


def truncated_wav(tmp_path: Path) -> Path:
    path = write_wav(tmp_path / "cut.wav")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def header_only_wav(tmp_path: Path) -> Path:
    path = tmp_path / "nothing.wav"
    sf.write(path, np.zeros((0, 2)), 48000, subtype="PCM_24")
    return path


@pytest.mark.parametrize("make, problem", [
    (missing_wav, "audio file not found"),
    (empty_wav, r"empty file \(0 bytes\)"),
    (truncated_wav, "truncated WAV"),
    (header_only_wav, "holds no audio samples"),
    (junk_wav, "cannot read as audio"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(AudioError, match=problem) as info:
        audio.load_audio(path)
    assert str(path) in str(info.value)


# --- spectrograms ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gammatone", "logmel"])
def test_ten_second_clip_gives_64_by_500_by_3(tmp_path, params, kind):
    path = write_wav(tmp_path / "clip.wav", seconds=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioNote)  # 499 -> 500 frames is normal: no note
        features = audio.clip_features(path, params, kind)
    assert features.shape == (64, 500, 3) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, 499], features[:, 498])  # last frame repeated
    assert np.all(np.isfinite(features))


@pytest.mark.parametrize("kind", ["gammatone", "logmel"])
@pytest.mark.parametrize("freq, high", [(15000.0, True), (150.0, False)])
def test_row_zero_is_the_highest_band(kind, freq, high):
    stereo = np.stack([tone(freq, 0.5, 44100)] * 2)
    features = audio.gammatone_spectrogram(audio.audio_channels(stereo)) if kind == "gammatone" \
        else audio.logmel_spectrogram(audio.audio_channels(stereo))
    loudest = int(features[:, :, 0].mean(axis=1).argmax())
    assert (loudest < 20) if high else (loudest > 44)


def test_logmel_and_gammatone_share_the_frame_grid():
    channels = audio.audio_channels(np.random.default_rng(0).uniform(-1, 1, (2, 30000)))
    assert audio.logmel_spectrogram(channels).shape == audio.gammatone_spectrogram(channels).shape


def test_longer_audio_is_cut(tmp_path, params):
    path = write_wav(tmp_path / "long.wav", seconds=1.5)
    short = load_params(overrides={"clip_seconds": 1.0})
    with pytest.warns(AudioNote, match=r"long.wav: audio is 1.500 s, longer than 1.0 s; only its first 1.0 s"):
        features = audio.clip_features(path, short)
    assert features.shape == (64, 50, 3)
    np.testing.assert_array_equal(features[:, 49], features[:, 48])


@pytest.mark.parametrize("seconds, fraction, padded", [(0.85, 0.2, 9), (0.6, 0.5, 21), (0.01, 0.995, 49)])
def test_short_audio_is_padded_with_a_note(tmp_path, seconds, fraction, padded):
    path = write_wav(tmp_path / "short.wav", seconds=seconds)
    short = load_params(overrides={"clip_seconds": 1.0, "max_short_fraction": fraction})
    with pytest.warns(AudioNote, match=f"short.wav: audio is .* the last {padded} frames repeat"):
        features = audio.clip_features(path, short)
    assert features.shape == (64, 50, 3)
    assert np.all(features[:, -padded:] == features[:, -padded - 1:-padded])


def test_audio_lacking_more_than_max_short_fraction_is_an_error(tmp_path):
    path = write_wav(tmp_path / "short.wav", seconds=0.75)
    with pytest.raises(audio.AudioError, match=r"short.wav: audio is 0.750 s, more than 20% shorter than 1.0 s"):
        audio.clip_features(path, load_params(overrides={"clip_seconds": 1.0}))


def test_reference_impl_through_params(tmp_path):
    """Both implementations share one cache: their float32 features must be identical, and
    the float64 spectrograms behind them agree within 1e-6 dB."""
    path = write_wav(tmp_path / "clip.wav", seconds=0.3)
    fast = audio.clip_features(path, load_params(overrides={"clip_seconds": 0.3, "segment_seconds": 0.3}))
    reference = audio.clip_features(path, load_params(overrides={"clip_seconds": 0.3, "segment_seconds": 0.3,
                                                                 "gammatone_impl": "reference"}))
    assert fast.dtype == reference.dtype == np.float32
    np.testing.assert_array_equal(fast, reference)
    channels = audio.audio_channels(audio.load_audio(path))
    fast64 = audio.gammatone_spectrogram(channels, impl="fast")
    reference64 = audio.gammatone_spectrogram(channels, impl="reference")
    assert fast64.dtype == reference64.dtype == np.float64
    assert np.abs(fast64 - reference64).max() < 1e-6
