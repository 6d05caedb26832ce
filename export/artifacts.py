"""Write each artifact of a model, check it in its runtime, and report: ``demix-export``'s core.

:func:`export_artifacts` writes ``DIR/demix-{config}-{quant}.{pte,ptl,onnx,ort}`` from the chunk
graph (:mod:`export.graph`), quantized by :mod:`export.quantize` for int8, each with the metadata
of :mod:`mobile_core.contract.artifacts` (chunk geometry, stems, config, model id,
quantization), and returns an :class:`~export.report.ArtifactReport` per file
(:mod:`export.parity`): size, parity against the eager float32 model on music, ms per chunk in
its own runtime (one thread), for int8 the SDR change on held-out synthetic songs, and for
``.pte`` the XNNPACK delegation summary and planned memory.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from mobile_core.contract.artifacts import (
    INPUT_NAME,
    OUTPUT_NAME,
    PTL_METADATA_FILE,
    encode_metadata,
    make_metadata,
)
from mobile_core.contract.chunking import ChunkSpec, chunk_spec, default_chunk_hops
from mobile_core.errors import DemixError
from mobile_core.model.model_file import model_id
from mobile_core.model.separator import Separator

from . import quantize as q
from . import songs
from .formats.onnx import set_onnx_metadata, to_onnx
from .formats.ort import convert_to_ort
from .formats.pte import metadata_method, to_pte
from .formats.ptl import to_ptl
from .graph import ChunkGraph
from .parity import check_artifact, song_sdrs
from .report import ArtifactReport, write_report

KINDS = ("pte", "ptl", "onnx", "ort")
QUANTS = ("fp32", "int8")

__all__ = ["KINDS", "QUANTS", "artifact_path", "export_artifacts"]


class _Log:
    def __init__(self, log: Callable[[str], None] | None) -> None:
        self._log = log or (lambda s: None)
        self._t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        self._log(f"[{time.perf_counter() - self._t0:6.0f} s] {msg}")


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
        rep = to_pte(prog, (self.example,), path, constant_methods=metadata_method(meta))
        info.update(delegated_nodes=rep.delegated_nodes, non_delegated_ops=rep.other_ops,
                    kernel_ops=rep.kernel_ops, planned_bytes=rep.planned_bytes)
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

    music = songs.song_chunks(songs.example_song().mix, spec)[0]  # parity input: real music
    with torch.no_grad():
        ref = sep(music)
    calib: list[Tensor] = []
    if "int8" in quants:
        log_(f"rendering calibration music ({calib_chunks} full-length chunks)")
        calib = songs.calibration_chunks(spec, calib_chunks, log=log_)
    heldout_set = []
    if heldout:
        try:
            heldout_set = songs.heldout_songs(spec, heldout)
        except Exception as e:  # no FluidSynth
            log_(f"warning: no held-out songs ({e}); SDR change not measured")
    eager_sdr = song_sdrs(None, sep, hops, heldout_set) if heldout_set else None

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
                r = check_artifact(path, kind, quant, exporter.meta(quant, kind), music, ref,
                                   export_s, info, timing_repeats, heldout_set, eager_sdr)
                reports.append(r)
                sdr_txt = "" if r.sdr_change_db is None else \
                    f", SDR change {r.sdr_change_db:+.3f} dB"
                log_(f"{path.name}: stems SNR {r.snr_db:.1f} dB vs eager fp32, "
                     f"{r.ms_per_chunk:.0f} ms/chunk{sdr_txt}")
    write_report(out, reports)
    return reports
