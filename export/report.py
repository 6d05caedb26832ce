"""What an export measured: one :class:`ArtifactReport` per file, as JSON and a Markdown table."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor


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
    planned_bytes: int | None = None
    """``.pte``: the memory-planned (non-constant) buffers of ``forward``, in bytes."""
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
        "| SDR change dB | XNNPACK delegates | non-delegated ops | planned MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        sdr_txt = "" if r.sdr_change_db is None else f"{r.sdr_change_db:+.3f}"
        deleg = "" if r.delegated_nodes is None else str(r.delegated_nodes)
        other = "" if r.delegated_nodes is None else str(sum(r.non_delegated_ops.values()))
        planned = "" if r.planned_bytes is None else f"{r.planned_bytes / 1e6:.1f}"
        rows.append(
            f"| {Path(r.file).name} | {r.size_bytes / 1e6:.2f} | {r.snr_db:.1f} | "
            f"{r.max_abs_diff:.2e} | {r.ms_per_chunk:.0f} | {sdr_txt} | {deleg} | {other} "
            f"| {planned} |"
        )
    for r in reports:
        if r.non_delegated_ops:
            ops = ", ".join(f"{k} x{v}" for k, v in r.non_delegated_ops.items())
            rows.append(f"\n{Path(r.file).name} non-delegated (portable/optimized kernels): {ops}")
    return "\n".join(rows) + "\n"


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


__all__ = ["ArtifactReport", "markdown_table", "sdr", "snr_db", "write_report"]
