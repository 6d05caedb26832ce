"""The eager inference form of the maskers: folded blocks, narrow groups, mask windows, units."""

from __future__ import annotations

import pytest
import torch

from mobile_core.model.cdae import BlockMasker, CDAEConfig, MaskNet
from mobile_core.model.folded import FoldedBlock, frame_window
from mobile_core.model.grouped import NarrowGroup
from mobile_core.model.inference import GROUP_CHANNELS, InferenceMasks
from mobile_core.model.model_file import load_model
from tests.test_cdae import SMALL, mags_for, randomize_


def _reference(net: torch.nn.Module, mags):
    """The module's own layers with autograd on (eval mode)."""
    with torch.enable_grad():
        out = net(mags)
    return [o.detach() for o in out] if isinstance(out, list) else out.detach()


def _masks(net: MaskNet, mags):
    """The inference form's masks, every block exact."""
    with torch.no_grad():
        return InferenceMasks(net)(lambda idx: [mags[b] for b in idx])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inference_masks_equal_the_module_layers(dtype):
    shapes = [*SMALL, (5, 20), (2, 4)]  # kernels 1/3/5, and short blocks
    net = randomize_(MaskNet(shapes), seed=4).to(dtype)
    mags = [m.to(dtype) for m in mags_for(shapes, n_slices=5, batch=2)]
    want = _reference(net, mags)
    inference = InferenceMasks(net)
    kinds = {type(u.run).__name__ for u in inference.units}
    assert kinds == {"NarrowGroup", "function"}  # groups for k_f = 1, folded blocks the rest
    tol = 2e-5 if dtype == torch.float32 else 1e-12  # the same sums in another order
    for g, w in zip(_masks(net, mags), want, strict=True):
        assert g.shape == w.shape and g.dtype == dtype
        torch.testing.assert_close(g, w, rtol=0, atol=tol)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_the_module_runs_its_own_layers_in_every_mode(mode):
    # no implicit switch to another form: eval mode without autograd is the same computation
    shapes = [*SMALL, (2, 4)]
    net = randomize_(MaskNet(shapes), seed=3)
    mags = mags_for(shapes, n_slices=4)
    want = _reference(net, mags)
    with getattr(torch, mode)():
        got = net(mags)
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)


def test_the_inference_form_is_a_snapshot_derived_again_on_purpose():
    shapes = [(1, 8), SMALL[2]]
    net = randomize_(MaskNet(shapes), seed=1)
    mags = mags_for(shapes, n_slices=4)
    before = InferenceMasks(net)
    with torch.no_grad():
        first = before(lambda idx: [mags[b] for b in idx])
        net.blocks[1].targets[2].deconv.weight.mul_(-1.5)  # in place, e.g. an optimizer step
        net.blocks[0].targets[0].bn1.running_var.mul_(3.0)  # a buffer
    for g, w in zip(_masks(net, mags), _reference(net, mags), strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=2e-5)  # derived again: the new weights
    with torch.no_grad():
        stale = before(lambda idx: [mags[b] for b in idx])
    for a, b in zip(stale, first, strict=True):  # the copies it holds did not move
        assert torch.equal(a, b)


def test_odd_time_length_keeps_the_module_layers():
    net = randomize_(MaskNet([(12, 9)]), seed=6)
    (mag,) = mags_for([(12, 9)], n_slices=4)
    assert [type(u.run).__name__ for u in InferenceMasks(net).units] == ["function"]
    torch.testing.assert_close(_masks(net, [mag])[0], _reference(net, [mag])[0], rtol=0, atol=0)


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
    folded = FoldedBlock(blk)
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
    units = InferenceMasks(net).units
    covered = sorted(b for u in units for b in u.indices)
    assert covered == list(range(len(shapes)))
    for u in units:
        heights = {shapes[b][0] for b in u.indices}
        assert len(heights) == 1  # one height per group
        assert len(u.indices) == 1 or len(u.indices) * heights.pop() <= GROUP_CHANNELS
    assert any(len(u.indices) > 1 for u in units)  # narrow blocks were grouped
    assert max(len(u.indices) for u in units) < 20  # the 20 height-1 blocks were split
    want = _reference(net, mags)
    for g, w in zip(_masks(net, mags), want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=2e-5)


