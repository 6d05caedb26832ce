"""Windowed-sinc sample-rate conversion with a Kaiser window, as fixed by the on-device contract.

Every number below is part of the contract (`docs/contract-audio.md`): the Android bridge evaluates
the same formula in Java, so both sides agree to float32 rounding.

Definition
----------
Let ``g = gcd(sr_in, sr_out)``, ``up = sr_out // g`` and ``down = sr_in // g``. Time is counted in
*ticks* of ``1 / lcm(sr_in, sr_out)`` seconds, so input sample ``k`` sits at tick ``k * up`` and
output sample ``n`` at tick ``n * down``, i.e. exactly at input time ``n * sr_in / sr_out``.
The filter is zero-phase and symmetric: there is no delay. With ``d = n * down - k * up`` (ticks)
and ``D = ZERO_CROSSINGS * max(up, down)`` (the half-width: ``ZERO_CROSSINGS`` periods of the
lower of the two rates)::

    y[n]    = sum_k x[k] * h(d)
    h(d)    = gain * sinc(pi * CUTOFF * ZERO_CROSSINGS * u) * kaiser(u)
    u       = d / D;  taps with |d| > D are zero (|d| == D is kept)
    kaiser  = I0(KAISER_BETA * sqrt(1 - u^2)) / I0(KAISER_BETA)
    gain    = CUTOFF * min(up, down) / down
    sinc(a) = sin(a) / a,  sinc(0) = 1

The cutoff therefore sits at ``CUTOFF * min(sr_in, sr_out) / 2`` (half amplitude there). Input
samples outside ``[0, n_in)`` are zeros. The output has ``ceil(n_in * sr_out / sr_in)`` samples:
every output instant that falls inside the input's time span ``[0, n_in / sr_in)``.
Taps are computed in float64 and rounded to float32 (or kept in float64 for float64 input); the
products and sums run in float64 and the result is rounded to the signal's dtype once, so that
two implementations that both sum in double precision agree to the last bit but for rare ties.

With these constants the response is flat to within 1e-5 (-99 dB) up to 0.9 of the lower Nyquist
frequency, and everything above 1.0 of it is attenuated by 99 dB or more (no aliasing).

Implementation
--------------
When ``up * taps`` is small (every common rate pair) the taps are tabulated once per output phase
(a polyphase table) and applied with strided frames and one matrix product per group of phases.
Otherwise (odd rates such as 44101 Hz) the taps of each output sample are evaluated on the fly,
in blocks of bounded size. Both paths evaluate the same float64 formula.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import AudioError

__all__ = [
    "CUTOFF",
    "I0_TERMS",
    "KAISER_BETA",
    "MAX_RATE",
    "MIN_RATE",
    "ZERO_CROSSINGS",
    "StreamingResampler",
    "check_sample_rate",
    "filter_taps",
    "output_length",
    "resample",
]

# ----------------------------------------------------------------------------------------------
# Contract constants.
ZERO_CROSSINGS = 64
"""Half-width of the filter, in sample periods of the lower of the two rates."""
CUTOFF = 0.95
"""Cutoff as a fraction of min(sr_in, sr_out) / 2 (the filter's half-amplitude point)."""
KAISER_BETA = 10.0
"""Shape parameter of the Kaiser window."""
I0_TERMS = 32
"""Terms of the power series used for the Bessel function I0 (k = 0 .. I0_TERMS - 1)."""
MIN_RATE = 8000
"""Lowest supported sample rate, Hz."""
MAX_RATE = 192000
"""Highest supported sample rate, Hz."""

# Implementation limits (not part of the contract: they change speed and memory, not results).
_TABLE_BUDGET = 1 << 21  # largest polyphase table, in taps
_CHUNK_OUTPUTS = 1 << 16  # output samples computed per step of the table path
_CHUNK_TAPS = 1 << 16  # output samples x taps per step of the on-the-fly path


def check_sample_rate(sr: object, what: str = "sample rate") -> int:
    """Return ``sr`` as an int, or raise `AudioError` if it is not an integer in range."""
    if isinstance(sr, bool) or not isinstance(sr, Real):
        raise AudioError(f"{what} {sr!r} is not a number of Hz")
    if not isinstance(sr, Integral):
        if not math.isfinite(float(sr)) or not float(sr).is_integer():
            raise AudioError(f"{what} {sr} Hz is not a whole number of Hz")
    rate = int(sr)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{what} {rate} Hz is outside the supported range {MIN_RATE}–{MAX_RATE} Hz"
        )
    return rate


