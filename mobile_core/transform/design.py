"""Filterbank design of the sliced NSGT (sliCQT), computed once in float64.

This follows the reference NSGT (Holighaus, Dörfler, Velasco, Grill; the ``nsgt`` package, with
``real=True``, ``reducedform=0``, ``min_win=16``, ``Qvar=1``) step by step, so that coefficients
are equal to the reference's up to floating-point rounding:

* slice length rule: ``sllen`` = smallest multiple of 4 not below ``max(8 q sr / f)``,
  ``trlen`` = ``sllen / 4`` rounded up to even;
* per channel ``k`` (DC, one per scale band below Nyquist, Nyquist, then their mirrors) a window
  length ``M_k`` (a multiple of 4, at least ``min_win``), a Blackman-Harris window ``g_k`` stored
  centred at index 0, and an even centre bin ``rfbas_k``;
* the canonical dual windows ``gd_k`` of the painless frame.

The forward pass only needs the positive channels ``0..lbas+1`` (``lbas`` = bands below Nyquist).
Instead of the reference's per-parity circular rotations of slices and coefficients, the runtime
works on slices in natural time order; that changes channel ``k``'s coefficients by the real sign
``(-1)^(rfbas_k / 2)``, which is folded into the gather weights here (see ``channel_signs``).

What the runtime needs is exported as flat index/weight tables (see :class:`SliCQDesign`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scales import FrequencyScale


def slice_lengths(freqs: np.ndarray, q: np.ndarray, sample_rate: float) -> tuple[int, int]:
    """Slice and transition lengths ``(sllen, trlen)`` for a scale (upstream xumx-sliCQ rule)."""
    sllen = int(math.ceil(float(np.max(q * 8.0 * sample_rate / freqs))))
    sllen += -sllen % 4
    trlen = sllen // 4
    trlen += -trlen % 2
    return sllen, trlen


def _hann_centered(n: int) -> np.ndarray:
    """Hann window of length ``n`` with its peak at index 0 (periodic, FFT-centred)."""
    r = np.arange(n, dtype=np.float64) * (np.pi * 2.0 / n)
    return (np.cos(r) + 1.0) * 0.5


def _blackharr_centered(n: int) -> np.ndarray:
    """Modified 4-term Blackman-Harris window of length ``n``, rotated so index 0 is its centre."""
    nn = (n // 2) * 2
    k = np.arange(n, dtype=np.float64)
    bh = (
        0.35872
        - 0.48832 * np.cos(k * (2 * np.pi / nn))
        + 0.14128 * np.cos(k * (4 * np.pi / nn))
        - 0.01168 * np.cos(k * (6 * np.pi / nn))
    )
    h = (-n) // 2
    return np.concatenate((bh[h:], bh[:h]))


def tukey_slice_window(sllen: int, trlen: int) -> np.ndarray:
    """Slice window ``[sllen]``: zero, Hann rise of ``trlen`` around ``sllen/4``, one, fall."""
    hhop = sllen // 4
    htr = trlen // 2
    w = _hann_centered(2 * trlen)
    tw = np.zeros(sllen, dtype=np.float64)
    tw[hhop - htr : hhop + htr] = w[trlen:]
    tw[hhop + htr : 3 * hhop - htr] = 1.0
    tw[3 * hhop - htr : 3 * hhop + htr] = w[:trlen]
    return tw


@dataclass(frozen=True)
class SliCQDesign:
    """Everything the runtime transform needs, as float64/int64 NumPy arrays.

    Attributes:
        sllen, trlen: slice and transition length in samples.
        n_bins: ``sllen // 2 + 1`` half-spectrum bins of one slice.
        channel_m: ``[K]`` window length ``M_k`` of each positive channel ``k`` (``K = lbas + 2``).
        blocks: ``[(first_channel, n_channels, M)]`` runs of consecutive channels with equal M.
        fwd_index: ``[P]`` half-spectrum bin read for each flat coefficient slot; flat slots are
            ordered block by block, channel-major within a block (``P = sum_k M_k``).
        fwd_weight_re, fwd_weight_im: ``[P]`` weights: slot = w_re Re X[idx] + i w_im Im X[idx].
        inv_index: ``[R, n_bins]`` flat coefficient-spectrum slot feeding each half-spectrum bin.
        inv_weight_re, inv_weight_im: ``[R, n_bins]`` weights (0 where a bin has fewer than R
            contributions): ``Re Y[j] = sum_r w_re Re C[idx]``, ``Im Y[j] = sum_r w_im Im C[idx]``.
        slice_window: ``[sllen]`` Tukey analysis window of one slice.
        freqs: ``[K]`` centre frequency (Hz) of each positive channel (0 = DC, sr/2 = Nyquist).
    """

    sllen: int
    trlen: int
    n_bins: int
    channel_m: np.ndarray
    blocks: list[tuple[int, int, int]]
    fwd_index: np.ndarray
    fwd_weight_re: np.ndarray
    fwd_weight_im: np.ndarray
    inv_index: np.ndarray
    inv_weight_re: np.ndarray
    inv_weight_im: np.ndarray
    slice_window: np.ndarray
    freqs: np.ndarray


def _windows(
    f: np.ndarray, q: np.ndarray, sr: float, ls: int, min_win: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int]:
    """Reference ``nsgfwin`` (sliced): windows, centre bins and lengths of all channels."""
    nf = sr / 2.0
    lim = int(np.argmax(f > 0))
    if lim != 0:
        f, q = f[lim:], q[lim:]
    lim = int(np.argmax(f >= nf))
    if lim != 0:
        f, q = f[:lim], q[:lim]
    if not np.all(np.diff(f) > 0):
        raise ValueError("scale frequencies must be strictly increasing")
    if not np.all(q > 0):
        raise ValueError("scale Q factors must be positive")
    lbas = len(f)
    frqs = np.concatenate(((0.0,), f, (nf,)))
    fbas = np.concatenate((frqs, sr - frqs[-2:0:-1])) * (float(ls) / sr)

    m = np.zeros(fbas.shape, dtype=np.float64)
    m[0] = 2 * fbas[1]
    m[1] = fbas[1] / q[0]
    for k in [*range(2, lbas), lbas + 1]:
        m[k] = fbas[k + 1] - fbas[k - 1]
    m[lbas] = fbas[lbas] / q[lbas - 1]
    m[lbas + 2 : 2 * (lbas + 1)] = m[lbas:0:-1]
    m = np.round(m / 4.0).astype(np.int64) * 4
    m = np.maximum(m, min_win)

    g = [_blackharr_centered(int(mk)) for mk in m]
    for kk in (1, lbas + 2):
        if m[kk - 1] > m[kk]:
            a, b = int(m[kk - 1]), int(m[kk])
            w = np.ones(a, dtype=np.float64)
            w[a // 2 - b // 2 : a // 2 + int(math.ceil(b / 2.0))] = _hann_centered(b)
            g[kk - 1] = w
    rfbas = np.round(fbas / 2.0).astype(np.int64) * 2
    return g, rfbas, m, lbas


def _bins_of(m: int, center: int, ls: int) -> np.ndarray:
    """Spectrum bin ``(center + s(i)) mod ls`` of window slot ``i`` (slots centred at 0)."""
    i = np.arange(m)
    signed = np.where(i < (m + 1) // 2, i, i - m)
    return (center + signed) % ls


def design(scale: FrequencyScale, sample_rate: float, min_win: int = 16) -> SliCQDesign:
    """Design the sliCQT filterbank for ``scale`` at ``sample_rate`` (float64)."""
    freqs, q = scale()
    sllen, trlen = slice_lengths(freqs, q, sample_rate)
    ls = sllen
    g, rfbas, m, lbas = _windows(freqs, q, sample_rate, ls, min_win)
    n_all = len(g)
    n_pos = lbas + 2
    n_bins = ls // 2 + 1

    # canonical dual windows (diagonal frame operator over all channels)
    diag = np.zeros(ls, dtype=np.float64)
    bins_all = [_bins_of(len(g[k]), int(rfbas[k]), ls) for k in range(n_all)]
    for k in range(n_all):
        diag[bins_all[k]] += np.square(g[k]) * m[k]
    gd = [g[k] / diag[bins_all[k]] for k in range(n_all)]

    # natural-order slices instead of the reference's rotations: sign per positive channel
    sign = np.where((rfbas[:n_pos] // 2) % 2 == 0, 1.0, -1.0)

    # blocks of consecutive equal M; flat slot offset of each channel
    blocks: list[tuple[int, int, int]] = []
    for k in range(n_pos):
        if blocks and blocks[-1][2] == m[k]:
            first, count, mk = blocks[-1]
            blocks[-1] = (first, count + 1, mk)
        else:
            blocks.append((k, 1, int(m[k])))
    offset = np.concatenate(([0], np.cumsum(m[:n_pos])))

    # forward gather: X[b] for b > ls/2 is conj(X[ls - b]) for a real slice
    fwd_index, fwd_re, fwd_im = [], [], []
    for k in range(n_pos):
        b = bins_all[k]
        upper = b > ls // 2
        fwd_index.append(np.where(upper, ls - b, b))
        fwd_re.append(g[k] * sign[k])
        fwd_im.append(np.where(upper, -1.0, 1.0) * g[k] * sign[k])

    # inverse scatter as a gather: contributions to half-spectrum bins 0..ls/2
    contrib: list[list[tuple[int, float, float]]] = [[] for _ in range(n_bins)]
    mirror_of = {lbas + 1 + j: lbas + 1 - j for j in range(1, lbas + 1)}  # mirror -> source
    for k in range(n_all):
        mk = int(m[k])
        w = gd[k] * mk
        for i, b in enumerate(bins_all[k]):
            if b > ls // 2:
                continue
            if k < n_pos:  # direct: C_k[i]
                slot, wr, wi = offset[k] + i, w[i] * sign[k], w[i] * sign[k]
            else:  # mirror: conj(C_src[(-i) mod M])
                src = mirror_of[k]
                slot = offset[src] + ((-i) % mk)
                wr, wi = w[i] * sign[src], -w[i] * sign[src]
            contrib[b].append((int(slot), float(wr), float(wi)))
    n_r = max(len(c) for c in contrib)
    inv_index = np.zeros((n_r, n_bins), dtype=np.int64)
    inv_re = np.zeros((n_r, n_bins), dtype=np.float64)
    inv_im = np.zeros((n_r, n_bins), dtype=np.float64)
    for j, cs in enumerate(contrib):
        for r, (slot, wr, wi) in enumerate(cs):
            inv_index[r, j], inv_re[r, j], inv_im[r, j] = slot, wr, wi
    # the real inverse DFT ignores the imaginary part at DC and Nyquist
    inv_im[:, 0] = 0.0
    inv_im[:, -1] = 0.0

    inside = freqs[(freqs > 0) & (freqs < sample_rate / 2)]
    pos_freqs = np.concatenate(((0.0,), inside, (sample_rate / 2,)))
    return SliCQDesign(
        sllen=sllen,
        trlen=trlen,
        n_bins=n_bins,
        channel_m=m[:n_pos].copy(),
        blocks=blocks,
        fwd_index=np.concatenate(fwd_index),
        fwd_weight_re=np.concatenate(fwd_re),
        fwd_weight_im=np.concatenate(fwd_im),
        inv_index=inv_index,
        inv_weight_re=inv_re,
        inv_weight_im=inv_im,
        slice_window=tukey_slice_window(sllen, trlen),
        freqs=pos_freqs,
    )
