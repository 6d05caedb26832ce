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
