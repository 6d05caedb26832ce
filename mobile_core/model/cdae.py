"""The realtime CDAE mask network of xumx-sliCQ-V2, one masker per sliCQT block.

For every block ``b`` (``F_b`` frequency channels, ``T_b`` coefficients per slice) and every target
the upstream realtime model runs a convolutional denoising autoencoder over the block's magnitude,
with the ``S`` slices and ``T_b`` coefficients flattened into one time axis of length ``L = S*T_b``
and the two stereo channels as the convolution's input channels:

* norm: ``x = (|X| - input_mean[f]) * input_scale[f]``, per block, shared by the targets
  -> ``[B, C, F, L]``;
* layer 1: causal conv ``C -> h1``, kernel ``(k_f, T_b)``, stride ``(1, T_b // 2)``, the input
  left-padded by ``T_b - 1`` zeros, no bias; BatchNorm; ReLU -> ``[B, h1, F - k_f + 1, N]``;
* layer 2: conv ``h1 -> h2``, kernel ``(k_f, 4)``, no bias; BatchNorm; ReLU
  -> ``[B, h2, F - 2 k_f + 2, N - 3]``;
* layer 3: transposed conv ``h2 -> h1``, kernel ``(k_f, 4)``, no bias; BatchNorm; ReLU
  -> ``[B, h1, F - k_f + 1, N]``;
* layer 4: transposed conv ``h1 -> C``, kernel ``(k_f, T_b)``, stride ``(1, T_b // 2)``, bias;
  sigmoid -> ``[B, C, F, >= L]``;
* crop: keep the first ``L`` time steps, unflatten to ``[B, C, F, S, T_b]``;

with ``N = (L - 1) // (T_b // 2) + 1`` frames, ``h1, h2 = 50, 51`` and ``k_f = 1 / 3 / 5`` for
blocks of fewer than 10 / fewer than 20 / more channels. No layer pads the frequency axis: the two
convolutions shrink it by ``2 (k_f - 1)`` and the two transposed convolutions grow it back, so the
output has exactly ``F`` channels (upstream also slices ``[:F]``, a no-op we leave out). The time
axis comes back at least ``L`` long and upstream crops it to the first ``L``; so do we. ``S >= 2``
slices are needed (layer 2 needs ``N >= 4`` frames); a ``torch.export`` with a dynamic ``S`` needs
``S >= 3`` (at ``S = 2`` layer 2 has one frame, which export specialises).

The output is the sigmoid **mask** of every target, not the masked spectrum: the separator applies
it to the mixture (upstream's realtime model multiplies the mask with the mixture's magnitude and
re-uses the mixture phase, which is the same as scaling real and imaginary parts by the mask).

Input normalisation. Upstream stores ``input_mean`` *negated* (it is initialised to ``-mean``) and
``input_scale`` as the multiplier (initialised to ``1 / std``), and computes ``(x + input_mean) *
input_scale``. Here ``input_mean`` is the value subtracted and ``input_scale`` the value multiplied:
``(x - input_mean) * input_scale``. So the converter maps ``input_mean = -upstream.input_mean`` and
``input_scale = upstream.input_scale`` (no reciprocal is taken: upstream's parameter already is the
multiplier). Both maps are exact in floating point, and so is the arithmetic
(``x - (-m) == x + m``).

Receptive field (not strictly causal). Only layer 1 is causal; layers 2 and 3 are a "valid" conv and
its transpose, which look ``3`` frames ahead. With ``hop = T_b // 2``, the output at flattened time
``t`` depends on inputs in ``[t - past, t + future]`` with ``future = 3 * hop`` and
``past = 2 (T_b - 1) + 3 * hop`` (see :func:`receptive_field`); exactly, input ``p`` can change
outputs from ``(ceil(p / hop) - 3) * hop`` on. That is at most 1.5 slices of look-ahead per block.

Fusing the targets. All four targets' first convolutions read the same normalised input, so they are
one convolution with ``4 * h1`` output channels (the *stem*, followed by one BatchNorm of ``4 * h1``
channels; BatchNorm is per channel, so this is the same maths, also in training). Layers 2-4 run per
target (``targets.{t}``). Measured eager CPU time of all 70 xumx-rt blocks, batch 1, stereo, one
thread, inference mode (torch 2.13, AMD EPYC, a shared 2-core machine: the best of 7-15 runs, the
range over 3-4 sessions; the medians were noisier but ranked the same):

===============================================================  ============  ============
variant                                                          S = 30        S = 49
===============================================================  ============  ============
unfused: four separate CDAEs per block (upstream's layout)       234-248 ms    350-362 ms
**stem fused, layers 2-4 per target (this module)**              211-235 ms    327-341 ms
all fused: stem + ``groups=4`` conv and transposed convs         299-372 ms    441-464 ms
===============================================================  ============  ============

(A 10 s chunk is about 49 slices at hop 9030; S = 30 is about 6 s.) PyTorch's CPU kernels run
the grouped convolutions slower, and XNNPACK cannot take per-channel-quantized transposed
convolutions with ``groups > 1``, so full fusion loses twice. The fused stem is 5-10 % faster,
needs no grouped op, and gives a runtime one convolution instead of four per block; we keep it.
The checkpoint map stays exact: the stem's weight and BatchNorm tensors are the four targets'
tensors concatenated along the output channels, in our target order.

Eager inference. :meth:`Separator.for_inference
<mobile_core.model.separator.Separator.for_inference>` derives, once, a faster form of these
maskers with the same maths (:mod:`.inference`: BatchNorm folded, narrow blocks grouped into
batched matmuls, only the frames a chunk keeps). The modules here are what training, autograd
and exports run.

Targets are in the project's stem order :data:`STEMS` (vocals, drums, bass, other); upstream's
order (bass, vocals, other, drums) is mapped by the converter.

Everything is plain ``conv``/``pad``/``slice``/``reshape``: it exports with ``torch.export``,
``torch.jit.trace`` and ``torch.onnx.export(dynamo=True)``; the only loops run over the fixed blocks
and targets. Lowered to ExecuTorch with the XNNPACK partitioner, a whole MaskNet becomes a single
delegate call (checked on a 2-block net; max abs difference to eager 8e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

__all__ = [
    "STEMS",
    "BlockMasker",
    "CDAEConfig",
    "CausalConv2d",
    "MaskNet",
    "TargetCDAE",
    "receptive_field",
]

#: Target order of every mask tensor: index ``t`` of ``[B, 4, C, F_b, S, T_b]`` is ``STEMS[t]``.
STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")


@dataclass(frozen=True)
class CDAEConfig:
    """Sizes of the realtime CDAE (defaults: upstream xumx-sliCQ-V2 realtime, ``xumx-rt``).

    Attributes:
        hidden1, hidden2: channels after layer 1 and layer 2.
        time_kernel2: time kernel of layer 2 (and of its transpose, layer 3).
        freq_thresholds: ascending channel counts; a block with ``F_b < freq_thresholds[i]``
            (first such ``i``) uses ``freq_kernels[i]``, otherwise ``freq_kernels[-1]``.
        freq_kernels: frequency kernel sizes, one more than thresholds.
        nb_channels: audio channels (conv input channels), 2 for stereo.
        nb_targets: masks per block, in :data:`STEMS` order.
    """

    hidden1: int = 50
    hidden2: int = 51
    time_kernel2: int = 4
    freq_thresholds: tuple[int, ...] = (10, 20)
    freq_kernels: tuple[int, ...] = (1, 3, 5)
    nb_channels: int = 2
    nb_targets: int = 4

    def __post_init__(self) -> None:
        if len(self.freq_kernels) != len(self.freq_thresholds) + 1:
            raise ValueError(
                f"need one more freq kernel than thresholds, got kernels {self.freq_kernels} "
                f"and thresholds {self.freq_thresholds}"
            )
        if list(self.freq_thresholds) != sorted(self.freq_thresholds):
            raise ValueError(f"freq_thresholds must ascend, got {self.freq_thresholds}")
        if min(self.freq_kernels) < 1 or self.time_kernel2 < 1:
            raise ValueError("kernel sizes must be >= 1")
        if min(self.hidden1, self.hidden2, self.nb_channels, self.nb_targets) < 1:
            raise ValueError("channel counts must be >= 1")

    def freq_kernel(self, nb_bins: int) -> int:
        """Frequency kernel size for a block of ``nb_bins`` frequency channels."""
        for thresh, kernel in zip(self.freq_thresholds, self.freq_kernels, strict=False):
            if nb_bins < thresh:
                return kernel
        return self.freq_kernels[-1]

    def to_dict(self) -> dict:
        return asdict(self)


def receptive_field(nb_t_bins: int, cfg: CDAEConfig | None = None) -> tuple[int, int]:
    """``(past, future)``: the mask at flattened time ``t`` sees inputs ``[t-past, t+future]``.

    Flattened time is the ``S * T_b`` axis of one block; ``hop = T_b // 2``. Both bounds are tight
    for some ``t`` (``future`` when ``t`` is a multiple of ``hop``).
    """
    cfg = cfg or CDAEConfig()
    hop = nb_t_bins // 2
    ahead = (cfg.time_kernel2 - 1) * hop
    return 2 * (nb_t_bins - 1) + ahead, ahead


class CausalConv2d(nn.Conv2d):
    """``Conv2d`` with ``kernel[1] - 1`` zeros padded on the left of the time (last) axis only.

    ``[B, C_in, F, L] -> [B, C_out, F - k_f + 1, (L - 1) // stride_t + 1]``; output frame ``j``
    sees inputs ``[j*stride_t - k_t + 1, j*stride_t]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         bias=bias)
        self.left_pad = int(kernel_size[1]) - 1

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))


