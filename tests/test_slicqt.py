"""The sliCQT against the reference NSGT (nsgt 0.19), and its perfect reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobile_core.transform.inverse_map import compact_spectrum, sum_pairs
from mobile_core.transform.slicqt import SliCQT, magnitude
from tests.nsgt_oracle import block_shapes, reference_nsgt

CONFIGS = {
    "xumx-rt": ("bark", 262, 32.9, 22050.0),
    "tiny": ("mel", 32, 115.5, 22050.0),
    "cqlog-48": ("cqlog", 48, 40.0, 16000.0),
}


def _transform(name: str, **kw) -> SliCQT:
    scale, bins, fmin, fmax = CONFIGS[name]
    return SliCQT(scale, bins, fmin, fmax, **kw)


def _reference_blocks(name: str, t: SliCQT, x: np.ndarray) -> list[np.ndarray]:
    """nsgt's slice-by-slice output regrouped into blocks ``[C, F_b, S, T_b]`` complex."""
    scale, bins, fmin, fmax = CONFIGS[name]
    ref = reference_nsgt(scale, bins, fmin, fmax, t.sllen, t.trlen)
    slices = list(ref.forward((x,)))  # per slice: per audio channel: per frequency channel
    out, k = [], 0
    for f, m in block_shapes(ref):
        arr = np.array(
            [[[slices[s][c][k + j] for s in range(len(slices))] for j in range(f)]
             for c in range(x.shape[0])]
        )
        assert arr.shape[-1] == m
        out.append(arr)
        k += f
    return out


def _rel_l2(ours: list[torch.Tensor], ref: list[np.ndarray]) -> float:
    num = den = 0.0
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        a = a[0].double().numpy()
        a = a[..., 0] + 1j * a[..., 1]
        assert a.shape == b.shape
        num += float(np.sum(np.abs(a - b) ** 2))
        den += float(np.sum(np.abs(b) ** 2))
    return (num / den) ** 0.5


def test_xumx_rt_geometry():
    t = SliCQT.from_config("xumx-rt")
    assert (t.sllen, t.trlen) == (18060, 4516)
    assert t.n_channels == 263
    assert len(t.block_channels) == 70
    assert SliCQT.from_config("tiny").sllen == 2016


