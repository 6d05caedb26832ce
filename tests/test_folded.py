"""The eager inference forms of the block maskers: folded blocks, narrow groups, mask windows."""

from __future__ import annotations

import pytest
import torch

from mobile_core.cdae import GROUP_CHANNELS, BlockMasker, CDAEConfig, MaskNet
from mobile_core.folded import frame_window
from mobile_core.grouped import NarrowGroup
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
    # the inference forms ran: a narrow group for the k_f = 1 blocks, folded blocks for the rest
    assert net._groups and all(blk._folded is not None for blk in net.blocks
                               if blk.freq_kernel > 1)
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
    # new tensor objects: assigned by load_state_dict(assign=True), a parameter set by hand
    third = randomize_(BlockMasker(f, t), seed=3)
    blk.load_state_dict(third.state_dict(), assign=True)
    with torch.inference_mode():
        torch.testing.assert_close(blk(mag), _reference(third, mag), rtol=0, atol=2e-5)
    blk.targets[1].deconv.weight = torch.nn.Parameter(2.0 * blk.targets[1].deconv.weight.detach())
    with torch.inference_mode():
        torch.testing.assert_close(blk(mag), _reference(blk, mag), rtol=0, atol=2e-5)


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


# ---------------------------------------------------------------- mask windows and narrow groups

@pytest.fixture(autouse=True)
def _uninitialised_memory_is_nan():
    """``torch.empty`` returns NaN-filled memory here, so a value the code never wrote shows
    (the inference forms allocate their outputs uninitialised)."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.utils.deterministic.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.utils.deterministic.fill_uninitialized_memory = saved[1]


def _window_check(got, want, slices):
    """``got`` equals ``want`` on slices ``[j0, j1)`` and is zero on the others."""
    j0, j1 = slices
    torch.testing.assert_close(got[..., j0:j1, :], want[..., j0:j1, :], rtol=0, atol=2e-5)
    assert not got[..., :j0, :].any() and not got[..., j1:, :].any()


@pytest.mark.parametrize("shape", [(1, 8), (12, 12), (21, 16), (2, 4)])
def test_folded_window_computes_exactly_its_slices(shape):
    blk = randomize_(BlockMasker(*shape), seed=11)
    n = 6
    (mag,) = mags_for([shape], n_slices=n, batch=2)
    want = _reference(blk, mag)
    folded = blk.folded()
    with torch.no_grad():
        for j0 in range(n):
            for j1 in range(j0 + 1, n + 1):
                _window_check(folded(mag, (j0, j1)), want, (j0, j1))


@pytest.mark.parametrize("bad", [(2, 2), (-1, 3), (0, 7), (4, 3)])
def test_frame_window_rejects_empty_or_outside_ranges(bad):
    with pytest.raises(ValueError, match="slices"):
        frame_window(6, bad, 4)


CONFIGS = [
    CDAEConfig(),
    # other kernel and channel sizes: the group's reshapes must not assume upstream's
    CDAEConfig(hidden1=6, hidden2=5, time_kernel2=3, nb_channels=1, nb_targets=3),
    CDAEConfig(hidden1=4, hidden2=7, time_kernel2=2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("height", [1, 3])
def test_narrow_group_equals_each_blocks_module_layers(cfg, height):
    lengths = [8, 4, 12]
    blocks = [randomize_(BlockMasker(height, t, cfg), seed=20 + i) for i, t in enumerate(lengths)]
    n = 5
    g = torch.Generator().manual_seed(3)
    mags = [torch.rand(2, cfg.nb_channels, height, n, t, generator=g) for t in lengths]
    want = [_reference(blk, mag) for blk, mag in zip(blocks, mags, strict=True)]
    group = NarrowGroup(blocks)
    with torch.no_grad():
        for got, w in zip(group(mags), want, strict=True):
            assert got.shape == w.shape
            torch.testing.assert_close(got, w, rtol=0, atol=2e-5)
        for window in [(0, 1), (1, 4), (2, 5), (4, 5)]:
            for got, w in zip(group(mags, window), want, strict=True):
                _window_check(got, w, window)


def test_narrow_group_takes_only_narrow_even_blocks_of_one_height():
    with pytest.raises(ValueError, match="narrow group"):
        NarrowGroup([BlockMasker(1, 8), BlockMasker(2, 8)])  # two heights
    with pytest.raises(ValueError, match="narrow group"):
        NarrowGroup([BlockMasker(12, 8)])  # k_f = 3
    with pytest.raises(ValueError, match="narrow group"):
        NarrowGroup([BlockMasker(1, 9)])  # odd T_b


def test_mask_units_cover_every_block_once_and_equal_the_module_layers():
    shapes = [(1, 8), (2, 6), (1, 4), (12, 12), (2, 10), *[(1, 2 * k) for k in range(2, 20)]]
    net = randomize_(MaskNet(shapes), seed=5)
    mags = mags_for(shapes, n_slices=4)
    with torch.no_grad():
        units = net.units()
        covered = sorted(b for u in units for b in u.indices)
        assert covered == list(range(len(shapes)))
        for u in units:
            heights = {shapes[b][0] for b in u.indices}
            assert len(heights) == 1  # one height per group
            assert len(u.indices) == 1 or len(u.indices) * heights.pop() <= GROUP_CHANNELS
        assert any(len(u.indices) > 1 for u in units)  # narrow blocks were grouped
        assert max(len(u.indices) for u in units) < 20  # the 20 height-1 blocks were split
        got = net(mags)
    want = _reference(net, mags)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=2e-5)
    with torch.enable_grad():  # autograd: one unit per block, the module layers
        assert [u.indices for u in net.units()] == [(b,) for b in range(len(shapes))]


def test_narrow_groups_follow_weight_changes():
    shapes = [(1, 8), (1, 6)]
    net = randomize_(MaskNet(shapes), seed=7)
    mags = mags_for(shapes, n_slices=4)
    with torch.no_grad():
        first = net(mags)
        net.blocks[1].targets[3].conv.weight.mul_(-2.0)  # in place
        net.blocks[0].targets[0].bn2.running_mean.add_(0.5)  # a buffer
        second = net(mags)
    assert not torch.allclose(first[1], second[1], atol=1e-3)
    assert not torch.allclose(first[0], second[0], atol=1e-3)
    want = _reference(net, mags)
    for g, w in zip(second, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=2e-5)
    # a replaced submodule (new parameter objects in the tree)
    net.blocks[0].targets[2] = randomize_(type(net.blocks[0].targets[2])(1, 8, net.cfg), seed=9)
    with torch.no_grad():
        third = net(mags)
    assert not torch.allclose(third[0], second[0], atol=1e-3)
    torch.testing.assert_close(third[0], _reference(net, mags)[0], rtol=0, atol=2e-5)
