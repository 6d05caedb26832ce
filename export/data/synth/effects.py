"""Per-stem EQ: RBJ-cookbook biquads run as second-order sections (``scipy.signal.sosfilt``)."""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import sosfilt


def biquad(kind: str, freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """One RBJ biquad as a normalised SOS row ``[b0, b1, b2, 1, a1, a2]`` (float64, shape [6]).

    ``kind``: ``lowshelf``, ``highshelf`` (shelf slope 1 via ``q``), ``peak`` or ``highpass``.
    """
    w0 = 2.0 * math.pi * min(freq, 0.45 * sample_rate) / sample_rate
    cos_w, sin_w = math.cos(w0), math.sin(w0)
    alpha = sin_w / (2.0 * q)
    a = 10.0 ** (gain_db / 40.0)
    if kind == "peak":
        b = (1 + alpha * a, -2 * cos_w, 1 - alpha * a)
        den = (1 + alpha / a, -2 * cos_w, 1 - alpha / a)
    elif kind == "highpass":
        b = ((1 + cos_w) / 2, -(1 + cos_w), (1 + cos_w) / 2)
        den = (1 + alpha, -2 * cos_w, 1 - alpha)
    elif kind in ("lowshelf", "highshelf"):
        s = 2.0 * math.sqrt(a) * alpha
        sign = 1.0 if kind == "lowshelf" else -1.0
        b = (
            a * ((a + 1) - sign * (a - 1) * cos_w + s),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w),
            a * ((a + 1) - sign * (a - 1) * cos_w - s),
        )
        den = (
            (a + 1) + sign * (a - 1) * cos_w + s,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w),
            (a + 1) + sign * (a - 1) * cos_w - s,
        )
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array([b[0], b[1], b[2], den[0], den[1], den[2]], dtype=np.float64) / den[0]


def apply_eq(
    audio: np.ndarray, bands: tuple[tuple[str, float, float, float], ...], sample_rate: int
) -> np.ndarray:
    """Filter ``audio`` ``[channels, n]`` through ``bands`` (``(kind, freq, gain_db, q)``).

    Returns float32 ``[channels, n]``; the input is returned unchanged when there are no bands.
    """
    if not bands:
        return audio
    sos = np.stack([biquad(*band, sample_rate) for band in bands])
    return sosfilt(sos, audio, axis=-1).astype(np.float32)
