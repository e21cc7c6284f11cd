"""The fast gammatone equals gammatone.gtgram (the authors' reference) within 1e-6 dB (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from gammatone.gtgram import gtgram

from avsc_lib.features.audio import DB_FLOOR, audio_channels, gammatone_spectrogram, load_audio
from avsc_lib.features.gammatone_fast import gammatone_power

TOLERANCE_DB = 1e-6  # measured agreement is about 1e-10 dB; a 0.05 dB error in one band must fail
# float64 filters resolve about 140 dB below a signal's loudest value to TOLERANCE_DB; deeper down
# (e.g. 184 dB below a full-scale square wave) their rounding reaches 1e-5 dB.
RESOLVED_RANGE_DB = 140.0
DEEP_TOLERANCE_DB = 1e-4
SR = 44100
REAL_CLIPS = ["airport-helsinki-3-117", "park-london-96-2689", "street_traffic-lyon-1029-40200"]


def reference_db(channels: np.ndarray, **settings) -> np.ndarray:
    """The authors' recipe written out: gtgram per channel, 20 log10, bands flipped."""
    rows = [20 * np.log10(gtgram(x, SR, settings["window_s"], settings["hop_s"],
                                 settings["n_bands"], settings["f_min"])) for x in channels]
    return np.transpose(np.stack(rows)[:, ::-1, :], (1, 2, 0))


def both(channels: np.ndarray, **settings) -> tuple[np.ndarray, np.ndarray]:
    fast = gammatone_spectrogram(channels, SR, impl="fast", **settings)
    reference = gammatone_spectrogram(channels, SR, impl="reference", **settings)
    return fast, reference


def assert_agrees(fast: np.ndarray, reference: np.ndarray) -> None:
    """Within TOLERANCE_DB wherever the reference lies within RESOLVED_RANGE_DB of its loudest
    value (every value of real audio), within DEEP_TOLERANCE_DB below that."""
    assert fast.shape == reference.shape
    error = np.abs(fast - reference)
    resolved = reference >= reference.max() - RESOLVED_RANGE_DB
    assert error[resolved].max() < TOLERANCE_DB, f"{error[resolved].max():.3g} dB apart"
    assert error.max() < DEEP_TOLERANCE_DB, f"{error.max():.3g} dB apart"


PAPER = dict(n_bands=64, window_s=0.04, hop_s=0.02, f_min=0.0)


@pytest.mark.parametrize("clip", REAL_CLIPS)
def test_fast_equals_gtgram_on_real_clips(audio_sample_dir, clip):
    channels = audio_channels(load_audio(audio_sample_dir / f"{clip}.flac", SR))
    fast = gammatone_spectrogram(channels, SR, impl="fast", **PAPER)
    expected = reference_db(channels, **PAPER)
    assert fast.shape == expected.shape == (64, 499, 3)
    assert np.all(np.isfinite(expected))
    assert np.abs(fast - expected).max() < TOLERANCE_DB  # every value, real audio is within range


def test_reference_impl_is_the_authors_recipe():
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (2, 4410))
    channels = audio_channels(stereo)
    got = gammatone_spectrogram(channels, SR, impl="reference", **PAPER)
    np.testing.assert_array_equal(got, reference_db(channels, **PAPER))


def test_power_equals_gtgram_squared():
    rng = np.random.default_rng(1)
    left, right = rng.standard_normal((2, 9000))
    power = gammatone_power(left, right, SR, 0.04, 0.02, 7, 100.0)
    for row, x in zip(power, (left, right, left - right), strict=True):
        expected = gtgram(x, SR, 0.04, 0.02, 7, 100.0) ** 2
        np.testing.assert_allclose(row, expected, rtol=1e-8)


def test_silence_gives_the_floor_in_both():
    fast, reference = both(np.zeros((3, 8000)), **PAPER)
    assert np.all(fast == DB_FLOOR) and np.all(reference == DB_FLOOR)


def test_identical_channels_give_a_silent_difference():
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.5, 0.5, 8000)
    fast, reference = both(audio_channels(np.stack([x, x])), **PAPER)
    assert np.all(fast[:, :, 2] == DB_FLOOR) and np.all(reference[:, :, 2] == DB_FLOOR)
    assert_agrees(fast, reference)


@pytest.mark.parametrize("period", [7, 100, 2205])
def test_full_scale_square_waves(period):
    t = np.arange(SR // 2)
    square = np.where((t // (period // 2 + 1)) % 2 == 0, 1.0, -1.0)
    clipped = np.clip(3 * np.sin(2 * np.pi * t / period), -1, 1)
    fast, reference = both(audio_channels(np.stack([square, clipped])), **PAPER)
    assert_agrees(fast, reference)


@pytest.mark.parametrize("n_samples", [1, 1000, 1763, 1764, 1765, 2647])
def test_very_short_clips(n_samples):
    rng = np.random.default_rng(n_samples)
    fast, reference = both(audio_channels(rng.uniform(-1, 1, (2, n_samples))), **PAPER)
    assert fast.shape == reference.shape == (64, max(1, 1 + (n_samples - 1764) // 882), 3)
    assert_agrees(fast, reference)


@pytest.mark.parametrize("settings", [
    # (few band counts: numba compiles the kernel once per band count)
    dict(n_bands=7, window_s=0.025, hop_s=0.01, f_min=50.0),  # window and hop share no long block
    dict(n_bands=7, window_s=0.01, hop_s=0.03, f_min=0.0),    # gaps between windows
    dict(n_bands=64, window_s=0.03, hop_s=0.01, f_min=20.0),  # three hops a window, odd blocks
])
def test_other_settings(settings):
    rng = np.random.default_rng(3)
    fast, reference = both(audio_channels(rng.uniform(-1, 1, (2, 6001))), **settings)
    assert fast.shape == reference.shape
    assert_agrees(fast, reference)


@pytest.mark.parametrize("n_channels", [1, 2, 3, 4])
def test_channels_that_are_not_left_right_difference(n_channels):
    rng = np.random.default_rng(4)
    fast, reference = both(rng.uniform(-1, 1, (n_channels, 5000)), **PAPER)
    assert fast.shape == (64, 4, n_channels)
    assert_agrees(fast, reference)


def test_unknown_impl_is_an_error():
    with pytest.raises(ValueError, match="impl"):
        gammatone_spectrogram(np.zeros((3, 2000)), SR, impl="fft")
