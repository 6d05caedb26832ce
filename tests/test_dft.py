"""The DFT building blocks: eager fast path (torch.fft on complex views) == portable forms."""

from __future__ import annotations

import pytest
import torch

from mobile_core.dft import DENSE_MAX, ComplexDFT, RealIDFT
from mobile_core.slicqt import SliCQT


def _portable(module: torch.nn.Module) -> torch.nn.Module:
    for m in module.modules():
        if hasattr(m, "native"):
            m.native = False
    return module


@pytest.mark.parametrize("n", [16, 28, 45, DENSE_MAX + 4, 292])
@pytest.mark.parametrize("inverse", [False, True])
def test_complex_dft_fast_path_equals_portable_and_numpy(n, inverse):
    z = torch.randn(3, 5, n, 2, dtype=torch.float64)
    fast = ComplexDFT(n, inverse, dtype=torch.float64)
    slow = _portable(ComplexDFT(n, inverse, dtype=torch.float64))
    assert fast.native and not slow.native
    # a strided (transposed) input, as the transform passes it
    zt = z.transpose(0, 1)
    want = torch.fft.ifft if inverse else torch.fft.fft
    ref = torch.view_as_real(want(torch.view_as_complex(zt.contiguous())))
    assert torch.allclose(fast(zt), ref, atol=1e-10)
    assert torch.allclose(slow(zt), ref, atol=1e-10)


@pytest.mark.parametrize("n", [18060, 130])
def test_real_idft_fast_path_equals_portable(n):
    y = torch.randn(4, n // 2 + 1, 2, dtype=torch.float64)
    y[:, 0, 1] = 0
    y[:, -1, 1] = 0  # irfft ignores these: both forms must agree where they are zero
    fast = RealIDFT(n, dtype=torch.float64)
    slow = _portable(RealIDFT(n, dtype=torch.float64))
    assert torch.allclose(fast(y), slow(y), atol=1e-12)


def test_matmul_mode_never_takes_the_fast_path():
    assert not ComplexDFT(292, False, mode="matmul").native
    assert not RealIDFT(64, mode="matmul").native


@pytest.mark.parametrize("name", ["xumx-rt", "tiny"])
def test_transform_fast_path_equals_portable(name):
    fast = SliCQT.from_config(name)
    slow = _portable(SliCQT.from_config(name))
    x = torch.randn(1, 2, 40000)
    a, b = fast(x), slow(x)
    num = sum(float(((p - q) ** 2).sum()) for p, q in zip(a, b))
    den = sum(float((q**2).sum()) for q in b)
    assert (num / den) ** 0.5 < 1e-6
    ya, yb = fast.inverse(a, x.shape[-1]), slow.inverse(a, x.shape[-1])
    assert (ya - yb).abs().max() < 1e-5 * x.abs().max()


def test_exported_transform_holds_no_complex_fft():
    t = SliCQT.from_config("tiny").eval()

    class RoundTrip(torch.nn.Module):
        def forward(self, x):
            return t.inverse(t(x), x.shape[-1])

    x = torch.randn(1, 2, 9000)
    ep = torch.export.export(RoundTrip(), (x,), strict=False)
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert "aten.fft_rfft.default" in ops
    banned = ("fft_fft", "fft_ifft", "fft_irfft", "c2c", "c2r", "complex")
    assert not any(b in op for op in ops for b in banned), ops
    traced = torch.jit.trace(RoundTrip(), (x,), check_trace=False)
    assert "fft_c2c" not in str(traced.graph) and "irfft" not in str(traced.graph)


def test_as_complex_copies_only_when_it_must():
    from mobile_core.dft import as_complex

    z = torch.randn(3, 5, 2)
    assert as_complex(z).data_ptr() == z.data_ptr()  # a view
    odd = torch.randn(3, 7)[:, 1:5].reshape(3, 2, 2)  # a row stride of 7
    apart = torch.randn(2, 5).t()  # the (re, im) axis not contiguous
    for w in (odd, apart):
        assert torch.equal(torch.view_as_real(as_complex(w)), w)


def test_dense_basis_is_exact_after_dtype_round_trips():
    from mobile_core.dft import _dense_complex_basis

    d = ComplexDFT(20, True)  # float32
    assert d.basis.dtype == torch.float32
    d.double()
    assert torch.equal(d.basis, _dense_complex_basis(20, True))  # not an upcast float32
    t = SliCQT.from_config("tiny")
    assert not any(k.endswith(".basis") for k in t._master)
    t64 = SliCQT.from_config("tiny").double()
    dense = [m for m in t64.modules() if isinstance(m, ComplexDFT) and m.dense]
    assert dense and all(torch.equal(m.basis, _dense_complex_basis(m.n, m.inverse))
                         for m in dense)
