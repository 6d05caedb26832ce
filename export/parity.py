"""Each written artifact checked in its own runtime: metadata read back, stems vs the eager
float32 model, ms per chunk (one thread), and for int8 the SDR change on held-out songs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from mobile_core.contract.artifacts import INPUT_NAME, OUTPUT_NAME
from mobile_core.errors import ModelFileError
from mobile_core.model.separator import Separator

from .report import ArtifactReport, sdr, snr_db


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


def check_artifact(path: Path, kind: str, quant: str, meta: dict, music: Tensor, ref: Tensor,
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
        got = song_sdrs(path, None, None, songs)
        per_stem = {s: round(sum(g[s] - e[s] for g, e in zip(got, eager_sdr)) / len(got), 3)
                    for s in got[0]}
        report.sdr_change_per_stem = per_stem
        report.sdr_change_db = round(sum(per_stem.values()) / len(per_stem), 3)
    return report


def read_back_metadata(path: Path, kind: str) -> dict:
    """The metadata of ``path`` as an app would read it (:func:`read_artifact_metadata`)."""
    from mobile_core.contract.artifacts import read_artifact_metadata

    return read_artifact_metadata(path)


def song_sdrs(path: Path | None, sep: Separator | None, hops: int | None,
               songs: list) -> list[dict[str, float]]:
    """Per song, per stem SDR of the chunked output (artifact at ``path`` or eager ``sep``)."""
    from mobile_core.contract.backends import EagerBackend, open_backend
    from mobile_core.contract.runner import separate

    backend = EagerBackend(sep, chunk_hops=hops) if path is None else open_backend(path, threads=1)
    result = []
    for song in songs:
        est = separate(song.mix, backend)
        result.append({name: sdr(est[i], song.stems[i]) for i, name in enumerate(backend.stems)})
    return result


__all__ = ["check_artifact", "read_back_metadata", "song_sdrs"]
