"""Frequency scales for the sliCQT: centre frequencies and Q factors of the filterbank.

Every scale maps a band index ``b`` in ``[0, bins)`` to a centre frequency ``F(b)`` in Hz and
has a Q factor per band. Scales without a closed-form Q use the reference NSGT's numerical
derivative ``Q(b) = F(b) * db / (F(b + db) - F(b - db))`` with ``db = 1e-8``, so that the
filterbank (and hence every coefficient) matches the reference implementation bit for bit.

All maths here runs once, at construction, in float64 (NumPy). Nothing here is in a forward pass.
"""

from __future__ import annotations

import math

import numpy as np

SCALES = ("bark", "mel", "cqlog", "vqlog", "linear")


class FrequencyScale:
    """Base class: ``bins`` bands, ``F(b)`` in Hz, ``Q(b)`` dimensionless."""

    dbnd = 1.0e-8

    def __init__(self, bins: int) -> None:
        if bins < 2:
            raise ValueError(f"a frequency scale needs at least 2 bins, got {bins}")
        self.bins = int(bins)

    def F(self, b: float | np.ndarray) -> float | np.ndarray:
        raise NotImplementedError

    def Q(self, b: float | np.ndarray) -> float | np.ndarray:
        return self.F(b) * self.dbnd / (self.F(b + self.dbnd) - self.F(b - self.dbnd))

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(frequencies[bins], q_factors[bins])`` as float64 arrays."""
        f = np.array([self.F(b) for b in range(self.bins)], dtype=np.float64)
        q = np.array([self.Q(b) for b in range(self.bins)], dtype=np.float64)
        return f, q


class BarkScale(FrequencyScale):
    """Bins equally spaced in Bark, with ``f = 600 sinh(b / 6)`` (Traunmüller-style)."""

    def __init__(self, fmin: float, fmax: float, bins: int) -> None:
        super().__init__(bins)
        bmin = 6.0 * math.asinh(fmin / 600.0)
        bmax = 6.0 * math.asinh(fmax / 600.0)
        self.bmin = bmin
        self.bbnd = (bmax - bmin) / (bins - 1)

    def F(self, b):
        return 600.0 * np.sinh((b * self.bbnd + self.bmin) / 6.0)


class MelScale(FrequencyScale):
    """Bins equally spaced in mel, ``m = 2595 log10(1 + f / 700)``."""

    def __init__(self, fmin: float, fmax: float, bins: int) -> None:
        super().__init__(bins)
        mmin = np.log10(fmin / 700.0 + 1.0) * 2595.0
        mmax = np.log10(fmax / 700.0 + 1.0) * 2595.0
        self.mmin = mmin
        self.mbnd = (mmax - mmin) / (bins - 1)

    def F(self, b):
        return (np.power(10.0, (b * self.mbnd + self.mmin) / 2595.0) - 1.0) * 700.0


class LogScale(FrequencyScale):
    """Geometric spacing with one constant Q (``cqlog``); ``gamma`` Hz offset gives ``vqlog``.

    With ``gamma > 0`` every centre frequency is shifted up by ``gamma`` Hz while Q stays the
    constant-Q value, which widens the low bands (variable-Q transform).
    """

    def __init__(self, fmin: float, fmax: float, bins: int, gamma: float = 0.0) -> None:
        super().__init__(bins)
        lfmin = np.log2(fmin)
        lfmax = np.log2(fmax)
        odiv = (lfmax - lfmin) / (bins - 1)
        self.fmin = 2**lfmin
        self.pow2n = 2**odiv
        self.q = np.sqrt(self.pow2n) / (self.pow2n - 1.0) / 2.0
        self.gamma = float(gamma)

    def F(self, b):
        return self.fmin * self.pow2n**b + self.gamma

    def Q(self, b):
        return self.q


class LinearScale(FrequencyScale):
    """Evenly spaced bins (an STFT-like grid), ``Q = f / (2 df)``."""

    def __init__(self, fmin: float, fmax: float, bins: int) -> None:
        super().__init__(bins)
        self.df = float(fmax - fmin) / (bins - 1)
        self.fmin = float(fmin)

    def F(self, b):
        return b * self.df + self.fmin

    def Q(self, b):
        return self.F(b) / (self.df * 2)


def make_scale(
    name: str, fmin: float, fmax: float, bins: int, gamma: float = 15.0
) -> FrequencyScale:
    """Build a scale by name: bark, mel, cqlog, vqlog (uses ``gamma``) or linear."""
    if not (0.0 < fmin < fmax):
        raise ValueError(f"need 0 < fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if name == "bark":
        return BarkScale(fmin, fmax, bins)
    if name == "mel":
        return MelScale(fmin, fmax, bins)
    if name == "cqlog":
        return LogScale(fmin, fmax, bins)
    if name == "vqlog":
        return LogScale(fmin, fmax, bins, gamma=gamma)
    if name == "linear":
        return LinearScale(fmin, fmax, bins)
    raise ValueError(f"unknown frequency scale {name!r}; choose one of {', '.join(SCALES)}")
