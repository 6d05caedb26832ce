"""Test oracle: the reference ``nsgt`` package (0.19), made to run under NumPy 2.

``nsgt`` is the reference implementation of the sliced NSGT that upstream xumx-sliCQ-V2 vendored;
tests compare against it, the runtime never imports it. Two things are added here:

* :class:`BarkScale`, which nsgt 0.19 lacks: ``f(b) = 600 sinh(b / 6)``, bins equally spaced in
  Bark from ``fmin`` to ``fmax`` (as ``nsgt.fscale.MelScale`` does in mel, and as upstream does);
* a NumPy 2 shim: ``nsgt/nsgfwin_sl.py`` calls ``np.clip(int_array, lo, np.inf, out=int_array)``,
  which NumPy 2 refuses (float result into an int ``out``). While building, that module's ``np`` is
  swapped for a proxy whose ``clip`` drops the infinite upper bound (the same values).

Usage: ``reference_nsgt("bark", 262, 32.9, 22050.0, 18060, 4516)`` and :func:`block_shapes`, or
:func:`xumx_rt_block_shapes` for the 70 ``(F_b, T_b)`` blocks of the upstream realtime model.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "nsgt.fft falling back to numpy.fft"
    from nsgt import NSGT_sliced
    from nsgt import nsgfwin_sl as _nsgfwin_sl
    from nsgt.fscale import LinScale, LogScale, MelScale, Scale

XUMX_RT = {"scale": "bark", "bins": 262, "fmin": 32.9, "fmax": 22050.0, "sllen": 18060,
           "trlen": 4516, "fs": 44100.0}


class BarkScale(Scale):
    """Bark scale in the style of ``nsgt.fscale.MelScale``: ``bnds`` bins from fmin to fmax."""

    def __init__(self, fmin: float, fmax: float, bnds: int) -> None:
        super().__init__(bnds)
        self.bmin = 6.0 * np.arcsinh(fmin / 600.0)
        self.bbnd = (6.0 * np.arcsinh(fmax / 600.0) - self.bmin) / (bnds - 1)

    def F(self, bnd=None):  # noqa: N802 (nsgt's naming)
        if bnd is None:
            bnd = np.arange(self.bnds)
        return 600.0 * np.sinh((bnd * self.bbnd + self.bmin) / 6.0)


class _NumpyClipShim:
    """Forwards to numpy, except ``clip(..., np.inf, out=int_array)`` works under NumPy 2."""

    def __getattr__(self, name: str):
        return getattr(np, name)

    @staticmethod
    def clip(a, a_min, a_max, out=None, **kwargs):
        if a_max is not None and np.isscalar(a_max) and math.isinf(a_max):
            a_max = None
        return np.clip(a, a_min, a_max, out=out, **kwargs)


@contextlib.contextmanager
def _numpy2_shim() -> Iterator[None]:
    saved = _nsgfwin_sl.np
    _nsgfwin_sl.np = _NumpyClipShim()
    try:
        yield
    finally:
        _nsgfwin_sl.np = saved


def make_scale(scale: str, bins: int, fmin: float, fmax: float) -> Scale:
    """nsgt scale object by name: bark, mel, cqlog, linear."""
    factories = {"bark": BarkScale, "mel": MelScale, "cqlog": LogScale, "linear": LinScale}
    return factories[scale](fmin, fmax, bins)


def reference_nsgt(
    scale: str, bins: int, fmin: float, fmax: float, sllen: int, trlen: int, fs: float = 44100.0
) -> NSGT_sliced:
    """``nsgt.NSGT_sliced(scale, sllen, trlen, fs, real=True, multichannel=True)``, NumPy 2 safe."""
    with _numpy2_shim(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "nsgt.fft falling back to numpy.fft"
        return NSGT_sliced(make_scale(scale, bins, fmin, fmax), sllen, trlen, fs, real=True,
                           multichannel=True)


def block_shapes(nsgt: NSGT_sliced) -> list[tuple[int, int]]:
    """``[(F_b, T_b)]``: runs of consecutive equal ``M`` over the real channels, low to high."""
    shapes: list[tuple[int, int]] = []
    for m in (int(v) for v in nsgt.M[: len(nsgt.g) // 2 + 1]):
        if shapes and shapes[-1][1] == m:
            shapes[-1] = (shapes[-1][0] + 1, m)
        else:
            shapes.append((1, m))
    return shapes


@functools.cache
def xumx_rt_block_shapes() -> tuple[tuple[int, int], ...]:
    """The 70 ``(F_b, T_b)`` blocks of xumx-rt (Bark, 262 bins, 32.9-22050 Hz, 18060/4516)."""
    cfg = XUMX_RT
    nsgt = reference_nsgt(cfg["scale"], cfg["bins"], cfg["fmin"], cfg["fmax"], cfg["sllen"],
                          cfg["trlen"], cfg["fs"])
    return tuple(block_shapes(nsgt))
