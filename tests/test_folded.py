"""The eager inference form of the block maskers (BatchNorm folded, last layer as a matmul)."""

from __future__ import annotations

import pytest
import torch

from mobile_core.cdae import BlockMasker, MaskNet
from tests.test_cdae import SMALL, mags_for, randomize_


def _reference(net: torch.nn.Module, mags):
    """The module's own layers: eval mode with autograd on never takes the folded path."""
    with torch.enable_grad():
        out = net(mags)
    return [o.detach() for o in out] if isinstance(out, list) else out.detach()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_folded_masks_equal_the_module_layers(dtype):
    shapes = [*SMALL, (5, 20), (2, 4)]  # kernels 1/3/5, and short blocks
    net = randomize_(MaskNet(shapes), seed=4).to(dtype)
    mags = [m.to(dtype) for m in mags_for(shapes, n_slices=5, batch=2)]
    want = _reference(net, mags)
    with torch.no_grad():
        got = net(mags)
    assert all(blk._folded is not None for blk in net.blocks)  # the folded path ran
    tol = 2e-5 if dtype == torch.float32 else 1e-12  # the same sums in another order
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == dtype
        torch.testing.assert_close(g, w, rtol=0, atol=tol)


def test_folded_form_follows_every_weight_change():
    f, t = SMALL[2]
    blk = randomize_(BlockMasker(f, t), seed=1)
    (mag,) = mags_for([(f, t)], n_slices=4)
    with torch.inference_mode():
        first = blk(mag)
    with torch.no_grad():
        blk.targets[2].out.weight.mul_(-1.5)  # in place, e.g. an optimizer step
        blk.stem_bn.running_var.mul_(3.0)  # a buffer
    with torch.inference_mode():
        second = blk(mag)
    assert not torch.allclose(first, second, atol=1e-3)
    torch.testing.assert_close(second, _reference(blk, mag), rtol=0, atol=2e-5)
    other = randomize_(BlockMasker(f, t), seed=2)
    blk.load_state_dict(other.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(blk(mag), _reference(other, mag), rtol=0, atol=2e-5)


def test_training_and_autograd_use_the_module_layers():
    f, t = SMALL[1]
    blk = randomize_(BlockMasker(f, t), seed=3)
    (mag,) = mags_for([(f, t)], n_slices=4)
    blk(mag).sum().backward()  # eval mode, autograd on: gradients reach the parameters
    assert blk.targets[0].out.weight.grad is not None and blk._folded is None
    blk.train()
    with torch.no_grad():
        blk(mag)
    assert blk._folded is None  # training-mode BatchNorm is not foldable


def test_odd_time_length_keeps_the_module_layers():
    blk = randomize_(BlockMasker(12, 9), seed=6)
    (mag,) = mags_for([(12, 9)], n_slices=4)
    with torch.no_grad():
        got = blk(mag)
    assert blk.folded() is None
    torch.testing.assert_close(got, _reference(blk, mag), rtol=0, atol=0)


def test_exports_under_no_grad_record_the_module_layers():
    net = randomize_(MaskNet(SMALL[:2]), seed=8)
    mags = mags_for(SMALL[:2], n_slices=4)
    with torch.no_grad():
        ep = torch.export.export(net, (mags,), strict=False)
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any("conv_transpose" in op for op in ops), ops
    assert any("batch_norm" in op for op in ops), ops
    assert not any("matmul" in op or "mm" in op.split(".")[1] for op in ops), ops
    torch.testing.assert_close(ep.module()(mags), _reference(net, mags), rtol=0, atol=1e-6)