@pytest.mark.parametrize("name", list(CONFIGS))
def test_blocks_match_reference_layout(name):
    t = _transform(name)
    scale, bins, fmin, fmax = CONFIGS[name]
    ref = reference_nsgt(scale, bins, fmin, fmax, t.sllen, t.trlen)
    assert list(zip(t.block_channels, t.block_lengths)) == block_shapes(ref)
    x = torch.zeros(1, 2, 12345)
    shapes = [tuple(b.shape) for b in t(x)]
    assert shapes == [(1, 2, f, s, m, 2) for f, s, m in t.block_shapes(12345)]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_coefficients_match_nsgt(name):
    t32 = _transform(name)
    t64 = _transform(name, dtype=torch.float64)
    rng = np.random.default_rng(1)
    for n in (1, 301, t32.sllen // 3, 2 * t32.sllen + 37, 44100 + 11):
        x = rng.standard_normal((2, n))
        ref = _reference_blocks(name, t32, x)
        xt = torch.from_numpy(x)[None]
        assert _rel_l2(t32(xt.float()), ref) <= 1e-5, (name, n)
        assert _rel_l2(t64(xt), ref) <= 1e-10, (name, n)


def _snr(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double(), y.double()
    return float(10 * torch.log10((x**2).sum() / ((x - y) ** 2).sum()))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_perfect_reconstruction(name):
    t = _transform(name)
    gen = torch.Generator().manual_seed(0)
    for n in (1, 2, 17, 1000, t.sllen + 5, 3 * t.sllen + 1234):
        x = torch.randn(3, 2, n, generator=gen)
        blocks = t(x)
        assert _snr(x, t.inverse(blocks, n)) >= 100.0, (name, n, "float32")
        x64 = x.double()
        assert _snr(x64, t.inverse(t(x64), n)) >= 250.0, (name, n, "float64")


def test_float64_module_and_twin_agree():
    x = torch.randn(1, 2, 5000, dtype=torch.float64)
    a = SliCQT.from_config("tiny").double()  # re-derived from the float64 design, not upcast
    b = SliCQT.from_config("tiny")  # float32 module called with float64 input
    for p, q in zip(a(x), b(x)):
        assert p.dtype == q.dtype == torch.float64
        assert torch.equal(p, q)
    assert _snr(x, a.inverse(a(x), 5000)) >= 250.0


def test_inverse_leaves_its_input_alone():
    t = SliCQT.from_config("tiny")
    x = torch.randn(1, 2, 9000)
    blocks = t(x)
    copies = [b.clone() for b in blocks]
    t.inverse(blocks, 9000)
    assert all(torch.equal(a, b) for a, b in zip(blocks, copies))


def test_matmul_dft_mode_equals_fft_mode():
    x = torch.randn(1, 2, 30000)
    a = SliCQT.from_config("tiny")
    b = SliCQT.from_config("tiny", dft="matmul")
    ca, cb = a(x), b(x)
    num = sum(float(((p - q) ** 2).sum()) for p, q in zip(ca, cb))
    den = sum(float((p**2).sum()) for p in ca)
    assert (num / den) ** 0.5 < 1e-6
    assert _snr(x, b.inverse(ca, 30000)) >= 100.0


def test_multi_pass_equals_single_pass():
    t = SliCQT.from_config("tiny")
    x = torch.randn(2, 2, 60000)
    one = t(x)
    t.slices_per_pass = 5
    many = t(x)
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(one, many))
    y_many = t.inverse(many, 60000)
    t.slices_per_pass = 10_000
    assert torch.allclose(t.inverse(one, 60000), y_many, atol=1e-6)


def test_magnitude_is_abs():
    t = SliCQT.from_config("tiny")
    blocks = t(torch.randn(1, 2, 4000))
    for b, m in zip(blocks, magnitude(blocks)):
        assert torch.allclose(m, torch.view_as_complex(b.contiguous()).abs(), atol=1e-6)


def test_rejects_empty_signal():
    with pytest.raises(ValueError, match="at least one sample"):
        SliCQT.from_config("tiny")(torch.zeros(1, 2, 0))


class _Inverse(torch.nn.Module):
    def __init__(self, t: SliCQT, n: int) -> None:
        super().__init__()
        self.t, self.n = t, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.t.inverse(self.t(x), self.n)


def _full_gather_sums(name: str, spec: torch.Tensor) -> torch.Tensor:
    """Reference: every bin's weighted contributions straight from the design's full table
    ``inv_index[Q, n_bins]``, as ``(Re Y + Im Y, Re Y - Im Y)``; spec ``[R, s, P, 2]``."""
    from mobile_core.transform.config import transform_config
    from mobile_core.transform.design import design
    from mobile_core.transform.scales import make_scale

    c = transform_config(name)
    d = design(make_scale(c.scale, c.fmin, c.fmax, c.bins, c.gamma), c.sample_rate)
    idx = torch.from_numpy(d.inv_index)  # [Q, nb]
    re = (spec[..., 0][..., idx] * torch.from_numpy(d.inv_weight_re)).sum(-2)  # [R, s, nb]
    im = (spec[..., 1][..., idx] * torch.from_numpy(d.inv_weight_im)).sum(-2)
    return torch.stack((re + im, re - im), dim=-1)


@pytest.mark.parametrize("name", ["xumx-rt", "tiny"])
def test_both_inverse_maps_equal_the_full_table(name):
    t = SliCQT.from_config(name, dtype=torch.float64)
    # a few bins take a third or fourth contribution; most take two
    assert 0 < t.inv_extra_weight.shape[0] < t.inv_main_weight.shape[0] // 10
    spec = torch.randn(2, 3, t._n_slots, 2, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(0))
    want = _full_gather_sums(name, spec)
    # the exported form (gathers, a [4, 2] matmul, zeros for bins without extras)
    assert torch.allclose(sum_pairs(t, spec), want, rtol=0, atol=1e-12)
    # the eager form (slot gathers, index_add of the extras)
    y = compact_spectrum(t, spec)
    got = torch.stack((y[..., 0] + y[..., 1], y[..., 0] - y[..., 1]), dim=-1)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)


def test_autograd_and_engine_inverses_agree():
    t = SliCQT.from_config("xumx-rt")
    x = torch.randn(2, 2, 30011, generator=torch.Generator().manual_seed(0))
    blocks = [b.requires_grad_() for b in t(x)]  # autograd: the module's own real-valued path
    real_valued = t.inverse(blocks, x.shape[-1]).detach()
    with torch.no_grad():  # the eager engine (complex FFTs, NumPy's irfft), same compact map
        assert torch.allclose(t.inverse(blocks, x.shape[-1]), real_valued, atol=5e-6)


def test_exported_graphs_use_gathers_not_index_add():
    t = SliCQT.from_config("tiny")
    model = _Inverse(t, 9000).eval()
    x = torch.randn(1, 2, 9000, generator=torch.Generator().manual_seed(0))
    want = model(x)
    ep = torch.export.export(model, (x,), strict=False)
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any("index_add" in op for op in ops)
    # every lifted input (buffers, constants) is used: no eager-only state is carried along
    unused = [n.name for n in ep.graph.nodes if n.op == "placeholder" and not n.users]
    assert unused == []
    assert any("index_select" in op for op in ops)
    traced = torch.jit.trace(model, (x,), check_trace=False)
    assert "index_add" not in str(traced.graph)
    # eager runs torch.fft's complex FFTs, the graph the portable real-DFT forms: float rounding
    assert torch.allclose(ep.module()(x), want, atol=5e-6)


