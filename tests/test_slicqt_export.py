"""The transform alone exports and runs in ExecuTorch, TorchScript-lite and onnxruntime."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from export.formats.onnx import to_onnx
from export.formats.pte import to_pte
from export.formats.ptl import to_ptl
from mobile_core.transform.slicqt import SliCQT


class RoundTrip(nn.Module):
    """``x[1, 2, N] -> (*blocks, inverse(blocks))`` for a fixed N."""

    def __init__(self, t: SliCQT, n: int) -> None:
        super().__init__()
        self.t, self.n = t, n

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        blocks = self.t(x)
        return (*blocks, self.t.inverse(blocks, self.n))


def _signal(n: int) -> torch.Tensor:
    """Music-like: a few harmonic tones with an envelope plus a little noise."""
    t = torch.arange(n) / 44100.0
    freqs = (110.0, 220.0, 330.0, 1760.0)
    x = sum(torch.sin(2 * np.pi * f * t) / k for k, f in enumerate(freqs, 1))
    x = x * (0.5 + 0.5 * torch.sin(2 * np.pi * 2.0 * t)) + 0.01 * torch.randn(n)
    return torch.stack((x, 0.8 * x.roll(37)))[None].float() * 0.3


def _rel(outs, refs) -> float:
    num = sum(float(((torch.as_tensor(np.asarray(o)) - r) ** 2).sum()) for o, r in zip(outs, refs))
    den = sum(float((r**2).sum()) for r in refs)
    return (num / den) ** 0.5


def test_executorch_pte(tmp_path, config="tiny", n=20000):
    from executorch.runtime import Runtime

    model = RoundTrip(SliCQT.from_config(config), n).eval()
    x = _signal(n)
    ref = model(x)
    report = to_pte(model, (x,), tmp_path / "t.pte")
    assert report.delegated_nodes > 0
    method = Runtime.get().load_program(tmp_path / "t.pte").load_method("forward")
    outs = method.execute([x])
    assert len(outs) == len(ref)
    assert _rel(outs, ref) <= 1e-5


def test_torchscript_lite_ptl(tmp_path):
    from torch.jit.mobile import _load_for_lite_interpreter

    n = 20000
    model = RoundTrip(SliCQT.from_config("tiny"), n).eval()
    x = _signal(n)
    ref = model(x)
    to_ptl(model, (x,), tmp_path / "t.ptl")
    outs = _load_for_lite_interpreter(str(tmp_path / "t.ptl"))(x)
    assert _rel(outs, ref) <= 1e-5


def test_onnxruntime(tmp_path):
    import onnxruntime as ort

    n = 20000
    model = RoundTrip(SliCQT.from_config("tiny", dft="matmul"), n).eval()
    x = _signal(n)
    ref = RoundTrip(SliCQT.from_config("tiny"), n)(x)  # the matmul graph equals the fft one
    to_onnx(model, (x,), tmp_path / "t.onnx")
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    assert _rel(outs, ref) <= 1e-5
