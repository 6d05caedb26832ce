"""The eager inference form of one block masker: BatchNorm folded, channels-last, layer 4 a conv.

:class:`FoldedBlock` is what :class:`~mobile_core.model.inference.InferenceMasks` runs for the
wide blocks (``k_f > 1``); it is derived once from a :class:`~mobile_core.model.cdae.BlockMasker`
by :meth:`Separator.for_inference <mobile_core.model.separator.Separator.for_inference>`.
Training, autograd and exports use the module's own layers. Same maths, fewer memory passes:

* every BatchNorm is folded into the convolution before it (eval mode: ``bn(conv(x))`` is a conv
  with scaled weights and a bias), see :func:`fold_bn` (the export's deploy form folds with it
  too, ``export/graph/deploy.py``);
* activations are channels-last (``[B, F, N, channels]`` in memory): oneDNN's convolutions run
  faster on it for the wide blocks (86-channel block, 49 slices, one thread: layer 2 11.5 ->
  9.9 ms, layer 3 16.7 -> 11.5 ms per target);
* layer 4, the transposed conv ``h1 -> C`` with kernel ``(k_f, T)`` and stride ``(1, T/2)``, is a
  plain conv ``h1 -> C*T`` with kernel ``(k_f, 1)`` (every input frame's ``T`` output samples per
  channel; the frequency taps flipped and ``k_f - 1`` rows padded on both sides, the transposed
  conv's extent; for ``k_f = 1`` a matmul by a view of the weight) plus an overlap-add in time:
  output segment ``j`` of ``T/2`` samples is the first half of frame ``j`` plus the second half
  of frame ``j - 1``. PyTorch's CPU transposed convolution of this shape goes through
  im2col/col2im at 10-20 GFLOP/s.

Measured (AMD EPYC, one thread, all 70 xumx-rt blocks at 49 slices, medians of 7 interleaved
runs, one-off scripts): the module's own layers 394 ms, folded 312 ms, folded channels-last with
layer 4 as a matmul and a frequency-and-time overlap-add 277 ms; layer 4 as the conv above
instead 273 vs 293 ms (a later run; the 86-channel block 108 vs 115 ms).

Mask windows: ``FoldedBlock(blk)(mag, slices=(j0, j1))`` computes only the masks of slices
``[j0, j1)`` (the others are zero), from the frames of each layer they need
(:class:`FrameWindow`); the inference form passes the slices whose samples a chunk keeps
(xumx-rt, 48-hop chunk: 41 of 49; ~12 % fewer multiply-adds in a middle chunk).
:func:`window_input` and :func:`overlap_add` are shared with :mod:`.grouped`.

A ``FoldedBlock`` is a snapshot: it copies (or, for layer 4 with ``k_f = 1``, views) the
weights when it is built, and does not follow later changes to the module's weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn


def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d,
            transposed: bool) -> tuple[Tensor, Tensor]:
    """``(weight', bias')`` with ``bn(conv(x; weight, bias)) == conv(x; weight', bias')`` (eval).

    ``weight`` is ``[out, in, kh, kw]`` (``[in, out, kh, kw]`` when ``transposed``); returns
    detached tensors, bias' of ``[out]``.
    """
    scale, shift = bn_affine(bn)
    shape = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)  # out channels: dim 1 / dim 0
    w = weight.detach() * scale.view(shape)
    b = shift if bias is None else bias.detach() * scale + shift
    return w, b


def bn_affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """``(scale, shift)``, both ``[channels]``: eval-mode ``bn(x) == x * scale + shift`` per
    channel (detached)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias.detach() - bn.running_mean * scale


