"""The fixed-length chunk graph every artifact is exported from.

:class:`ChunkGraph` is the whole separator at one chunk length ``L``: ``mix[1, 2, L] ->
stems[1, 4, 2, L]``, eval mode, the masknet of :func:`~.deploy.deploy_masknet`, the transform in
one pass over the chunk's slices.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mobile_core.model.separator import Separator
from mobile_core.transform.dft import DENSE_MAX, ComplexDFT
from mobile_core.transform.slicqt import SliCQT

from .deploy import deploy_masknet

INVERSE_SLICES = 16
"""Slices per pass of the chunk graph's inverse transform (memory vs graph size, see ChunkGraph)."""

FFT_DENSE_MAX = 48
"""Longest block DFT the ``fft`` graphs (``.pte``, ``.ptl``) run as a dense matmul; longer ones
run as real FFTs. xumx-rt's dense bases: 11.3 MB up to 160, 2.5 MB up to 96, 0.3 MB up to 48,
for ~10 % more transform time per chunk (docs/formats.md, "The transform in the .pte")."""


class _FlatDenseDFT(ComplexDFT):
    """:class:`~mobile_core.transform.dft.ComplexDFT` whose dense path multiplies a 2-D
    ``[rows, 2n]``
    matrix by the basis (same GEMM, same numbers).

    The original ``z.reshape(*lead, 2n) @ basis`` on a non-contiguous ``z`` decomposes, in
    ``torch.export``, into ``expand`` + ``bmm``: ExecuTorch then materialises one copy of the
    ``[2n, 2n]`` basis per leading index (``expand_copy``; 2.5 GB of planned memory and 0.3 s
    per chunk for xumx-rt at 48 hops) and XNNPACK runs a batched matmul. Flattened, it is one
    ``mm`` against a constant: XNNPACK's fully-connected kernel with pre-packed weights.
    """

    def forward(self, z: Tensor) -> Tensor:
        if not self.dense:
            return super().forward(z)
        n = self.n
        lead = z.shape[:-2]
        return (z.reshape(-1, 2 * n) @ self.basis).reshape(*lead, n, 2)


def _flatten_dense_dfts(transform: SliCQT) -> None:
    """Switch the dense complex DFTs of ``transform`` (a private copy) to :class:`_FlatDenseDFT`."""
    for m in transform.modules():
        if type(m) is ComplexDFT:
            m.__class__ = _FlatDenseDFT


def _magnitude(blocks: list[Tensor]) -> list[Tensor]:
    """``|X|`` per block, ``[..., 2] -> [...]``, with slices instead of selects (selects are not
    delegated to XNNPACK: each would be a portable copy op splitting the partition)."""
    out = []
    for b in blocks:
        re, im = b[..., :1], b[..., 1:]
        out.append(torch.sqrt(re * re + im * im).reshape(b.shape[:-1]))
    return out


class ChunkGraph(nn.Module):
    """The separator at a fixed chunk length: ``mix[1, 2, L] -> stems[1, 4, 2, L]``.

    Same maths as :meth:`Separator.forward`, arranged for the mobile toolchains: the masknet of
    :func:`deploy_masknet` (BatchNorm folded, XNNPACK-friendly layers), the transform in a single
    pass over the chunk's slices (one unrolled graph, not one per 32 slices) with its dense DFTs
    as 2-D matmuls (:class:`_FlatDenseDFT`), magnitudes by slicing, and the masks applied inside
    the inverse, pass by pass (no tensor has more than 6 dimensions, XNNPACK's limit:
    ``[4, C, s, F_b, T_b, 2]``).

    The inverse transform runs at most ``inverse_slices`` slices at a time (balanced passes: 49
    slices in passes of 13, 13, 13 and 10 for 16), so that, run op by op, its intermediates (the
    masked blocks of all stems, their spectra, every bin's gathered contributions) exist for a
    few slices at a time; the graph grows with the passes (the inverse is unrolled per pass).
    Each pass's gathers take a zero-weighted element of the previous pass's output
    (``SliCQT.sequence_passes``), so XNNPACK's partitioner cannot merge the passes' ops into
    shared delegate calls and a ``.pte``'s memory plan holds one pass at a time too
    (docs/formats.md, "The transform in the .pte").

    Args:
        separator: the trained (or fresh) model; not modified.
        length: ``L`` in samples.
        dft: ``"fft"`` (.pte, .ptl) or ``"matmul"`` (ONNX) for the transform's DFTs.
        dense_max: longest block DFT run as a dense matmul (default: :data:`FFT_DENSE_MAX` for
            ``"fft"``, the transform's own default for ``"matmul"``).
        inverse_slices: slices per pass of the inverse transform (``None``: one pass).
    """

    def __init__(self, separator: Separator, length: int, dft: str = "fft",
                 inverse_slices: int | None = INVERSE_SLICES,
                 dense_max: int | None = None) -> None:
        super().__init__()
        if dense_max is None:
            dense_max = FFT_DENSE_MAX if dft == "fft" else DENSE_MAX
        # the transform holds no trained state: a fresh one in the graph's own DFT form
        self.transform = SliCQT.from_config(separator.config.transform, dft=dft,
                                            dense_max=dense_max)
        self.length = int(length)
        self.n_slices = self.transform.n_slices(self.length)
        passes = math.ceil(self.n_slices / min(inverse_slices or self.n_slices, self.n_slices))
        self.inverse_slices = math.ceil(self.n_slices / passes)  # balanced passes
        if dft == "fft":
            _flatten_dense_dfts(self.transform)
        self.masknet = deploy_masknet(separator.masknet)
        self.eval()

    def _analyse(self, mix: Tensor) -> list[Tensor]:
        self.transform.slices_per_pass = self.n_slices  # the forward in one pass
        return self.transform(mix)  # [1, C, F_b, S, T_b, 2]

    def masknet_inputs(self, mix: Tensor) -> list[Tensor]:
        """The masknet's inputs for a chunk: block magnitudes ``[1, C, F_b, S, T_b]``."""
        return _magnitude(self._analyse(mix))

    def forward(self, mix: Tensor) -> Tensor:
        blocks = self._analyse(mix)
        masks = self.masknet(_magnitude(blocks))  # [1, 4, C, F_b, S, T_b]
        # the masks multiply the mixture's blocks pass by pass inside the inverse: the masked
        # blocks of all four stems never exist at once (the largest buffer otherwise)
        self.transform.slices_per_pass = self.inverse_slices
        mix_blocks = [b.reshape(b.shape[1:]) for b in blocks]  # [C, F_b, S, T_b, 2]
        return self.transform.inverse(mix_blocks, self.length, masks)  # [1, 4, C, L]


__all__ = ["FFT_DENSE_MAX", "INVERSE_SLICES", "ChunkGraph"]
