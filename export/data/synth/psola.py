"""Pitch analysis and TD-PSOLA resynthesis: retime and repitch speech, keeping its formants.

Analysis (:func:`analyse`) tracks f0 with a YIN-style difference function and places one
pitch mark per glottal period (at the peak of the period's low band) in voiced parts, and
marks on a fixed grid in unvoiced parts. Synthesis (:func:`psola`) walks the output, maps each
output time to an input time through a given time map, and overlap-adds the Hann-windowed
grain (two input periods long) around the nearest input mark, spaced by the *target* period:
the pitch is the grain spacing, the spectral envelope (formants) is each grain's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

HOP = 0.005
"""Analysis hop, seconds."""
FMIN, FMAX = 60.0, 500.0
"""f0 search range, Hz."""
UNVOICED_STEP = 0.005
"""Mark spacing (and grain half-length) in unvoiced parts, seconds."""


@dataclass(frozen=True)
class Analysis:
    """Pitch marks of one signal."""

    marks: np.ndarray
    """int ``[M]``: sample index of each mark, increasing."""
    periods: np.ndarray
    """int ``[M]``: local period (voiced) or grid step (unvoiced) at each mark, samples."""
    voiced: np.ndarray
    """bool ``[M]``."""
    f0: np.ndarray
    """float ``[F]``: f0 per hop frame, 0 where unvoiced."""

    @property
    def voiced_span(self) -> tuple[int, int] | None:
        """(first, last) voiced mark position in samples, or None without voiced marks."""
        v = self.marks[self.voiced]
        return (int(v[0]), int(v[-1])) if v.size else None


def track_f0(
    x: np.ndarray, sample_rate: int, threshold: float = 0.2, fmin: float = FMIN,
    fmax: float = FMAX, spread: float = 1.35,
) -> np.ndarray:
    """f0 per :data:`HOP` frame of ``x`` (float ``[n]``, one syllable): float ``[F]``, 0 where
    unvoiced.

    YIN: the cumulative-mean-normalised difference function per frame (integration window of
    one longest period). A first pass takes the first dip below ``threshold``; its median f0
    then bounds a second pass to periods within ``spread`` of it (a syllable's intonation
    moves less than that), which removes the octave and fifth errors of single frames. Quiet
    frames (< -50 dB of the loudest) are unvoiced.
    """
    x = np.asarray(x, dtype=np.float64)
    hop = int(round(HOP * sample_rate))
    lag_max = int(sample_rate / fmin) + 2
    lag_min = max(2, int(sample_rate / fmax))
    win = lag_max
    n_frames = max(1, len(x) // hop)
    padded = np.concatenate([x, np.zeros(win + lag_max + hop)])
    starts = np.arange(n_frames) * hop
    idx = starts[:, None] + np.arange(win + lag_max)[None, :]
    chunks = padded[idx]  # [F, win + lag_max]
    nfft = 1 << int(np.ceil(np.log2(2 * (win + lag_max))))
    a = np.fft.rfft(chunks[:, :win], nfft)
    b = np.fft.rfft(chunks, nfft)
    r = np.fft.irfft(np.conj(a) * b, nfft)[:, : lag_max + 1]  # r[t] = sum_j a[j] b[j + t]
    sq = np.concatenate([np.zeros((n_frames, 1)), np.cumsum(chunks**2, axis=1)], axis=1)
    lags = np.arange(lag_max + 1)
    e0 = sq[:, win][:, None]
    e_lag = sq[:, lags + win] - sq[:, lags]
    d = np.maximum(e0 + e_lag - 2.0 * r, 0.0)
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-20)
    loud = e0[:, 0] > 1e-5 * max(float(e0.max()), 1e-20)
    first = np.zeros(n_frames)
    for i in np.flatnonzero(loud):
        below = np.flatnonzero(dn[i, lag_min : lag_max + 1] < threshold)
        if below.size:
            first[i] = lag_min + int(below[0])
    if not np.any(first > 0):
        return np.zeros(n_frames)
    ref = float(np.median(first[first > 0]))
    lo = max(lag_min, int(ref / spread))
    hi = min(lag_max - 1, int(np.ceil(ref * spread)))
    f0 = np.zeros(n_frames)
    for i in np.flatnonzero(loud):
        row = dn[i]
        t = lo + int(np.argmin(row[lo : hi + 1]))
        if row[t] >= threshold * 1.5:
            continue
        den = row[t - 1] - 2 * row[t] + row[t + 1]
        shift = 0.5 * (row[t - 1] - row[t + 1]) / den if den > 0 else 0.0
        f0[i] = sample_rate / (t + float(np.clip(shift, -0.5, 0.5)))
    return f0


def analyse(x: np.ndarray, sample_rate: int) -> Analysis:
    """Pitch marks of ``x`` (float ``[n]``), see :class:`Analysis`."""
    x = np.asarray(x, dtype=np.float64)
    f0 = track_f0(x, sample_rate)
    voiced_f0 = f0[f0 > 0]
    if voiced_f0.size:  # pick peaks on the smooth low band: stable from period to period
        cutoff = min(2.5 * float(np.median(voiced_f0)), 0.4 * sample_rate)
        peaks = sosfiltfilt(butter(2, cutoff, fs=sample_rate, output="sos"), x)
    else:
        peaks = x
    hop = int(round(HOP * sample_rate))
    step_u = max(2, int(round(UNVOICED_STEP * sample_rate)))
    marks: list[int] = []
    periods: list[int] = []
    voiced: list[bool] = []
    n = len(x)
    pos = 0
    while pos < n:
        frame = min(pos // hop, len(f0) - 1)
        if f0[frame] > 0:
            period = int(round(sample_rate / f0[frame]))
            if voiced and voiced[-1]:  # next peak about one period after the previous one
                lo, hi = pos + int(0.75 * period), pos + int(1.25 * period) + 1
            else:
                lo, hi = pos, pos + period
            lo, hi = min(lo, n - 1), min(hi, n)
            mark = lo + int(np.argmax(peaks[lo:hi])) if hi > lo else lo
            if marks and mark <= marks[-1]:
                mark = marks[-1] + 1
            if mark >= n:
                break
            marks.append(mark)
            periods.append(period)
            voiced.append(True)
            pos = mark
        else:
            if voiced and voiced[-1]:
                pos = marks[-1] + periods[-1]
            mark = pos if not marks else max(pos, marks[-1] + 1)
            if mark >= n:
                break
            marks.append(mark)
            periods.append(step_u)
            voiced.append(False)
            pos = mark + step_u
    return Analysis(np.asarray(marks, dtype=np.int64), np.asarray(periods, dtype=np.int64),
                    np.asarray(voiced, dtype=bool), f0)


def psola(
    x: np.ndarray, analysis: Analysis, source_time: np.ndarray, f0_out: np.ndarray,
    sample_rate: int,
) -> np.ndarray:
    """Resynthesise ``x`` with a new timing and pitch.

    Args:
        x: float ``[n]``, the analysed signal.
        analysis: its pitch marks (:func:`analyse`).
        source_time: float ``[N]``: for each output sample, the input position (samples) it
            plays; non-decreasing (a time stretch when it advances slower than 1 per sample).
        f0_out: float ``[N]``: target f0 at each output sample, Hz (> 0).

    Returns:
        float32 ``[N]``. Voiced grains are scaled by ``sqrt(target / input period)`` so the
        loudness stays about the same whatever the pitch shift.
    """
    x = np.asarray(x, dtype=np.float64)
    n_out = len(source_time)
    marks, periods, voiced = analysis.marks, analysis.periods, analysis.voiced
    out = np.zeros(n_out + 2 * int(sample_rate / FMIN) + 4)
    if marks.size == 0 or n_out == 0:
        return out[:n_out].astype(np.float32)
    pad = int(periods.max()) + 2
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    windows: dict[int, np.ndarray] = {}
    t = 0.0  # synthesis marks are fractional: an integer period would quantise the pitch
    while t < n_out:
        ti = int(t)
        src = float(source_time[ti])
        k = int(np.searchsorted(marks, src))
        if k >= len(marks) or (k > 0 and src - marks[k - 1] < marks[k] - src):
            k -= 1
        half = int(periods[k])
        if voiced[k]:
            centre = float(marks[k])
            step = max(2.0, sample_rate / float(f0_out[ti]))
            gain = np.sqrt(step / half)
        else:  # noise: take the grain where the time map points, 50 % overlap
            centre = src
            step = float(half)
            gain = 1.0
        w = windows.get(half)
        if w is None:
            w = windows[half] = np.hanning(2 * half + 1)
        # grain sample j lands on output ti - half + j and reads input centre - (t - ti) + j - half
        pos = centre - (t - ti) - half + pad + np.arange(2 * half + 1)
        base = np.floor(pos).astype(np.int64)
        frac = pos - base
        grain = (xp[base] * (1.0 - frac) + xp[base + 1] * frac) * w
        lo = ti - half
        if lo < 0:
            grain, lo = grain[-lo:], 0
        out[lo : lo + len(grain)] += gain * grain
        t += step
    return out[:n_out].astype(np.float32)
