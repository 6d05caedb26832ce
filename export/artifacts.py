"""Build the fixed-length chunk graph, quantize it, write each artifact format and report on it.

The chunk graph (:class:`ChunkGraph`) is the whole separator at one fixed chunk length ``L``:
``mix[1, 2, L] -> stems[1, 4, 2, L]``, eval mode, BatchNorm folded into the convolutions, the
transform in one pass over the chunk's slices. Each artifact carries the metadata of
:mod:`mobile_core.artifacts` (chunk geometry, stems, config, model id, quantization).

:func:`export_artifacts` writes ``DIR/demix-{config}-{quant}.{pte,ptl,onnx,ort}`` and returns an
:class:`ArtifactReport` per file: size, parity against the eager float32 model on music (stems SNR,
max abs difference), ms per chunk in its own runtime (one thread), for int8 the SDR change on
held-out synthetic songs, and for ``.pte`` the XNNPACK delegation summary.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from mobile_core.artifacts import (
    INPUT_NAME,
    ONNX_METADATA_KEY,
    OUTPUT_NAME,
    PTE_METADATA_METHOD,
    PTL_METADATA_FILE,
    encode_metadata,
    make_metadata,
)
from mobile_core.chunking import ChunkSpec, chunk_spec
from mobile_core.dft import ComplexDFT
from mobile_core.errors import DemixError, ModelFileError
from mobile_core.folded import fold_bn
from mobile_core.model_file import model_id
from mobile_core.separator import Separator
from mobile_core.slicqt import SliCQT, magnitude

from . import quantize as q
from .lowering import to_onnx, to_pte, to_ptl

KINDS = ("pte", "ptl", "onnx", "ort")
QUANTS = ("fp32", "int8")
INVERSE_SLICES = 16
"""Slices per pass of the chunk graph's inverse transform (memory vs graph size, see ChunkGraph)."""

__all__ = [
    "ArtifactReport",
    "ChunkGraph",
    "export_artifacts",
    "DeployBlock",
    "deploy_masknet",
    "fresh_separator",
    "markdown_table",
    "resolve_model",
    "sdr",
    "snr_db",
]


# ------------------------------------------------------------------------------ the graph


def _fold(conv: nn.Module, bn: nn.BatchNorm2d, transposed: bool) -> None:
    """Fold eval-mode ``bn`` into ``conv`` (in place): ``bn(conv(x)) == conv'(x)``."""
    w, b = fold_bn(conv.weight, conv.bias, bn, transposed)
    conv.weight = nn.Parameter(w)
    conv.bias = nn.Parameter(b)


class PaddedConv(nn.Module):
    """The causal stem as ``ZeroPad2d`` (left of time) + a plain ``Conv2d``, so that every
    quantizer sees a standard conv: ``[B, C, F, L] -> [B, C', F', N]``."""

    def __init__(self, conv: nn.Conv2d, left_pad: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((left_pad, 0, 0, 0))
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.pad(x))


