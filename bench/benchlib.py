"""What the bench scripts share: running one measurement in a fresh worker process, and an
ETDump grouped by operator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_worker(script: str | Path, args: list[str], tail: int = 8) -> dict:
    """Run ``python script *args`` (the repo on ``PYTHONPATH``); return the last JSON line it
    prints on stdout. A failure raises with the last ``tail`` lines of its output."""
    cmd = [sys.executable, str(Path(script).resolve()), *args]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        last = "\n".join((res.stderr or res.stdout).strip().splitlines()[-tail:])
        raise RuntimeError(f"worker {' '.join(args)} failed:\n{last}")
    return json.loads(lines[-1])


def etdump_by_operator(etdump: str | Path) -> tuple[float, list[tuple[str, float, int]]]:
    """An ETDump of repeated ``forward`` runs -> ``(ms of Method::execute, [(operator, ms,
    calls)])`` from the last (warm) run, heaviest first; operators are ``kernel <name>`` for
    kernels outside any delegate and ``XNNPACK <name>`` for ops inside XNNPACK delegates."""
    from executorch.devtools import Inspector

    df = Inspector(etdump_path=str(etdump)).to_dataframe()
    df = df[df.event_block_name == "Execute"]
    groups: dict[str, list[float]] = {}
    total = 0.0
    for name, raw in zip(df["event_name"], df["raw"]):
        t = float(raw[-1])
        if name == "Method::execute":
            total = t
        elif name not in ("DELEGATE_CALL", "OPERATOR_CALL"):
            if name.startswith("native_call_"):
                key = "kernel " + name[len("native_call_"):].split(".")[0]
            else:
                key = "XNNPACK " + re.sub(r" #\d+$", "", name)
            groups.setdefault(key, []).append(t)
    rows = sorted(((k, sum(v), len(v)) for k, v in groups.items()), key=lambda r: -r[1])
    return total, rows


NETWORK_OPS = re.compile(r"QC8|QS8|QD8|QU8|Convolution|Deconvolution|Sigmoid|Convert|\bX8\b")
"""XNNPACK operators only the mask network runs: its quantized (de)convolutions and fully
connected layers, the float <-> int8 conversions around them, the moves of int8 data (``X8``)
and the output sigmoid."""


def split_profile(rows: list[tuple[str, float, int]]) -> dict[str, float]:
    """Attribute ETDump operator rows to the network or the transform, in ms.

    ``network``: the operators of :data:`NETWORK_OPS`; ``fft``: the FFT kernels
    (``_fft_r2c``/``_fft_c2r``); ``transform``: everything else, which includes the network's
    few reshapes and copies between its layers (cheap next to its convolutions, but not
    separable by operator name), so the transform's figure is an upper bound.
    """
    network = sum(ms for op, ms, _ in rows if NETWORK_OPS.search(op))
    fft = sum(ms for op, ms, _ in rows if op.startswith("kernel _fft_"))
    total = sum(ms for _, ms, _ in rows)
    return {"network": network, "transform": total - network, "fft": fft}


def split_line(rows: list[tuple[str, float, int]], total_ms: float) -> str:
    """One line: the network's and the transform's ms and shares, and transform / FFT kernels."""
    s = split_profile(rows)
    ratio = s["transform"] / s["fft"] if s["fft"] else float("nan")
    return (f"network {s['network']:.1f} ms ({100 * s['network'] / total_ms:.0f} %), transform "
            f"{s['transform']:.1f} ms ({100 * s['transform'] / total_ms:.0f} %), of which FFT "
            f"kernels {s['fft']:.1f} ms: the transform takes {ratio:.1f}x its FFT kernels")

