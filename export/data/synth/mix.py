"""Gain staging and 16-bit quantisation with an exact-sum mixture.

Each stem is levelled, all are scaled together so neither the mixture nor any stem exceeds
the song's peak target, then every stem is rounded to int16 *first* and the mixture is the
integer sum of the rounded stems. Reading the files back therefore gives
``mixture == vocals + drums + bass + other`` exactly (as int16 and as float32).
"""

from __future__ import annotations

import numpy as np

FULL_SCALE = 32767


def _peak(x: np.ndarray) -> float:
    return max(float(x.max()), -float(x.min()))


def loudness_db(audio: np.ndarray, sample_rate: int, window: float = 0.4) -> float:
    """Level of the loud parts of ``audio`` ``[channels, n]``: the 95th percentile of windowed
    RMS, in dBFS (silent parts do not drag it down). ``-inf`` for silence."""
    audio = np.asarray(audio, dtype=np.float32)
    n = max(1, int(window * sample_rate))
    frames = audio.shape[-1] // n
    if frames == 0:
        power = np.array([np.mean(np.square(audio, dtype=np.float64))])
    else:
        x = audio[..., : frames * n].reshape(audio.shape[0], frames, n)
        power = np.square(x).mean(axis=(0, 2), dtype=np.float64)
    p = float(np.percentile(power, 95))
    return 10.0 * np.log10(p) if p > 0 else float("-inf")


def master(
    stems: np.ndarray, levels_db: list[float], peak_db: float, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Level, scale and quantise.

    Args:
        stems: float32 ``[S, 2, n]``.
        levels_db: target loudness of each stem relative to the others, length ``S``.
        peak_db: peak of the result (max over mixture and stems), dBFS, below 0.

    Returns:
        ``(stems_int16 [S, n, 2], mixture_int16 [n, 2])`` with mixture == sum of stems.
    """
    if peak_db >= 0:
        raise ValueError("peak_db must be below full scale")
    stems = np.asarray(stems, dtype=np.float32)
    gains = np.ones(len(stems), dtype=np.float64)
    for i, (audio, level) in enumerate(zip(stems, levels_db, strict=True)):
        loud = loudness_db(audio, sample_rate)
        if np.isfinite(loud):
            gains[i] = 10.0 ** ((level - 20.0 - loud) / 20.0)
    mixed = np.zeros(stems.shape[1:], dtype=np.float32)
    peak = 0.0
    for audio, gain in zip(stems, gains, strict=True):
        mixed += np.float32(gain) * audio
        peak = max(peak, gain * _peak(audio))
    peak = max(peak, _peak(mixed))
    # the float mixture peak is at most `target`; rounding each stem moves the integer sum by
    # at most len(stems) / 2 LSB, far inside the headroom left by peak_db < 0
    scale = FULL_SCALE * 10.0 ** (peak_db / 20.0) / max(peak, 1e-12)
    q = np.empty((len(stems), stems.shape[2], stems.shape[1]), dtype=np.int16)
    for i, (audio, gain) in enumerate(zip(stems, gains, strict=True)):
        q[i] = np.rint(audio * np.float32(gain * scale)).astype(np.int16).T
    mixture = q.sum(axis=0, dtype=np.int32)
    worst = int(np.max(np.abs(mixture)))
    if worst > FULL_SCALE:  # cannot happen for peak_db < -0.01; guard the invariant anyway
        raise AssertionError(f"quantised mixture clips ({worst} > {FULL_SCALE})")
    return q, mixture.astype(np.int16)