class OverlapAddDeconv(nn.Module):
    """``ConvTranspose2d(h -> C, kernel (k_f, T), stride (1, T/2))`` as a conv plus overlap-add.

    The transposed conv writes, for every input frame ``n``, ``T`` output samples starting at
    ``n * T/2``: with stride ``T/2`` every output segment of ``T/2`` samples is the second half of
    frame ``n-1``'s contribution plus the first half of frame ``n``'s. So: one ``Conv2d``
    ``h -> C*T`` with kernel ``(k_f, 1)`` (frequency kernel flipped, ``k_f - 1`` zeros padded on
    both frequency sides: the transposed conv's "full" frequency extent), then the two halves
    shifted by one frame and added, then frames unfolded to time:
    ``[B, h, F', N] -> [B, C*T, F, N] -> [B, C, F, (N + 1) T/2]``. Same maths; XNNPACK runs it
    ~20x faster than its strided-deconvolution (Subconv2D) kernel (measured, fp32, one thread:
    37 ms -> 1.8 ms for a 86-channel block, 98 frames), and it quantizes as a plain conv.
    """

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        cin, cout, kf, t = deconv.weight.shape
        if deconv.stride != (1, t // 2) or t % 2 or deconv.padding != (0, 0) or deconv.groups != 1:
            raise ValueError("OverlapAddDeconv needs kernel (k_f, T), stride (1, T/2), T even")
        self.cout, self.t, self.hop = cout, t, t // 2
        w = deconv.weight.detach().flip(2).permute(1, 3, 0, 2).reshape(cout * t, cin, kf, 1)
        self.conv = nn.Conv2d(cin, cout * t, (kf, 1), padding=(kf - 1, 0), bias=False)
        self.conv.weight = nn.Parameter(w.contiguous())
        bias = deconv.bias.detach() if deconv.bias is not None else torch.zeros(cout)
        self.bias = nn.Parameter(bias.clone().view(1, cout, 1, 1))

    def forward(self, h: Tensor) -> Tensor:
        return _overlap_add(self.conv(h), self.cout, self.t) + self.bias


def _overlap_add(z: Tensor, channels: int, t: int) -> Tensor:
    """Frames of ``t`` samples at hop ``t/2`` -> signal: ``[B, channels*t, F, N]`` ->
    ``[B, channels, F, (N + 1) t/2]`` (segment ``n`` = first half of frame ``n`` + second half of
    frame ``n - 1``)."""
    b, _, f, n = z.shape
    hop = t // 2
    z = z.reshape(b, channels, t, f, n)
    first = nn.functional.pad(z[:, :, :hop], (0, 1))  # frame n -> segment n
    second = nn.functional.pad(z[:, :, hop:], (1, 0))  # frame n -> segment n + 1
    y = (first + second).permute(0, 1, 3, 4, 2)  # [B, channels, F, N + 1, t/2]
    return y.reshape(b, channels, f, (n + 1) * hop)


class DeployBlock(nn.Module):
    """One block's masker (:class:`~mobile_core.cdae.BlockMasker`), rearranged for export.

    ``forward(mag[B, C, F, S, T]) -> masks[B, n_targets, C, F, S, T]``, same maths (eval mode):
    BatchNorm folded into every conv, the causal stem as :class:`PaddedConv`, layers 2-3 per
    target as before, and the last layers of all targets as :class:`OverlapAddDeconv` convs whose
    outputs are concatenated and overlap-added, biased, squashed and cropped *once* for all targets
    (one set of ~10 reshaping ops per block instead of one per target: a smaller graph lowers
    faster and dispatches fewer ops).
    """

    def __init__(self, blk: nn.Module) -> None:
        super().__init__()
        blk = copy.deepcopy(blk).eval()
        stem = blk.stem
        conv = nn.Conv2d(stem.in_channels, stem.out_channels, stem.kernel_size,
                         stride=stem.stride, bias=False)
        conv.weight = nn.Parameter(stem.weight.detach().clone())
        _fold(conv, blk.stem_bn, transposed=False)
        self.input_mean = nn.Parameter(blk.input_mean.detach().clone())
        self.input_scale = nn.Parameter(blk.input_scale.detach().clone())
        self.stem = PaddedConv(conv, stem.left_pad)
        self.hidden1 = blk.hidden1
        self.nb_t_bins = blk.nb_t_bins
        self.nb_targets = len(blk.targets)
        self.convs = nn.ModuleList()
        self.deconvs = nn.ModuleList()
        self.outs = nn.ModuleList()
        biases = []
        for t in blk.targets:
            _fold(t.conv, t.bn1, transposed=False)
            _fold(t.deconv, t.bn2, transposed=True)
            ola = OverlapAddDeconv(t.out)
            self.convs.append(t.conv)
            self.deconvs.append(t.deconv)
            self.outs.append(ola.conv)
            biases.append(ola.bias.detach())
        self.cout, self.hop = ola.cout, ola.hop
        self.bias = nn.Parameter(torch.cat(biases, dim=1))  # [1, n_targets * C, 1, 1]

    def forward(self, mag: Tensor) -> Tensor:
        s, t = mag.shape[-2], self.nb_t_bins
        x = mag.flatten(-2)  # [B, C, F, L], L = S * T
        x = (x - self.input_mean.unsqueeze(-1)) * self.input_scale.unsqueeze(-1)
        h = torch.relu(self.stem(x))  # [B, n_targets * h1, F', N]
        h1 = self.hidden1
        zs = []
        for i in range(self.nb_targets):
            g = torch.relu(self.convs[i](h[:, i * h1 : (i + 1) * h1]))
            g = torch.relu(self.deconvs[i](g))
            zs.append(self.outs[i](g))  # [B, C * T, F, N]
        y = _overlap_add(torch.cat(zs, dim=1), self.nb_targets * self.cout, t)
        y = torch.sigmoid(y + self.bias)[..., : s * t]
        return y.reshape(y.shape[0], self.nb_targets, self.cout, y.shape[2], s, t)


def deploy_masknet(masknet: nn.Module) -> nn.Module:
    """A copy of a :class:`~mobile_core.cdae.MaskNet` whose blocks are :class:`DeployBlock` s."""
    m = copy.deepcopy(masknet).eval()
    m.blocks = nn.ModuleList(DeployBlock(blk) for blk in masknet.blocks)
    return m.eval()


class _FlatDenseDFT(ComplexDFT):
    """:class:`~mobile_core.dft.ComplexDFT` whose dense path multiplies a 2-D ``[rows, 2n]``
    matrix by the basis (same GEMM, same numbers).

    The original ``z.reshape(*lead, 2n) @ basis`` on a non-contiguous ``z`` decomposes, in
    ``torch.export``, into ``expand`` + ``bmm``: ExecuTorch then materialises one copy of the
    ``[2n, 2n]`` basis per leading index (``expand_copy``; 2.5 GB of planned memory and 0.3 s
    per chunk for xumx-rt at 48 hops) and XNNPACK runs a batched matmul. Flattened, it is one
    ``mm`` against a constant: XNNPACK's fully-connected kernel with pre-packed weights.
    """

    def forward(self, z: Tensor) -> Tensor:
        if not self.dense:
            return super().forward(z)
        n = self.n
        lead = z.shape[:-2]
        return (z.reshape(-1, 2 * n) @ self.basis).reshape(*lead, n, 2)


def _flatten_dense_dfts(transform: SliCQT) -> None:
    """Switch the dense complex DFTs of ``transform`` (a private copy) to :class:`_FlatDenseDFT`."""
    for m in transform.modules():
        if type(m) is ComplexDFT:
            m.__class__ = _FlatDenseDFT


def _magnitude(blocks: list[Tensor]) -> list[Tensor]:
    """``|X|`` per block, ``[..., 2] -> [...]``, with slices instead of selects (selects are not
    delegated to XNNPACK: each would be a portable copy op splitting the partition)."""
    out = []
    for b in blocks:
        re, im = b[..., :1], b[..., 1:]
        out.append(torch.sqrt(re * re + im * im).reshape(b.shape[:-1]))
    return out


class ChunkGraph(nn.Module):
    """The separator at a fixed chunk length: ``mix[1, 2, L] -> stems[1, 4, 2, L]``.

    Same maths as :meth:`Separator.forward`, arranged for the mobile toolchains: the masknet of
    :func:`deploy_masknet` (BatchNorm folded, XNNPACK-friendly layers), the transform in a single
    pass over the chunk's slices (one unrolled graph, not one per 32 slices) with its dense DFTs
    as 2-D matmuls (:class:`_FlatDenseDFT`), magnitudes by slicing, and the batch axis dropped by
    a reshape before the masks are applied so that no tensor has more than 6 dimensions
    (XNNPACK's limit: ``[4, C, F_b, S, T_b, 2]``).

    The inverse transform runs at most ``inverse_slices`` slices at a time (balanced passes: 49
    slices in passes of 13, 13, 13 and 10 for 16): its widest intermediates are
    ``[4 * C, S, 4, sllen/2, 2]`` (every half-spectrum bin's four weighted contributions, for all
    stems), 113 MB each for xumx-rt at 48 hops in one pass; in passes of 16 slices the
    memory-planned arena is about a third, for a bigger graph (the inverse is unrolled per pass).

    Args:
        separator: the trained (or fresh) model; not modified.
        length: ``L`` in samples.
        dft: ``"fft"`` (.pte, .ptl) or ``"matmul"`` (ONNX) for the transform's DFTs.
        inverse_slices: slices per pass of the inverse transform (``None``: one pass).
    """

    def __init__(self, separator: Separator, length: int, dft: str = "fft",
                 inverse_slices: int | None = INVERSE_SLICES) -> None:
        super().__init__()
        if dft == separator.transform.dft_mode:
            self.transform = copy.deepcopy(separator.transform)
        else:
            self.transform = SliCQT.from_config(separator.config.transform, dft=dft)
        self.length = int(length)
        self.n_slices = self.transform.n_slices(self.length)
        passes = math.ceil(self.n_slices / min(inverse_slices or self.n_slices, self.n_slices))
        self.inverse_slices = math.ceil(self.n_slices / passes)  # balanced passes
        if dft == "fft":
            _flatten_dense_dfts(self.transform)
        self.masknet = deploy_masknet(separator.masknet)
        self.eval()

    def _analyse(self, mix: Tensor) -> list[Tensor]:
        self.transform.slices_per_pass = self.n_slices  # the forward in one pass
        return self.transform(mix)  # [1, C, F_b, S, T_b, 2]

    def masknet_inputs(self, mix: Tensor) -> list[Tensor]:
        """The masknet's inputs for a chunk: block magnitudes ``[1, C, F_b, S, T_b]``."""
        return _magnitude(self._analyse(mix))

    def forward(self, mix: Tensor) -> Tensor:
        blocks = self._analyse(mix)
        masks = self.masknet(_magnitude(blocks))  # [1, 4, C, F_b, S, T_b]
        est = [m.reshape(m.shape[1:]).unsqueeze(-1) * x  # [4, C, F_b, S, T_b, 2]
               for m, x in zip(masks, blocks)]
        self.transform.slices_per_pass = self.inverse_slices
        return self.transform.inverse(est, self.length).unsqueeze(0)  # [1, 4, C, L]


# ------------------------------------------------------------------------------ models


def fresh_separator(config: str, seed: int = 0) -> Separator:
    """Untrained weights for testing: default init, randomized BatchNorm statistics and affine,
    and the input normalisation set from the example song's magnitudes (as training starts)."""
    torch.manual_seed(seed)
    sep = Separator(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in sep.masknet.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
                mod.bias.copy_(0.1 * torch.randn(n, generator=g))
        mags = magnitude(sep.transform(q.example_song().mix[None]))
        for blk, mag in zip(sep.masknet.blocks, mags):
            per_bin = mag.transpose(0, 2).reshape(mag.shape[2], -1)  # [F_b, everything else]
            blk.input_mean.copy_(per_bin.mean(-1))
            blk.input_scale.copy_(1.0 / (per_bin.std(-1) + 1e-3))
    sep.model_id = model_id(sep.masknet.state_dict())
    sep.info = {"weights": f"fresh (untrained), seed {seed}"}
    return sep


def resolve_model(model: str | os.PathLike) -> Separator:
    """A model file (``.pt``) or a configuration name (fresh weights, for testing)."""
    from mobile_core.configs import _named_separators
    from mobile_core.model_file import load_model

    text = str(model)
    if text in _named_separators() and not Path(text).exists():
        return fresh_separator(text)
    path = Path(text)
    if not path.exists():
        known = ", ".join(sorted(_named_separators()))
        raise DemixError(f"--model {text}: no such model file, and not a configuration name "
                         f"({known})")
    return load_model(path)


# ------------------------------------------------------------------------------ metrics


def snr_db(est: Tensor, ref: Tensor) -> float:
    """``10 log10(|ref|^2 / |ref - est|^2)`` over all elements (inf when equal)."""
    ref = ref.double()
    err = float(((est.double() - ref) ** 2).sum())
    sig = float((ref**2).sum())
    return math.inf if err == 0.0 else 10.0 * math.log10(max(sig, 1e-30) / err)


def sdr(est: Tensor, ref: Tensor) -> float:
    """Plain SDR of one stem: ``10 log10(|s|^2 / |s - ŝ|^2)`` (``[2, N]`` each), eps-guarded."""
    ref = ref.double()
    num = float((ref**2).sum()) + 1e-9
    den = float(((ref - est.double()) ** 2).sum()) + 1e-9
    return 10.0 * math.log10(num / den)


# ------------------------------------------------------------------------------ reports


@dataclass
class ArtifactReport:
    """One written artifact and what was measured on it."""

    kind: str
    quantization: str
    file: str
    size_bytes: int
    export_s: float
    snr_db: float
    """stems SNR vs the eager float32 model on a music chunk."""
    max_abs_diff: float
    ms_per_chunk: float
    """median wall time of one chunk in the artifact's runtime, one thread."""
    sdr_change_db: float | None = None
    """mean over held-out songs and stems of SDR(artifact) - SDR(eager fp32)."""
    sdr_change_per_stem: dict[str, float] = field(default_factory=dict)
    delegated_nodes: int | None = None
    non_delegated_ops: dict[str, int] = field(default_factory=dict)
    kernel_ops: list[str] = field(default_factory=list)
    quantized_convs: int | None = None
    float_convs: int | None = None
    extra_files: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("snr_db",):
            if math.isinf(d[key]):
                d[key] = "inf"
        return d


def markdown_table(reports: Sequence[ArtifactReport]) -> str:
    """The export table (one row per artifact) plus the non-delegated ops of each ``.pte``."""
    rows = [
        "| file | size MB | stems SNR vs eager fp32 dB | max abs diff | ms / chunk (1 thread) "
        "| SDR change dB | XNNPACK delegates | non-delegated ops |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        sdr_txt = "" if r.sdr_change_db is None else f"{r.sdr_change_db:+.3f}"
        deleg = "" if r.delegated_nodes is None else str(r.delegated_nodes)
        other = "" if r.delegated_nodes is None else str(sum(r.non_delegated_ops.values()))
        rows.append(
            f"| {Path(r.file).name} | {r.size_bytes / 1e6:.2f} | {r.snr_db:.1f} | "
            f"{r.max_abs_diff:.2e} | {r.ms_per_chunk:.0f} | {sdr_txt} | {deleg} | {other} |"
        )
    for r in reports:
        if r.non_delegated_ops:
            ops = ", ".join(f"{k} x{v}" for k, v in r.non_delegated_ops.items())
            rows.append(f"\n{Path(r.file).name} non-delegated (portable/optimized kernels): {ops}")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------ runtimes


def _runner(path: Path, kind: str) -> Callable[[Tensor], Tensor]:
    """A one-thread ``chunk -> stems`` callable running ``path`` in its own runtime."""
    if kind == "pte":
        from executorch.runtime import Runtime

        _executorch_threads(1)
        method = Runtime.get().load_program(path).load_method("forward")
        return lambda x: method.execute([x])[0]
    if kind == "ptl":
        from torch.jit.mobile import _load_for_lite_interpreter

        module = _load_for_lite_interpreter(str(path))

        def run_ptl(x: Tensor) -> Tensor:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.inference_mode():
                    return module(x)
            finally:
                torch.set_num_threads(threads)

        return run_ptl
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0])


def _executorch_threads(n: int) -> None:
    try:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(n)
    except Exception:  # older builds have no threadpool control: keep their default
        pass


def _median_ms(run: Callable[[Tensor], Tensor], x: Tensor, repeats: int) -> tuple[float, Tensor]:
    out = run(x)  # warm-up (XNNPACK packs weights, onnxruntime allocates)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run(x)
        times.append(1e3 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2], out


# ------------------------------------------------------------------------------ writers


class _Log:
    def __init__(self, log: Callable[[str], None] | None) -> None:
        self._log = log or (lambda s: None)
        self._t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        self._log(f"[{time.perf_counter() - self._t0:6.0f} s] {msg}")


def _pte_metadata_method(meta: dict) -> dict[str, object]:
    data = list(encode_metadata(meta).encode("utf-8"))
    return {PTE_METADATA_METHOD: torch.tensor(data, dtype=torch.uint8)}


def set_onnx_metadata(src: Path, dst: Path, meta: dict) -> None:
    """Copy ONNX model ``src`` to ``dst`` with ``metadata_props[demix_metadata]`` = ``meta``."""
    import onnx

    model = onnx.load(str(src))
    keep = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, encode_metadata(meta)
    tmp = dst.with_name(f".{dst.name}.partial")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)


