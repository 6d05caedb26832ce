"""int8 recipes (export/quantize.py): only the masknet is quantized, the transform stays float32.

Small stand-in graphs with the chunk graph's interface (``transform``, ``masknet.blocks``,
``masknet_inputs``) keep these fast; the real separator goes through every recipe in
tests/test_export_artifacts.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from export import quantize as q
from export import songs
from export.report import snr_db
from mobile_core.contract.chunking import ChunkSpec

N = 256


class ToyTransform(nn.Module):
    """A float 'transform' made of the ops the real one has: matmul, flip, cat, reshape."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("basis", torch.randn(16, 16, generator=g) / 4)
        self.register_buffer("inv", torch.randn(32, 16, generator=g) / 4)

    def forward(self, x: Tensor) -> list[Tensor]:
        f = x.reshape(1, 2, N // 16, 16) @ self.basis  # [1, 2, 16, 16]
        return [torch.cat((f, f.flip(-1)), dim=-1)]  # one block [1, 2, 16, 32]

    def inverse(self, y: Tensor) -> Tensor:
        z = torch.cat((y[..., :16], y[..., 16:]), dim=-2)  # [1, 2, 32, 16]
        return (z.transpose(-1, -2) @ self.inv).reshape(1, 2, -1)[..., :N]


class ToyBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 8, (3, 3), padding=1)
        self.out = nn.Conv2d(8, 2, (1, 1))

    def forward(self, mag: Tensor) -> Tensor:
        return torch.sigmoid(self.out(torch.relu(self.conv(mag))))


class ToyMaskNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([ToyBlock()])

    def forward(self, mags: list[Tensor]) -> list[Tensor]:
        return [b(m) for b, m in zip(self.blocks, mags)]


