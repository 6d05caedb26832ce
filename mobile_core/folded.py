"""The eager inference form of a block masker: BatchNorm folded, channels-last, layer 4 as a conv.

:class:`~mobile_core.cdae.BlockMasker` switches to a :class:`FoldedBlock` of itself in eval mode
with autograd off, outside ``torch.export``/``torch.jit.trace`` (exports keep the module's own
layers; ``export/`` builds its own deploy form for the runtimes). Same maths, fewer memory passes:

* every BatchNorm is folded into the convolution before it (eval mode: ``bn(conv(x))`` is a conv
  with scaled weights and a bias), see :func:`fold_bn`;
* activations are channels-last (``[B, F, N, channels]`` in memory): oneDNN's convolutions run
  faster on it for the wide blocks (86-channel block, 49 slices, one thread: layer 2 11.5 ->
  9.9 ms, layer 3 16.7 -> 11.5 ms per target);
* layer 4, the transposed conv ``h1 -> C`` with kernel ``(k_f, T)`` and stride ``(1, T/2)``, is a
  plain conv ``h1 -> C*T`` with kernel ``(k_f, 1)`` (every input frame's ``T`` output samples per
  channel; the frequency taps flipped and ``k_f - 1`` rows padded on both sides, the transposed
  conv's extent; for ``k_f = 1`` a matmul by a view of the weight, so the 67 such xumx-rt blocks
  hold no copy of it) plus an overlap-add in time: output segment ``j`` of ``T/2`` samples is
  the first half of frame ``j`` plus the second half of frame ``j - 1`` (the export's deploy form
  does the same, ``export/artifacts.py``). PyTorch's CPU transposed convolution of this shape
  goes through im2col/col2im at 10-20 GFLOP/s.

Measured (AMD EPYC, one thread, all 70 xumx-rt blocks at 49 slices, medians of 7 interleaved
runs, one-off scripts): the module's own layers 394 ms, folded 312 ms, folded channels-last with
layer 4 as a matmul and a frequency-and-time overlap-add 277 ms; layer 4 as the conv above
instead 273 vs 293 ms (a later run; the 86-channel block 108 vs 115 ms).

The folded tensors are derived from the module's parameters and buffers on first use and again
whenever one of them changes (in-place updates bump a tensor's version counter; a new tensor has
a new address), so training, ``load_state_dict`` and ``.to()`` are all seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn


def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d,
            transposed: bool) -> tuple[Tensor, Tensor]:
    """``(weight', bias')`` with ``bn(conv(x; weight, bias)) == conv(x; weight', bias')`` (eval).

    ``weight`` is ``[out, in, kh, kw]`` (``[in, out, kh, kw]`` when ``transposed``); returns
    detached tensors, bias' of ``[out]``.
    """
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    shape = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)  # out channels: dim 1 / dim 0
    w = weight.detach() * scale.view(shape)
    b = shift if bias is None else bias.detach() * scale + shift
    return w, b


def state_key(module: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``module`` is replaced or modified in place
    (address and version counter of each; a hand walk of the submodules: ~40 us for a block
    masker where ``module.parameters()`` takes ~150, and it runs for every block and chunk)."""
    key: list[int] = []
    stack = [module]
    while stack:
        mod = stack.pop()
        for tensors in (mod._parameters, mod._buffers):
            for t in tensors.values():
                if t is not None:
                    key += (t.data_ptr(), t._version)
        stack.extend(mod._modules.values())
    return tuple(key)


class FoldedBlock:
    """A frozen, folded copy of a :class:`~mobile_core.cdae.BlockMasker`'s weights.

    ``FoldedBlock(blk)(mag[B, C, F, S, T]) -> masks[B, n_targets, C, F, S, T]``, equal to
    ``blk.eval()(mag)`` to float32 rounding. ``T`` must be even (see :func:`supports`).
    """

    def __init__(self, blk: nn.Module) -> None:
        self.key = state_key(blk)
        # normal tensors even when built under inference_mode (nothing here needs autograd, but
        # inference tensors could not be mixed with later normal ones in-place)
        with torch.no_grad(), torch.inference_mode(False):
            self.mean = blk.input_mean.detach().clone().unsqueeze(-1)  # [F, 1]
            self.scale = blk.input_scale.detach().clone().unsqueeze(-1)
            self.left_pad = blk.stem.left_pad
            self.stride = blk.stem.stride
            self.stem = fold_bn(blk.stem.weight, None, blk.stem_bn, transposed=False)
            self.h1 = blk.hidden1
            self.t = blk.nb_t_bins
            self.kf = blk.freq_kernel
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
            self.out_b = torch.stack([c.out.bias.detach() for c in blk.targets])  # [n_t, C]

    @staticmethod
    def supports(blk: nn.Module) -> bool:
        """Whether ``blk``'s last layer is the overlap-add shape this form assumes."""
        return blk.nb_t_bins % 2 == 0

    def __call__(self, mag: Tensor) -> Tensor:
        s, t, h1, kf, co = mag.shape[-2], self.t, self.h1, self.kf, self.cout
        hop = t // 2
        x = (mag.flatten(-2) - self.mean) * self.scale  # [B, C, F, L]
        x = F.pad(x, (self.left_pad, 0)).contiguous(memory_format=torch.channels_last)
        h = F.conv2d(x, *self.stem, stride=self.stride).relu_()  # [B, n_t*h1, F', N]
        b, _, fp, n = h.shape
        f = fp + kf - 1
        nt = len(self.outs)
        y = mag.new_zeros(b, nt, co, f, n + 1, hop)  # [.., F, segments, T/2]
        for i in range(nt):
            g = F.conv2d(h[:, i * h1 : (i + 1) * h1], *self.convs[i]).relu_()
            g = F.conv_transpose2d(g, *self.deconvs[i]).relu_()  # [B, h1, F', N]
            # every frame's T outputs per channel, [B, F, N, C*T] in memory (a view of the
            # channels-last g for the matmul); segment j = first half of frame j + second half
            # of frame j - 1
            if kf == 1:
                z = torch.matmul(g.permute(0, 2, 3, 1).reshape(b, fp * n, h1), self.outs[i])
            else:
                z = F.conv2d(g, self.outs[i], padding=(kf - 1, 0)).permute(0, 2, 3, 1)
            z = z.reshape(b, f, n, co, 2, hop)
            y[:, i, :, :, :n] += z[..., 0, :].permute(0, 3, 1, 2, 4)
            y[:, i, :, :, 1:] += z[..., 1, :].permute(0, 3, 1, 2, 4)
        y = y.flatten(-2)[..., : s * t] + self.out_b.view(1, nt, co, 1, 1)
        return y.sigmoid_().unflatten(-1, (s, t))


__all__ = ["FoldedBlock", "fold_bn", "state_key"]
