"""Separation metrics: MDX-style SDR (default) and museval BSSv4 (optional).

MDX SDR (Music Demixing Challenge 2021) of one stem over a whole track::

    SDR = 10 log10( (eps + sum s^2) / (eps + sum (s - s_hat)^2) )

summed over all samples and channels, ``eps = 1e-7``. No projection, no framing: it rewards the
waveform error directly and is what the challenge leaderboards (and upstream's MDX numbers) use.
museval's BSSv4 SDR (SiSEC 2018, upstream's 4.07 dB) is the median over 1 s frames of a
distortion-filtered SDR; it is only computed when the optional ``museval`` package is installed.
"""

from __future__ import annotations

import numpy as np
import torch

EPS = 1e-7


def sdr(reference: torch.Tensor | np.ndarray, estimate: torch.Tensor | np.ndarray,
        eps: float = EPS) -> np.ndarray:
    """MDX SDR in dB of ``estimate`` vs ``reference``, both ``[..., C, N]``; returns ``[...]``.

    Sums over the last two axes (channels and samples) in float64.
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ")
    num = np.sum(ref**2, axis=(-2, -1))
    den = np.sum((ref - est) ** 2, axis=(-2, -1))
    return 10.0 * np.log10((eps + num) / (eps + den))


def museval_available() -> bool:
    try:
        import museval  # noqa: F401
    except ImportError:
        return False
    return True


def bss_sdr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 44100) -> np.ndarray:
    """museval BSSv4 SDR (median over 1 s frames, NaN frames ignored) per source.

    ``reference``/``estimate``: ``[n_src, C, N]``. Raises ImportError without ``museval``.
    """
    import museval

    ref = np.asarray(reference, dtype=np.float64).transpose(0, 2, 1)  # [n_src, N, C]
    est = np.asarray(estimate, dtype=np.float64).transpose(0, 2, 1)
    sdrs, _, _, _ = museval.evaluate(ref, est, win=sample_rate, hop=sample_rate)
    return np.nanmedian(sdrs, axis=1)