def convert_to_ort(onnx_path: Path, path: Path) -> list[str]:
    """``python -m onnxruntime.tools.convert_onnx_models_to_ort`` (Fixed style, ARM target).

    Its ``required_operators.config`` (for a reduced onnxruntime-android build) is kept next to
    the artifact as ``<name>.required_operators.config``; returns that path.
    """
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src = Path(tmp) / "src" / f"{path.stem}.onnx"
        src.parent.mkdir()
        shutil.copyfile(onnx_path, src)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(src),
               "--output_dir", str(out), "--optimization_style", "Fixed",
               "--target_platform", "arm"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        ort_files = sorted(out.glob("*.ort"))
        if res.returncode != 0 or not ort_files:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"convert_onnx_models_to_ort failed: {tail[0]}")
        os.replace(ort_files[0], path)
        extra = []
        for cfg_file in sorted(out.glob("*.config"))[:1]:
            cfg = path.with_name(f"{path.stem}.required_operators.config")
            os.replace(cfg_file, cfg)
            extra.append(str(cfg))
    return extra


class _Exporter:
    """Writes the artifacts of one model and chunk length, sharing the expensive steps
    (the ONNX export, the quantized ONNX) between formats."""

    def __init__(self, sep: Separator, spec: ChunkSpec, mid: str, out: Path, work: Path,
                 example: Tensor, calib: Sequence[Tensor], log: _Log) -> None:
        self.sep, self.spec, self.mid, self.out, self.work = sep, spec, mid, out, work
        self.example, self.calib, self.log = example, calib, log
        self.graph = ChunkGraph(sep, spec.chunk)
        self._onnx_files: dict[str, Path] = {}

    def meta(self, quant: str, kind: str) -> dict:
        cfg = self.sep.config.name
        return make_metadata(self.spec, self.sep.stems, cfg, self.mid, quant, kind)

    def path(self, quant: str, kind: str) -> Path:
        return artifact_path(self.out, self.sep.config.name, quant, kind)

    def write(self, kind: str, quant: str) -> dict:
        return getattr(self, f"_{kind}")(quant, self.path(quant, kind), self.meta(quant, kind))

    def _pte(self, quant: str, path: Path, meta: dict) -> dict:
        info: dict = {}
        prog: nn.Module | torch.export.ExportedProgram = self.graph
        if quant == "int8":
            self.log(f"{path.name}: PT2E (XNNPACKQuantizer, masknet only) calibration on "
                     f"{len(self.calib)} chunks")
            prog, check = q.quantize_pt2e(
                self.graph, self.example, self.calib,
                progress=lambda i, n: self.log(f"  calibration chunk {i}/{n}"))
            if not check.ok:
                raise RuntimeError(f"PT2E quantization is wrong: {check}")
            info.update(quantized_convs=check.quantized_convs, float_convs=check.float_convs)
        self.log(f"{path.name}: lowering to ExecuTorch with XNNPACK (minutes for big graphs)")
        rep = to_pte(prog, (self.example,), path, constant_methods=_pte_metadata_method(meta))
        info.update(delegated_nodes=rep.delegated_nodes, non_delegated_ops=rep.other_ops,
                    kernel_ops=rep.kernel_ops)
        return info

    def _ptl(self, quant: str, path: Path, meta: dict) -> dict:
        graph: nn.Module = self.graph
        if quant == "int8":
            self.log(f"{path.name}: FX graph mode (qnnpack), masknet blocks, calibration on "
                     f"{len(self.calib)} chunks")
            graph = q.quantize_fx_qnnpack(self.graph, self.calib)
        self.log(f"{path.name}: tracing for the lite interpreter")
        to_ptl(graph, (self.example,), path,
               extra_files={PTL_METADATA_FILE: encode_metadata(meta)})
        return {}

    def onnx_model(self, quant: str) -> Path:
        """The float (``matmul`` DFTs) or int8 QDQ ONNX model, without metadata (cached)."""
        if quant in self._onnx_files:
            return self._onnx_files[quant]
        if quant == "fp32":
            dst = self.work / "fp32.onnx"
            self.log("ONNX export (dynamo exporter, matmul DFTs; minutes for big graphs)")
            graph = ChunkGraph(self.sep, self.spec.chunk, dft="matmul")
            to_onnx(graph, (self.example,), dst, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME])
        else:
            src = self.onnx_model("fp32")
            dst = self.work / "int8.onnx"
            self.log(f"onnxruntime quantize_static (QDQ, masknet convs) on {len(self.calib)} "
                     "chunks")
            q.quantize_onnx(src, dst, self.calib, INPUT_NAME)
            check = q.onnx_fp32_report(dst, src)
            if not check.ok:
                raise RuntimeError(f"ONNX quantization is wrong: {check}")
            self._check_int8 = check
        self._onnx_files[quant] = dst
        return dst

    def _onnx_info(self, quant: str) -> dict:
        if quant != "int8":
            return {}
        c = self._check_int8
        return {"quantized_convs": c.quantized_convs, "float_convs": c.float_convs}

    def _onnx(self, quant: str, path: Path, meta: dict) -> dict:
        set_onnx_metadata(self.onnx_model(quant), path, meta)
        return self._onnx_info(quant)

    def _ort(self, quant: str, path: Path, meta: dict) -> dict:
        src = self.work / f"{path.stem}.onnx"
        set_onnx_metadata(self.onnx_model(quant), src, meta)
        self.log(f"{path.name}: onnxruntime.tools.convert_onnx_models_to_ort (Fixed, arm)")
        info = {"extra_files": convert_to_ort(src, path)} | self._onnx_info(quant)
        src.unlink()
        return info


