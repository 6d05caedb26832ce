"""The sliCQT's inverse map: every half-spectrum bin's weighted coefficient contributions.

Each bin of a slice's half spectrum sums at most ``Q`` weighted (re, im) values of the block
DFTs' outputs (4 for xumx-rt; most bins take 2). :func:`inverse_tables` splits the design's
``[Q, n_bins]`` table into the first two contributions of every bin and the few bins' others,
which :class:`~.slicqt.SliCQT` keeps as buffers. Two forms read them, the same sums:

* eager (:func:`compact_spectrum`, slot lists from :func:`compact_map`): pair gathers, in-place
  sums, ``index_add`` of the extras;
* exported (:func:`sum_pairs`): gathers only (every runtime has ``index_select``, no scatter),
  the weighted values summed by ``[4, 2]`` matmuls straight into ``(Re Y + Im Y, Re Y - Im Y)``,
  what :meth:`.RealIDFT.from_sums` takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from .design import SliCQDesign
from .gather import gather_slots

if TYPE_CHECKING:
    from .slicqt import SliCQT


def inverse_tables(d: SliCQDesign) -> dict[str, Tensor]:
    """The inverse map of design ``d`` (``inv_index[Q, n_bins]`` and its weights) as the tables
    the transform keeps (float64 weights, int64 indices).

    For every half-spectrum bin its first two contributions (zero weight where it has fewer):
    ``inv_main_index[2 n_bins]``, their slots in a ``[P, 2]`` coefficient spectrum (gathered as
    ``(Re, Im, Re, Im)``), and ``inv_main_weight[n_bins, 4]``. For the ``ne`` bins with more (a
    few hundred of xumx-rt's 9031): ``inv_extra_index[ne * k/2]`` and ``inv_extra_weight[ne, k]``
    of their other ``k/2`` contributions (ascending bins), and ``inv_extra_merge[n_bins]``: each
    bin's row in the ``[ne, 2]`` extra sums, or ``ne`` (a zero pair appended after them) for bins
    without extras.
    ``inv_main_sums[4, 2]`` and ``inv_extra_sums[k, 2]`` turn weighted ``(Re, Im, ...)`` into
    ``(Re Y + Im Y, Re Y - Im Y)``.
    """
    q, nb = d.inv_index.shape
    w = np.stack((d.inv_weight_re, d.inv_weight_im), axis=-1)  # [Q, nb, 2]
    slots = np.concatenate((d.inv_index, np.zeros((max(0, 4 - q), nb), np.int64)))
    w = np.concatenate((w, np.zeros((max(0, 4 - q), nb, 2))))
    q = max(q, 2)
    main_index = slots[:2].T.reshape(-1)
    main_weight = w[:2].transpose(1, 0, 2).reshape(nb, 4)
    extra_bins = np.nonzero((w[2:q] != 0).any(axis=(0, 2)))[0]
    ne, k = len(extra_bins), 2 * (q - 2)
    extra_index = slots[2:q, extra_bins].T.reshape(-1)
    extra_weight = w[2:q, extra_bins].transpose(1, 0, 2).reshape(ne, k)
    merge = np.full(nb, ne, np.int64)
    merge[extra_bins] = np.arange(ne)
    sums = np.array([[1.0, 1.0], [1.0, -1.0]])
    tables = {
        "inv_main_index": main_index, "inv_main_weight": main_weight,
        "inv_main_sums": np.tile(sums, (2, 1)),
        "inv_extra_index": extra_index, "inv_extra_weight": extra_weight,
        "inv_extra_sums": np.tile(sums, (k // 2, 1)), "inv_extra_merge": merge,
    }
    return {name: torch.from_numpy(np.ascontiguousarray(t)) for name, t in tables.items()}


def compact_map(t: SliCQT) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The inverse tables as slot lists for :func:`compact_spectrum`, from the buffers.

    Returns ``main_slots[2 * n_bins]`` (coefficient slot of each bin's first and second
    contribution, row-major), ``main_weight[2, n_bins, 2]``, and the nonzero extra
    contributions row by row (third ones, then fourth ones): ``extra_bins[E]``,
    ``extra_slots[E]``, ``extra_weight[E, 2]``. Derived in :meth:`SliCQT._apply`, i.e. at
    construction and on every ``.to()``.
    """
    # normal tensors even when made under inference_mode (a later autograd pass, e.g.
    # training after a validation run, must be able to save them for backward)
    with torch.inference_mode(False), torch.no_grad():
        nb = t.inv_main_weight.shape[0]
        main_slots = t.inv_main_index.view(nb, 2).t().reshape(-1)
        main_weight = t.inv_main_weight.view(nb, 2, 2).transpose(0, 1).clone()
        ne, k = t.inv_extra_weight.shape
        bins = torch.nonzero(t.inv_extra_merge < ne).flatten()  # merge[bin] = its row
        rows = t.inv_extra_merge[bins]
        slots = t.inv_extra_index.view(ne, k // 2).t()  # [k/2, ne]
        weight = t.inv_extra_weight.view(ne, k // 2, 2).transpose(0, 1)  # [k/2, ne, 2]
        r, i = torch.nonzero(weight.ne(0).any(-1), as_tuple=True)  # row-major
        assert torch.equal(rows, torch.arange(ne))  # extra rows follow ascending bins
        extra = (bins[i], slots[r, i].clone(), weight[r, i].clone())
        return (main_slots.clone(), main_weight, *extra)


def compact_spectrum(t: SliCQT, spec: Tensor) -> Tensor:
    """Coefficient spectra ``[R, s, P, 2]`` -> half spectra ``[R, s, n_bins, 2]``.

    The same sums, in the same order, as the full gather in :meth:`SliCQT._inverse_frames` (which
    every exported graph uses: no scatter op there), with half the gathered values for
    xumx-rt: the first two weighted contributions of every bin, then ``index_add`` of the few
    bins' third and fourth ones (480 of 9031 bins for xumx-rt).
    """
    main_slots, main_weight, extra_bins, extra_slots, extra_weight = t._compact
    s = spec.shape[1]
    rows, nb = main_weight.shape[:2]
    g = gather_slots(spec, main_slots).view(-1, s, rows, nb, 2)
    y = g[:, :, 0] * main_weight[0]
    for r in range(1, rows):
        y += g[:, :, r] * main_weight[r]  # [R, s, nb, 2]
    if extra_bins.numel() == 0:
        return y
    e = gather_slots(spec, extra_slots).view(-1, s, extra_bins.numel(), 2)
    return y.index_add_(-2, extra_bins, e * extra_weight)


def sum_pairs(t: SliCQT, spec: Tensor) -> Tensor:
    """Exported form of the inverse map: coefficient spectra ``[R, s, P, 2]`` -> ``[R, s,
    n_bins, 2]`` holding ``(Re Y + Im Y, Re Y - Im Y)`` of each half-spectrum bin ``Y`` (what
    :meth:`.RealIDFT.from_sums` takes).

    Gathers only (every runtime has ``index_select``; no scatter): each bin's two main
    contributions as ``(Re, Im, Re, Im)``, weighted, and summed into both sums by one
    ``[4, 2]`` matmul; the few bins' extra contributions the same way, then added to every
    bin through one gather that reads zeros for bins without any.
    """
    s = spec.shape[1]
    nb = t.inv_main_weight.shape[0]
    g = spec.index_select(-2, t.inv_main_index).reshape(-1, s, nb, 4)
    pq = ((g * t.inv_main_weight).reshape(-1, 4) @ t.inv_main_sums).reshape(-1, s, nb, 2)
    ne = t.inv_extra_weight.shape[0]
    if ne == 0:
        return pq
    k = t.inv_extra_weight.shape[1]
    e = spec.index_select(-2, t.inv_extra_index).reshape(-1, s, ne, k)
    e = ((e * t.inv_extra_weight).reshape(-1, k) @ t.inv_extra_sums).reshape(-1, s, ne, 2)
    e = nn.functional.pad(e, (0, 0, 0, 1))  # a zero pair for the bins without extras
    return pq + e.index_select(-2, t.inv_extra_merge)


__all__ = ["compact_map", "compact_spectrum", "inverse_tables", "sum_pairs"]
