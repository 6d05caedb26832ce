"""Upstream xumx-sliCQ-V2 realtime checkpoint -> MaskNet: every tensor, the maths, the errors.

The upstream model is rebuilt here from its documented layout (DESIGN.md §3): per block
``sliced_umx.{b}`` a ``cdaes`` list of four ``Sequential``s (0 causal conv, 1 BN, 2 ReLU, 3 conv,
4 BN, 5 ReLU, 6 transposed conv, 7 BN, 8 ReLU, 9 transposed conv with bias, 10 sigmoid) in upstream
target order (bass, vocals, other, drums), and ``input_mean`` / ``input_scale`` applied as
``(x + input_mean) * input_scale``. Its masks are the reference for the converted network.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from export.convert_upstream import (
    ModelFileError,
    check_upstream_json,
    convert_state_dict,
    load_upstream_checkpoint,
    main,
)
from mobile_core.errors import DemixError
from mobile_core.model.cdae import STEMS, CDAEConfig, MaskNet

# two blocks share a shape on purpose: a block mix-up cannot hide behind a shape check
BLOCKS = [(1, 8), (12, 12), (21, 16), (12, 12)]
UPSTREAM = ("bass", "vocals", "other", "drums")
# our stem s (vocals, drums, bass, other) <- upstream target OURS_FROM_UPSTREAM[s]
OURS_FROM_UPSTREAM = [1, 3, 0, 2]
H1, H2 = 50, 51


class _UpCausalConv(nn.Conv2d):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.kernel_size[1] - 1, 0)))


class _UpBlock(nn.Module):
    def __init__(self, nb_bins: int, nb_t_bins: int) -> None:
        super().__init__()
        k = 1 if nb_bins < 10 else 3 if nb_bins < 20 else 5
        hop = nb_t_bins // 2

        def cdae() -> nn.Sequential:
            return nn.Sequential(
                _UpCausalConv(2, H1, (k, nb_t_bins), stride=(1, hop), bias=False),
                nn.BatchNorm2d(H1), nn.ReLU(),
                nn.Conv2d(H1, H2, (k, 4), bias=False), nn.BatchNorm2d(H2), nn.ReLU(),
                nn.ConvTranspose2d(H2, H1, (k, 4), bias=False), nn.BatchNorm2d(H1), nn.ReLU(),
                nn.ConvTranspose2d(H1, 2, (k, nb_t_bins), stride=(1, hop), bias=True),
                nn.Sigmoid(),
            )

        self.cdaes = nn.ModuleList(cdae() for _ in UPSTREAM)
        self.input_mean = nn.Parameter(torch.zeros(nb_bins))  # stores -mean
        self.input_scale = nn.Parameter(torch.ones(nb_bins))  # stores 1/std

    def forward(self, mag: Tensor) -> Tensor:
        """``[B, C, F, S, T] -> [4 (upstream order), B, C, F, S, T]``."""
        nb_f, length = mag.shape[2], mag.shape[3] * mag.shape[4]
        x = mag.flatten(-2)
        x = (x + self.input_mean[:, None]) * self.input_scale[:, None]
        return torch.stack([c(x)[..., :nb_f, :length].reshape(mag.shape) for c in self.cdaes])


class UpstreamRealtime(nn.Module):
    def __init__(self, blocks) -> None:
        super().__init__()
        self.sliced_umx = nn.ModuleList(_UpBlock(f, t) for f, t in blocks)

    def forward(self, mags: list[Tensor]) -> list[Tensor]:
        return [blk(m) for blk, m in zip(self.sliced_umx, mags, strict=True)]


def random_upstream(blocks=BLOCKS, seed: int = 0) -> UpstreamRealtime:
    """Upstream-layout model with random weights, BN statistics and batch counters; eval mode."""
    g = torch.Generator().manual_seed(seed)
    model = UpstreamRealtime(blocks)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("input_scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            else:  # num_batches_tracked
                b.fill_(int(torch.randint(100, 1000, (), generator=g)))
    return model.eval()


def documented_keys(blocks) -> set[str]:
    keys = set()
    for b in range(len(blocks)):
        keys |= {f"sliced_umx.{b}.input_mean", f"sliced_umx.{b}.input_scale"}
        for t in range(4):
            p = f"sliced_umx.{b}.cdaes.{t}."
            keys |= {p + "0.weight", p + "3.weight", p + "6.weight", p + "9.weight", p + "9.bias"}
            for i in (1, 4, 7):
                keys |= {f"{p}{i}.{k}" for k in
                         ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    return keys


def converted(upstream_sd, blocks=BLOCKS) -> MaskNet:
    net = MaskNet(blocks)
    net.load_state_dict(convert_state_dict(upstream_sd, blocks, CDAEConfig()), strict=True)
    return net.eval()


def test_fixture_has_the_documented_layout():
    sd = random_upstream().state_dict()
    assert set(sd) == documented_keys(BLOCKS)
    assert sd["sliced_umx.1.cdaes.2.0.weight"].shape == (50, 2, 3, 12)
    assert sd["sliced_umx.2.cdaes.0.6.weight"].shape == (51, 50, 5, 4)
    assert sd["sliced_umx.0.cdaes.3.9.weight"].shape == (50, 2, 1, 8)
    assert sd["sliced_umx.0.cdaes.3.9.bias"].shape == (2,)
    assert sd["sliced_umx.2.input_mean"].shape == (21,)
    assert STEMS == ("vocals", "drums", "bass", "other")
    assert [UPSTREAM.index(s) for s in STEMS] == OURS_FROM_UPSTREAM


def test_every_tensor_lands_in_its_place():
    up = random_upstream().state_dict()
    ours = convert_state_dict(up, BLOCKS, CDAEConfig())
    assert set(ours) == set(MaskNet(BLOCKS).state_dict())
    bn = ("weight", "bias", "running_mean", "running_var")
    for b in range(len(BLOCKS)):
        u, o = f"sliced_umx.{b}.", f"blocks.{b}."
        assert torch.equal(ours[o + "input_mean"], -up[u + "input_mean"])
        assert torch.equal(ours[o + "input_scale"], up[u + "input_scale"])
        counts = []
        for s, t in enumerate(OURS_FROM_UPSTREAM):
            c, rows = f"{u}cdaes.{t}.", slice(s * H1, (s + 1) * H1)
            assert torch.equal(ours[o + "stem.weight"][rows], up[c + "0.weight"])
            for k in bn:
                assert torch.equal(ours[o + f"stem_bn.{k}"][rows], up[c + f"1.{k}"])
            counts.append(int(up[c + "1.num_batches_tracked"]))
            tgt = f"{o}targets.{s}."
            assert torch.equal(ours[tgt + "conv.weight"], up[c + "3.weight"])
            assert torch.equal(ours[tgt + "deconv.weight"], up[c + "6.weight"])
            assert torch.equal(ours[tgt + "out.weight"], up[c + "9.weight"])
            assert torch.equal(ours[tgt + "out.bias"], up[c + "9.bias"])
            for k in (*bn, "num_batches_tracked"):
                assert torch.equal(ours[tgt + f"bn1.{k}"], up[c + f"4.{k}"])
                assert torch.equal(ours[tgt + f"bn2.{k}"], up[c + f"7.{k}"])
        assert int(ours[o + "stem_bn.num_batches_tracked"]) == max(counts)
        assert ours[o + "stem_bn.num_batches_tracked"].dtype == torch.long


def test_converted_network_computes_upstream_masks():
    model = random_upstream(seed=1)
    net = converted(model.state_dict())
    g = torch.Generator().manual_seed(2)
    mags = [3.0 * torch.rand(2, 2, f, 4, t, generator=g) for f, t in BLOCKS]
    with torch.no_grad():
        want, folded = model(mags), net(mags)  # eval, no autograd: the folded inference form
    with torch.enable_grad():
        got = [m.detach() for m in net(mags)]  # the module's own layers, op for op
    for w, m, f in zip(want, got, folded, strict=True):
        assert m.shape == f.shape == (2, 4, *w.shape[2:])
        for s, t in enumerate(OURS_FROM_UPSTREAM):
            torch.testing.assert_close(m[:, s], w[t], rtol=0, atol=2e-6)
            torch.testing.assert_close(f[:, s], w[t], rtol=0, atol=2e-5)  # other sum order
        assert (w[0] - w[1]).abs().max() > 1e-2  # targets differ, so a swap would show


def test_constant_masks_pin_blocks_targets_and_channels():
    """Zero last-layer weights: the mask of (block, target, channel) is sigmoid of its own bias."""
    sd = random_upstream(seed=3).state_dict()
    bias = {}
    for b in range(len(BLOCKS)):
        for t in range(4):
            sd[f"sliced_umx.{b}.cdaes.{t}.9.weight"].zero_()
            bias[b, t] = torch.tensor([0.1 * (8 * b + 2 * t) - 1.5, 0.1 * (8 * b + 2 * t) - 1.4])
            sd[f"sliced_umx.{b}.cdaes.{t}.9.bias"].copy_(bias[b, t])
    net = converted(sd)
    mags = [torch.rand(1, 2, f, 3, t) for f, t in BLOCKS]
    with torch.no_grad():
        masks = net(mags)
    for b, m in enumerate(masks):
        for s, t in enumerate(OURS_FROM_UPSTREAM):
            for c in range(2):
                want = torch.sigmoid(bias[b, t][c]).expand_as(m[:, s, c])
                torch.testing.assert_close(m[:, s, c], want, rtol=0, atol=1e-7)


def test_wrapped_and_prefixed_checkpoints_load(tmp_path):
    sd = random_upstream(seed=4).state_dict()
    raw, wrapped = tmp_path / "xumx_slicq_v2.pth", tmp_path / "xumx_slicq_v2.chkpnt"
    torch.save(sd, raw)
    torch.save({"epoch": 3, "state_dict": sd, "best_loss": 0.04,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]}}, wrapped)
    for path in (raw, wrapped):
        loaded = load_upstream_checkpoint(path)
        assert set(loaded) == set(sd)
        assert all(torch.equal(loaded[k], sd[k]) for k in sd)
    prefixed = {"module." + k: v for k, v in sd.items()}
    a = convert_state_dict(prefixed, BLOCKS)
    b = convert_state_dict(sd, BLOCKS)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_lfs_pointer_and_garbage_are_clear_errors(tmp_path, capsys):
    pointer = tmp_path / "xumx_slicq_v2.pth"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:12e2\nsize 624\n")
    with pytest.raises(ModelFileError, match="Git LFS pointer"):
        load_upstream_checkpoint(pointer)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelFileError, match="not a readable PyTorch checkpoint"):
        load_upstream_checkpoint(garbage)
    with pytest.raises(ModelFileError, match="cannot read checkpoint"):
        load_upstream_checkpoint(tmp_path / "missing.pth")
    assert issubclass(ModelFileError, DemixError)
    assert main([str(pointer), str(tmp_path / "out.pte")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Git LFS pointer" in err


def test_block_count_mismatch():
    sd = random_upstream().state_dict()
    with pytest.raises(ModelFileError, match=r"checkpoint has 4 blocks .* has 3 blocks"):
        convert_state_dict(sd, BLOCKS[:3])
    with pytest.raises(ModelFileError, match=r"checkpoint has 4 blocks .* has 5 blocks"):
        convert_state_dict(sd, [*BLOCKS, (30, 20)])


def test_shape_mismatches_name_the_tensor():
    sd = random_upstream().state_dict()
    # the configuration says T_b = 16 for block 1, the checkpoint was trained with 12
    with pytest.raises(ModelFileError, match=r"sliced_umx\.1\.cdaes\.0\.0\.weight has shape "
                       r"\(50, 2, 3, 12\), expected \(50, 2, 3, 16\) \(block 1: F_b=12, T_b=16"):
        convert_state_dict(sd, [(1, 8), (12, 16), (21, 16), (12, 12)])
    # a frequency kernel that does not fit the thresholds
    bad = dict(sd)
    bad["sliced_umx.3.cdaes.2.3.weight"] = torch.zeros(51, 50, 5, 4)
    with pytest.raises(ModelFileError, match=r"sliced_umx\.3\.cdaes\.2\.3\.weight has shape "
                       r"\(51, 50, 5, 4\), expected \(51, 50, 3, 4\).*freq kernel 3"):
        convert_state_dict(bad, BLOCKS)
    # a different threshold configuration changes the expected kernel
    with pytest.raises(ModelFileError, match=r"expected \(50, 2, 5, 12\)"):
        convert_state_dict(sd, BLOCKS, CDAEConfig(freq_thresholds=(10, 11)))


def test_missing_and_unexpected_tensors():
    sd = random_upstream().state_dict()
    missing = {k: v for k, v in sd.items() if k != "sliced_umx.0.cdaes.3.7.running_var"}
    with pytest.raises(ModelFileError, match=r"lacks sliced_umx\.0\.cdaes\.3\.7\.running_var"):
        convert_state_dict(missing, BLOCKS)
    extra = {**sd, "sliced_umx.2.lstms.0.weight_ih_l0": torch.zeros(3)}
    with pytest.raises(ModelFileError, match=r"not part of the realtime CDAE.*lstms"):
        convert_state_dict(extra, BLOCKS)


def test_upstream_json_must_be_realtime_and_match(tmp_path):
    path = tmp_path / "xumx_slicq_v2.json"
    args = {"fscale": "bark", "fbins": 262, "fmin": 32.9, "sample_rate": 44100.0,
            "realtime": True}
    path.write_text(json.dumps({"args": args}))
    check_upstream_json(path, "xumx-rt")
    path.write_text(json.dumps({"args": {**args, "realtime": False}}))
    with pytest.raises(ModelFileError, match="offline"):
        check_upstream_json(path, "xumx-rt")
    path.write_text(json.dumps({"args": {**args, "fscale": "mel", "fbins": 32}}))
    with pytest.raises(ModelFileError, match="scale=mel, bins=32"):
        check_upstream_json(path, "xumx-rt")
