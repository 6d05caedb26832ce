"""A convolution reverb with a synthetic impulse response, for stems not rendered by FluidSynth.

The sung vocal (:mod:`.voice`) is rendered outside FluidSynth, so it does not go through a
FluidSynth reverb unit; this gives it a comparable room from the same
:attr:`~.song.StemMix.reverb` settings (room size, damping, width, level). The impulse response
is exponentially decaying stereo noise: the decay time grows with the room size, the high band
decays faster with more damping, and ``width`` sets how decorrelated left and right are.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, sosfilt

from .effects import biquad


def impulse_response(
    room: float, damp: float, width: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Synthetic stereo room response with unit energy per channel: float32 ``[2, m]``.

    ``room``, ``damp``, ``width`` in [0, 1].
    """
    t60 = 0.3 + 2.7 * float(np.clip(room, 0.0, 1.0))
    predelay = int((0.008 + 0.025 * room) * sample_rate)
    m = int(t60 * sample_rate)
    t = np.arange(m) / sample_rate
    w = float(np.clip(width, 0.0, 1.0))
    common = rng.standard_normal(m)
    sides = rng.standard_normal((2, m))
    noise = np.sqrt(1.0 - w) * common + np.sqrt(w) * sides  # [2, m]
    high = sosfilt(biquad("highpass", 3000.0, 0.0, 0.707, sample_rate)[None, :], noise, axis=-1)
    low = noise - high
    decay_low = np.exp(-6.91 * t / t60)
    decay_high = np.exp(-6.91 * t / (t60 * (1.0 - 0.8 * float(np.clip(damp, 0.0, 1.0)))))
    ir = low * decay_low + high * decay_high
    ir *= np.minimum(1.0, t / 0.01)  # no click at the onset of the tail
    ir /= np.sqrt(np.sum(ir**2, axis=-1, keepdims=True)) + 1e-12
    return np.concatenate([np.zeros((2, predelay)), ir], axis=1).astype(np.float32)


def add_reverb(
    dry: np.ndarray,
    reverb: tuple[float, float, float, float],
    send: float,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``dry`` ``[2, n]`` plus its reverb: float32 ``[2, n + tail]``.

    Args:
        reverb: (room size, damping, width, level), each in [0, 1], as in
            :attr:`~.song.StemMix.reverb`.
        send: 0..1, the share of the signal sent to the reverb (MIDI CC91 / 127).
    """
    room, damp, width, level = reverb
    ir = impulse_response(room, damp, width, sample_rate, rng)
    gain = 0.35 * float(level) * float(send)
    out = np.zeros((2, dry.shape[1] + ir.shape[1] - 1), dtype=np.float32)
    out[:, : dry.shape[1]] = dry
    if gain > 0 and dry.shape[1] > 0:
        mono = dry.mean(axis=0)
        for c in range(2):
            out[c] += gain * fftconvolve(mono, ir[c]).astype(np.float32)
    return out
