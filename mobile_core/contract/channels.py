"""Channel rules of the on-device contract: any channel count to the model's stereo input.

Every rule is a fixed 2 x C matrix applied to the samples, ``out = downmix_matrix(C) @ x``:

* 1 channel: copied to both sides at unit gain.
* 2 channels: unchanged.
* 6 channels (5.1) in WAV / SMPTE order L, R, C, LFE, Ls, Rs; and 8 channels (7.1) in the
  WAVE_FORMAT_EXTENSIBLE default order (channel mask 0x63F) L, R, C, LFE, Lb, Rb, Ls, Rs:
  ITU-R BS.775-style downmix. Each side gets its front channel at gain 1, the centre and its own
  surround channels at 1/sqrt(2) (-3 dB); the LFE is dropped. Both surround pairs of 7.1 are
  treated alike, so the back/side order does not change the matrix. Each row is then divided by
  its sum of absolute gains (1 + sqrt(2) for 5.1, 1 + 3/sqrt(2) for 7.1), so that full-scale
  input can never give an output beyond full scale.
* Any other count C (3, 4, 5, 7, 9, ...): with an odd count, channel 2 (the front centre in the
  WAV layouts L, R, C and L, R, C, Ls, Rs) goes to both sides; the remaining channels alternate
  left, right, left, right, ... in order. Each side is the plain average of the channels it
  receives. Rows sum to 1, so this cannot clip either.

Every row has a sum of absolute gains of at most 1: no rule can push full-scale input past
full scale.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["downmix_matrix", "to_stereo"]

_SURROUND_GAIN = 1.0 / math.sqrt(2.0)  # -3 dB for centre and surrounds (ITU-R BS.775)

# Rows: left, right. Columns: the WAV channel order named in the module docstring.
_MATRIX_5_1 = (
    (1.0, 0.0, _SURROUND_GAIN, 0.0, _SURROUND_GAIN, 0.0),
    (0.0, 1.0, _SURROUND_GAIN, 0.0, 0.0, _SURROUND_GAIN),
)
_MATRIX_7_1 = (
    (1.0, 0.0, _SURROUND_GAIN, 0.0, _SURROUND_GAIN, 0.0, _SURROUND_GAIN, 0.0),
    (0.0, 1.0, _SURROUND_GAIN, 0.0, 0.0, _SURROUND_GAIN, 0.0, _SURROUND_GAIN),
)


def _normalised(rows: tuple[tuple[float, ...], ...]) -> Tensor:
    """Rows divided by their sums of absolute gains: [2, C] float64."""
    m = torch.tensor(rows, dtype=torch.float64)
    return m / m.abs().sum(dim=1, keepdim=True)


def _alternating(channels: int) -> Tensor:
    """The rule for counts without a named layout: [2, C] float64."""
    m = torch.zeros(2, channels, dtype=torch.float64)
    shared = 2 if channels % 2 == 1 else None
    side = 0
    for c in range(channels):
        if c == shared:
            m[:, c] = 1.0
        else:
            m[side, c] = 1.0
            side = 1 - side
    return m / m.sum(dim=1, keepdim=True)


def downmix_matrix(channels: int) -> Tensor:
    """The 2 x C gains that turn C channels into the model's stereo input.

    Returns [2, channels] float64: row 0 is the left output, row 1 the right output.
    """
    if channels < 1:
        raise ValueError(f"channel count must be at least 1, got {channels}")
    if channels == 1:
        return torch.ones(2, 1, dtype=torch.float64)
    if channels == 2:
        return torch.eye(2, dtype=torch.float64)
    if channels == 6:
        return _normalised(_MATRIX_5_1)
    if channels == 8:
        return _normalised(_MATRIX_7_1)
    return _alternating(channels)


def to_stereo(x: Tensor) -> Tensor:
    """Apply the contract channel rule.

    x: [C, N] float. Returns [2, N] in x's dtype (x itself when C == 2; mono is copied exactly).
    """
    if x.dim() != 2:
        raise ValueError(f"expected audio [channels, samples], got shape {tuple(x.shape)}")
    channels = x.shape[0]
    if channels == 2:
        return x
    if channels == 1:
        return x.expand(2, -1).clone()
    return downmix_matrix(channels).to(x.dtype) @ x
