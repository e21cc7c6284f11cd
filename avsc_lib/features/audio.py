"""Audio features of a clip (the paper's section 2.1.1): read, resample, L/R/L-R, gammatone or log-mel.

As the authors did: the 48 kHz binaural audio is resampled to 44.1 kHz; the channels are
left, right and left-minus-right; each gets a gammatone spectrogram equal to
``gammatone.gtgram.gtgram(x, 44100, 0.04, 0.02, 64, 0)`` (40 ms windows every 20 ms, 64 bands
from 0 Hz), then ``20 * log10``, then the band axis flipped so that row 0 is the highest band.
A 10-s clip gives 499 frames; the last one is repeated to give 500. Result: (64, 500, 3).

Choices made here where the authors' code is silent or cannot run today:

- Reading and resampling: the authors read each WAV with moviepy,
  ``AudioFileClip(path).to_soundarray(fps=44100, nbytes=2)`` (``generate_tfrecords_gammatone.ipynb``
  cell 9): FFmpeg resamples to 44.1 kHz and the samples become 16-bit, and each clip is then
  divided by its peak-to-peak range. Here the file is read as stored (24 bit) and resampled
  with ``soxr`` in its high-quality mode (what ``librosa.resample`` uses by default since
  librosa 0.10), about twice as fast as ``scipy.signal.resample_poly(x, 147, 160)``. The
  division by the range only shifts a clip's dB values by a constant, which the min-max
  scaling of every 1-s input removes, so it is not repeated.
- dB floor: ``20 * log10`` of an exactly silent band is ``-inf``; it is floored at
  ``DB_FLOOR`` (-200 dB, amplitude 1e-10), far below anything 24-bit audio produces (the 26
  real sample clips stay above -115 dB), so real features are unchanged. Both implementations
  share it.
- Clips shorter than one window (40 ms) are zero-padded to one window, for both
  implementations (``gtgram`` itself would fail on them).
- Log-mel: ``librosa.feature.melspectrogram`` on the same frame grid as the gammatone
  (window and FFT of 1764 samples, hop 882, no centring: 499 frames per 10 s), power in dB
  with the same floor, rows flipped like the gammatone's (row 0 the highest band), as the
  paper's text describes it (44.1 kHz, 40 ms, 50 % overlap). The authors' own log-mel code
  (``src/get_spectrograms.py`` at commit 20925d5) used 48 kHz, a 1920-sample window in a
  2048-point FFT, a 960-sample hop, centred frames and ``power_to_db(ref=np.max, top_db=80)``
  without flipping; the book's chapter "Text, code and this study" sets the two side by side.
- Mono input is duplicated to two channels (its left-minus-right is silent, hence the floor),
  more than two channels are cut to the first two, other sample rates are resampled; each such
  conversion emits an :class:`AudioNote` warning, which batch extraction records per clip.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf

from avsc_lib.core.errors import AvscError

DATASET_SAMPLE_RATE = 48000  # TAU Urban Audio-Visual Scenes 2021 audio
DB_FLOOR = -200.0  # dB of an exactly silent band (amplitude 1e-10)
_AMPLITUDE_FLOOR = 10.0 ** (DB_FLOOR / 20)
_POWER_FLOOR = 10.0 ** (DB_FLOOR / 10)
RESAMPLER = "soxr_hq"
FEATURE_KINDS = ("gammatone", "logmel")
GAMMATONE_IMPLS = ("fast", "reference")


class AudioError(AvscError):
    """An audio file that cannot be turned into features (names the file and the problem)."""


class AudioNote(UserWarning):
    """A conversion worth knowing about (mono, other sample rate, short clip); not an error."""


# --- reading ---------------------------------------------------------------------------------


def _wav_truncation(path: Path) -> str | None:
    """Why a RIFF/WAV file is truncated (its data chunk promises more bytes than exist), or None."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # not a plain RIFF WAV: leave it to libsndfile
        size = path.stat().st_size
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None  # no data chunk: libsndfile names that
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                available = size - handle.tell()
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    return (f"truncated WAV: its header declares {chunk_size} bytes of samples "
                            f"but the file holds only {available} ({100 * available / chunk_size:.0f} %)")
                return None
            handle.seek(chunk_size + (chunk_size & 1), 1)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV or FLAC file as it is stored -> (float64 (channels, samples), sample rate).

    Raises:
        AudioError: a missing, empty, truncated, unreadable or sample-less file, or one with
            non-finite samples; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    truncated = _wav_truncation(path)
    if truncated:
        raise AudioError(f"{path}: {truncated}")
    try:
        data, rate = sf.read(path, dtype="float64", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as err:
        message = str(err).replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(f"{path}: cannot read as audio: {message}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: holds NaN or infinite samples")
    return np.ascontiguousarray(data.T), int(rate)


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample (channels, samples) with soxr HQ, as ``librosa.resample``'s default does.

    The result has ``ceil(samples * target_rate / orig_rate)`` samples, as librosa's.
    """
    if orig_rate == target_rate:
        return signal
    import soxr

    out = soxr.resample(signal.T, orig_rate, target_rate, quality=RESAMPLER).T
    n_out = int(np.ceil(signal.shape[1] * target_rate / orig_rate))
    if out.shape[1] < n_out:
        out = np.pad(out, ((0, 0), (0, n_out - out.shape[1])))
    return np.ascontiguousarray(out[:, :n_out])


def to_stereo(data: np.ndarray, path: str | Path) -> np.ndarray:
    """(channels, samples) as stereo: mono duplicated, more than two channels cut to the first
    two, each with an :class:`AudioNote` naming ``path``."""
    if data.shape[0] == 1:
        warnings.warn(AudioNote(f"{path}: mono audio; used as both left and right "
                                "(the left-minus-right channel is silent)"), stacklevel=3)
        return np.concatenate([data, data])
    if data.shape[0] > 2:
        warnings.warn(AudioNote(f"{path}: {data.shape[0]} channels; kept the first two"), stacklevel=3)
        return data[:2]
    return data


def note_rate(rate: int, sample_rate: int, path: str | Path) -> None:
    """An :class:`AudioNote` when a file's rate is neither the target nor the dataset's 48 kHz."""
    if rate not in (sample_rate, DATASET_SAMPLE_RATE):
        warnings.warn(AudioNote(f"{path}: sample rate {rate} Hz (the dataset's is "
                                f"{DATASET_SAMPLE_RATE}); resampled to {sample_rate} Hz"), stacklevel=3)


def load_audio(path: str | Path, sample_rate: int = 44100) -> np.ndarray:
    """Read a clip as stereo at ``sample_rate``: float64 (2, samples), full scale +-1.

    48 kHz (the dataset's rate) is resampled silently; any other rate, mono (duplicated) and
    more than two channels (first two kept) are converted with an :class:`AudioNote` warning.

    Raises:
        AudioError: the file is missing, empty, truncated or unreadable (message names it).
    """
    data, rate = read_audio(path)
    data = to_stereo(data, path)
    note_rate(rate, sample_rate, path)
    return resample(data, rate, sample_rate)


def audio_channels(stereo: np.ndarray) -> np.ndarray:
    """The paper's three channels of a (2, samples) signal: (3, samples) left, right, left - right."""
    stereo = np.asarray(stereo, dtype=np.float64)
    if stereo.ndim != 2 or stereo.shape[0] != 2:
        raise ValueError(f"expected stereo audio of shape (2, samples), got {stereo.shape}")
    return np.stack([stereo[0], stereo[1], stereo[0] - stereo[1]])


# --- spectrograms ----------------------------------------------------------------------------


def _frame_lengths(sample_rate: float, window_s: float, hop_s: float) -> tuple[int, int]:
    """Window and hop in samples, rounded as ``gtgram`` does (half away from zero)."""
    from gammatone.gtgram import gtgram_strides

    nwin, hop, _ = gtgram_strides(sample_rate, window_s, hop_s, 0)
    return nwin, hop


def _pad_to_window(channels: np.ndarray, nwin: int) -> np.ndarray:
    """Zero-pad (channels, samples) to at least one window."""
    short = nwin - channels.shape[1]
    return np.pad(channels, ((0, 0), (0, short))) if short > 0 else channels


def _fast_power(channels: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Gammatone window power of every channel with the numba kernel (pairs of channels)."""
    from avsc_lib.features.gammatone_fast import gammatone_power

    if channels.shape[0] == 3 and np.array_equal(channels[2], channels[0] - channels[1]):
        return gammatone_power(channels[0], channels[1], **kwargs)  # L-R from the filtered L, R
    powers = []
    for first in range(0, channels.shape[0], 2):
        pair = channels[first:first + 2]
        second = pair[1] if len(pair) == 2 else np.zeros_like(pair[0])
        powers += list(gammatone_power(pair[0], second, **kwargs)[: len(pair)])
    return np.stack(powers)


def gammatone_spectrogram(
    channels: np.ndarray,
    sample_rate: int = 44100,
    n_bands: int = 64,
    window_s: float = 0.04,
    hop_s: float = 0.02,
    f_min: float = 0.0,
    impl: str = "fast",
) -> np.ndarray:
    """Gammatone spectrogram in dB of each channel, as the authors computed it.

    ``impl="reference"`` is ``20 * log10(gammatone.gtgram.gtgram(x, sample_rate, window_s,
    hop_s, n_bands, f_min))`` per channel; ``impl="fast"`` gives the same numbers (about
    1e-10 dB apart) with :mod:`avsc_lib.features.gammatone_fast`. Both floor silence at ``DB_FLOOR``
    and zero-pad a signal shorter than one window to one window.

    Args:
        channels: (n_channels, samples) at ``sample_rate``, e.g. from :func:`audio_channels`.
        sample_rate, n_bands, window_s, hop_s, f_min: ``gtgram``'s arguments.
        impl: ``fast`` or ``reference``.

    Returns:
        float64 (n_bands, n_frames, n_channels), row 0 the highest band;
        ``n_frames = 1 + (samples - window) // hop`` (499 for 10 s at the paper's settings).
    """
    channels = np.atleast_2d(np.asarray(channels, dtype=np.float64))
    nwin, _ = _frame_lengths(sample_rate, window_s, hop_s)
    channels = _pad_to_window(channels, nwin)
    if impl == "fast":
        power = _fast_power(channels, sample_rate=sample_rate, window_s=window_s, hop_s=hop_s,
                            n_bands=n_bands, f_min=f_min)
        db = 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))
    elif impl == "reference":
        from gammatone.gtgram import gtgram

        amplitude = np.stack([gtgram(x, sample_rate, window_s, hop_s, n_bands, f_min) for x in channels])
        db = 20.0 * np.log10(np.maximum(amplitude, _AMPLITUDE_FLOOR))
    else:
        raise ValueError(f"gammatone impl {impl!r}: expected one of {', '.join(GAMMATONE_IMPLS)}")
    return np.transpose(db[:, ::-1, :], (1, 2, 0))  # (bands, frames, channels), highest band first


def logmel_spectrogram(
    channels: np.ndarray,
    sample_rate: int = 44100,
    n_bands: int = 64,
    window_s: float = 0.04,
    hop_s: float = 0.02,
    f_min: float = 0.0,
) -> np.ndarray:
    """Log-mel spectrogram in dB of each channel on the gammatone's frame grid.

    librosa mel power spectrogram with a Hann window and FFT of ``window_s`` and a hop of
    ``hop_s`` (rounded as the gammatone's), no centring, ``n_bands`` mel bands from ``f_min``
    to Nyquist, ``10 * log10(power)`` floored at ``DB_FLOOR``.

    Returns:
        float64 (n_bands, n_frames, n_channels), row 0 the highest band; the same
        ``n_frames`` as :func:`gammatone_spectrogram`.
    """
    import librosa

    channels = np.atleast_2d(np.asarray(channels, dtype=np.float64))
    nwin, hop = _frame_lengths(sample_rate, window_s, hop_s)
    channels = _pad_to_window(channels, nwin)
    power = librosa.feature.melspectrogram(
        y=channels, sr=sample_rate, n_fft=nwin, hop_length=hop, win_length=nwin, center=False,
        power=2.0, n_mels=n_bands, fmin=f_min,
    )
    db = 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))
    return np.transpose(db[:, ::-1, :], (1, 2, 0))


# --- one clip's features ---------------------------------------------------------------------


def frames_per_clip(audio: Mapping[str, Any]) -> int | None:
    """Frames of a clip's features: ``round(clip_seconds / hop_s)`` (500 for 10 s, 20 ms); None
    with ``clip_seconds: null`` (each clip as long as its file)."""
    if audio["clip_seconds"] is None:
        return None
    return int(round(audio["clip_seconds"] / audio["hop_s"]))


def fit_frames(features: np.ndarray, n_frames: int) -> tuple[np.ndarray, int]:
    """Cut or pad (edge repeat of the last frame) axis 1 to ``n_frames``; returns (array, padded)."""
    have = features.shape[1]
    if have >= n_frames:
        return features[:, :n_frames], 0
    return np.pad(features, ((0, 0), (0, n_frames - have), (0, 0)), mode="edge"), n_frames - have


def spectrogram(channels: np.ndarray, audio: Mapping[str, Any], kind: str | None = None) -> np.ndarray:
    """The spectrogram of ``kind`` (default ``feature_kind``) with the settings of ``audio``
    (``params.audio_features``)."""
    kind = kind or audio["feature_kind"]
    settings = dict(sample_rate=audio["sample_rate"], n_bands=audio["n_bands"],
                    window_s=audio["window_s"], hop_s=audio["hop_s"], f_min=audio["f_min"])
    if kind == "gammatone":
        return gammatone_spectrogram(channels, impl=audio["gammatone_impl"], **settings)
    if kind == "logmel":
        return logmel_spectrogram(channels, **settings)
    raise ValueError(f"feature kind {kind!r}: expected one of {', '.join(FEATURE_KINDS)}")


def signal_features(stereo: np.ndarray, audio: Mapping[str, Any], kind: str | None = None,
                    n_frames: int | None = None) -> tuple[np.ndarray, int]:
    """The features of a stereo signal at ``audio["sample_rate"]``: float32 (n_bands, n_frames, 3).

    Args:
        stereo: (2, samples).
        audio: the audio feature settings: ``params.audio_features`` (or a whole parameter set).
        kind: ``gammatone`` or ``logmel`` (default ``feature_kind``).
        n_frames: frames to return, the missing last ones repeating the last computed one
            (499 -> 500 for 10 s, as the authors); default ``round(duration / hop_s)``.

    Returns:
        The features and how many trailing frames were repeated.
    """
    if n_frames is None:
        n_frames = int(round(stereo.shape[1] / audio["sample_rate"] / audio["hop_s"]))
    features = spectrogram(audio_channels(stereo), audio, kind)
    features, padded = fit_frames(features, n_frames)
    return features.astype(np.float32), padded


def clip_features(path: str | Path, audio: Mapping[str, Any], kind: str | None = None) -> np.ndarray:
    """A clip's features: float32 (n_bands, n_frames, 3), channels L, R, L-R, row 0 the highest band.

    The audio is cut to ``clip_seconds``; ``n_frames = round(clip_seconds / hop_s)`` (500 for
    10 s): the missing last frame(s) repeat the last computed one (499 -> 500 as the authors);
    when the audio is more than one hop short, an :class:`AudioNote` says so. With
    ``clip_seconds: null`` (an evaluation set's clips of any length) the whole file is used.

    Raises:
        AudioError: an unusable file (named in the message).
    """
    rate = audio["sample_rate"]
    stereo = load_audio(path, rate)
    if audio["clip_seconds"] is None:
        return signal_features(stereo, audio, kind)[0]
    n_samples = int(round(audio["clip_seconds"] * rate))
    have, slack = stereo.shape[1], round(audio["hop_s"] * rate)
    if have < n_samples * (1 - audio["max_short_fraction"]):
        raise AudioError(f"{path}: audio is {have / rate:.3f} s, more than {audio['max_short_fraction']:.0%} "
                         f"shorter than {audio['clip_seconds']} s (truncated?)")
    stereo = stereo[:, :n_samples]
    features, padded = signal_features(stereo, audio, kind, frames_per_clip(audio))
    if have < n_samples - slack:
        warnings.warn(AudioNote(
            f"{path}: audio is {have / rate:.3f} s, shorter than {audio['clip_seconds']} s; "
            f"the last {padded} frames repeat the last full one"), stacklevel=2)
    elif have > n_samples + slack:
        warnings.warn(AudioNote(
            f"{path}: audio is {have / rate:.3f} s, longer than {audio['clip_seconds']} s; "
            f"only its first {audio['clip_seconds']} s are used"), stacklevel=2)
    return features
