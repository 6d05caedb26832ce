"""Eager inference engine of the sliCQT: the transform's forward and inverse with complex FFTs.

:class:`~mobile_core.transform.slicqt.SliCQT` runs this in eager inference (no autograd to
track, not exporting: :meth:`SliCQT.eager_inference
<mobile_core.transform.slicqt.SliCQT.eager_inference>`); under autograd, ``torch.export``,
``jit.trace`` and ONNX export it runs its real-valued tensor ops, which every mobile runtime has
(no complex tensor, no NumPy). Eager PyTorch can do more: complex FFTs on complex views of the
(re, im) pairs, and NumPy's pocketfft, which computes the inverse real DFT of xumx-rt's slice
length 18060 = 2^2 3 5 7 43 ~2.5x faster than torch's CPU FFT (Intel MKL, whose generic prime
pass handles the 43). :func:`forward` and :func:`inverse` run SliCQT's own pass loops, gathers
and overlap-add (the module's ``_analyse``/``_synthesise``) with these per-pass steps instead:

* forward: ``torch.fft.rfft`` of the windowed slices, the window-slot gather, then one
  ``torch.fft.ifft`` per block on a complex view of its coefficients;
* inverse: per block one complex product with the mask and one ``torch.fft.fft``, written into
  one spectrum buffer; the compact gather of SliCQT; ``numpy.fft.irfft`` per slice (on CPU;
  ``torch.fft.irfft`` elsewhere).

The same maths, equal to the real-valued path to float32 rounding
(``tests/test_eager_engine.py``); timed against it by ``bench/bench_slicqt.py`` (rows
``ours, dft=fft (autograd path)`` and ``eager engine``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .gather import gather_slots
from .inverse_map import compact_spectrum

if TYPE_CHECKING:
    from .slicqt import SliCQT


def forward(t: SliCQT, x: Tensor) -> list[Tensor]:
    """``SliCQT.forward``: ``x[..., N]`` -> blocks ``[..., F_b, S, T_b, 2]``."""
    t = t._at(x.dtype)
    return t._analyse(x, lambda halves: _forward_frames(t, halves))


def inverse(t: SliCQT, blocks: list[Tensor], length: int, masks: list[Tensor] | None = None,
            span: tuple[int, int] | None = None) -> Tensor:
    """``SliCQT.inverse`` (same arguments): blocks (times masks) -> ``[..., length]``."""
    t = t._at(blocks[0].dtype)
    return t._synthesise(blocks, length, masks, span, lambda b, m: _inverse_frames(t, b, m))


def as_complex(z: Tensor) -> Tensor:
    """``[..., 2]`` (re, im) -> complex ``[...]``, a view when the strides allow one."""
    try:
        return torch.view_as_complex(z)
    except RuntimeError:  # a stride not a multiple of 2, or the pair axis not contiguous
        return torch.view_as_complex(z.contiguous())


def _forward_frames(t: SliCQT, halves: Tensor) -> list[Tensor]:
    """``halves[R, s+1, hop]`` -> blocks ``[R, F_b, s, T_b, 2]`` (SliCQT._forward_frames)."""
    s = halves.shape[1] - 1
    spec = torch.view_as_real(torch.fft.rfft(t._windowed_frames(halves), dim=-1))
    coefs = gather_slots(spec, t.fwd_index).view(-1, s, t._n_slots, 2)
    coefs = torch.view_as_complex(coefs * t.fwd_weight)  # [R, s, P]
    blocks = []
    start = 0
    for f, m in zip(t.block_channels, t.block_lengths, strict=True):
        z = coefs[:, :, start : start + f * m].view(-1, s, f, m).transpose(1, 2)
        blocks.append(torch.view_as_real(torch.fft.ifft(z, dim=-1)))  # [R, F, s, M, 2]
        start += f * m
    return blocks


def _inverse_frames(t: SliCQT, blocks: list[Tensor], masks: list[Tensor] | None) -> Tensor:
    """Blocks ``[R, F_b, s, T_b, 2]`` (times ``masks``) -> slice signals ``[R, s, sllen]``."""
    s = blocks[0].shape[2]
    rows = blocks[0].shape[0] if masks is None else masks[0].shape[0]
    spec = blocks[0].new_empty(rows, s, t._n_slots, 2)
    spec_c = torch.view_as_complex(spec)  # [R, s, P]
    start = 0
    for i, (blk, f, m) in enumerate(zip(blocks, t.block_channels, t.block_lengths, strict=True)):
        z = as_complex(blk)  # [R, F, s, M]
        if masks is not None:  # [k R, ...] masks on [R, ...] blocks: rows of z inner
            z = (masks[i].reshape(-1, *z.shape) * z).reshape(rows, *z.shape[1:])
        spec_c[:, :, start : start + f * m].view(-1, s, f, m).copy_(
            torch.fft.fft(z, dim=-1).transpose(1, 2))
        start += f * m
    y = as_complex(compact_spectrum(t, spec))  # [R, s, sllen/2 + 1]
    if y.device.type == "cpu":
        return torch.from_numpy(np.fft.irfft(y.numpy(), n=t.sllen, axis=-1))
    return torch.fft.irfft(y, n=t.sllen, dim=-1)


__all__ = ["as_complex", "forward", "inverse"]
