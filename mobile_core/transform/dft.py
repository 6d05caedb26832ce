"""Real-valued DFT building blocks that export to every mobile runtime.

No complex tensor is ever built. Everything reduces to one primitive, the half-spectrum DFT of a
real signal (:class:`RealDFT`), with two interchangeable implementations:

* ``"fft"``: ``torch.fft.rfft`` read at once through ``view_as_real``. Fastest in eager PyTorch,
  TorchScript-lite and ExecuTorch (``aten::_fft_r2c``, optimized kernels, accurate to ~1e-7).
* ``"matmul"``: a mixed-radix Cooley-Tukey DFT written as a few small real matmuls (factors of the
  length, each at most ``MAX_RADIX``) with float64-designed twiddles. Needed for ONNX: onnxruntime's
  ``DFT`` op is ~30x slower than pocketfft and only ~1e-3 accurate for long odd lengths (measured on
  length 18060), while these matmuls are exact to float32 rounding on every runtime.

From the primitive: :class:`ComplexDFT` (complex in, complex out, any length, forward or inverse via
two real DFTs or one dense matmul) and :class:`RealIDFT` (half spectrum to real signal via one real
DFT).

These modules are what :class:`~mobile_core.transform.slicqt.SliCQT` runs on its real-valued path
(under autograd and in every export): real-valued tensor ops only. In eager inference SliCQT runs
:mod:`.engine` instead, which calls PyTorch's complex FFTs and NumPy's pocketfft directly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

DFT_MODES = ("fft", "matmul")
MAX_RADIX = 64


def _factorize(n: int, max_radix: int = MAX_RADIX) -> list[int]:
    """Split ``n`` into few factors, each <= ``max_radix`` where possible (primes stay whole)."""
    primes: list[int] = []
    m, p = n, 2
    while p * p <= m:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    if m > 1:
        primes.append(m)
    # greedy: pack primes (largest first) into factors not exceeding max_radix
    factors: list[int] = []
    for p in sorted(primes, reverse=True):
        for i, f in enumerate(factors):
            if f * p <= max_radix:
                factors[i] = f * p
                break
        else:
            factors.append(p)
    return sorted(factors, reverse=True)


class _MatmulDFT(nn.Module):
    """Complex DFT of length ``n`` over the last axis, as real matmuls (mixed radix).

    ``forward(re[..., n], im[..., n] | None) -> (re[..., n], im[..., n])`` computing
    ``X[k] = sum_t x[t] exp(-2 pi i k t / n)`` (``sign=-1``) or with ``+`` (``sign=+1``).
    """

    def __init__(self, n: int, sign: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.n = n
        self.factors = _factorize(n)
        p = self.factors[0]
        self.p = p
        self.q = n // p
        k = torch.arange(p, dtype=torch.float64)
        ang = 2 * math.pi * torch.outer(k, k) / p
        # [P(t1), P(k1)] bases for x[..., t1] @ W
        self.register_buffer("cos", torch.cos(ang).to(dtype), persistent=False)
        self.register_buffer("sin", (sign * torch.sin(ang)).to(dtype), persistent=False)
        if self.q > 1:
            t2 = torch.arange(self.q, dtype=torch.float64)
            tw = 2 * math.pi * torch.outer(t2, k) / n  # [Q(t2), P(k1)]
            self.register_buffer("tw_cos", torch.cos(tw).to(dtype), persistent=False)
            self.register_buffer("tw_sin", (sign * torch.sin(tw)).to(dtype), persistent=False)
            self.inner = _MatmulDFT(self.q, sign, dtype)

    def forward(self, re: Tensor, im: Tensor | None) -> tuple[Tensor, Tensor]:
        lead = re.shape[:-1]
        p, q = self.p, self.q
        # index t = q * t1 + t2: view [..., P(t1), Q(t2)], move t1 last -> [..., Q, P]
        xr = re.reshape(*lead, p, q).transpose(-1, -2)
        yr = xr @ self.cos
        yi = xr @ self.sin
        if im is not None:
            xi = im.reshape(*lead, p, q).transpose(-1, -2)
            yr = yr - xi @ self.sin
            yi = yi + xi @ self.cos
        if q == 1:
            return yr.reshape(*lead, p), yi.reshape(*lead, p)
        # twiddle exp(sign 2 pi i t2 k1 / n), then DFT over t2 for each k1
        zr = yr * self.tw_cos - yi * self.tw_sin
        zi = yr * self.tw_sin + yi * self.tw_cos
        zr, zi = self.inner(zr.transpose(-1, -2), zi.transpose(-1, -2))  # [..., P(k1), Q(k2)]
        # k = k1 + P k2
        return (
            zr.transpose(-1, -2).reshape(*lead, self.n),
            zi.transpose(-1, -2).reshape(*lead, self.n),
        )


class RealDFT(nn.Module):
    """Half-spectrum DFT of a real signal: ``x[..., n] -> X[..., n // 2 + 1, 2]`` (re, im).

    ``X[k] = sum_t x[t] exp(-2 pi i k t / n)``, unnormalised, like ``torch.fft.rfft``.
    """

    def __init__(self, n: int, mode: str = "fft", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if mode not in DFT_MODES:
            raise ValueError(f"unknown DFT mode {mode!r}; choose one of {DFT_MODES}")
        self.n = n
        self.mode = mode
        self.dft = _MatmulDFT(n, -1, dtype) if mode == "matmul" else None

    def forward(self, x: Tensor) -> Tensor:
        if self.dft is None:
            return torch.view_as_real(torch.fft.rfft(x, dim=-1))
        re, im = self.dft(x, None)
        h = self.n // 2 + 1
        return torch.stack((re[..., :h], im[..., :h]), dim=-1)


def _dense_complex_basis(n: int, inverse: bool) -> Tensor:
    """``[2n, 2n]`` real matrix of the complex DFT acting on interleaved (re, im) rows (float64)."""
    t = torch.arange(n, dtype=torch.float64)
    ang = 2 * math.pi * torch.outer(t, t) / n
    scale = 1.0 / n if inverse else 1.0
    c = torch.cos(ang) * scale
    s = torch.sin(ang) * (scale if inverse else -scale)
    w = torch.zeros(n, 2, n, 2, dtype=torch.float64)
    w[:, 0, :, 0] = c
    w[:, 1, :, 0] = -s
    w[:, 0, :, 1] = s
    w[:, 1, :, 1] = c
    return w.reshape(2 * n, 2 * n)


DENSE_MAX = 160  # complex DFTs up to this length run as one dense matmul (measured crossover)


class ComplexDFT(nn.Module):
    """Complex DFT of length ``n`` on interleaved pairs: ``z[..., n, 2] -> Z[..., n, 2]``.

    ``inverse=False``: ``sum_t z[t] exp(-2 pi i k t / n)``; ``inverse=True``:
    ``(1/n) sum_t z[t] exp(+2 pi i k t / n)`` (like ``torch.fft.ifft``).

    Short lengths (``n <= dense_max``, and odd ones) are one real matmul with a ``[2n, 2n]``
    basis (``16 n^2`` bytes of float32). Longer ones
    use two real DFTs (``A = DFT(re)``, ``B = DFT(im)``) and Hermitian symmetry:
    ``DFT(z) = (Ar - Bi) + i (Ai + Br)``, ``IDFT(z) = ((Ar + Bi) + i (Br - Ai)) / n`` for bins up to
    ``n/2``; bin ``n - k`` is the same expression with ``Ai, Bi`` negated. Both bins of every
    ``k`` come from one ``[4, 4]`` matmul on ``(Ar, Ai, Br, Bi)``, and one pair ``index_select``
    puts them in order (no slices, stacks, flips or concatenations: a few large ops, which is
    what a mobile runtime runs fastest).
    """

    def __init__(
        self, n: int, inverse: bool, mode: str = "fft", dtype: torch.dtype = torch.float32,
        dense_max: int = DENSE_MAX,
    ) -> None:
        super().__init__()
        self.n = n
        self.inverse = inverse
        self.dense = n <= dense_max or n % 2 == 1
        if self.dense:
            self.register_buffer("basis", _dense_complex_basis(n, inverse).to(dtype),
                                 persistent=False)
        else:
            self.rdft = RealDFT(n, mode, dtype)
            self.register_buffer("combine", _combine_matrix(n, inverse).to(dtype),
                                 persistent=False)
            self.register_buffer("order", _order_index(n), persistent=False)

    def _apply(self, fn, recurse: bool = True):
        # a dtype change re-derives the basis from its float64 design (exact at any precision,
        # without keeping a float64 master copy of it: 23 MB for xumx-rt's 37 dense lengths)
        super()._apply(fn, recurse)
        if self.dense:
            cur = self.basis
            self._buffers["basis"] = _dense_complex_basis(self.n, self.inverse).to(
                device=cur.device, dtype=cur.dtype)
        return self

    def forward(self, z: Tensor) -> Tensor:
        n = self.n
        if self.dense:
            lead = z.shape[:-2]
            return (z.reshape(*lead, 2 * n) @ self.basis).reshape(*lead, n, 2)
        h = n // 2
        lead = z.shape[:-2]
        spec = self.rdft(z.movedim(-1, 0))  # [2, ..., h + 1, 2]: (A, B) x (re, im)
        quads = spec.movedim(0, -2).reshape(-1, 4)  # (Ar, Ai, Br, Bi) per bin
        # a 2-D matmul against a constant: one XNNPACK fully-connected op (a batched matmul
        # would expand the constant per leading index)
        pairs = (quads @ self.combine).reshape(*lead, 2 * (h + 1), 2)  # lo[k], hi[k], ...
        return pairs.index_select(-2, self.order)


def _combine_matrix(n: int, inverse: bool) -> Tensor:
    """``[4, 4]`` (float64): ``(Ar, Ai, Br, Bi) @ C = (lo_re, lo_im, hi_re, hi_im)``, bin ``k``
    and bin ``n - k`` of :class:`ComplexDFT`'s output from the real DFTs of its input's parts."""
    lo_re, lo_im, hi_re, hi_im = [1, 0, 0, -1], [0, 1, 1, 0], [1, 0, 0, 1], [0, -1, 1, 0]
    cols = (hi_re, hi_im, lo_re, lo_im) if inverse else (lo_re, lo_im, hi_re, hi_im)
    c = torch.tensor(cols, dtype=torch.float64).t().contiguous()  # (exports want contiguous)
    return c / n if inverse else c


def _order_index(n: int) -> Tensor:
    """``[n]``: output bin ``j`` of :class:`ComplexDFT` in its ``(lo[k], hi[k])`` pairs: ``lo[j]``
    (pair ``2j``) up to ``n/2``, then ``hi[n - j]`` (pair ``2(n - j) + 1``)."""
    j = torch.arange(n)
    return torch.where(j <= n // 2, 2 * j, 2 * (n - j) + 1)


class RealIDFT(nn.Module):
    """Real inverse DFT: half spectrum ``Y[..., n//2 + 1, 2] -> x[..., n]`` (like irfft).

    The imaginary parts at DC and Nyquist must be zero (irfft ignores them). One real DFT of
    ``u = even extension of Re Y + odd extension of Im Y`` gives ``U`` with
    ``Re U = sum Re Y_full cos`` and ``Im U = -sum Im Y_full sin``, so for ``0 <= t <= n/2``:
    ``x[t] = (Re U[t] + Im U[t]) / n`` and ``x[n - t] = (Re U[t] - Im U[t]) / n``.

    Both ends are the same pattern: from the sums ``(a + b, a - b)`` of a half spectrum's pairs,
    read ``a + b`` at bins ``0..n/2`` then ``a - b`` at bins ``n/2 - 1..1`` (:attr:`unfold`, one
    ``index_select``; no flip, no concatenation). :meth:`from_sums` starts from those sums (the
    transform's exported inverse map makes them directly); the output's are a ``[2, 2]`` matmul
    that also scales by ``1/n``.
    """

    def __init__(self, n: int, mode: str = "fft", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if n % 2:
            raise ValueError("RealIDFT needs an even length")
        self.n = n
        self.rdft = RealDFT(n, mode, dtype)
        h = n // 2
        unfold = torch.cat((2 * torch.arange(h + 1), 2 * torch.arange(h - 1, 0, -1) + 1))
        self.register_buffer("unfold", unfold, persistent=False)
        sums = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / n
        self.register_buffer("scaled_sums", sums.to(dtype), persistent=False)

    def forward(self, y: Tensor) -> Tensor:
        re, im = _halves(y, -1)
        return self.from_sums(torch.cat((re + im, re - im), dim=-1))

    def from_sums(self, pq: Tensor) -> Tensor:
        """``pq[..., n//2 + 1, 2]`` = ``(Re Y + Im Y, Re Y - Im Y)`` per bin -> ``x[..., n]``."""
        u = pq.flatten(-2).index_select(-1, self.unfold)  # [..., n]
        spec = self.rdft(u)  # [..., n/2 + 1, 2]
        x = (spec.reshape(-1, 2) @ self.scaled_sums).reshape(spec.shape)  # (x[t], x[n - t])
        return x.flatten(-2).index_select(-1, self.unfold)


def _halves(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The two entries of a size-2 axis as slices ``x[.., :1, ..]``, ``x[.., 1:, ..]``."""
    return x.narrow(dim, 0, 1), x.narrow(dim, 1, 1)
