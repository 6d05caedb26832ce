"""The real-valued DFT building blocks of the transform."""

from __future__ import annotations

import pytest
import torch

from mobile_core.transform.dft import ComplexDFT, RealIDFT, _dense_complex_basis
from mobile_core.transform.slicqt import SliCQT


@pytest.mark.parametrize("n", [16, 28, 45, 164, 292])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("mode", ["fft", "matmul"])
def test_complex_dft_equals_torch_fft(n, inverse, mode):
    z = torch.randn(3, 5, n, 2, dtype=torch.float64)
    zt = z.transpose(0, 1)  # a strided input, as the transform passes it
    want = torch.fft.ifft if inverse else torch.fft.fft
    ref = torch.view_as_real(want(torch.view_as_complex(zt.contiguous())))
    got = ComplexDFT(n, inverse, mode, dtype=torch.float64)(zt)
    assert torch.allclose(got, ref, atol=1e-10)


@pytest.mark.parametrize("n", [18060, 130])
def test_real_idft_equals_irfft(n):
    y = torch.randn(4, n // 2 + 1, 2, dtype=torch.float64)
    y[:, 0, 1] = 0
    y[:, -1, 1] = 0  # irfft ignores these
    want = torch.fft.irfft(torch.view_as_complex(y), n=n)
    assert torch.allclose(RealIDFT(n, dtype=torch.float64)(y), want, atol=1e-12)


def test_dense_basis_is_exact_after_dtype_round_trips():
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
