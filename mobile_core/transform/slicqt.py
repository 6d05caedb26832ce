"""The sliced Constant-Q transform (sliCQT) as plain real-valued tensor ops.

Forward, for a signal ``x[B, C, N]``:

1. cut ``S`` slices of ``sllen`` samples with hop ``sllen/2`` (the first starts ``sllen/2`` before
   the signal; zeros outside it), multiply by the Tukey slice window;
2. half-spectrum real DFT of each slice;
3. one gather reads, for every frequency channel ``k`` and window slot, the spectrum bin it needs
   (with the conjugate sign for mirrored bins) times the analysis window ``g_k``;
4. per block of channels with equal length ``M_b``, an inverse complex DFT of length ``M_b``.

Inverse: complex DFT of each block's coefficients, one gather that overlap-adds the weighted
coefficient spectra (dual windows) into each slice's half spectrum, a real inverse DFT per slice,
and overlap-add of the slices. The output equals the reference NSGT (``nsgt.NSGT_sliced`` with
``real=True``) coefficient for coefficient, with slices and coefficients in its order.

Block ``b`` is ``[B, C, F_b, S, T_b, 2]`` (real, imaginary). Nothing in forward or inverse depends
on data values; shapes depend only on ``N``, so fixed-length graphs export to every runtime.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from . import engine
from .config import TransformConfig, transform_config
from .design import SliCQDesign, design
from .dft import DENSE_MAX, ComplexDFT, RealDFT, RealIDFT
from .gather import take_pairs
from .inverse_map import compact_map, compact_spectrum, inverse_tables, sum_pairs
from .scales import make_scale
from .tracing import exporting


def n_slices(n_samples: int, sllen: int) -> int:
    """Number of slices the reference NSGT emits for ``n_samples`` (>= 1) samples."""
    if n_samples < 1:
        raise ValueError(f"need at least one sample, got {n_samples}")
    quarters = -(-n_samples // (sllen // 4))
    return (quarters + 1) // 2 + 1


class SliCQT(nn.Module):
    """Sliced NSGT with forward and exact inverse, exportable as one graph.

    Args:
        scale, bins, fmin, fmax, sample_rate, gamma: the frequency scale (see :mod:`.scales`).
        dft: ``"fft"`` (rfft through ``view_as_real``; eager, ExecuTorch, TorchScript-lite) or
            ``"matmul"`` (factored real matmuls; ONNX). Both give the same numbers.
        dtype: float32 (default) or float64 working precision; the filterbank is designed in
            float64 either way. Calling the module with another float dtype runs a cached copy
            built at that precision.
        dense_max: block DFTs up to this length run as dense matmuls (faster, ``16 M^2`` bytes
            of constants per length and direction), longer ones as real FFTs.

    Attributes:
        sllen, trlen: slice and transition lengths in samples.
        hop: ``sllen // 2``.
        block_channels: ``[F_b]`` per block; block_lengths: ``[T_b]`` per block.
        freqs: centre frequency (Hz) of each of the ``sum F_b`` channels (DC first, Nyquist last).
    """

    def __init__(
        self,
        scale: str = "bark",
        bins: int = 262,
        fmin: float = 32.9,
        fmax: float = 22050.0,
        sample_rate: float = 44100.0,
        gamma: float = 15.0,
        dft: str = "fft",
        dtype: torch.dtype = torch.float32,
        dense_max: int = DENSE_MAX,
    ) -> None:
        super().__init__()
        self.config = TransformConfig(scale, int(bins), float(fmin), float(fmax),
                                      float(sample_rate), float(gamma))
        self.dft_mode = dft
        d: SliCQDesign = design(make_scale(scale, fmin, fmax, bins, gamma), sample_rate)
        self.sllen = d.sllen
        self.trlen = d.trlen
        self.hop = d.sllen // 2
        self.sample_rate = float(sample_rate)
        self.block_channels = [count for _, count, _ in d.blocks]
        self.block_lengths = [m for _, _, m in d.blocks]
        self.freqs = d.freqs.tolist()
        self._n_slots = int(sum(f * m for f, m in zip(self.block_channels, self.block_lengths)))
        self._dtype = dtype
        # slices per forward/inverse pass: bounded buffers for long signals; one pass for a
        # 48-hop xumx-rt chunk (49 slices). 64 vs 32 measured on the eager separator (per-target
        # inverses, 120 s, 4 interleaved runs): ~10 % faster on 2 threads, equal on 1
        self.slices_per_pass = 64
        # exports: each inverse pass's gathers wait for the previous pass's output, so a
        # runtime's memory plan holds one pass's intermediates at a time (see _inverse_frames)
        self.sequence_passes = True

        f64 = torch.float64
        self.register_buffer("slice_window", torch.from_numpy(d.slice_window), persistent=False)
        # the half-spectrum bin (slot of a [n_bins, 2] spectrum) each coefficient slot reads
        self.register_buffer("fwd_index", torch.from_numpy(d.fwd_index), persistent=False)
        fwd_w = np.stack((d.fwd_weight_re, d.fwd_weight_im), axis=-1)
        self.register_buffer("fwd_weight", torch.from_numpy(fwd_w), persistent=False)
        # the inverse map, split: every bin's first two contributions ("main") and the few
        # bins' third and fourth ones ("extra"); see inverse_tables
        for name, table in inverse_tables(d).items():
            self.register_buffer(name, table, persistent=False)
        # eager inverses read the same tables as slot lists (see _compact_spectrum), derived
        # from these buffers whenever they are (re)made (_apply)
        self._compact: tuple[Tensor, ...] = ()
        self.slice_dft = RealDFT(d.sllen, dft, f64)
        self.slice_idft = RealIDFT(d.sllen, dft, f64)
        lengths = sorted(set(self.block_lengths))
        self.block_idft = nn.ModuleDict(
            {str(m): ComplexDFT(m, True, dft, f64, dense_max) for m in lengths})
        self.block_dft = nn.ModuleDict(
            {str(m): ComplexDFT(m, False, dft, f64, dense_max) for m in lengths})
        # float64 master copies: any later dtype change re-derives buffers from these exactly
        # (the dense DFT bases re-derive themselves: see ComplexDFT._apply)
        self._master = {k: v.clone() for k, v in self.named_buffers()
                        if v.is_floating_point() and not k.endswith(".basis")}
        self._twins: dict[torch.dtype, SliCQT] = {}
        self.to(dtype)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_config(cls, config: str | TransformConfig, **kwargs) -> SliCQT:
        """Build from a named configuration (``"xumx-rt"``, ``"tiny"``) or a TransformConfig."""
        cfg = transform_config(config) if isinstance(config, str) else config
        return cls(cfg.scale, cfg.bins, cfg.fmin, cfg.fmax, cfg.sample_rate, cfg.gamma, **kwargs)

    def _apply(self, fn, recurse: bool = True):  # keep float64 buffers exact, not upcast
        super()._apply(fn, recurse)
        master = self.__dict__.get("_master")
        if master:
            for name, ref in master.items():
                mod_name, _, leaf = name.rpartition(".")
                mod = self.get_submodule(mod_name) if mod_name else self
                cur = mod._buffers[leaf]
                mod._buffers[leaf] = ref.to(device=cur.device, dtype=cur.dtype)
            self._dtype = self.slice_window.dtype
            self._twins = {}
        if "inv_main_weight" in self._buffers:
            self._compact = compact_map(self)
        return self

    def _at(self, dtype: torch.dtype) -> SliCQT:
        """This transform at working precision ``dtype`` (self, or a cached copy)."""
        if dtype == self._dtype:
            return self
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"SliCQT works on float32 or float64 signals, got {dtype}")
        if dtype not in self._twins:
            twins, self._twins = self._twins, {}
            try:
                twin = copy.deepcopy(self).to(dtype)
            finally:
                self._twins = twins
            self._twins[dtype] = twin
        return self._twins[dtype]

    # ------------------------------------------------------------------ shapes
    def n_slices(self, n_samples: int) -> int:
        """Slices ``S`` for a signal of ``n_samples`` samples."""
        return n_slices(n_samples, self.sllen)

    def block_shapes(self, n_samples: int) -> list[tuple[int, int, int]]:
        """``[(F_b, S, T_b)]`` of every block for a signal of ``n_samples`` samples."""
        s = self.n_slices(n_samples)
        return [(f, s, m) for f, m in zip(self.block_channels, self.block_lengths)]

    @property
    def n_channels(self) -> int:
        """Frequency channels in all blocks (DC and Nyquist included)."""
        return sum(self.block_channels)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> list[Tensor]:
        """``x[B, C, N]`` (or any ``[..., N]``) -> list of blocks ``[..., F_b, S, T_b, 2]``.

        In eager inference (:meth:`eager_inference`) this runs :mod:`.engine`, the same maths
        with complex FFTs; otherwise (autograd, ``torch.export``, tracing) real tensor ops only.
        """
        if x.dtype != self._dtype:
            return self._at(x.dtype)(x)
        if self.eager_inference(x):
            return engine.forward(self, x)
        return self._analyse(x, self._forward_frames)

    def eager_inference(self, *tensors: Tensor | None) -> bool:
        """Whether a call on ``tensors`` takes the eager engine: the ``fft`` form, no graph
        being recorded (:func:`~.tracing.exporting`) and no gradient to track (autograd off,
        or none of ``tensors`` requires grad). The engine's complex FFTs and NumPy's inverse FFT
        are eager-only: no mobile runtime has them, and they are not differentiable."""
        if self.dft_mode != "fft" or exporting():
            return False
        return not (torch.is_grad_enabled()
                    and any(x is not None and x.requires_grad for x in tensors))

    def _analyse(self, x: Tensor, frames_fn) -> list[Tensor]:
        """:meth:`forward`'s pass loop, with ``frames_fn(halves) -> blocks`` per pass (this
        module's real-valued one, or :mod:`.engine`'s)."""
        lead = x.shape[:-1]
        n = x.shape[-1]
        s = self.n_slices(n)
        h = self.hop
        x = x.reshape(-1, n)
        # zeros before (h samples) and after the signal; S frames of 2h samples, hop h
        halves = nn.functional.pad(x, (h, s * h - n)).reshape(-1, s + 1, h)
        parts: list[list[Tensor]] = []
        for g0, g1 in self._groups(s):
            parts.append(frames_fn(halves[:, g0 : g1 + 1]))
        blocks = [p[0] if len(parts) == 1 else torch.cat(p, dim=2) for p in zip(*parts)]
        return [b.reshape(*lead, *b.shape[1:]) for b in blocks]

    def _groups(self, s: int, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
        """Ranges of slices ``lo:hi`` (default all ``s``) processed per pass (a bounded working
        set; one pass for short inputs)."""
        g = self.slices_per_pass
        hi = s if hi is None else hi
        return [(i, min(i + g, hi)) for i in range(lo, hi, g)]

    def _windowed_frames(self, halves: Tensor) -> Tensor:
        """``halves[R, s+1, hop]`` -> the s slices ``[R, s, sllen]`` times the slice window."""
        return torch.cat((halves[:, :-1], halves[:, 1:]), dim=-1) * self.slice_window

    def _forward_frames(self, halves: Tensor) -> list[Tensor]:
        """``halves[R, s+1, hop]`` -> blocks ``[R, F_b, s, T_b, 2]`` for the s frames they hold."""
        s = halves.shape[1] - 1
        spec = self.slice_dft(self._windowed_frames(halves))  # [R, s, sllen/2 + 1, 2]
        coefs = take_pairs(spec, self.fwd_index) * self.fwd_weight  # [R, s, P, 2]
        blocks = []
        start = 0
        for f, m in zip(self.block_channels, self.block_lengths):
            z = coefs[:, :, start : start + f * m].reshape(-1, s, f, m, 2)
            blocks.append(self.block_idft[str(m)](z).transpose(1, 2))  # [R, F, s, M, 2]
            start += f * m
        return blocks

    # ------------------------------------------------------------------ inverse
    def inverse(self, blocks: list[Tensor], length: int, masks: list[Tensor] | None = None,
                span: tuple[int, int] | None = None) -> Tensor:
        """List of blocks ``[..., F_b, S, T_b, 2]`` -> signal ``[..., length]``.

        ``masks``: optional real ``[..., F_b, S, T_b]`` per block, multiplied into both parts of
        the coefficients as they are read (``inverse(blocks, n, masks) == inverse([m * b], n)``;
        the masked copy of all blocks then never exists at once). Masks may have more leading
        axes than the blocks, in front of the blocks' own (e.g. ``[n_targets, C, ...]`` masks
        on ``[C, ...]`` blocks); the output then has the masks' leading axes. ``span``: optional
        ``(a, b)``, the only output samples wanted; eager then inverts just the slices that
        reach ``[a, b)`` (slice ``j`` covers samples ``[(j-1) hop, (j+1) hop)``) and returns
        zeros outside it (exports ignore it). The inputs are not modified.
        """
        if blocks[0].dtype != self._dtype:
            return self._at(blocks[0].dtype).inverse(blocks, length, masks, span)
        if self.eager_inference(*blocks, *(masks or ())):
            return engine.inverse(self, blocks, length, masks, span)
        return self._synthesise(blocks, length, masks, span, self._inverse_frames)

    def _synthesise(self, blocks: list[Tensor], length: int, masks: list[Tensor] | None,
                    span: tuple[int, int] | None, frames_fn) -> Tensor:
        """:meth:`inverse`'s checks, passes and overlap-add, with ``frames_fn(blocks, masks) ->
        frames`` per pass (this module's real-valued one, or :mod:`.engine`'s)."""
        if len(blocks) != len(self.block_channels):
            raise ValueError(f"expected {len(self.block_channels)} blocks, got {len(blocks)}")
        if masks is not None and len(masks) != len(blocks):
            raise ValueError(f"expected {len(blocks)} masks, got {len(masks)}")
        lead = blocks[0].shape[:-4] if masks is None else masks[0].shape[:-3]
        inner = blocks[0].shape[:-4]
        if masks is not None and (len(lead) < len(inner) or lead[len(lead) - len(inner):] != inner):
            raise ValueError(f"masks {tuple(masks[0].shape)} do not extend blocks "
                             f"{tuple(blocks[0].shape)}: the blocks' leading axes must be theirs")
        s = blocks[0].shape[-3]
        shapes = list(zip(self.block_channels, self.block_lengths, strict=True))
        flat = [blk.reshape(-1, f, s, m, 2) for blk, (f, m) in zip(blocks, shapes, strict=True)]
        flat_masks = (None if masks is None else
                      [k.reshape(-1, f, s, m) for k, (f, m) in zip(masks, shapes, strict=True)])
        h = self.hop
        if exporting():
            ola = self._overlap_add_export(flat, flat_masks, s)
        else:
            # in place: row r of [R, S+1, hop] gets the first half of slice r and the second
            # half of slice r-1 (the same two sums as the portable form, bit for bit)
            ola = flat[0].new_zeros(_rows(flat, flat_masks), s + 1, h)
            lo, hi = (0, s) if span is None else self.span_slices(span, length, s)
            for g0, g1 in self._groups(s, lo, hi):
                frames = frames_fn(*_pass(flat, flat_masks, g0, g1))
                ola[:, g0:g1] += frames[..., :h]
                ola[:, g0 + 1 : g1 + 1] += frames[..., h:]
        # [R, S+1, hop]; sample 0 of the signal is at index hop
        y = ola.reshape(ola.shape[0], -1)[:, h : h + length]
        if y.shape[-1] < length:
            y = nn.functional.pad(y, (0, length - y.shape[-1]))
        if span is not None and not exporting():
            y[:, : max(0, span[0])] = 0  # partial sums of the skipped slices' neighbours
            y[:, max(0, span[1]) :] = 0
        return y.reshape(*lead, length)

    def span_slices(self, span: tuple[int, int], length: int, n_slices: int) -> tuple[int, int]:
        """``(lo, hi)``: the slices ``[lo, hi)`` whose samples reach ``span = (a, b)`` of a
        ``length``-sample signal of ``n_slices`` slices (slice ``j`` covers samples ``[(j-1) hop,
        (j+1) hop)``; overlap-add row ``r`` needs slices ``r - 1`` and ``r``); empty when the
        span is."""
        h = self.hop
        a, b = max(0, span[0]), min(length, span[1])
        return max(0, a // h), min(n_slices, (b - 1) // h + 2)

    def _overlap_add_export(self, flat: list[Tensor], masks: list[Tensor] | None,
                            s: int) -> Tensor:
        """Slices overlap-added pass by pass without in-place writes (exports) ->
        ``[R, S + 1, hop]``.

        A pass's frames ``[R, s_g, sllen]``, padded by ``hop`` zeros at both ends and viewed as
        ``[R, s_g + 1, 2, hop]``, hold in row ``r`` (second half of slice ``r - 1``, first half
        of slice ``r``): their sum is the pass's overlap-add rows; the last one carries into the
        next pass's first. Only one pass's frames exist at a time.
        """
        h = self.hop
        rows: list[Tensor] = []
        carry: Tensor | None = None
        for g0, g1 in self._groups(s):
            x = self._inverse_frames(*_pass(flat, masks, g0, g1),
                                     after=carry if self.sequence_passes else None)
            n_rows = g1 - g0 + 1
            pairs = nn.functional.pad(x.reshape(x.shape[0], -1), (h, h))
            pairs = pairs.reshape(-1, n_rows, 2, h)
            # slices, not selects (a select is a portable copy kernel outside XNNPACK in a .pte)
            local = (pairs[:, :, :1] + pairs[:, :, 1:]).reshape(-1, n_rows, h)
            rows.append(local[:, :1] if carry is None else local[:, :1] + carry)
            rows.append(local[:, 1:-1])
            carry = local[:, -1:]
        rows.append(carry)
        return torch.cat(rows, dim=1)

    def _inverse_frames(self, blocks: list[Tensor], masks: list[Tensor] | None = None,
                        after: Tensor | None = None) -> Tensor:
        """Blocks ``[R, F_b, s, T_b, 2]`` (times ``masks[R, F_b, s, T_b]``) -> windowless slice
        signals ``[R, s, sllen]``.

        ``after``: exports only, a tensor ``[R, ...]`` of the previous pass (its overlap-add
        carry); the spectrum gathered here takes a zero-weighted element of it, an exact no-op
        (finite inputs) that orders this pass after that one in the program.
        """
        s = blocks[0].shape[2]
        shapes = list(zip(self.block_channels, self.block_lengths, strict=True))
        # eager: each block's coefficient spectra straight into one buffer (no list + cat)
        eager = not exporting()
        rows = _rows(blocks, masks)
        spec = blocks[0].new_empty(rows, s, self._n_slots, 2) if eager else None
        parts = []
        start = 0
        for i, (blk, (f, m)) in enumerate(zip(blocks, shapes, strict=True)):
            z = blk.transpose(1, 2)  # [R, s, F, M, 2]
            if masks is not None:
                z = apply_mask(masks[i].transpose(1, 2), z)
            z = self.block_dft[str(m)](z)
            if eager:
                spec[:, :, start : start + f * m].view(-1, s, f, m, 2).copy_(z)
            else:
                parts.append(z.reshape(-1, s, f * m, 2))
            start += f * m
        if after is not None:
            parts[0] = parts[0] + after[:, :1, :1].reshape(-1, 1, 1, 1) * 0.0
        if eager:
            return self.slice_idft(compact_spectrum(self, spec))
        return self.slice_idft.from_sums(sum_pairs(self, torch.cat(parts, dim=-2)))

def apply_mask(mask: Tensor, x: Tensor) -> Tensor:
    """``mask[..., T] * x[..., T, 2]``, both parts scaled (a real mask keeps x's phase).

    ``mask[k R, ...]`` on ``x[R, ...]`` (several masks per row of ``x``, rows of ``x`` inner):
    ``[k R, ..., T, 2]``, as one broadcast product (no copy of ``x`` per mask).
    """
    rows, k = x.shape[0], mask.shape[0] // x.shape[0]
    if k == 1:
        return mask.unsqueeze(-1) * x
    # reshapes, not unsqueezes: in a .pte an unsqueeze is a portable copy kernel outside XNNPACK
    y = mask.reshape(k, rows, *mask.shape[1:], 1) * x.reshape(1, *x.shape)
    return y.reshape(k * rows, *x.shape[1:])


def _rows(blocks: list[Tensor], masks: list[Tensor] | None) -> int:
    """Rows of the output of flattened ``blocks[R, ...]`` (times ``masks[k R, ...]``)."""
    return blocks[0].shape[0] if masks is None else masks[0].shape[0]


def _pass(blocks: list[Tensor], masks: list[Tensor] | None, g0: int,
          g1: int) -> tuple[list[Tensor], list[Tensor] | None]:
    """Slices ``g0:g1`` of every block ``[R, F, S, T, 2]`` (and mask ``[R, F, S, T]``)."""
    if g0 == 0 and g1 == blocks[0].shape[2]:  # one pass holds them all: no slicing
        return blocks, masks
    cut = [b[:, :, g0:g1] for b in blocks]
    return cut, None if masks is None else [k[:, :, g0:g1] for k in masks]


def magnitude(blocks: list[Tensor]) -> list[Tensor]:
    """``|X|`` of each block: ``[..., 2] -> [...]``, via sqrt(re^2 + im^2)."""
    return [torch.sqrt(b[..., 0] * b[..., 0] + b[..., 1] * b[..., 1]) for b in blocks]


__all__ = ["SliCQT", "apply_mask", "magnitude", "n_slices"]