# ------------------------------------------------------------------------------ main entry


def artifact_path(out_dir: Path, config: str, quant: str, kind: str) -> Path:
    return out_dir / f"demix-{config}-{quant}.{kind}"


def export_artifacts(
    sep: Separator,
    out_dir: str | os.PathLike,
    kinds: Sequence[str] = KINDS,
    quants: Sequence[str] = ("fp32",),
    chunk_hops: int | None = None,
    calib_chunks: int = 8,
    heldout: int = 2,
    timing_repeats: int = 3,
    log: Callable[[str], None] | None = print,
) -> list[ArtifactReport]:
    """Write and check every requested artifact; returns one report per file.

    Args:
        sep: the model (eval mode; not modified).
        out_dir: where ``demix-{config}-{quant}.{kind}`` go (created), with
            ``export_report.json`` and ``export_report.md``.
        kinds: any of ``pte, ptl, onnx, ort``.
        quants: ``fp32`` and/or ``int8``.
        chunk_hops: chunk length in slice hops (default: the configuration's).
        calib_chunks: full-length music chunks for int8 calibration.
        heldout: synthetic songs with stems for the SDR change (0: skip).
        timing_repeats: runs per ms-per-chunk median (after one warm-up).
        log: progress sink (one line per step); ``None`` for silence.
    """
    from mobile_core.chunking import default_chunk_hops

    log_ = _Log(log)
    for k in kinds:
        if k not in KINDS:
            raise DemixError(f"unknown format {k!r}; choose from {', '.join(KINDS)} or all")
    for qq in quants:
        if qq not in QUANTS:
            raise DemixError(f"unknown quantization {qq!r}; choose fp32 or int8")
    sep = sep.eval()
    cfg = sep.config
    hops = chunk_hops or default_chunk_hops(cfg.name, sep.transform)
    try:
        spec = chunk_spec(sep.transform, cfg.cdae, hops)
    except ValueError as e:
        raise DemixError(f"chunk length too short: {e}") from None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DemixError(f"cannot create output folder {out}: {e.strerror or e}") from None
    mid = getattr(sep, "model_id", None) or model_id(sep.masknet.state_dict())
    log_(f"model {cfg.name} ({mid}), chunk {spec.chunk} samples = {hops} hops "
         f"({spec.chunk / spec.sample_rate:.2f} s), step {spec.step / spec.sample_rate:.2f} s")

    music = q.song_chunks(q.example_song().mix, spec)[0]  # parity input: real music
    with torch.no_grad():
        ref = sep(music)
    calib: list[Tensor] = []
    if "int8" in quants:
        log_(f"rendering calibration music ({calib_chunks} full-length chunks)")
        calib = q.calibration_chunks(spec, calib_chunks, log=log_)
    songs = []
    if heldout:
        try:
            songs = q.heldout_songs(spec, heldout)
        except Exception as e:  # no FluidSynth
            log_(f"warning: no held-out songs ({e}); SDR change not measured")
    eager_sdr = _song_sdrs(None, sep, hops, songs) if songs else None

    reports: list[ArtifactReport] = []
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as work:
        exporter = _Exporter(sep, spec, mid, out, Path(work), music, calib, log_)
        for quant in [x for x in QUANTS if x in quants]:
            for kind in [k for k in KINDS if k in kinds]:
                path = exporter.path(quant, kind)
                t0 = time.perf_counter()
                info = exporter.write(kind, quant)
                export_s = time.perf_counter() - t0
                log_(f"{path.name}: written ({path.stat().st_size / 1e6:.2f} MB, "
                     f"{export_s:.0f} s); checking it in its runtime")
                r = _check(path, kind, quant, exporter.meta(quant, kind), music, ref, export_s,
                           info, timing_repeats, songs, eager_sdr)
                reports.append(r)
                sdr_txt = "" if r.sdr_change_db is None else \
                    f", SDR change {r.sdr_change_db:+.3f} dB"
                log_(f"{path.name}: stems SNR {r.snr_db:.1f} dB vs eager fp32, "
                     f"{r.ms_per_chunk:.0f} ms/chunk{sdr_txt}")
    write_report(out, reports)
    return reports