class TargetCDAE(nn.Module):
    """Layers 2-4 of one target's CDAE: ``[B, h1, F-k_f+1, N] -> mask [B, C, F, >= L]``.

    Submodules: ``conv`` (h1->h2, no bias), ``bn1``, ``deconv`` (h2->h1, no bias), ``bn2``,
    ``out`` (transposed h1->C, kernel ``(k_f, T_b)``, stride ``(1, T_b//2)``, bias); sigmoid last.
    """

    def __init__(self, freq_kernel: int, nb_t_bins: int, cfg: CDAEConfig) -> None:
        super().__init__()
        k2 = (freq_kernel, cfg.time_kernel2)
        self.conv = nn.Conv2d(cfg.hidden1, cfg.hidden2, k2, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.hidden2)
        self.deconv = nn.ConvTranspose2d(cfg.hidden2, cfg.hidden1, k2, bias=False)
        self.bn2 = nn.BatchNorm2d(cfg.hidden1)
        self.out = nn.ConvTranspose2d(
            cfg.hidden1, cfg.nb_channels, (freq_kernel, nb_t_bins),
            stride=(1, nb_t_bins // 2), bias=True,
        )

    def forward(self, h: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv(h)))
        h = torch.relu(self.bn2(self.deconv(h)))
        return torch.sigmoid(self.out(h))