@dataclass(frozen=True)
class FrameWindow:
    """The frames a masker computes so that the masks of slices ``[j0, j1)`` are exact.

    Frame ``n`` of a block with ``T`` coefficients per slice (``hop = T / 2``, ``N = 2 S`` frames)
    is layer 1's output at flattened time ``n hop``; layer 4 spreads frame ``n`` over output
    samples ``[n hop, n hop + T)``, so output segment ``q`` (``hop`` samples) is the first half of
    frame ``q`` plus the second half of frame ``q - 1``, and slice ``j`` is segments ``2j, 2j+1``.
    Going back through the layers (``k2``: layer 2's time kernel; half-open ranges of frames):

    * ``l3``: layer-3 outputs (layer 4's inputs) ``[2 j0 - 1, 2 j1)``, clipped at 0;
    * ``l2``: layer-2 outputs ``[l3[0] - k2 + 1, l3[1])`` (layer 3 is a transposed conv), clipped
      to ``[0, N - k2 + 1)``;
    * ``l1``: layer-1 outputs ``[l2[0], l2[1] + k2 - 1)`` (layer 2 is a valid conv), at most ``N``;
    * ``segments``: ``[2 j0, 2 j1)``.

    All in frames, the same for every block of a chunk whatever its ``T``. Every window is a
    valid computation of the whole chunk's (no edge effects): layer 2 on ``l1`` gives exactly
    ``l2``, and a transposed conv of ``l2`` is exact on ``l3`` because the frames it leaves out
    are outside ``[0, N - k2 + 1)``, i.e. zero in the full computation too.
    """

    l1: tuple[int, int]
    l2: tuple[int, int]
    l3: tuple[int, int]
    segments: tuple[int, int]


def frame_window(n_slices: int, slices: tuple[int, int] | None, k2: int) -> FrameWindow:
    """The :class:`FrameWindow` for the masks of slices ``[j0, j1)`` (None: all ``n_slices``)."""
    j0, j1 = (0, n_slices) if slices is None else slices
    if not 0 <= j0 < j1 <= n_slices:
        raise ValueError(f"slices {slices} are not a non-empty range in [0, {n_slices}]")
    n = 2 * n_slices
    l3 = (max(0, 2 * j0 - 1), 2 * j1)
    l2 = (max(0, l3[0] - k2 + 1), min(n - k2 + 1, l3[1]))
    l1 = (l2[0], min(n, l2[1] + k2 - 1))
    return FrameWindow(l1, l2, l3, (2 * j0, 2 * j1))


def window_input(mag: Tensor, mean: Tensor, scale: Tensor, win: FrameWindow) -> Tensor:
    """``mag[B, C, F, S, T]`` -> the normalised input of layer-1 frames ``win.l1``,
    ``[B, C, F, (n1 - 1) hop + T]`` (``n1`` frames), causal zero padding included.

    Frame ``n`` reads the flattened samples ``[n hop - T + 1, n hop]`` (zeros before 0): only
    the samples of the window's frames are normalised.
    """
    t = mag.shape[-1]
    hop = t // 2
    lo = win.l1[0] * hop - (t - 1)
    hi = (win.l1[1] - 1) * hop + 1
    x = (mag.flatten(-2)[..., max(lo, 0) : hi] - mean) * scale
    return F.pad(x, (-lo, 0)) if lo < 0 else x


def overlap_add(y: Tensor, z: Tensor, first: int, win: FrameWindow, bias: Tensor) -> Tensor:
    """Layer 4's overlap-add plus bias and sigmoid, into ``y``'s window segments.

    ``z[..., n, 2, hop]``: layer 4's output of every frame ``first, first + 1, ...`` (covering
    ``win.l3``), split into its two halves; ``y[..., N, hop]`` gets segments ``win.segments``
    (segment ``q`` = first half of frame ``q`` + second half of frame ``q - 1`` + ``bias``,
    then the sigmoid); the other segments are set to zero (``y`` may come uninitialised: only
    those are written twice, not the whole of it). Returns ``y``.
    """
    q0, q1 = win.segments
    y[..., :q0, :].zero_()
    y[..., q1:, :].zero_()
    seg = y[..., q0:q1, :]
    torch.add(z[..., q0 - first : q1 - first, 0, :], bias, out=seg)
    lo = max(q0, 1)  # segment 0 has no previous frame
    y[..., lo:q1, :] += z[..., lo - 1 - first : q1 - 1 - first, 1, :]
    seg.sigmoid_()
    return y