def _check(path: Path, kind: str, quant: str, meta: dict, music: Tensor, ref: Tensor,
           export_s: float, info: dict, repeats: int, songs: list, eager_sdr) -> ArtifactReport:
    back = read_back_metadata(path, kind)
    if back != meta:
        raise ModelFileError(f"{path}: metadata read back differs from what was written")
    run = _runner(path, kind)
    ms, out = _median_ms(run, music, repeats)
    report = ArtifactReport(
        kind=kind, quantization=quant, file=str(path), size_bytes=path.stat().st_size,
        export_s=round(export_s, 1), snr_db=round(snr_db(out, ref), 2),
        max_abs_diff=float((out - ref).abs().max()), ms_per_chunk=round(ms, 1),
        metadata=meta, **info,
    )
    if songs and eager_sdr is not None:
        got = _song_sdrs(path, None, None, songs)
        per_stem = {s: round(sum(g[s] - e[s] for g, e in zip(got, eager_sdr)) / len(got), 3)
                    for s in got[0]}
        report.sdr_change_per_stem = per_stem
        report.sdr_change_db = round(sum(per_stem.values()) / len(per_stem), 3)
    return report


def read_back_metadata(path: Path, kind: str) -> dict:
    """The metadata of ``path`` as an app would read it (:func:`read_artifact_metadata`)."""
    from mobile_core.artifacts import read_artifact_metadata

    return read_artifact_metadata(path)


def _song_sdrs(path: Path | None, sep: Separator | None, hops: int | None,
               songs: list) -> list[dict[str, float]]:
    """Per song, per stem SDR of the chunked output (artifact at ``path`` or eager ``sep``)."""
    from mobile_core.backends import EagerBackend, open_backend
    from mobile_core.runner import separate

    backend = EagerBackend(sep, chunk_hops=hops) if path is None else open_backend(path, threads=1)
    result = []
    for song in songs:
        est = separate(song.mix, backend)
        result.append({name: sdr(est[i], song.stems[i]) for i, name in enumerate(backend.stems)})
    return result


def write_report(out: Path, reports: Sequence[ArtifactReport]) -> None:
    """``export_report.json`` (all fields) and ``export_report.md`` (the table) in ``out``."""
    data = {"artifacts": [r.to_dict() for r in reports], "torch": torch.__version__,
            "machine": _machine()}
    (out / "export_report.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    (out / "export_report.md").write_text(markdown_table(reports))


def _machine() -> str:
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return (f"{platform.machine()} {os.cpu_count()} cpus, {platform.system()}, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