def test_inverse_backpropagates_after_an_inference_mode_call():
    # a validation run under inference_mode leaves nothing behind that a later autograd pass
    # cannot save (training after a validation run); a .to() there re-derives the compact map
    # as normal tensors too
    t = SliCQT.from_config("tiny")
    x = torch.randn(1, 2, 9000)
    with torch.inference_mode():
        t.inverse(t(x), x.shape[-1])
    assert not any(m.is_inference() for m in t._compact)
    blocks = [b.detach().requires_grad_() for b in t(x)]
    t.inverse(blocks, x.shape[-1]).pow(2).sum().backward()
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in blocks)


def _as_if_exporting(monkeypatch) -> None:
    """Make every eager fast path step aside, as under torch.export (run eagerly here)."""
    import mobile_core.transform.gather
    import mobile_core.transform.slicqt

    for mod in (mobile_core.transform.slicqt, mobile_core.transform.gather):
        monkeypatch.setattr(mod, "exporting", lambda: True)


@pytest.mark.parametrize("per_pass", [64, 5])
def test_eager_inverse_equals_the_portable_graph(monkeypatch, per_pass):
    # eager: spectra into one buffer, compact slot gather, in-place overlap-add; portable: the
    # ops an export records (float gathers, the sums as small matmuls, overlap-add by padding).
    # The same sums in another order: equal to float precision
    t = SliCQT.from_config("tiny")
    t.slices_per_pass = per_pass
    x = torch.randn(2, 2, 30011, generator=torch.Generator().manual_seed(1))
    n = x.shape[-1]
    blocks = [b.requires_grad_() for b in t(x)]  # autograd: the module's real-valued path
    masks = [torch.rand(b.shape[:-1]) for b in blocks]
    eager, eager_masked = t.inverse(blocks, n).detach(), t.inverse(blocks, n, masks).detach()
    premasked = t.inverse([m.unsqueeze(-1) * b for m, b in zip(masks, blocks)], n).detach()
    _as_if_exporting(monkeypatch)
    portable = t.inverse(blocks, n).detach()
    portable_masked = t.inverse(blocks, n, masks).detach()
    # the passes' ordering dependency (a zero-weighted carry element) changes no bit
    t.sequence_passes = False
    assert torch.equal(t.inverse(blocks, n, masks).detach(), portable_masked)
    scale = float(premasked.abs().max())
    assert (portable - eager).abs().max() <= 1e-6 * float(eager.abs().max())
    assert (eager_masked - premasked).abs().max() <= 1e-6 * scale
    assert (portable_masked - premasked).abs().max() <= 1e-6 * scale
    assert (eager_masked - eager).abs().max() > 0.01 * scale  # the masks did something
    with pytest.raises(ValueError, match="masks"):
        t.inverse(blocks, n, masks[:-1])


def test_inverse_span_skips_the_slices_outside_it():
    t = SliCQT.from_config("tiny")
    x = torch.randn(1, 2, 30011, generator=torch.Generator().manual_seed(4))
    blocks = [b.requires_grad_() for b in t(x)]  # autograd: the real-valued path
    s, h = blocks[0].shape[-3], t.hop
    full = t.inverse(blocks, x.shape[-1]).detach()
    seen = []
    frames = t._inverse_frames
    t._inverse_frames = lambda b, m=None: seen.append(b[0].shape[2]) or frames(b, m)
    for a, b in ((3 * h + 17, 7 * h - 5), (0, 2 * h), (5 * h, x.shape[-1])):
        seen.clear()
        part = t.inverse(blocks, x.shape[-1], span=(a, b)).detach()
        # slices a // h .. (b - 1) // h + 1 (slice j covers [(j-1) h, (j+1) h))
        assert sum(seen) == min(s, (b - 1) // h + 2) - a // h < s
        # (passes over other slice ranges: the DFT matmuls round differently, ~1e-6)
        assert torch.allclose(part[..., a:b], full[..., a:b], rtol=0, atol=5e-6)
        assert not part[..., :a].any() and not part[..., b:].any()


@pytest.mark.parametrize("path", ["engine", "real-valued"])
def test_inverse_with_several_masks_per_block_row(path):
    # [k, C, ...] masks on [C, ...] blocks: k outputs, each the inverse of its masked blocks
    t = SliCQT.from_config("tiny")
    x = torch.randn(2, 9000, generator=torch.Generator().manual_seed(5))
    blocks = t(x)  # [C, F, S, T, 2]
    g = torch.Generator().manual_seed(6)
    masks = [torch.rand(3, *b.shape[:-1], generator=g) for b in blocks]  # [3, C, F, S, T]
    if path == "real-valued":
        blocks = [b.requires_grad_() for b in blocks]
    got = t.inverse(blocks, x.shape[-1], masks).detach()
    assert got.shape == (3, 2, 9000)
    for k in range(3):
        want = t.inverse([m[k].unsqueeze(-1) * b for m, b in zip(masks, blocks)], 9000).detach()
        assert torch.allclose(got[k], want, atol=1e-6)
    with pytest.raises(ValueError, match="do not extend"):
        t.inverse(blocks, 9000, [m[:, :1] for m in masks])
