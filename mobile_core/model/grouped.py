"""Eager inference of many narrow block maskers at once: batched matmuls instead of convolutions.

Most xumx-rt blocks are narrow: 67 of its 70 have fewer than 10 frequency channels and so a
frequency kernel ``k_f = 1``. Such a masker treats its ``F`` channels independently (every kernel
is ``(1, k)``), and each layer is a matmul over frames:

* layer 1: frames of ``T`` flattened samples every ``T/2`` (``unfold``),
  ``[F N, C T] @ [C T, n_t h1]``;
* layer 2: windows of ``k2`` layer-1 frames, ``[F (N - k2 + 1), k2 h1] @ [k2 h1, h2]`` per target;
* layer 3 (transposed): windows of ``k2`` zero-padded layer-2 frames times the time-flipped
  weight, ``[F N, k2 h2] @ [k2 h2, h1]`` per target;
* layer 4 (transposed): ``[F N, h1] @ [h1, C T]`` per target, then the overlap-add of
  :func:`~mobile_core.model.folded.overlap_add`.

Layers 2 and 3 have the same weight shapes in every block, so the blocks of one height ``F``
(and one slice count) run them as two ``baddbmm`` calls over ``blocks x targets``; layers 1 and 4
(one ``T`` per block) stay per block but write to and read from the group's buffers. BatchNorm is
folded into layers 2 and 3 as in :class:`~mobile_core.model.folded.FoldedBlock` (their weights are
stacked copies anyway); layer 1 keeps the module's weights and applies its BatchNorm as a scale
and shift of the group's buffer, layer 4 reads the module's weights: no copy of either.

Measured against one :class:`~mobile_core.model.folded.FoldedBlock` per block (xumx-rt, the 67
narrow
blocks of a 48-hop chunk, 49 slices, all frames, AMD EPYC, one thread, one-off script): 136-179 ms
-> 109-131 ms. The many small convolutions pay PyTorch's per-call dispatch and layout work; the
grouped form is ~11 small ops per block plus 7 per group. Groups hold at most
:data:`~mobile_core.model.inference.GROUP_CHANNELS` channels
(:class:`~mobile_core.model.inference.InferenceMasks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from .folded import bn_affine, fold_bn, frame_window, overlap_add, window_input


class NarrowGroup:
    """The folded maskers of blocks with ``k_f = 1``, the same height ``F`` and even ``T_b``.

    ``NarrowGroup(blocks)([mag_b[B, C, F, S, T_b]], slices) -> [masks_b[B, n_t, C, F, S, T_b]]``,
    equal to each ``blocks[i].eval()(mag_b)`` to float32 rounding; ``slices`` as in
    :meth:`FoldedBlock.__call__ <mobile_core.model.folded.FoldedBlock.__call__>`. Layers 2 and 3 are
    frozen copies (BatchNorm folded), layers 1 and 4 views of the modules' weights: a snapshot,
    built once by the inference form (it does not follow later changes to those weights).
    """

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        if not blocks:
            raise ValueError("a group needs at least one block")
        first = blocks[0]
        for blk in blocks:
            if not self.supports(blk) or blk.nb_bins != first.nb_bins:
                raise ValueError("a narrow group takes blocks of k_f = 1, even T_b, one height")
        self.h1, self.nt = first.hidden1, first.nb_targets
        self.k2 = first.targets[0].conv.kernel_size[1]
        self.lengths = [blk.nb_t_bins for blk in blocks]
        with torch.no_grad(), torch.inference_mode(False):
            self.mean = [blk.input_mean.detach().clone().unsqueeze(-1) for blk in blocks]
            self.scale = [blk.input_scale.detach().clone().unsqueeze(-1) for blk in blocks]
            self.stem = []  # [C T, n_t h1]: transposed views of the module's weights
            self.outs = []  # ([h1, C T] views of the weights, one per target; bias [n_t, C])
            w2, b2, w3, b3 = [], [], [], []
            stem_bn = []  # layer 1's BatchNorm as scale and shift after the matmul: no copy of
            # the weights (16.8 of xumx-rt's 60 MB are narrow blocks' layer 1)
            for blk in blocks:
                self.stem.append(blk.stem.weight.detach().flatten(1).t())  # [n_t h1, C, 1, T]
                stem_bn.append(bn_affine(blk.stem_bn))
                self.outs.append(([c.out.weight.detach().flatten(1) for c in blk.targets],
                                  torch.stack([c.out.bias.detach() for c in blk.targets])))
                for c in blk.targets:
                    w, b = fold_bn(c.conv.weight, None, c.bn1, transposed=False)  # [h2, h1, 1, k2]
                    w2.append(w[:, :, 0].permute(2, 1, 0).flatten(0, 1))  # [(k, i), h2]
                    b2.append(b)
                    w, b = fold_bn(c.deconv.weight, None, c.bn2, transposed=True)  # [h2, h1, 1, k2]
                    # out[n] = sum_k g[n - k] W[k] = sum_j gpad[n + j] W[k2 - 1 - j]
                    w3.append(w[:, :, 0].flip(-1).permute(2, 0, 1).flatten(0, 1))  # [(j, i), h1]
                    b3.append(b)
            self.stem_scale = torch.stack([a for a, _ in stem_bn]).unsqueeze(1)  # [G, 1, n_t h1]
            self.stem_shift = torch.stack([b for _, b in stem_bn]).unsqueeze(1)
            self.w2, self.b2 = torch.stack(w2), torch.stack(b2).unsqueeze(1)  # [G n_t, k2 h1, h2]
            self.w3, self.b3 = torch.stack(w3), torch.stack(b3).unsqueeze(1)  # [G n_t, k2 h2, h1]
        self.h2 = self.w2.shape[-1]

    @staticmethod
    def supports(blk: nn.Module) -> bool:
        """Whether ``blk`` can join a group: ``k_f = 1`` and an even ``T_b``."""
        return blk.freq_kernel == 1 and blk.nb_t_bins % 2 == 0

    def __call__(self, mags: Sequence[Tensor],
                 slices: tuple[int, int] | None = None) -> list[Tensor]:
        if len(mags) != len(self.lengths):
            raise ValueError(f"expected {len(self.lengths)} blocks, got {len(mags)}")
        b, c, f, s, _ = mags[0].shape
        nb, nt, h1, h2, k2 = len(mags), self.nt, self.h1, self.h2, self.k2
        win = frame_window(s, slices, k2)
        n1 = win.l1[1] - win.l1[0]
        n2 = win.l2[1] - win.l2[0]
        n3 = win.l3[1] - win.l3[0]
        # layer 1, per block, into one buffer: rows (batch, channel, frame), columns (target, i)
        h = mags[0].new_empty(nb, b * f * n1, nt * h1)
        for j, (mag, t) in enumerate(zip(mags, self.lengths, strict=True)):
            x = window_input(mag, self.mean[j], self.scale[j], win)  # [B, C, F, ...]
            frames = x.unfold(-1, t, t // 2).permute(0, 2, 3, 1, 4).reshape(-1, c * t)
            torch.mm(frames, self.stem[j], out=h[j])
        torch.addcmul(self.stem_shift, h, self.stem_scale, out=h).relu_()
        # layer 2, all blocks and targets: windows of k2 frames -> [G n_t, rows, (k, i)]
        cols = (h.view(nb, b * f, n1, nt, h1).unfold(2, k2, 1)  # [G, BF, n2, n_t, h1, k2]
                .permute(0, 3, 1, 2, 5, 4).reshape(nb * nt, b * f * n2, k2 * h1))
        g = torch.baddbmm(self.b2, cols, self.w2).relu_()  # [G n_t, BF n2, h2]
        # layer 3: zero-pad the layer-2 window to the frames l3 reads, windows of k2
        pad = (win.l2[0] - (win.l3[0] - k2 + 1), win.l3[1] - win.l2[1])
        g = F.pad(g.view(nb * nt, b * f, n2, h2), (0, 0, *pad))
        cols = g.unfold(2, k2, 1).transpose(-1, -2).reshape(nb * nt, b * f * n3, k2 * h2)
        g = torch.baddbmm(self.b3, cols, self.w3).relu_().view(nb, nt, b * f * n3, h1)
        # layer 4, per block: every frame's C T outputs, overlap-added
        out = []
        for j, t in enumerate(self.lengths):
            w4, b4 = self.outs[j]
            hop = t // 2
            z = g.new_empty(nt, b * f * n3, c * t)
            for i in range(nt):  # views of the module's weights: no copy of them is kept
                torch.mm(g[j, i], w4[i], out=z[i])
            z = z.view(nt, b, f, n3, c, 2, hop).permute(1, 0, 4, 2, 3, 5, 6)
            y = mags[j].new_empty(b, nt, c, f, 2 * s, hop)
            overlap_add(y, z, win.l3[0], win, b4.view(1, nt, c, 1, 1, 1))
            out.append(y.view(b, nt, c, f, s, t))
        return out


__all__ = ["NarrowGroup"]
