"""A fast, exact gammatone spectrogram: ``gammatone.gtgram.gtgram``'s numbers, ~100x sooner.

The reference (``gtgram(x, fs, window_time, hop_time, channels, f_min)``, which the paper's
authors used) runs each band through four cascaded biquads with ``scipy.signal.lfilter``,
squares the whole (bands, samples) output, and averages it over every window. This module
computes the same numbers in one pass of a numba kernel:

- The filterbank is linear, so only left and right are filtered; the left-minus-right
  output is the difference of their filtered outputs (equal up to float64 rounding).
- The bands are independent, so the band loop is innermost and compiled with the number of
  bands as a constant: it vectorises across bands (SIMD), and every stage keeps the exact
  arithmetic of ``lfilter`` (transposed direct form II, float64). Two samples are advanced
  per pass over the bands so that the filter states stay in registers in between.
- The filtered samples are never stored: their squares are summed per block of
  ``gcd(window, hop)`` samples (882 = one hop for the paper's 1764-sample window and
  882-sample hop), and each window's energy is the sum of its blocks (two adjacent hops).
- The per-band gain of ``make_erb_filters`` is applied once, to the window means.

``gammatone_power`` returns the window means of the squared outputs (``gtgram``'s result
squared), in ``gtgram``'s band order (row 0 the lowest band); ``avsc_lib.features.audio`` turns them
into the paper's dB features. The agreement with ``gtgram`` after the dB step is about 1e-10 dB
on real clips (tests keep it within 1e-6 dB; ``benchmarks/bench_features.py`` measures it).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numba
import numpy as np
from gammatone.filters import centre_freqs, make_erb_filters
from gammatone.gtgram import gtgram_strides

_N_STATES = 19  # 8 filter states per channel (4 biquads x 2) for left and right, 3 block sums
_JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy", boundscheck=False)


def erb_coefficients(sample_rate: float, n_bands: int, f_min: float) -> np.ndarray:
    """The ERB filterbank of ``gtgram``: (n_bands, 10) coefficients, row 0 the lowest band.

    Columns as ``gammatone.filters.make_erb_filters``: A0, A11, A12, A13, A14, A2, B0, B1, B2,
    gain. The four biquads of a band share the denominator (B0, B1, B2) and A0 and A2.
    """
    return np.flipud(make_erb_filters(sample_rate, centre_freqs(sample_rate, n_bands, f_min)))


@numba.njit(inline="always", **_JIT)
def _biquad(x, z0, z1, b0, b1, na1, na2):
    """One sample through ``lfilter([b0, b1, 0], [1, a1, a2])``; returns (y, z0, z1)."""
    y = b0 * x + z0
    return y, b1 * x + na1 * y + z1, na2 * y


@numba.njit(inline="always", **_JIT)
def _cascade(x, z, b0, c1, c2, c3, c4, na1, na2):
    """One sample through a band's four biquads; ``z`` holds their 8 states."""
    y, z0, z1 = _biquad(x, z[0], z[1], b0, c1, na1, na2)
    y, z2, z3 = _biquad(y, z[2], z[3], b0, c2, na1, na2)
    y, z4, z5 = _biquad(y, z[4], z[5], b0, c3, na1, na2)
    y, z6, z7 = _biquad(y, z[6], z[7], b0, c4, na1, na2)
    return y, (z0, z1, z2, z3, z4, z5, z6, z7)


@numba.njit(inline="always", **_JIT)
def _step(xl, xr, zl, zr, sums, b0, c1, c2, c3, c4, na1, na2):
    """One left and one right sample of a band; adds the squares of L, R and L-R to ``sums``."""
    yl, zl = _cascade(xl, zl, b0, c1, c2, c3, c4, na1, na2)
    yr, zr = _cascade(xr, zr, b0, c1, c2, c3, c4, na1, na2)
    d = yl - yr
    return zl, zr, (sums[0] + yl * yl, sums[1] + yr * yr, sums[2] + d * d)


@numba.njit(inline="always", **_JIT)
def _load(state, b, NB):
    """Band ``b``'s left states, right states and block sums from the flat state array."""
    zl = (state[b], state[NB + b], state[2 * NB + b], state[3 * NB + b],
          state[4 * NB + b], state[5 * NB + b], state[6 * NB + b], state[7 * NB + b])
    zr = (state[8 * NB + b], state[9 * NB + b], state[10 * NB + b], state[11 * NB + b],
          state[12 * NB + b], state[13 * NB + b], state[14 * NB + b], state[15 * NB + b])
    return zl, zr, (state[16 * NB + b], state[17 * NB + b], state[18 * NB + b])


@numba.njit(inline="always", **_JIT)
def _store(state, b, NB, zl, zr, sums):
    """The inverse of :func:`_load`."""
    for k in range(8):
        state[k * NB + b] = zl[k]
        state[(8 + k) * NB + b] = zr[k]
    for k in range(3):
        state[(16 + k) * NB + b] = sums[k]