# ---------------------------------------------------------------- the separator's inference form

MODES = {"grad": torch.enable_grad, "no_grad": torch.no_grad,
         "inference_mode": torch.inference_mode}


def _song(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(1, 2, n, generator=g)


@pytest.fixture(scope="module")
def tiny_reference(micro_model_file):
    """A model file, a song and the module's stems with autograd on (the reference path)."""
    sep = load_model(micro_model_file)
    x = _song(20000)
    with torch.enable_grad():
        want = sep(x).detach()
    return micro_model_file, x, want


@pytest.mark.parametrize("load_mode", list(MODES))
@pytest.mark.parametrize("call_mode", list(MODES))
@pytest.mark.parametrize("form", ["module", "for_inference"])
def test_a_model_loaded_and_called_in_any_autograd_mode_works(tiny_reference, load_mode,
                                                               call_mode, form):
    path, x, want = tiny_reference
    with MODES[load_mode]():
        sep = load_model(path)
        model = sep.for_inference() if form == "for_inference" else sep.eval()
    with MODES[call_mode]():
        got = model(x)
        again = model(x)  # a second call (caches, if any, would be in play now)
    assert got.shape == want.shape == (1, 4, 2, 20000)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert torch.equal(got, again)
    if form == "for_inference":
        assert not got.requires_grad


def test_inference_form_on_a_pool_equals_the_module(tiny_reference):
    from concurrent.futures import ThreadPoolExecutor

    path, x, want = tiny_reference
    sep = load_model(path).for_inference()
    with ThreadPoolExecutor(2) as pool:
        with torch.inference_mode():
            got = sep.separate(x, pool)
        assert got.is_inference()  # the workers ran in inference mode too
        plain = sep.separate(x, pool)
    assert not plain.is_inference()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert torch.equal(got, plain)


def test_importing_the_package_installs_no_global_hooks():
    import subprocess
    import sys

    code = ("import torch.nn.modules.module as m\n"
            "before = [len(getattr(m, n)) for n in ('_global_parameter_registration_hooks', "
            "'_global_buffer_registration_hooks', '_global_module_registration_hooks', "
            "'_global_forward_hooks', '_global_forward_pre_hooks')]\n"
            "import mobile_core, mobile_core.cli.demix, mobile_core.contract.backends, export\n"
            "from mobile_core import Separator, SliCQT, load_model, open_backend\n"
            "after = [len(getattr(m, n)) for n in ('_global_parameter_registration_hooks', "
            "'_global_buffer_registration_hooks', '_global_module_registration_hooks', "
            "'_global_forward_hooks', '_global_forward_pre_hooks')]\n"
            "assert before == after, (before, after)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the input contract (issue 16, 22)

@pytest.mark.parametrize("form", ["module", "for_inference"])
def test_wrong_inputs_are_refused_at_the_entry_with_what_is_expected(tiny_reference, form):
    path, x, want = tiny_reference
    sep = load_model(path)
    model = sep.for_inference() if form == "for_inference" else sep
    for bad in (x[0], x[:, :, None], torch.zeros(1, 3, 1000), torch.zeros(1, 2, 0)):
        with pytest.raises(ValueError, match=r"mix\[B, 2, N\]"):
            model(bad)
    with pytest.raises(ValueError, match="floating-point"):
        model((x * 1000).to(torch.int16))
    with torch.no_grad():
        # other float precisions are converted to the weights' dtype; mono is copied to both
        # channels (the contract's rule)
        torch.testing.assert_close(model(x.double()), want, rtol=0, atol=1e-5)
        torch.testing.assert_close(model(x.half()), model(x.half().float()), rtol=0, atol=0)
        mono = model(x[:, :1])
        stereo = model(x[:, :1].expand(-1, 2, -1).contiguous())
    torch.testing.assert_close(mono, stereo, rtol=0, atol=1e-6)


def test_the_runner_refuses_nan_input(tiny_reference):
    from mobile_core import DemixError, open_backend, separate

    path, x, _ = tiny_reference
    bad = x[0].clone()
    bad[1, 123] = float("nan")
    with pytest.raises(DemixError, match="(?i)nan|finite"):
        separate(bad, open_backend(path, threads=1))
