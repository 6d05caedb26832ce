"""The whole waveform-to-stems graph, the model file and the converter's CLI."""

from __future__ import annotations

import math

import pytest
import torch

from export.convert_upstream import main as convert_main
from mobile_core.contract.chunking import context_slices
from mobile_core.errors import ModelFileError
from mobile_core.model.model_file import load_model, model_id, read_model_file, save_model
from mobile_core.model.separator import Separator
from tests.test_convert_upstream import UpstreamRealtime, random_upstream


def _randomize_batchnorm(sep: Separator, seed: int = 0) -> Separator:
    """Trained-like BatchNorm statistics so that masks are not all sigmoid(0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in sep.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
    return sep.eval()


def _music(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 44100.0
    x = sum(torch.sin(2 * math.pi * f * t) * (0.5 + 0.5 * torch.sin(2 * math.pi * r * t))
            for f, r in ((98.0, 0.5), (392.0, 1.3), (1318.0, 2.1)))
    noise = torch.randn(n, generator=gen) * (torch.sin(2 * math.pi * 4.0 * t) > 0.9)
    return (0.2 * torch.stack((x, x.roll(100))) + 0.05 * noise)[None].float()


@pytest.fixture(scope="module")
def tiny() -> Separator:
    torch.manual_seed(0)
    return _randomize_batchnorm(Separator.from_config("tiny"))


def test_shapes_and_stem_order(tiny):
    x = torch.randn(3, 2, 7001) * 0.1
    with torch.inference_mode():
        y = tiny(x)
    assert y.shape == (3, 4, 2, 7001)
    assert tiny.stems == ("vocals", "drums", "bass", "other")


def test_xumx_rt_has_upstreams_parameter_count():
    assert Separator.from_config("xumx-rt").n_parameters() == 15_010_446


def test_masks_are_in_unit_interval_and_estimates_are_mask_times_mix(tiny):
    with torch.inference_mode():
        out = tiny.analyse(_music(30000))
    for m, e, x in zip(out.masks, out.estimates, out.mixture):
        assert m.shape[1] == 4 and m.min() >= 0.0 and m.max() <= 1.0
        assert m.std() > 1e-3  # not a constant
        assert torch.allclose(e, m.unsqueeze(-1) * x.unsqueeze(1))


def test_forward_stems_are_the_inverses_of_the_training_estimates_in_stem_order(tiny):
    x = _music(30000)
    with torch.inference_mode():
        y = tiny(x)
        out = tiny.analyse(x)
        for t in range(4):
            want = tiny.transform.inverse([e[:, t] for e in out.estimates], x.shape[-1])
            # masks applied as the inverse reads the blocks vs pre-masked blocks: float rounding
            assert torch.allclose(y[:, t], want, atol=5e-6), tiny.stems[t]
        # the four stems differ (a loop that reused one target's masks would not)
        assert (y[:, 0] - y[:, 3]).abs().max() > 1e-3


def test_unit_masks_give_the_mix_back_for_every_stem():
    sep = Separator.from_config("tiny").eval()
    with torch.no_grad():
        for masker in sep.masknet.blocks:
            for target in masker.targets:
                target.out.weight.zero_()
                target.out.bias.fill_(1e4)  # sigmoid -> exactly 1.0 in float32
    x = _music(25000)
    with torch.inference_mode():
        y = sep(x)
    for s in range(4):
        err = float(((y[:, s] - x) ** 2).sum() / (x**2).sum())
        assert 10 * math.log10(1.0 / err) >= 100.0


def test_network_is_causal_up_to_its_documented_look_ahead(tiny):
    """Changing samples from t0 on leaves masks of slices ending F slices before t0 unchanged."""
    h = tiny.transform.hop
    _, ahead = context_slices(tiny.transform, tiny.config.cdae)
    x = _music(60 * h + 123)
    t0 = 30 * h
    x2 = x.clone()
    x2[..., t0:] += 0.3 * torch.randn_like(x2[..., t0:])
    with torch.inference_mode():
        m1, m2 = tiny.analyse(x).masks, tiny.analyse(x2).masks
    # slice j covers [(j-1) h, (j+1) h): it ends before t0 for j <= t0/h - 1
    last_clean = t0 // h - 1 - ahead
    for a, b in zip(m1, m2):
        assert torch.equal(a[..., : last_clean + 1, :], b[..., : last_clean + 1, :])
    changed = sum(float((a[..., last_clean + 2 :, :] - b[..., last_clean + 2 :, :]).abs().max())
                  for a, b in zip(m1, m2))
    assert changed > 0.0  # the comparison above is not vacuous


def test_model_file_round_trip(tmp_path, tiny):
    path = tmp_path / "m.pt"
    mid = save_model(tiny, path, info={"note": "test"})
    loaded = load_model(path)
    assert loaded.model_id == mid == model_id(tiny.masknet.state_dict())
    assert not loaded.training and loaded.info["note"] == "test"
    x = _music(9000)
    with torch.inference_mode():
        assert torch.equal(loaded(x), tiny(x))
    assert not list(tmp_path.glob("*.partial"))


def test_model_file_errors_are_clear(tmp_path, tiny):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="not a demix-mobile model file"):
        load_model(other)
    path = tmp_path / "m.pt"
    save_model(tiny, path)
    payload = read_model_file(path)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(ModelFileError, match="version 99"):
        load_model(tmp_path / "v99.pt")
    payload["format_version"] = 1
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    torch.save(payload, tmp_path / "short.pt")
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(tmp_path / "short.pt")


def test_convert_upstream_cli_writes_a_loadable_model(tmp_path, capsys):
    sep = Separator.from_config("tiny")
    blocks = list(zip(sep.transform.block_channels, sep.transform.block_lengths))
    upstream: UpstreamRealtime = random_upstream(blocks, seed=3)
    ckpt = tmp_path / "xumx_slicq_v2.pth"
    torch.save(upstream.state_dict(), ckpt)
    out = tmp_path / "converted.pt"
    assert convert_main([str(ckpt), str(out), "--config", "tiny"]) == 0
    model = load_model(out)
    mags = [torch.rand(1, 2, f, 3, t) for f, t in blocks]
    upstream_order = [1, 3, 0, 2]  # ours (vocals, drums, bass, other) in upstream's order
    with torch.no_grad():
        ours = model.masknet(mags)
        theirs = upstream.eval()(mags)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b[upstream_order].transpose(0, 1), atol=1e-5)


def test_training_back_propagates_through_the_module(tiny):
    x = _music(30000, seed=3)
    saved = {k: v.clone() for k, v in tiny.state_dict().items()}
    tiny.train()
    try:
        tiny(x).pow(2).sum().backward()
        grad = tiny.masknet.blocks[0].targets[1].out.weight.grad
        assert grad is not None and grad.abs().sum() > 0
    finally:  # BatchNorm statistics restored
        tiny.zero_grad(set_to_none=True)
        tiny.load_state_dict(saved)
        tiny.eval()


def test_eager_threads_go_to_workers_first():
    from mobile_core.contract.backends import MAX_WORKERS, eager_threads

    assert eager_threads(1) == (1, 1)
    assert eager_threads(2) == (2, 1)
    assert eager_threads(MAX_WORKERS) == (MAX_WORKERS, 1)
    assert eager_threads(2 * MAX_WORKERS) == (MAX_WORKERS, 2)