@lru_cache(maxsize=None)
def _kernel(n_bands: int) -> Callable:
    """The filter-and-integrate kernel compiled for ``n_bands`` (a constant: it vectorises)."""
    NB = n_bands

    @numba.njit(**_JIT)
    def kernel(left, right, b0, coef, n_used, block, nwin, hop, n_frames):
        # coef: rows A11, A12, A13, A14, -B1, -B2 (each NB long); state: _N_STATES rows of NB
        c1, c2, c3, c4 = coef[:NB], coef[NB:2 * NB], coef[2 * NB:3 * NB], coef[3 * NB:4 * NB]
        na1, na2 = coef[4 * NB:5 * NB], coef[5 * NB:]
        state = np.zeros(_N_STATES * NB)
        energy = np.zeros((n_frames, 3, NB))
        for start in range(0, n_used, block):
            stop = start + block
            for n in range(start, stop - 1, 2):  # two samples per pass over the bands
                xl0, xr0, xl1, xr1 = left[n], right[n], left[n + 1], right[n + 1]
                for b in range(NB):
                    zl, zr, sums = _load(state, b, NB)
                    zl, zr, sums = _step(xl0, xr0, zl, zr, sums,
                                         b0, c1[b], c2[b], c3[b], c4[b], na1[b], na2[b])
                    zl, zr, sums = _step(xl1, xr1, zl, zr, sums,
                                         b0, c1[b], c2[b], c3[b], c4[b], na1[b], na2[b])
                    _store(state, b, NB, zl, zr, sums)
            if block % 2:
                for b in range(NB):
                    zl, zr, sums = _load(state, b, NB)
                    zl, zr, sums = _step(left[stop - 1], right[stop - 1], zl, zr, sums,
                                         b0, c1[b], c2[b], c3[b], c4[b], na1[b], na2[b])
                    _store(state, b, NB, zl, zr, sums)
            # add this block's sums to every window that contains it
            first = max(0, (stop - nwin + hop - 1) // hop)
            last = min(n_frames - 1, start // hop)
            for frame in range(first, last + 1):
                for k in range(3):
                    for b in range(NB):
                        energy[frame, k, b] += state[(16 + k) * NB + b]
            state[16 * NB:] = 0.0
        return energy

    return kernel


def gammatone_power(
    left: np.ndarray,
    right: np.ndarray,
    sample_rate: float,
    window_s: float,
    hop_s: float,
    n_bands: int,
    f_min: float,
) -> np.ndarray:
    """Mean squared gammatone output per window of left, right and left-minus-right.

    Equals ``gtgram(x, sample_rate, window_s, hop_s, n_bands, f_min) ** 2`` for x = left,
    right and left - right (up to float64 rounding), with the same windows: ``nwin`` and
    ``hop`` samples rounded half away from zero, ``1 + (n - nwin) // hop`` frames.

    Args:
        left, right: two signals of the same length, at least one window long.
        sample_rate, window_s, hop_s, n_bands, f_min: as ``gtgram``'s arguments.

    Returns:
        float64 (3, n_bands, n_frames): L, R, L-R; row 0 the lowest band, as ``gtgram``.
    """
    left = np.ascontiguousarray(left, dtype=np.float64)
    right = np.ascontiguousarray(right, dtype=np.float64)
    if left.shape != right.shape or left.ndim != 1:
        raise ValueError(f"left and right must be 1-D of one length, got {left.shape}, {right.shape}")
    nwin, hop, n_frames = gtgram_strides(sample_rate, window_s, hop_s, left.shape[0])
    if n_frames < 1:
        raise ValueError(f"signal of {left.shape[0]} samples is shorter than one window ({nwin})")
    fcoefs = erb_coefficients(sample_rate, n_bands, f_min)
    if np.any(fcoefs[:, 0] != fcoefs[0, 0]) or np.any(fcoefs[:, 5] != 0) or np.any(fcoefs[:, 6] != 1):
        raise ValueError("unexpected ERB filter coefficients (gammatone package changed?)")
    coef = np.concatenate([fcoefs[:, 1], fcoefs[:, 2], fcoefs[:, 3], fcoefs[:, 4],
                           -fcoefs[:, 7], -fcoefs[:, 8]])
    block = int(np.gcd(nwin, hop))
    n_used = (n_frames - 1) * hop + nwin  # samples after the last window are never needed
    energy = _kernel(int(n_bands))(left, right, float(fcoefs[0, 0]), coef, n_used, block,
                                   nwin, hop, n_frames)
    gain = fcoefs[:, 9]
    return np.transpose(energy, (1, 2, 0)) / (nwin * gain[None, :, None] ** 2)