class ToyGraph(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.transform = ToyTransform()
        self.masknet = ToyMaskNet()
        self.eval()

    def masknet_inputs(self, x: Tensor) -> list[Tensor]:
        return [b.abs() for b in self.transform(x)]

    def forward(self, x: Tensor) -> Tensor:
        blocks = self.transform(x)
        masks = self.masknet([b.abs() for b in blocks])
        return self.transform.inverse(masks[0] * blocks[0])


def _music(n_chunks: int = 4) -> list[Tensor]:
    """Real music (the bundled example song) cut into toy-length chunks."""
    song = songs.example_song().mix
    return [song[None, :, 44100 + i * N : 44100 + (i + 1) * N].contiguous()
            for i in range(n_chunks)]


def test_pt2e_quantizes_masknet_convs_only():
    g = ToyGraph()
    chunks = _music()
    qep, check = q.quantize_pt2e(g, chunks[0], chunks)
    assert check.quantized_convs == 2 and check.float_convs == 0, check
    assert check.transform_ops > 0 and check.transform_ops_quantized == [], check
    assert check.ok
    with torch.no_grad():
        ref, out = g(chunks[1]), qep.module()(chunks[1])
    assert snr_db(out, ref) >= 20.0, f"int8 vs fp32 SNR {snr_db(out, ref):.1f} dB"


def test_fp32_check_catches_a_quantized_transform():
    """Quantizing the whole graph (ExecuTorch's quantizer annotates cat/mul anywhere) must be
    reported: the check is what keeps the recipe honest."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from export.formats.common import export_program

    g = ToyGraph()
    chunks = _music(2)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(True))
    prepared = prepare_pt2e(export_program(g, (chunks[0],)).module(), quantizer)
    for x in chunks:
        prepared(x)
    check = q.transform_fp32_report(convert_pt2e(prepared))
    assert not check.ok
    assert any("cat" in op for op in check.transform_ops_quantized), check


def test_fx_qnnpack_quantizes_blocks_and_keeps_transform_float():
    torch.backends.quantized.engine = "qnnpack"
    g = ToyGraph()
    chunks = _music()
    qg = q.quantize_fx_qnnpack(g, chunks)
    assert isinstance(qg.transform, ToyTransform)  # untouched, same class, float buffers
    assert qg.transform.basis.dtype == torch.float32
    assert torch.equal(qg.transform.basis, g.transform.basis)
    from torch.ao.nn.quantized import Conv2d as QConv2d

    qconvs = [m for m in qg.masknet.blocks[0].modules() if isinstance(m, QConv2d)]
    assert len(qconvs) == 2, [type(m).__name__ for m in qg.masknet.blocks[0].modules()]
    with torch.no_grad():
        ref, out = g(chunks[1]), qg(chunks[1])
    assert snr_db(out, ref) >= 20.0, f"int8 vs fp32 SNR {snr_db(out, ref):.1f} dB"
    traced = torch.jit.trace(qg, (chunks[0],), check_trace=False)  # what .ptl export does
    assert traced(chunks[1]).shape == ref.shape


def test_onnx_qdq_quantizes_masknet_only(tmp_path):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, quantize_static

    from export.formats.onnx import to_onnx

    g = ToyGraph()
    chunks = _music()
    src = tmp_path / "toy.onnx"
    to_onnx(g, (chunks[0],), src, input_names=["mix"], output_names=["stems"])
    dst = tmp_path / "toy-int8.onnx"
    q.quantize_onnx(src, dst, chunks, "mix")
    check = q.onnx_fp32_report(dst, src)
    assert check.ok and check.quantized_convs == 2 and check.float_convs == 0, check
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    out = torch.from_numpy(sess.run(None, {"mix": chunks[1].numpy()})[0])
    with torch.no_grad():
        ref = g(chunks[1])
    assert snr_db(out, ref) >= 20.0, f"int8 vs fp32 SNR {snr_db(out, ref):.1f} dB"

    # the check must catch a model whose transform MatMuls were quantized too
    bad = tmp_path / "toy-bad.onnx"
    reader = iter([{"mix": c.numpy()} for c in chunks])

    class Reader:
        def get_next(self):
            return next(reader, None)

    quantize_static(str(src), str(bad), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "MatMul"])
    bad_check = q.onnx_fp32_report(bad, src)
    assert not bad_check.ok and any("MatMul" in n for n in bad_check.transform_ops_quantized)


def test_calibration_chunks_are_full_length_music():
    spec = ChunkSpec(44100, 24 * 1008, 5 * 1008, 3 * 1008, 1008)
    chunks = songs.calibration_chunks(spec, n_chunks=6, n_songs=2)
    assert len(chunks) == 6
    for c in chunks:
        assert c.shape == (1, 2, spec.chunk)
        rms = float(c.pow(2).mean().sqrt())
        assert 1e-3 < rms < 0.7, rms
    # from more than one song (round-robin), and not white noise: music has far more energy at
    # low frequencies than at high ones
    assert not torch.equal(chunks[0], chunks[1])
    spec_mag = torch.fft.rfft(chunks[1][0, 0]).abs()
    k = spec_mag.shape[0]
    assert spec_mag[: k // 8].mean() > 5 * spec_mag[k // 2 :].mean()


def test_heldout_songs_are_not_calibration_songs():
    spec = ChunkSpec(44100, 24 * 1008, 5 * 1008, 3 * 1008, 1008)
    held = songs.heldout_songs(spec, 1)
    cal = songs.synth_song(songs.CALIBRATION_SEED, songs.song_seconds(spec))
    assert held[0].stems is not None and held[0].stems.shape[0] == 4
    assert held[0].name != cal.name
    n = min(held[0].mix.shape[-1], cal.mix.shape[-1])
    assert not torch.allclose(held[0].mix[:, :n], cal.mix[:, :n])
    # the mixture is the sum of the stems (int16 rounding aside)
    assert float((held[0].stems.sum(0) - held[0].mix).abs().max()) < 4 / 32768


@pytest.mark.parametrize("seconds", [0.3, 10.0])
def test_song_chunks_follow_the_chunk_plan(seconds):
    from mobile_core.contract.chunking import plan_chunks

    spec = ChunkSpec(44100, 24 * 1008, 5 * 1008, 3 * 1008, 1008)
    mix = torch.randn(2, int(seconds * 44100))
    chunks = songs.song_chunks(mix, spec)
    plan = plan_chunks(mix.shape[-1], spec)
    assert len(chunks) == len(plan)
    c = plan[-1]
    seg = mix[:, c.start : c.start + spec.chunk]
    assert torch.equal(chunks[-1][0, :, : seg.shape[-1]], seg)