def output_length(n_in: int, sr_in: int, sr_out: int) -> int:
    """Number of output samples for ``n_in`` input samples: ``ceil(n_in * sr_out / sr_in)``."""
    return -((-n_in * sr_out) // sr_in)


@lru_cache(maxsize=1)
def _i0_coefficients() -> tuple[float, ...]:
    """Series coefficients ``1 / (k!)^2`` for k = 0 .. I0_TERMS - 1 (float64)."""
    return tuple(1.0 / float(math.factorial(k)) ** 2 for k in range(I0_TERMS))


def _bessel_i0_of_sq(q: Tensor) -> Tensor:
    """Modified Bessel function I0(z) given ``q = (z / 2)^2``: ``sum_k q^k / (k!)^2``.

    q: float64 tensor of any shape, ``0 <= q <= 25`` (z <= 10), where the truncated series is
    exact to float64 rounding. Evaluated by Horner's rule, highest power first.
    """
    coeffs = _i0_coefficients()
    total = torch.full_like(q, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        total.mul_(q).add_(c)
    return total


def _kaiser(u: Tensor) -> Tensor:
    """Kaiser window ``I0(KAISER_BETA * sqrt(1 - u^2)) / I0(KAISER_BETA)`` for |u| <= 1.

    u: float64 tensor of any shape; values with |u| > 1 give 0.
    """
    half_beta_sq = (KAISER_BETA * 0.5) ** 2
    q = torch.clamp(1.0 - u * u, min=0.0) * half_beta_sq
    norm = _bessel_i0_of_sq(torch.tensor(half_beta_sq, dtype=torch.float64))
    return torch.where(u.abs() <= 1.0, _bessel_i0_of_sq(q) / norm, torch.zeros_like(u))


def filter_taps(d: Tensor, up: int, down: int) -> Tensor:
    """Evaluate the contract filter ``h(d)`` in float64.

    d: int64 tensor of any shape, tap offsets in ticks (``n * down - k * up``).
    up, down: the reduced rate ratio (``sr_out / g``, ``sr_in / g``).
    Returns a float64 tensor of d's shape.
    """
    reach = ZERO_CROSSINGS * max(up, down)
    u = d.to(torch.float64) / float(reach)
    arg = u * (math.pi * CUTOFF * ZERO_CROSSINGS)
    safe = torch.where(arg == 0, torch.ones_like(arg), arg)
    sinc = torch.where(arg == 0, torch.ones_like(arg), torch.sin(safe) / safe)
    gain = CUTOFF * min(up, down) / down
    return (gain * sinc) * _kaiser(u)


def _segment(x: Tensor, x_start: int, lo: int, hi: int) -> Tensor:
    """Samples ``[lo, hi)`` of a signal of which ``x`` [B, n] holds ``[x_start, x_start + n)``.

    Samples not held are zeros. Returns [B, hi - lo].
    """
    a = max(lo, x_start)
    b = min(hi, x_start + x.shape[-1])
    if a >= b:
        return x.new_zeros(x.shape[0], hi - lo)
    return F.pad(x[:, a - x_start : b - x_start], (a - lo, hi - b))


@dataclass
class _PhaseGroup:
    """Consecutive output phases ``first .. first + count - 1`` applied as one matrix product.

    Their taps start at input offset ``offset`` (relative to the frame start ``q * down + j_lo``)
    and span ``width`` samples; ``weights`` is [count, width] float64.
    """

    first: int
    count: int
    offset: int
    width: int
    weights: Tensor
    cast: dict[torch.dtype, Tensor] = field(default_factory=dict)

    def matrix(self, taps: torch.dtype) -> Tensor:
        """weights.T rounded to ``taps`` (float32 or float64), as float64: [width, count]."""
        if taps not in self.cast:
            self.cast[taps] = self.weights.t().to(taps).double().contiguous()
        return self.cast[taps]


class _Plan:
    """Precomputed layout of the filter for one reduced rate ratio ``up / down``.

    For output ``n`` let ``p = n * down``, ``base = p // up`` and ``num = p % up``; its taps are
    input samples ``base + j`` for ``j_lo <= j <= j_hi`` with offsets ``d = num - j * up``.
    """

    def __init__(self, up: int, down: int) -> None:
        self.up = up
        self.down = down
        self.reach = ZERO_CROSSINGS * max(up, down)
        self.j_lo = -(self.reach // up)
        self.j_hi = (up - 1 + self.reach) // up
        self.taps = self.j_hi - self.j_lo + 1
        self.groups: list[_PhaseGroup] | None = None
        self.group_starts: list[int] = []
        if up * self.taps <= _TABLE_BUDGET:
            self.groups = self._build_table()
            self.group_starts = [g.first for g in self.groups]

    def _build_table(self) -> list[_PhaseGroup]:
        up, down, taps = self.up, self.down, self.taps
        r = torch.arange(up, dtype=torch.int64)
        offsets = (r * down) // up
        nums = (r * down) % up
        j = torch.arange(self.j_lo, self.j_hi + 1, dtype=torch.int64)
        table = filter_taps(nums[:, None] - j[None, :] * up, up, down)  # [up, taps]
        spread = max(1, taps // 4)
        offs = offsets.tolist()
        groups = []
        first = 0
        while first < up:
            last = first
            while last + 1 < up and offs[last + 1] - offs[first] <= spread:
                last += 1
            count = last - first + 1
            width = offs[last] - offs[first] + taps
            w = torch.zeros(count, width, dtype=torch.float64)
            for i in range(count):
                shift = offs[first + i] - offs[first]
                w[i, shift : shift + taps] = table[first + i]
            groups.append(_PhaseGroup(first, count, offs[first], width, w))
            first = last + 1
        return groups

    def compute(self, x: Tensor, x_start: int, n0: int, n1: int) -> Tensor:
        """Output samples ``[n0, n1)`` of the signal held by ``x`` [B, n] from ``x_start``.

        Samples outside ``x`` count as zeros. Returns [B, n1 - n0] in x's dtype.
        """
        if n1 <= n0:
            return x.new_zeros(x.shape[0], 0)
        # float32 signals: float32 taps, products and sums in float64, one rounding at the end
        # (so that any implementation that also sums in double gets the same float32 samples)
        taps = x.dtype
        work = x.double()
        if self.groups is None:
            y = self._compute_direct(work, x_start, n0, n1, taps)
        else:
            y = self._compute_table(work, x_start, n0, n1, taps)
        return y.to(x.dtype)

    def _compute_table(self, x: Tensor, x_start: int, n0: int, n1: int,
                       taps: torch.dtype) -> Tensor:
        up = self.up
        per_chunk = max(1, _CHUNK_OUTPUTS // up)
        pieces = []
        n = n0
        while n < n1:
            q, r0 = divmod(n, up)
            if r0 == 0 and n1 - n >= up:  # a run of whole periods
                nq = min(per_chunk, (n1 - n) // up)
                pieces.append(self._periods(x, x_start, q, nq, 0, up, taps))
                n += nq * up
            else:  # part of one period: only the phase groups it needs
                r1 = min(up, r0 + n1 - n)
                pieces.append(self._periods(x, x_start, q, 1, r0, r1, taps))
                n += r1 - r0
        return torch.cat(pieces, dim=-1)

    def _periods(self, x: Tensor, x_start: int, q: int, nq: int, r0: int, r1: int,
                 taps: torch.dtype) -> Tensor:
        """Outputs ``p * up + r`` for ``q <= p < q + nq`` and ``r0 <= r < r1``.

        Either nq == 1 or the phases are complete (r0 == 0, r1 == up). Returns [B, nq * (r1 - r0)].
        """
        assert self.groups is not None
        down = self.down
        a = bisect_right(self.group_starts, r0) - 1
        b = bisect_left(self.group_starts, r1)
        used = self.groups[a:b]
        first, last = used[0], used[-1]
        lo = q * down + self.j_lo + first.offset
        hi = (q + nq - 1) * down + self.j_lo + last.offset + last.width
        seg = _segment(x, x_start, lo, hi)
        outs = []
        for g in used:
            start = g.offset - first.offset
            frames = seg[:, start : start + (nq - 1) * down + g.width].unfold(-1, g.width, down)
            outs.append(frames @ g.matrix(taps))  # [B, nq, count], float64
        y = torch.cat(outs, dim=-1)[:, :, r0 - first.first : r1 - first.first]
        return y.reshape(x.shape[0], nq * (r1 - r0))

    def _compute_direct(self, x: Tensor, x_start: int, n0: int, n1: int,
                        taps: torch.dtype) -> Tensor:
        up, down = self.up, self.down
        j = torch.arange(self.j_lo, self.j_hi + 1, dtype=torch.int64)
        per_chunk = max(1, _CHUNK_TAPS // self.taps)
        pieces = []
        for na in range(n0, n1, per_chunk):
            n = torch.arange(na, min(na + per_chunk, n1), dtype=torch.int64)
            p = n * down
            base = torch.div(p, up, rounding_mode="floor")
            num = p - base * up
            w = filter_taps(num[:, None] - j[None, :] * up, up, down).to(taps).double()
            lo = int(base[0]) + self.j_lo
            hi = int(base[-1]) + self.j_hi + 1
            seg = _segment(x, x_start, lo, hi)
            idx = base[:, None] - lo + j[None, :]  # [nb, taps]
            pieces.append(torch.einsum("bnk,nk->bn", seg[:, idx], w))
        return torch.cat(pieces, dim=-1)


@lru_cache(maxsize=32)
def _plan(sr_in: int, sr_out: int) -> _Plan:
    g = math.gcd(sr_in, sr_out)
    return _Plan(sr_out // g, sr_in // g)


def _working(x: Tensor) -> Tensor:
    """x as float64 if it is float64, else as float32."""
    return x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)


def resample(x: Tensor, sr_in: int, sr_out: int) -> Tensor:
    """Resample ``x`` [..., N] from ``sr_in`` to ``sr_out`` Hz along the last axis.

    Returns [..., ceil(N * sr_out / sr_in)] float32 (float64 for float64 input). Returns ``x``
    itself when the rates are equal. Raises `AudioError` for unsupported rates.
    """
    sr_in = check_sample_rate(sr_in, "input sample rate")
    sr_out = check_sample_rate(sr_out, "output sample rate")
    if x.dim() == 0:
        raise ValueError("resample needs a tensor with a time axis, got a scalar")
    if sr_in == sr_out:
        return x
    x = _working(x)
    lead, n_in = x.shape[:-1], x.shape[-1]
    flat = x.reshape(math.prod(lead), n_in)
    y = _plan(sr_in, sr_out).compute(flat, 0, 0, output_length(n_in, sr_in, sr_out))
    return y.reshape(*lead, y.shape[-1])


class StreamingResampler:
    """Block-by-block `resample`: the concatenated outputs equal the one-shot result.

    Feed blocks [channels, n] of any length to `process`, then call `flush` once. Each call
    returns the output samples whose inputs are all known; the buffered input is at most the
    filter's span (about ``2 * ZERO_CROSSINGS`` periods of the lower rate).
    """

    def __init__(self, sr_in: int, sr_out: int, channels: int) -> None:
        self.sr_in = check_sample_rate(sr_in, "input sample rate")
        self.sr_out = check_sample_rate(sr_out, "output sample rate")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.channels = channels
        self._plan = None if self.sr_in == self.sr_out else _plan(self.sr_in, self.sr_out)
        self._buf: Tensor | None = None  # held input, [C, b], starting at sample _buf_start
        self._buf_start = 0
        self._n_in = 0
        self._n_out = 0
        self._flushed = False

    def _check(self, block: Tensor) -> Tensor:
        if self._flushed:
            raise RuntimeError("StreamingResampler.process called after flush")
        if block.dim() != 2 or block.shape[0] != self.channels:
            raise ValueError(
                f"expected a block [{self.channels}, n], got shape {tuple(block.shape)}"
            )
        return _working(block)

    def process(self, block: Tensor) -> Tensor:
        """Take input [C, n]; return the output samples now complete, [C, m] (m may be 0)."""
        block = self._check(block)
        self._n_in += block.shape[-1]
        if self._plan is None:
            return block
        buf = block if self._buf is None else torch.cat([self._buf, block], dim=-1)
        plan = self._plan
        # Output n is complete once its last tap, at n * down + reach ticks, is before n_in.
        n_end = max(self._n_out, -((plan.reach - self._n_in * plan.up) // plan.down))
        y = plan.compute(buf, self._buf_start, self._n_out, n_end)
        self._n_out = n_end
        # Keep only the input that later outputs can reach.
        keep_from = -((plan.reach - self._n_out * plan.down) // plan.up)
        if keep_from > self._buf_start:
            buf = buf[:, keep_from - self._buf_start :]
            self._buf_start = keep_from
        self._buf = buf
        return y

    def flush(self) -> Tensor:
        """End of input: return the remaining output samples [C, m] (zeros follow the input)."""
        if self._flushed:
            raise RuntimeError("StreamingResampler.flush called twice")
        self._flushed = True
        if self._plan is None or self._buf is None:
            return torch.zeros(self.channels, 0)
        total = output_length(self._n_in, self.sr_in, self.sr_out)
        y = self._plan.compute(self._buf, self._buf_start, self._n_out, total)
        self._n_out = total
        self._buf = None
        return y
