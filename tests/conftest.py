"""Shared fixtures: small deterministic models, model files, exported artifacts, audio helpers.

Exported artifacts are slow to build (an ExecuTorch export of even a small separator takes tens of
seconds on the CI box), so they are built once per session, lazily, by :func:`artifacts`. They
use the ``micro`` configuration (4 mel bins, 8 hidden channels): the plumbing is what is under
test there, not the model.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import Tensor, nn

from mobile_core.cli.golden import golden_model, music_signal, randomize_batchnorm
from mobile_core.contract.artifacts import encode_metadata, make_metadata
from mobile_core.contract.chunking import ChunkSpec, chunk_spec
from mobile_core.model.cdae import CDAEConfig
from mobile_core.model.config import SeparatorConfig
from mobile_core.model.model_file import load_model, save_model
from mobile_core.model.separator import Separator
from mobile_core.transform.config import TransformConfig

MICRO = SeparatorConfig("micro", TransformConfig("mel", 4, 115.5, 22050.0),
                        CDAEConfig(hidden1=8, hidden2=8))
MICRO_CHUNK_HOPS = 48
SR = 44100


# ---------------------------------------------------------------------------------------------
# helpers (import them with ``from .conftest import ...``)


def snr_db(ref: Tensor, est: Tensor) -> float:
    """SNR of ``est`` against ``ref`` in dB (float64 sums)."""
    ref, est = ref.double(), est.double()
    noise = float(((ref - est) ** 2).sum())
    return math.inf if noise == 0 else 10 * math.log10(float((ref**2).sum()) / noise)


def write_audio(path: Path, x: Tensor, sr: int = SR, subtype: str = "FLOAT",
                fmt: str | None = None) -> Path:
    """Write ``x[C, n]`` with soundfile (``fmt`` from the suffix unless given)."""
    sf.write(str(path), x.numpy().T, sr, subtype=subtype, format=fmt)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_stem(path: Path) -> tuple[Tensor, int]:
    """A stem file as float32 ``[C, n]`` and its rate."""
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), sr


class ScaleBackend:
    """A stand-in model: stem ``s`` is ``(s + 1) / 4`` times the chunk, for any chunk spec.

    Its chunked output is exactly ``(s + 1) / 4 * mix`` (the kept middles tile the song), so it
    checks the chunk loop and the window without any model error.
    """

    name = "scale"
    stems = ("vocals", "drums", "bass", "other")
    model_id = None

    def __init__(self, spec: ChunkSpec) -> None:
        self.spec = spec
        self.calls = 0

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        self.calls += 1
        assert chunk.shape == (1, 2, self.spec.chunk)
        g = torch.tensor([0.25, 0.5, 0.75, 1.0]).view(1, 4, 1, 1)
        return g * chunk.unsqueeze(1)


class _Quarter(nn.Module):
    """A trivial exportable graph ``[1, 2, L] -> [1, 4, 2, L]`` (for metadata tests)."""

    def forward(self, x: Tensor) -> Tensor:
        return (0.25 * x).unsqueeze(1).expand(-1, 4, -1, -1).contiguous()


# ---------------------------------------------------------------------------------------------
# models


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``).

    On the small shared CI box, two OpenMP threads competing with other jobs run the separator
    many times slower than one; the previous setting is restored after the module.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Opening an eager backend sets torch's intra-op thread count (a process-wide setting):
    restore it after every test so that no test runs on another's setting."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_sep() -> Separator:
    """``tiny`` with fixed-seed weights and randomised BatchNorm statistics (eval)."""
    return golden_model("tiny")


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory, tiny_sep: Separator) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(tiny_sep, path, info={"purpose": "tests"})
    return path


@pytest.fixture(scope="session")
def micro_sep() -> Separator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        sep = Separator(MICRO)
    return randomize_batchnorm(sep, 6).eval()


@pytest.fixture(scope="session")
def micro_model_file(tmp_path_factory, micro_sep: Separator) -> Path:
    path = tmp_path_factory.mktemp("models") / "micro.pt"
    save_model(micro_sep, path)
    return path


@pytest.fixture(scope="session")
def micro_spec(micro_sep: Separator) -> ChunkSpec:
    return chunk_spec(micro_sep.transform, micro_sep.config.cdae, MICRO_CHUNK_HOPS)


def _metadata_json(spec: ChunkSpec, kind: str, model_id: str, config: str = "micro",
                   **override) -> str:
    meta = make_metadata(spec, ("vocals", "drums", "bass", "other"), config, model_id, "fp32",
                         kind)
    meta.update(override)
    return encode_metadata(meta)


def _export(kind: str, module: nn.Module, x: Tensor, path: Path, meta_json: str) -> Path:
    from export.formats.onnx import to_onnx
    from export.formats.pte import to_pte
    from export.formats.ptl import to_ptl

    if kind == "pte":
        # XNNPACK delegation of the separator graph does not load in the runtime yet (see the
        # runner's report); the portable kernels run the same graph.
        to_pte(module, (x,), path, xnnpack=False, constant_methods={
            "get_metadata": torch.tensor(list(meta_json.encode()), dtype=torch.uint8)})
    elif kind == "ptl":
        to_ptl(module, (x,), path, extra_files={"demix_metadata.json": meta_json})
    else:
        to_onnx(module, (x,), path, metadata={"demix_metadata": meta_json},
                input_names=["mix"], output_names=["stems"])
    return path


def _onnx_to_ort(src: Path, dst: Path) -> Path:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(dst)
    opts.add_session_config_entry("session.save_model_format", "ORT")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    return dst


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, micro_sep: Separator, micro_model_file: Path,
              micro_spec: ChunkSpec) -> Callable[[str], Path]:
    """``artifacts(kind)`` -> path of the micro model exported as ``kind`` (built on first use).

    Kinds: ``pte``, ``ptl``, ``onnx``, ``ort`` (the real micro separator, metadata matching
    ``micro_model_file``), and for error tests ``pte-v999`` (metadata format_version 999) and
    ``ptl-kind-pte`` (a .ptl whose metadata says kind pte), both a trivial graph.
    """
    pytest.importorskip("executorch")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("artifacts")
    built: dict[str, Path] = {}
    mid = load_model(micro_model_file).model_id
    x = torch.zeros(1, 2, micro_spec.chunk)

    def get(kind: str) -> Path:
        if kind in built:
            return built[kind]
        if kind in ("pte", "ptl"):
            path = _export(kind, micro_sep, x, root / f"micro.{kind}",
                           _metadata_json(micro_spec, kind, mid))
        elif kind == "onnx":
            matmul = Separator(MICRO, dft="matmul").eval()
            matmul.load_state_dict(micro_sep.state_dict())
            path = _export("onnx", matmul, x, root / "micro.onnx",
                           _metadata_json(micro_spec, "onnx", mid))
        elif kind == "ort":
            path = _onnx_to_ort(get("onnx"), root / "micro.ort")
        elif kind == "pte-v999":
            path = _export("pte", _Quarter(), x, root / "v999.pte",
                           _metadata_json(micro_spec, "pte", mid, format_version=999))
        elif kind == "ptl-kind-pte":
            path = _export("ptl", _Quarter(), x, root / "wrongkind.ptl",
                           _metadata_json(micro_spec, "pte", mid))
        else:
            raise KeyError(kind)
        built[kind] = path
        return path

    return get


# ---------------------------------------------------------------------------------------------
# audio


@pytest.fixture(scope="session")
def song() -> Callable[..., Tensor]:
    """``song(n, sr=44100, channels=2, seed=0)`` -> music-like float32 ``[C, n]``."""

    def make(n: int, sr: int = SR, channels: int = 2, seed: int = 0) -> Tensor:
        return music_signal(n, sr, channels, seed)

    return make