class BlockMasker(nn.Module):
    """All target masks for ONE sliCQT block.

    ``forward(mag[B, C, F_b, S, T_b]) -> masks[B, n_targets, C, F_b, S, T_b]`` in [0, 1], targets in
    :data:`STEMS` order. Parameters: ``input_mean[F_b]``, ``input_scale[F_b]`` (normalisation
    ``(mag - input_mean) * input_scale``, shared by the targets), ``stem`` (layer 1 of all targets:
    causal conv ``C -> n_targets*h1`` + ``stem_bn``), ``targets.{t}`` (:class:`TargetCDAE`).
    Requires ``S >= 2``.
    """

    def __init__(self, nb_bins: int, nb_t_bins: int, cfg: CDAEConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or CDAEConfig()
        kf = cfg.freq_kernel(nb_bins)
        if nb_bins < 2 * (kf - 1) + 1:
            raise ValueError(f"block of {nb_bins} channels is too narrow for freq kernel {kf}")
        if nb_t_bins < 2:
            raise ValueError(f"block needs T_b >= 2 coefficients per slice, got {nb_t_bins}")
        self.nb_bins = int(nb_bins)
        self.nb_t_bins = int(nb_t_bins)
        self.freq_kernel = kf
        self.nb_targets = cfg.nb_targets
        self.hidden1 = cfg.hidden1
        self.input_mean = nn.Parameter(torch.zeros(nb_bins))
        self.input_scale = nn.Parameter(torch.ones(nb_bins))
        self.stem = CausalConv2d(
            cfg.nb_channels, cfg.nb_targets * cfg.hidden1, (kf, nb_t_bins),
            stride=(1, nb_t_bins // 2), bias=False,
        )
        self.stem_bn = nn.BatchNorm2d(cfg.nb_targets * cfg.hidden1)
        self.targets = nn.ModuleList(
            TargetCDAE(kf, nb_t_bins, cfg) for _ in range(cfg.nb_targets)
        )

    def forward(self, mag: Tensor) -> Tensor:
        length = mag.shape[-2] * self.nb_t_bins  # L = S * T_b
        x = mag.flatten(-2)  # [B, C, F, L]
        x = (x - self.input_mean.unsqueeze(-1)) * self.input_scale.unsqueeze(-1)
        h = torch.relu(self.stem_bn(self.stem(x)))  # [B, n_targets*h1, F', N]
        h1 = self.hidden1
        # plain channel slices, not chunk/split: ExecuTorch lowers split to a non-delegated copy
        # op, which would cut the XNNPACK partition in two; slices stay inside it
        masks = [
            cdae(h[:, t * h1 : (t + 1) * h1])[..., :length]
            for t, cdae in enumerate(self.targets)
        ]
        y = torch.stack(masks, dim=1)  # [B, n_targets, C, F, L]
        return y.unflatten(-1, (-1, self.nb_t_bins))

    def flops_per_frame(self) -> int:
        """Multiply-adds x 2 per layer-1 output frame (all targets): a cost for scheduling."""
        kf, t, c = self.freq_kernel, self.nb_t_bins, self.stem.in_channels
        conv = self.targets[0].conv
        h1, h2, k2 = self.hidden1, conv.out_channels, conv.kernel_size[1]
        f1, f2 = self.nb_bins - kf + 1, self.nb_bins - 2 * kf + 2
        ends = 2 * f1 * c * kf * t * h1 * self.nb_targets  # layer 1 and layer 4
        middle = 2 * f2 * h1 * h2 * kf * k2 * self.nb_targets  # layers 2 and 3
        return 2 * (ends + middle)


class MaskNet(nn.Module):
    """One :class:`BlockMasker` per sliCQT block (``blocks.{b}``), low to high frequency.

    ``forward([mag_b[B, C, F_b, S, T_b]]) -> [masks_b[B, n_targets, C, F_b, S, T_b]]``.
    """

    def __init__(
        self, block_shapes: Sequence[tuple[int, int]], cfg: CDAEConfig | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg or CDAEConfig()
        self.block_shapes = [(int(f), int(t)) for f, t in block_shapes]
        self.blocks = nn.ModuleList(BlockMasker(f, t, self.cfg) for f, t in self.block_shapes)

    def forward(self, mags: list[Tensor]) -> list[Tensor]:
        if len(mags) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} blocks, got {len(mags)}")
        return [masker(mag) for masker, mag in zip(self.blocks, mags, strict=True)]
