"""The sliCQT's eager inference engine equals its real-valued path, which autograd and exports
run; SliCQT itself picks the engine in eager inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mobile_core.model.separator import Separator
from mobile_core.transform import engine as eager_engine
from mobile_core.transform.slicqt import SliCQT


def _rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = sum(float(((p - q).double() ** 2).sum()) for p, q in zip(a, b, strict=True))
    return (num / sum(float((q.double() ** 2).sum()) for q in b)) ** 0.5


@pytest.mark.parametrize("name", ["xumx-rt", "tiny"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_engine_equals_the_module(name, dtype):
    t = SliCQT.from_config(name)
    t.slices_per_pass = 7  # several passes
    x = torch.randn(2, 2, 40011, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.enable_grad():  # x requires grad: SliCQT runs its real-valued path
        want = [b.detach() for b in t(x.clone().requires_grad_())]
    masks = [torch.rand(b.shape[:-1], dtype=dtype) for b in want]
    span = (3 * t.hop + 5, x.shape[-1] - t.hop)
    with torch.inference_mode():
        got = eager_engine.forward(t, x)
        assert all(g.shape == w.shape and g.dtype == dtype for g, w in zip(got, want))
        assert _rel(got, want) < (1e-6 if dtype == torch.float32 else 1e-12)
        assert all(torch.equal(a, b) for a, b in zip(t(x), got))  # what SliCQT runs here
        y_got = eager_engine.inverse(t, want, x.shape[-1], masks, span)
        assert torch.equal(t.inverse(want, x.shape[-1], masks, span), y_got)
    with torch.enable_grad():
        y_want = t.inverse([w.requires_grad_() for w in want], x.shape[-1], masks, span).detach()
    assert y_got.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert (y_got - y_want).abs().max() <= tol * y_want.abs().max()


class _Ops(TorchDispatchMode):
    """Records ``(op name, dtype)`` of every tensor an op returns."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, torch.dtype]] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor):
                self.seen.add((func.__name__, o.dtype))
        return out


def test_the_autograd_path_builds_no_complex_tensor_and_calls_no_numpy(monkeypatch):
    # what autograd (and every export) runs is real-valued tensor ops: the only complex values
    # are rfft's output, read at once through view_as_real
    def no_numpy(*args, **kwargs):
        raise AssertionError("NumPy called in the transform")

    t = SliCQT.from_config("tiny")
    x = torch.randn(1, 2, 20000, requires_grad=True)
    with monkeypatch.context() as m:
        m.setattr(np.fft, "irfft", no_numpy)
        m.setattr(np.fft, "rfft", no_numpy)
        with _Ops() as mode:
            blocks = t(x)
            masks = [torch.rand(b.shape[:-1]) for b in blocks]
            t.inverse(blocks, x.shape[-1], masks, (100, 9000))
    complex_from = {op for op, dtype in mode.seen if dtype.is_complex}
    assert complex_from and complex_from <= {"_fft_r2c.default"}, complex_from
    for mode_ in (torch.no_grad, torch.inference_mode):  # eager inference: the engine
        with mode_(), _Ops() as mode:
            t(x)
        assert {op for op, dtype in mode.seen if dtype.is_complex} - {"_fft_r2c.default"}


def test_separator_inference_uses_the_engine_and_training_the_module(monkeypatch):
    sep = Separator.from_config("tiny").eval()
    x = torch.randn(1, 2, 30000, generator=torch.Generator().manual_seed(2)) * 0.3
    calls = []
    real_inverse = eager_engine.inverse
    monkeypatch.setattr(eager_engine, "inverse",
                        lambda *a, **k: calls.append(1) or real_inverse(*a, **k))
    with torch.no_grad():
        fast = sep(x)
    assert len(calls) == 4  # one inverse per stem
    calls.clear()
    slow = sep(x)  # autograd on: the module's real-valued transform
    assert not calls and slow.requires_grad
    assert (fast - slow.detach()).abs().max() <= 1e-5 * slow.abs().max()


def test_as_complex_copies_only_when_it_must():
    z = torch.randn(3, 5, 2)
    assert eager_engine.as_complex(z).data_ptr() == z.data_ptr()  # a view
    odd = torch.randn(3, 7)[:, 1:5].reshape(3, 2, 2)  # a row stride of 7
    apart = torch.randn(2, 5).t()  # the (re, im) axis not contiguous
    for w in (odd, apart):
        assert torch.equal(torch.view_as_real(eager_engine.as_complex(w)), w)
