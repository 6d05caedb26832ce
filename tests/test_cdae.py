"""The realtime CDAE mask network: size, shapes, range, receptive field, exportability."""

from __future__ import annotations

import math

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from mobile_core.model.cdae import STEMS, BlockMasker, CDAEConfig, MaskNet, receptive_field
from tests.nsgt_oracle import xumx_rt_block_shapes

# one block per frequency kernel (1, 3, 5)
SMALL = [(1, 8), (12, 12), (21, 16)]
# exports are slow: the narrowest and the widest kernel are enough there
EXPORT_SHAPES = [(1, 8), (21, 16)]


def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics (so BatchNorm is not the identity), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("input_scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
    return module.eval()


def mags_for(shapes, n_slices: int, batch: int = 1, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 2, f, n_slices, t, generator=g) for f, t in shapes]


def test_xumx_rt_has_upstream_parameter_count():
    shapes = xumx_rt_block_shapes()
    assert len(shapes) == 70
    assert sum(f for f, _ in shapes) == 263  # 262 bins + DC channel
    with torch.device("meta"):
        net = MaskNet(shapes)
    assert sum(p.numel() for p in net.parameters()) == 15_010_446


def test_freq_kernel_thresholds():
    cfg = CDAEConfig()
    assert [cfg.freq_kernel(n) for n in (1, 9, 10, 19, 20, 86)] == [1, 1, 3, 3, 5, 5]
    with torch.device("meta"):
        for (f, t), k in zip(SMALL, (1, 3, 5), strict=True):
            m = BlockMasker(f, t)
            assert m.stem.weight.shape == (4 * 50, 2, k, t)
            assert m.stem.stride == (1, t // 2)
            assert m.targets[0].conv.weight.shape == (51, 50, k, 4)
            assert m.targets[0].deconv.weight.shape == (51, 50, k, 4)
            assert m.targets[0].out.weight.shape == (50, 2, k, t)
            assert m.targets[0].out.bias.shape == (2,)
            assert m.targets[0].conv.bias is None and m.targets[0].deconv.bias is None
    with pytest.raises(ValueError, match="one more freq kernel"):
        CDAEConfig(freq_kernels=(1, 3))


@pytest.mark.parametrize("train", [False, True])
def test_masks_shape_and_range(train: bool):
    net = randomize_(MaskNet(SMALL))
    net.train(train)
    mags = mags_for(SMALL, n_slices=4, batch=2)
    mags[1] = mags[1] * 1000.0  # saturate the sigmoid somewhere
    with torch.no_grad():
        masks = net(mags)
    assert len(masks) == len(SMALL)
    for m, (f, t) in zip(masks, SMALL, strict=True):
        assert m.shape == (2, len(STEMS), 2, f, 4, t)
        assert torch.isfinite(m).all()
        assert m.min() >= 0.0 and m.max() <= 1.0
    assert masks[1].std() > 0.01  # not constant


def test_input_normalisation_is_subtract_then_multiply():
    f, t = SMALL[1]
    a = randomize_(BlockMasker(f, t), seed=3)
    b = BlockMasker(f, t)
    b.load_state_dict(a.state_dict())
    b.eval()
    with torch.no_grad():
        b.input_mean.zero_()
        b.input_scale.fill_(1.0)
        (mag,) = mags_for([(f, t)], n_slices=3)
        mean = a.input_mean.detach()[:, None, None]
        scale = a.input_scale.detach()[:, None, None]
        torch.testing.assert_close(a(mag), b((mag - mean) * scale), rtol=0, atol=1e-6)


def _changed_times(masker: BlockMasker, n_slices: int, p: int) -> torch.Tensor:
    """Flattened output times whose masks move when the input at flattened time ``p`` moves."""
    t_b = masker.nb_t_bins
    (mag,) = mags_for([(masker.nb_bins, t_b)], n_slices=n_slices)
    mag = mag.double()
    bumped = mag.clone()
    bumped[..., p // t_b, p % t_b] += 3.0  # every channel and frequency bin at time p
    with torch.no_grad():
        diff = (masker(bumped) - masker(mag)).abs().flatten(-2)  # [B, 4, C, F, L]
    moved = diff.amax(dim=(0, 1, 2, 3)) > 1e-9  # float64: rounding noise is ~1e-16
    return torch.nonzero(moved).flatten()


@pytest.mark.parametrize("f, t", [(12, 12), (21, 16)])
def test_receptive_field_is_exact(f: int, t: int):
    masker = randomize_(BlockMasker(f, t), seed=5).double()
    n_slices = 10
    length, hop = n_slices * t, t // 2
    past, future = receptive_field(t)
    assert (past, future) == (2 * (t - 1) + 3 * hop, 3 * hop)
    for p in (4 * t, 4 * t + 1, 4 * t + hop - 1, 5 * t - 1):
        changed = _changed_times(masker, n_slices, p)
        first, last = int(changed[0]), int(changed[-1])
        # layer 1 is causal: frames j >= ceil(p / hop) see p; layers 2-3 reach 3 frames back
        assert first == (math.ceil(p / hop) - 3) * hop
        # the last frame that sees p is floor((p + T - 1) / hop); layers 2-3 reach 3 frames on
        assert last == min(length - 1, ((p + t - 1) // hop + 3) * hop + t - 1)
        assert p - future <= first and last <= p + past
        if p % hop == 0:
            assert first == p - future  # the look-ahead bound is tight
        if (p + t - 1) % hop == 0:
            assert last == p + past  # the history bound is tight
        assert changed.numel() == last - first + 1  # a contiguous span


def _assert_lists_close(got, want, tol: float = 1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=0, atol=tol)


def layers(net: nn.Module, mags: list[torch.Tensor]) -> list[torch.Tensor]:
    """The module's own layers (autograd on: no folded inference form), what exports record."""
    with torch.enable_grad():
        return [m.detach() for m in net(mags)]


def test_torch_export_and_jit_trace_match_eager():
    net = randomize_(MaskNet(EXPORT_SHAPES), seed=7)
    mags = mags_for(EXPORT_SHAPES, n_slices=4)
    other = mags_for(EXPORT_SHAPES, n_slices=4, seed=11)
    want, want_other = layers(net, mags), layers(net, other)

    ep = torch.export.export(net, (mags,), strict=False)
    _assert_lists_close(ep.module()(mags), want)
    _assert_lists_close(ep.module()(other), want_other)
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any("cond" in o or "while_loop" in o for o in ops)

    s_dim = torch.export.Dim("S", min=3, max=64)
    ep_dyn = torch.export.export(net, (mags,), dynamic_shapes=([{3: s_dim}] * len(EXPORT_SHAPES),),
                                 strict=False)
    longer = mags_for(EXPORT_SHAPES, n_slices=7, seed=13)
    with torch.no_grad():
        _assert_lists_close(ep_dyn.module()(longer), layers(net, longer))

    # strict=False: the output is a list; the check is ours, on other data
    traced = torch.jit.trace(net, (mags,), strict=False, check_trace=False)
    with torch.no_grad():
        _assert_lists_close(traced(other), want_other)


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    net = randomize_(MaskNet(EXPORT_SHAPES), seed=9)
    mags = mags_for(EXPORT_SHAPES, n_slices=4, seed=2)
    with torch.no_grad():
        want = net(mags)
    program = torch.onnx.export(net, (mags,), dynamo=True, verbose=False)
    path = tmp_path / "masknet.onnx"
    program.save(str(path))
    graph_ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not graph_ops & {"If", "Loop", "Scan"}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: m.numpy() for i, m in zip(sess.get_inputs(), mags, strict=True)}
    got = sess.run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g = torch.from_numpy(g)
        assert g.shape == w.shape
        assert ((g - w).norm() / w.norm()).item() < 1e-5