class FoldedBlock:
    """A frozen, folded copy of a :class:`~mobile_core.model.cdae.BlockMasker`'s weights.

    ``FoldedBlock(blk)(mag[B, C, F, S, T]) -> masks[B, n_targets, C, F, S, T]``, equal to
    ``blk.eval()(mag)`` to float32 rounding. ``T`` must be even (see :func:`supports`).
    """

    def __init__(self, blk: nn.Module) -> None:
        # normal tensors even when built under inference_mode (nothing here needs autograd, but
        # inference tensors could not be mixed with later normal ones in-place)
        with torch.no_grad(), torch.inference_mode(False):
            self.mean = blk.input_mean.detach().clone().unsqueeze(-1)  # [F, 1]
            self.scale = blk.input_scale.detach().clone().unsqueeze(-1)
            self.stride = blk.stem.stride
            self.stem = fold_bn(blk.stem.weight, None, blk.stem_bn, transposed=False)
            self.h1 = blk.hidden1
            self.t = blk.nb_t_bins
            self.kf = blk.freq_kernel
            self.k2 = blk.targets[0].conv.kernel_size[1]
            self.convs = [fold_bn(c.conv.weight, None, c.bn1, transposed=False)
                          for c in blk.targets]
            self.deconvs = [fold_bn(c.deconv.weight, None, c.bn2, transposed=True)
                            for c in blk.targets]
            # layer 4, transposed [h1, C, k_f, T]: with k_f = 1 a matmul by [h1, C*T] (a view of
            # the weight); else a conv h1 -> C*T with kernel (k_f, 1), the frequency taps
            # flipped and k_f - 1 rows padded on both sides (the transposed conv's extent)
            if blk.freq_kernel == 1:
                self.outs = [c.out.weight.detach().flatten(1) for c in blk.targets]
            else:
                self.outs = [c.out.weight.detach().flip(2).permute(1, 3, 0, 2)
                             .reshape(-1, blk.hidden1, blk.freq_kernel, 1)
                             .contiguous(memory_format=torch.channels_last) for c in blk.targets]
            self.cout = blk.targets[0].out.weight.shape[1]
            self.out_b = [c.out.bias.detach() for c in blk.targets]  # [C] per target

    @staticmethod
    def supports(blk: nn.Module) -> bool:
        """Whether ``blk``'s last layer is the overlap-add shape this form assumes."""
        return blk.nb_t_bins % 2 == 0

    def __call__(self, mag: Tensor, slices: tuple[int, int] | None = None) -> Tensor:
        """``mag[B, C, F, S, T]`` -> masks ``[B, n_targets, C, F, S, T]``.

        ``slices``: optional ``(j0, j1)``: only the masks of slices ``[j0, j1)`` are computed
        (from just the frames they need, see :class:`FrameWindow`), the others are zero.
        """
        s, t, kf, co = mag.shape[-2], self.t, self.kf, self.cout
        hop = t // 2
        win = frame_window(s, slices, self.k2)
        x = window_input(mag, self.mean, self.scale, win)
        x = x.contiguous(memory_format=torch.channels_last)
        h = F.conv2d(x, *self.stem, stride=self.stride).relu_()  # [B, n_t*h1, F', n1]
        b, _, fp, _ = h.shape
        f = fp + kf - 1
        nt, h1 = len(self.outs), self.h1
        y = mag.new_empty(b, nt, co, f, 2 * s, hop)  # [.., F, segments, T/2]
        for i in range(nt):
            g = F.conv2d(h[:, i * h1 : (i + 1) * h1], *self.convs[i]).relu_()
            g = F.conv_transpose2d(g, *self.deconvs[i]).relu_()  # [B, h1, F', n] from win.l2[0]
            n = g.shape[-1]
            # every frame's T outputs per channel, [B, F, n, C*T] in memory (a view of the
            # channels-last g for the matmul)
            if kf == 1:
                z = torch.matmul(g.permute(0, 2, 3, 1).reshape(b, fp * n, h1), self.outs[i])
            else:
                z = F.conv2d(g, self.outs[i], padding=(kf - 1, 0)).permute(0, 2, 3, 1)
            z = z.reshape(b, f, n, co, 2, hop).permute(0, 3, 1, 2, 4, 5)  # [B, C, F, n, 2, T/2]
            overlap_add(y[:, i], z, win.l2[0], win, self.out_b[i].view(co, 1, 1, 1))
        return y.view(b, nt, co, f, s, t)


__all__ = ["FoldedBlock", "FrameWindow", "bn_affine", "fold_bn", "frame_window", "overlap_add",
           "window_input"]
