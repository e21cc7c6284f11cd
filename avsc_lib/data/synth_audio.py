"""The sound of the synthetic scenes: noise beds, tonal parts and events, mixed per class.

Every class is a set of ranges (``SOUND_RANGES``) over one shared list of sound components;
a location draws one value per range, so locations of a class differ, and a clip draws its
own event times and slow level changes. Classes that should sound alike share most ranges.
``render_audio`` turns one drawn design into a stereo signal at 48 kHz.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.signal import fftconvolve

from avsc_lib.data.synth_design import SOUND_COMPONENTS, SOUND_DEFAULTS

SAMPLE_RATE = 48000

# --- building blocks ------------------------------------------------------------------


def _shape(freqs: np.ndarray, lo: float = 0.0, hi: float = 0.0, tilt: float = 0.0) -> np.ndarray:
    """Magnitude response: 2nd-order high-pass at lo, low-pass at hi, slope in dB/octave."""
    f = np.maximum(freqs, 1.0)
    gain = np.ones_like(f)
    if lo:
        gain *= (f / lo) ** 2 / np.sqrt(1 + (f / lo) ** 4)
    if hi:
        gain /= np.sqrt(1 + (f / hi) ** 4)
    if tilt:
        gain *= (f / 1000.0) ** (tilt / 6.02)
    gain[0] = 0.0
    return gain


class _Mixer:
    """Generates the sources of one clip and sums them into a dry and a reverberant bus."""

    def __init__(self, rng: np.random.Generator, seconds: float, sr: int):
        self.rng, self.sr, self.seconds = rng, sr, seconds
        self.n = int(round(seconds * sr))
        self.freqs = np.fft.rfftfreq(self.n, 1 / sr)
        self.dry = np.zeros((2, self.n))
        self.room = np.zeros((2, self.n))
        self.t = np.arange(self.n) / sr

    def noise(self, corr: float = 0.5, **shape: float) -> np.ndarray:
        """Stereo shaped noise of unit RMS per channel; channels correlated by ``corr``."""
        parts = self.rng.standard_normal((2, 2, len(self.freqs)), dtype=np.float32)
        spec = (parts[0] + 1j * parts[1]) * _shape(self.freqs, **shape).astype(np.float32)
        x = scipy.fft.irfft(spec, self.n).astype(np.float64)
        x /= np.sqrt(np.mean(x**2, axis=1, keepdims=True)) + 1e-12
        x[1] = corr * x[0] + np.sqrt(1 - corr**2) * x[1]
        return x

    def smooth(self, rate: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
        """A random envelope changing about ``rate`` times per second, between lo and hi."""
        k = int(self.seconds * rate) + 3
        points = self.rng.uniform(lo, hi, k)
        step = 16  # interpolate on every 16th sample (a third of a millisecond), then hold
        coarse = np.interp(np.arange(0, self.n, step), np.linspace(0, self.n, k), points)
        return np.repeat(coarse, step)[: self.n]

    def times(self, rate: float) -> np.ndarray:
        """Event onsets (seconds) of a Poisson process of ``rate`` per second."""
        return np.sort(self.rng.uniform(-0.5, self.seconds, self.rng.poisson(rate * (self.seconds + 0.5))))

    def add(self, event: np.ndarray, start: float, gain: float, pan: float, room: bool = True) -> None:
        """Add a mono event at ``start`` seconds, panned (-1 left .. 1 right)."""
        bus = self.room if room else self.dry
        i0 = int(start * self.sr)
        j0, j1 = max(0, -i0), min(len(event), self.n - i0)
        if j1 <= j0:
            return
        angle = (pan + 1) * np.pi / 4
        seg = event[j0:j1] * gain
        bus[0, i0 + j0 : i0 + j1] += seg * np.cos(angle)
        bus[1, i0 + j0 : i0 + j1] += seg * np.sin(angle)

    def burst(self, seconds: float, decay: float, lo: float = 0.0, hi: float = 0.0) -> np.ndarray:
        """A short noise burst with exponential decay, roughly band-limited."""
        m = max(int(seconds * self.sr), 8)
        x = self.rng.standard_normal(m)
        if lo:
            x = np.diff(x, prepend=0.0)
        if hi:
            k = max(int(self.sr / hi), 1)
            x = np.convolve(x, np.ones(k) / np.sqrt(k), mode="same")
        return x * np.exp(-np.arange(m) / (decay * self.sr))

    def tone(self, freq: np.ndarray | float, seconds: float, harmonics=(1.0,), attack=0.01, decay=None):
        """A (possibly gliding) harmonic tone with attack and decay envelopes."""
        m = int(seconds * self.sr)
        f = np.broadcast_to(np.asarray(freq, dtype=float), (m,))
        phase = 2 * np.pi * np.cumsum(f) / self.sr
        x = _harmonics(phase, harmonics)
        env = np.minimum(1.0, np.arange(m) / max(attack * self.sr, 1))
        if decay:
            env *= np.exp(-np.arange(m) / (decay * self.sr))
        else:
            env *= np.minimum(1.0, (m - np.arange(m)) / (0.02 * self.sr))
        return x * env


def _harmonics(phase: np.ndarray, amplitudes) -> np.ndarray:
    """Sum of a_k sin(k phase) for k = 1, 2, ...; uses sin((k+1)p) = 2 cos(p) sin(kp) - sin((k-1)p)."""
    two_cos = 2 * np.cos(phase)
    prev, cur = np.zeros_like(phase), np.sin(phase)
    out = amplitudes[0] * cur
    for a in amplitudes[1:]:
        prev, cur = cur, two_cos * cur - prev
        if a:
            out += a * cur
    return out


def _overlay(*events: np.ndarray) -> np.ndarray:
    """Sum mono events of different lengths, aligned at their start."""
    out = np.zeros(max(len(e) for e in events))
    for e in events:
        out[: len(e)] += e
    return out


# --- components -----------------------------------------------------------------------


def _babble(mix: _Mixer, level: float, shift: float) -> None:
    voices = int(mix.rng.integers(3, 9))
    env = np.zeros((2, mix.n))
    for _ in range(voices):
        syllables = np.maximum(mix.smooth(5.0 * shift, -1.0, 1.0), 0.0) ** 2
        phrases = (mix.smooth(0.6, 0.0, 1.0) > 0.35).astype(float)
        angle = (mix.rng.uniform(-1, 1) + 1) * np.pi / 4
        env += syllables * phrases * np.array([[np.cos(angle)], [np.sin(angle)]])
    carrier = mix.noise(corr=0.3, lo=250 * shift, hi=3500 * shift, tilt=-3.0)
    pitch = mix.smooth(2.0, 100, 220) * shift
    voiced = mix.tone(pitch, mix.seconds, harmonics=(1.0, 0.6, 0.4, 0.25, 0.15))
    mix.room += level * env / np.sqrt(voices) * (carrier + 0.7 * voiced)


def _step(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    click = mix.burst(0.04, 0.008, lo=1)
    thud = 0.5 * mix.tone(rng.uniform(70, 120), 0.06, decay=0.02)
    mix.add(_overlay(click, thud), t, rng.uniform(0.2, 0.6), rng.uniform(-0.6, 0.6))


def _bird(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    f0 = rng.uniform(2000, 6000)
    for k in range(int(rng.integers(1, 7))):
        dur = rng.uniform(0.04, 0.15)
        sweep = np.linspace(f0, f0 * rng.uniform(0.7, 1.4), int(dur * mix.sr))
        note = mix.tone(sweep, dur, attack=0.005)
        mix.add(note, t + k * dur * 1.3, rng.uniform(0.1, 0.4), rng.uniform(-1, 1), room=False)


def _passby(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    dur = rng.uniform(2.0, 5.0)
    m = int(dur * mix.sr)
    swell = np.exp(-0.5 * ((np.arange(m) / m - 0.5) / 0.15) ** 2)
    doppler = np.linspace(1.1, 0.9, m) * rng.uniform(60, 140)
    engine = mix.tone(doppler, dur, harmonics=(1, 0.7, 0.5, 0.3))
    body = mix.burst(dur, 1e3, hi=rng.uniform(1500, 4000))
    car = swell * (0.15 * body + 0.4 * engine)
    mix.add(car, t, rng.uniform(0.5, 1.5), rng.uniform(-0.8, 0.8), room=False)


def _horn(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    f, dur = rng.uniform(350, 480), rng.uniform(0.3, 0.8)
    horn = mix.tone(f, dur, harmonics=(1, 0.5, 0.4, 0.3)) + mix.tone(f * 1.26, dur, harmonics=(1, 0.5, 0.3))
    mix.add(horn, t, rng.uniform(0.2, 0.5), rng.uniform(-0.8, 0.8), room=False)


def _chime(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    base = rng.uniform(450, 800)
    for k, ratio in enumerate(rng.permutation([1.0, 1.26, 1.5, 2.0])[: int(rng.integers(2, 5))]):
        mix.add(mix.tone(base * ratio, 1.2, harmonics=(1, 0.3), decay=0.35), t + 0.45 * k, 0.35, 0.0)


def _luggage(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    dur = rng.uniform(1.5, 4.0)
    m = int(dur * mix.sr)
    rattle = 0.6 + 0.4 * np.sign(np.sin(2 * np.pi * rng.uniform(8, 15) * np.arange(m) / mix.sr))
    rolling = mix.burst(dur, 1e3, hi=900) * rattle * np.hanning(m)
    mix.add(rolling, t, rng.uniform(0.1, 0.3), rng.uniform(-0.8, 0.8))


def _screech(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    dur = rng.uniform(0.5, 2.5)
    m = int(dur * mix.sr)
    vibrato = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(5, 20) * np.arange(m) / mix.sr)
    squeal = mix.tone(rng.uniform(2000, 5000) * vibrato, dur, harmonics=(1, 0.3), attack=0.2) * np.hanning(m)
    mix.add(squeal, t, rng.uniform(0.05, 0.2), rng.uniform(-1, 1))


def _train(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    dur = rng.uniform(4, 9)
    m = int(dur * mix.sr)
    swell = np.sin(np.pi * np.arange(m) / m) ** 2
    body = mix.burst(dur, 1e3, hi=250) + 0.4 * mix.burst(dur, 1e3, hi=2000)
    mix.add(body * swell, t, rng.uniform(0.5, 1.0), rng.uniform(-0.5, 0.5))
    if rng.random() < 0.6:  # brakes squeal as it stops
        squeal = mix.tone(rng.uniform(2000, 4500), 1.5, attack=0.3) * np.hanning(int(1.5 * mix.sr))
        mix.add(squeal, t + dur * 0.6, 0.1, 0.0)


def _beeps(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    f = rng.uniform(1000, 3000)
    for k in range(int(rng.integers(3, 7))):
        mix.add(mix.tone(f, 0.1, harmonics=(1, 0, 0.3)), t + 0.2 * k, 0.15, 0.0)


def _bell(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    f = rng.uniform(600, 1200)
    for k in range(2):  # ding-ding: a bell's inharmonic partials
        strike = _overlay(mix.tone(f, 0.8, harmonics=(1, 0, 0, 0, 0, 0.4), decay=0.25),
                          0.5 * mix.tone(2.76 * f, 0.8, decay=0.15))
        mix.add(strike, t + 0.3 * k, 0.3, 0.0)


def _hiss(mix: _Mixer, t: float, rng: np.random.Generator) -> None:
    dur = rng.uniform(0.4, 1.0)
    mix.add(mix.burst(dur, dur / 2, lo=1), t, rng.uniform(0.1, 0.25), rng.uniform(-0.5, 0.5))


# component -> function adding one event at time t; onsets are a Poisson process of the rate.
_EVENTS = {"steps": _step, "birds": _bird, "passby": _passby, "horn": _horn, "chime": _chime,
           "luggage": _luggage, "screech": _screech, "trains": _train, "beeps": _beeps,
           "bell": _bell, "hiss": _hiss}


def _clacks(mix: _Mixer, rate: float) -> None:
    """Rail joints: a double knock (two bogies) at a nearly regular period."""
    rng, period = mix.rng, 1 / rate
    t = rng.uniform(0, period)
    while t < mix.seconds:
        knock = _overlay(mix.burst(0.12, 0.03, hi=300), 0.3 * mix.burst(0.02, 0.004, lo=1))
        gap = rng.uniform(0.1, 0.2)
        mix.add(knock, t, 0.6, -0.2, room=False)
        mix.add(knock, t + gap, 0.5, 0.2, room=False)
        t += period * rng.uniform(0.85, 1.15)


def _events(mix: _Mixer, d: dict[str, float]) -> None:
    for name, add_event in _EVENTS.items():
        for t in mix.times(d[name]):
            add_event(mix, t, mix.rng)
    if d["clacks"] > 0.05:
        _clacks(mix, d["clacks"])


def _music(mix: _Mixer, level: float) -> None:
    rng = mix.rng
    beat = rng.uniform(0.4, 0.7)
    root = rng.uniform(110, 220)
    scale = np.array([1, 9 / 8, 5 / 4, 4 / 3, 3 / 2, 5 / 3, 15 / 8])
    t = 0.0
    while t < mix.seconds:
        degree = int(rng.integers(0, 7))
        chord = [scale[(degree + k) % 7] * (2 if degree + k >= 7 else 1) for k in (0, 2, 4)]
        for ratio in chord:
            note = mix.tone(root * ratio * 2, beat * 2, harmonics=(1, 0.4, 0.2), attack=0.03, decay=beat)
            mix.add(note, t, level * 0.3, rng.uniform(-0.5, 0.5))
        mix.add(mix.tone(root * chord[0] / 2, beat, harmonics=(1, 0.5), decay=beat / 2), t, level * 0.4, 0.0)
        t += beat


def _reverb(mix: _Mixer, rt60: float, wet: float) -> np.ndarray:
    """The room bus convolved with a decorrelated exponential-decay impulse response."""
    m = int(min(rt60, 2.0) * mix.sr)
    decay = np.exp(-6.91 * np.arange(m) / (rt60 * mix.sr))
    out = np.empty_like(mix.room)
    for ch in range(2):
        ir = mix.rng.standard_normal(m) * decay
        ir = np.convolve(ir, np.ones(4) / 4, mode="same")  # darker tail
        ir /= np.sqrt(np.sum(ir**2))
        out[ch] = fftconvolve(mix.room[ch], ir)[: mix.n]
    return mix.room + wet * out


def render_audio(
    design: dict[str, float], city: dict[str, float], rng: np.random.Generator, seconds: float,
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """Render one clip of a location's sound design.

    Args:
        design: values drawn by ``draw_sound_design`` (missing components are silent).
        city: values drawn by ``draw_city_sound``.
        rng: the clip's generator (event times, slow level changes, noise).
        seconds: clip duration.
        sr: sample rate.

    Returns:
        float32 array (samples, 2) with peaks below 1.
    """
    d = {key: 0.0 for key in SOUND_COMPONENTS} | SOUND_DEFAULTS | design
    mix = _Mixer(rng, seconds, sr)
    wobble = lambda: mix.smooth(0.3, 0.7, 1.3)  # noqa: E731  slow level changes within a clip
    if d["bed"]:
        bed = mix.noise(corr=0.4, lo=40, hi=14000, tilt=d["tilt"] + city["tilt_offset"])
        mix.dry += d["bed"] * wobble() * bed
    if d["rumble"]:
        mix.dry += d["rumble"] * wobble() * mix.noise(corr=0.7, lo=25, hi=d["rumble_hz"])
    if d["roar"]:
        mix.dry += d["roar"] * wobble() * mix.noise(corr=0.5, lo=300, hi=2000)
    if d["hvac"]:
        mix.room += d["hvac"] * mix.noise(corr=0.2, lo=100, hi=1500, tilt=-2.0)
    if d["wind"]:
        gust = mix.smooth(0.4, 0.2, 1.0)
        mix.dry += d["wind"] * gust * mix.noise(corr=0.3, lo=20, hi=250)
        mix.dry += 0.2 * d["wind"] * gust**2 * mix.noise(corr=0.1, lo=2000, hi=9000)
    if d["fountain"]:
        mix.dry += d["fountain"] * mix.noise(corr=0.3, lo=800, hi=10000, tilt=-1.0)
    if d["motor"]:
        f0 = d["motor_hz"] * (1 + 0.35 * mix.smooth(0.15, -1.0, 1.0))
        engine = mix.tone(f0, seconds, harmonics=tuple(1 / k**0.8 for k in range(1, 13)))
        mix.dry += d["motor"] * 0.5 * engine * mix.smooth(8, 0.8, 1.2)
        if d["whine"]:
            whine = mix.tone(f0 * d["whine_hz"] / d["motor_hz"], seconds, harmonics=(1, 0.3))
            mix.dry += d["whine"] * 0.3 * whine
    if d["babble"]:
        _babble(mix, d["babble"], city["voice_shift"])
    if d["music"]:
        _music(mix, d["music"])
    _events(mix, d)
    if city["mains"]:
        mix.dry += city["mains"] * mix.tone(city["mains_hz"], seconds, harmonics=(1, 0.5, 0.3))
    out = mix.dry + (_reverb(mix, d["rt60"], d["wet"]) if d["rt60"] else mix.room)
    target = 10 ** ((rng.uniform(-28.0, -22.0) + city["level_db"]) / 20)
    out *= target / (np.sqrt(np.mean(out**2)) + 1e-12)
    peak = np.max(np.abs(out))
    if peak > 0.98:
        out *= 0.98 / peak
    return out.T.astype(np.float32)
