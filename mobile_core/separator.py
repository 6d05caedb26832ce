"""The whole waveform-to-stems graph: sliCQT, per-block realtime CDAE masks, mix phase, inverse.

``Separator.forward(mix[B, 2, N]) -> stems[B, 4, 2, N]`` (stems in :data:`STEMS` order: vocals,
drums, bass, other). Every step is a real-valued tensor op, so a fixed-length chunk of this module
exports as one file to ExecuTorch, TorchScript-lite and ONNX (see ``export/``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from . import eager_engine
from .cdae import STEMS, MaskNet
from .configs import SeparatorConfig, separator_config
from .slicqt import SliCQT, magnitude
from .tracing import exporting


@dataclass
class SeparatorOutput:
    """What training needs besides the waveforms.

    Attributes:
        masks: per block ``[B, 4, C, F_b, S, T_b]`` in [0, 1].
        estimates: per block ``[B, 4, C, F_b, S, T_b, 2]``: masks times the mixture coefficients
            (mix phase), real and imaginary.
        mixture: per block ``[B, C, F_b, S, T_b, 2]``: the mixture's sliCQT.
    """

    masks: list[Tensor]
    estimates: list[Tensor]
    mixture: list[Tensor]


class Separator(nn.Module):
    """sliCQT -> |X| -> CDAE masks per block and target -> mask * X -> inverse sliCQT.

    Args:
        config: a :class:`SeparatorConfig` (or a name: ``"xumx-rt"``, ``"tiny"``).
        dft: DFT implementation of the transform (``"fft"``; ``"matmul"`` for ONNX).
    """

    stems: tuple[str, ...] = STEMS

    def __init__(self, config: SeparatorConfig | str = "xumx-rt", dft: str = "fft") -> None:
        super().__init__()
        self.config = separator_config(config) if isinstance(config, str) else config
        self.transform = SliCQT.from_config(self.config.transform, dft=dft)
        shapes = list(zip(self.transform.block_channels, self.transform.block_lengths))
        self.masknet = MaskNet(shapes, self.config.cdae)

    @classmethod
    def from_config(cls, config: SeparatorConfig | str, dft: str = "fft") -> Separator:
        """A separator with fresh (untrained) weights."""
        return cls(config, dft=dft)

    @property
    def sample_rate(self) -> int:
        return int(self.transform.sample_rate)

    def analyse(self, mix: Tensor) -> SeparatorOutput:
        """Training-time entry point: ``mix[B, C, N]`` -> masks, estimates and mixture blocks."""
        blocks = self.transform(mix)
        masks = self.masknet(magnitude(blocks))
        estimates = [m.unsqueeze(-1) * x.unsqueeze(1) for m, x in zip(masks, blocks)]
        return SeparatorOutput(masks, estimates, blocks)

    def forward(self, mix: Tensor) -> Tensor:
        """``mix[B, 2, N]`` -> ``stems[B, 4, 2, N]``.

        The same products as ``analyse``'s estimates, inverted one target at a time (the inverse
        applies the masks as it reads the blocks): the masked coefficients and the inverse's
        intermediates then exist for one stem at a time, not four.
        Measured on xumx-rt, 48-hop chunks, AMD EPYC 2 cores: peak RSS of
        ``bench/bench_separator.py --seconds 240`` 924-934 MB per target vs 1143-1156 MB with the
        four stems in one inverse. Every tensor has at most 6 dimensions (XNNPACK, the .pte
        delegate, rejects 7-D ones such as ``[B, 4, C, F, S, T, 2]``).
        """
        return self.separate(mix)

    def separate(self, mix: Tensor, pool: Executor | None = None,
                 span: tuple[int, int] | None = None) -> Tensor:
        """:meth:`forward`, with its independent parts run as tasks on ``pool`` (eager only).

        ``span``: optional ``(a, b)``, the only samples the caller keeps (a chunk's middle): the
        inverse transforms then skip the slices that reach no sample in it, and the stems are
        zero outside it (:meth:`SliCQT.inverse`; 7 of a 48-hop xumx-rt chunk's 49 slices); in
        eager inference the maskers compute only those slices' masks, from just the frames
        they need (:class:`~mobile_core.folded.FrameWindow`).

        The tasks: the forward transform of each audio channel, the mask units
        (:meth:`MaskNet.units <mobile_core.cdae.MaskNet.units>`: a block's masker, or a group
        of narrow blocks' in eager inference; largest first), the inverse of each stem and
        channel. They are the same ops on the
        same data as the serial path, so the stems are the same to float rounding (the DFTs run
        per channel). PyTorch releases the GIL inside its kernels, so with one intra-op thread
        per worker, ``k`` workers keep ``k`` cores busy with whole ops. That scales better than
        intra-op threads here, whose per-op split does not pay for the many small ops (xumx-rt,
        AMD EPYC 2 cores: ``bench/bench_separator.py``, rows ``tasks`` and ``intra-op``). Grad
        and inference mode carry over to the workers.
        """
        run = _runner(pool)
        analyse, invert = self.transform, self.transform.inverse
        if self.transform.dft_mode == "fft" and not (torch.is_grad_enabled() or exporting()):
            # inference: the transform's eager engine (complex FFTs, NumPy's pocketfft)
            analyse = functools.partial(eager_engine.forward, self.transform)
            invert = functools.partial(eager_engine.inverse, self.transform)
        if pool is None or mix.shape[-2] == 1:
            blocks = analyse(mix)
        elif torch.is_grad_enabled():  # autograd: no in-place writes from several threads
            per_channel = run(analyse, [mix[..., c : c + 1, :] for c in range(mix.shape[-2])])
            blocks = [torch.cat(parts, dim=1) for parts in zip(*per_channel, strict=True)]
            del per_channel  # not held through the maskers and inverses
        else:  # each channel's task writes its blocks into the stereo ones (no serial cat)
            lead = mix.shape[:-2]
            blocks = [mix.new_empty(*lead, mix.shape[-2], *shape, 2)
                      for shape in self.transform.block_shapes(mix.shape[-1])]

            def analyse_channel(c: int) -> None:
                for whole, part in zip(blocks, analyse(mix[..., c : c + 1, :]), strict=True):
                    whole[..., c : c + 1, :, :, :, :].copy_(part)

            run(analyse_channel, range(mix.shape[-2]))
        if len(blocks) != len(self.masknet.blocks):
            raise ValueError(f"expected {len(self.masknet.blocks)} blocks, got {len(blocks)}")
        n = mix.shape[-1]
        n_slices = blocks[0].shape[-3]
        slices = None if span is None else self.transform.span_slices(span, n, n_slices)
        if slices is not None and slices[0] >= slices[1]:
            slices = None  # nothing kept: any masks do
        masks = self.masknet.run_units(lambda indices: magnitude([blocks[b] for b in indices]),
                                       slices, None if pool is None else run)

        if pool is None:  # one inverse per stem, both channels at once
            stems = [invert(blocks, n, [m[:, t] for m in masks], span)
                     for t in range(len(self.stems))]
            return torch.stack(stems, dim=1)
        # one task per stem and channel: two workers then hold no more of the inverse's
        # intermediates than one worker inverting both channels
        out = mix.new_empty(mix.shape[0], len(self.stems), *mix.shape[1:])  # [B, 4, C, N]

        channels = [[b[:, c : c + 1] for b in blocks] for c in range(mix.shape[1])]

        def stem_channel(tc: tuple[int, int]) -> None:
            t, c = tc
            masks_tc = [m[:, t, c : c + 1] for m in masks]
            out[:, t, c : c + 1] = invert(channels[c], n, masks_tc, span)

        run(stem_channel, [(t, c) for t in range(len(self.stems)) for c in range(mix.shape[1])])
        return out

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


_T = TypeVar("_T")
_R = TypeVar("_R")


def _runner(pool: Executor | None) -> Callable[[Callable[[_T], _R], Iterable[_T]], list[_R]]:
    """``run(fn, items) -> [fn(item)]``: in order here, or as tasks on ``pool`` with the
    caller's grad and inference mode (both are thread-local in PyTorch)."""
    if pool is None:
        return lambda fn, items: [fn(item) for item in items]
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def run(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        def task(item: _T) -> _R:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return fn(item)

        return list(pool.map(task, items))

    return run
