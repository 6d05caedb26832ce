"""The separator's one inference form, derived once on purpose: what ``demix`` runs in eager.

``Separator.for_inference()`` returns an :class:`InferenceSeparator`: the module's transform
(whose eager inference path is :mod:`mobile_core.transform.engine`) and an
:class:`InferenceMasks`, the block maskers rebuilt for speed with the same maths:

* the narrow blocks (``k_f = 1``, even ``T_b``) of one height run together as
  :class:`~mobile_core.model.grouped.NarrowGroup` s (batched matmuls), at most
  :data:`GROUP_CHANNELS` frequency channels a group;
* every other block as its :class:`~mobile_core.model.folded.FoldedBlock` (BatchNorm folded,
  channels-last, layer 4 as a conv plus overlap-add), or its module layers for an odd ``T_b``;
* given a chunk's kept slices, every masker computes only the frames their masks need
  (:class:`~mobile_core.model.folded.FrameWindow`).

The forms are built from the module's weights when ``for_inference()`` is called; they are a
snapshot (some hold views of the weights, most copies): after changing the weights, call
``for_inference()`` again. Eval-mode maths (BatchNorm's running statistics); autograd is off
inside. The result equals ``separator.eval()(mix)`` under ``torch.no_grad()`` to float32
rounding (``tests/test_inference.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from ..transform.slicqt import magnitude
from .cdae import BlockMasker, MaskNet
from .folded import FoldedBlock
from .grouped import NarrowGroup
from .inputs import check_mix

#: Frequency channels per :class:`~mobile_core.model.grouped.NarrowGroup` (at most; one
#: block's own when it is wider): its im2col buffers stay small (xumx-rt, 48-hop chunk: ~0.6 MB
#: per channel and layer) and the workers get several tasks.
GROUP_CHANNELS = 16

_Run = Callable[[list[Tensor], "tuple[int, int] | None"], list[Tensor]]


@dataclass(frozen=True)
class MaskUnit:
    """Some blocks' maskers run as one task: ``run([mag_b for b in indices], slices) -> [masks_b]``.

    ``slices``: ``None`` or ``(j0, j1)``, the slices whose masks must be exact (others may be
    zero); ``cost``: the unit's relative work (for scheduling, longest first).
    """

    indices: tuple[int, ...]
    cost: int
    run: _Run


class InferenceMasks:
    """The inference form of a :class:`~mobile_core.model.cdae.MaskNet`, built once.

    ``InferenceMasks(net)(mags_of, slices, run) -> [masks_b[B, n_targets, C, F_b, S, T_b]]``,
    block order (see :meth:`__call__`).
    """

    def __init__(self, net: MaskNet) -> None:
        self.n_blocks = len(net.blocks)
        self.units = _units(net)

    def __call__(self, mags_of: Callable[[tuple[int, ...]], list[Tensor]],
                 slices: tuple[int, int] | None = None,
                 run: Callable | None = None) -> list[Tensor]:
        """Every block's masks, in block order, unit by unit.

        ``mags_of(indices)``: the magnitudes ``[B, C, F_b, S, T_b]`` of those blocks (called in
        the unit's task); ``slices``: as in :class:`MaskUnit`; ``run(fn, units) -> [fn(unit)]``:
        how the units run (e.g. as tasks on workers, longest first); default: in order, here.
        """
        if run is None:
            units = self.units
            done = [u.run(mags_of(u.indices), slices) for u in units]
        else:  # longest first: the workers finish together
            units = sorted(self.units, key=lambda u: -u.cost)
            done = run(lambda u: u.run(mags_of(u.indices), slices), units)
        masks: list[Tensor | None] = [None] * self.n_blocks
        for unit, unit_masks in zip(units, done, strict=True):
            for b, m in zip(unit.indices, unit_masks, strict=True):
                masks[b] = m
        return masks


def _units(net: MaskNet) -> list[MaskUnit]:
    """The maskers of ``net`` as tasks, in block order of their first block."""
    blocks = net.blocks
    heights: dict[int, list[int]] = {}
    units: list[MaskUnit] = []
    for b, blk in enumerate(blocks):
        if isinstance(blk, BlockMasker) and NarrowGroup.supports(blk):
            heights.setdefault(blk.nb_bins, []).append(b)
        elif isinstance(blk, BlockMasker) and FoldedBlock.supports(blk):
            folded = FoldedBlock(blk)
            units.append(MaskUnit((b,), blk.flops_per_frame(),
                                  lambda mags, slices, f=folded: [f(mags[0], slices)]))
        else:  # an odd T_b, or a block replaced by another module: its own layers
            cost = getattr(blk, "flops_per_frame", lambda: 1)()
            units.append(MaskUnit((b,), cost, lambda mags, slices, m=blk: [m(mags[0])]))
    for same_height in heights.values():
        size = max(1, GROUP_CHANNELS // blocks[same_height[0]].nb_bins)
        n_groups = -(-len(same_height) // size)
        for i in range(n_groups):
            members = same_height[i * len(same_height) // n_groups :
                                  (i + 1) * len(same_height) // n_groups]
            cost = sum(blocks[b].flops_per_frame() for b in members)
            group = NarrowGroup([blocks[b] for b in members])
            units.append(MaskUnit(tuple(members), cost, group))
    return sorted(units, key=lambda u: u.indices[0])


class InferenceSeparator:
    """``Separator.for_inference()``: the separator's eager inference form.

    ``sep(mix[B, C, N]) -> stems[B, 4, C, N]``, like the module in eval mode without autograd.
    Attributes ``config``, ``transform``, ``stems``, ``sample_rate``, ``model_id`` mirror the
    module's; ``masks`` is the :class:`InferenceMasks`.
    """

    def __init__(self, separator: nn.Module) -> None:
        with torch.no_grad():
            self.masks = InferenceMasks(separator.masknet)
        self.config = separator.config
        self.transform = separator.transform
        self.stems = tuple(separator.stems)
        self.model_id = getattr(separator, "model_id", None)

    @property
    def sample_rate(self) -> int:
        return int(self.transform.sample_rate)

    def __call__(self, mix: Tensor) -> Tensor:
        return self.separate(mix)

    def separate(self, mix: Tensor, pool: Executor | None = None,
                 span: tuple[int, int] | None = None) -> Tensor:
        """``mix[B, C, N]`` -> ``stems[B, 4, C, N]``, its independent parts as tasks on ``pool``.

        ``span``: optional ``(a, b)``, the only samples the caller keeps (a chunk's middle): the
        inverse transforms then skip the slices that reach no sample in it, the stems are zero
        outside it (:meth:`SliCQT.inverse <mobile_core.transform.slicqt.SliCQT.inverse>`; 7 of
        a 48-hop xumx-rt chunk's 49 slices), and the maskers compute only those slices' masks.

        The tasks: the forward transform of each audio channel, the mask units (largest
        first), the inverse of each stem and channel: the same ops on the same data as the
        serial path, so the stems are the same to float rounding. PyTorch releases the GIL
        inside its kernels, so with one intra-op thread per worker, ``k`` workers keep ``k``
        cores busy with whole ops; that scales better than intra-op threads for these many
        small ops (xumx-rt, AMD EPYC 2 cores: ``bench/bench_separator.py``, rows ``tasks`` and
        ``intra-op``). Inference mode, when on, carries over to the workers.
        """
        mix = check_mix(mix, self.transform.slice_window.dtype)
        with torch.no_grad():
            return self._separate(mix.contiguous(), pool, span)

    def _separate(self, mix: Tensor, pool: Executor | None,
                  span: tuple[int, int] | None) -> Tensor:
        run = _runner(pool)
        transform = self.transform
        if pool is None or mix.shape[-2] == 1:
            blocks = transform(mix)
        else:  # each channel's task writes its blocks into the stereo ones (no serial cat)
            lead = mix.shape[:-2]
            blocks = [mix.new_empty(*lead, mix.shape[-2], *shape, 2)
                      for shape in transform.block_shapes(mix.shape[-1])]

            def analyse_channel(c: int) -> None:
                for whole, part in zip(blocks, transform(mix[..., c : c + 1, :]), strict=True):
                    whole[..., c : c + 1, :, :, :, :].copy_(part)

            run(analyse_channel, range(mix.shape[-2]))
        n = mix.shape[-1]
        slices = None if span is None else transform.span_slices(span, n, blocks[0].shape[-3])
        if slices is not None and slices[0] >= slices[1]:
            slices = None  # nothing kept: any masks do
        masks = self.masks(lambda indices: magnitude([blocks[b] for b in indices]), slices,
                           None if pool is None else run)
        if pool is None:  # one inverse per stem, both channels at once
            return torch.stack([transform.inverse(blocks, n, [m[:, t] for m in masks], span)
                                for t in range(len(self.stems))], dim=1)
        # one task per stem and channel: two workers then hold no more of the inverse's
        # intermediates than one worker inverting both channels
        out = mix.new_empty(mix.shape[0], len(self.stems), *mix.shape[1:])  # [B, 4, C, N]
        channels = [[b[:, c : c + 1] for b in blocks] for c in range(mix.shape[1])]

        def stem_channel(tc: tuple[int, int]) -> None:
            t, c = tc
            masks_tc = [m[:, t, c : c + 1] for m in masks]
            out[:, t, c : c + 1] = transform.inverse(channels[c], n, masks_tc, span)

        run(stem_channel, [(t, c) for t in range(len(self.stems)) for c in range(mix.shape[1])])
        return out


_T = TypeVar("_T")
_R = TypeVar("_R")


def _runner(pool: Executor | None) -> Callable[[Callable[[_T], _R], Iterable[_T]], list[_R]]:
    """``run(fn, items) -> [fn(item)]``: in order here, or as tasks on ``pool`` with the
    caller's inference mode (thread-local in PyTorch; autograd is off in the tasks too)."""
    if pool is None:
        return lambda fn, items: [fn(item) for item in items]
    inference = torch.is_inference_mode_enabled()

    def run(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        def task(item: _T) -> _R:
            with torch.inference_mode(inference), torch.no_grad():
                return fn(item)

        return list(pool.map(task, items))

    return run


__all__ = ["GROUP_CHANNELS", "InferenceMasks", "InferenceSeparator", "MaskUnit"]
