"""Python-side comparison for demix_native: ms per chunk of the same .pte via executorch.runtime.

    .venv/bin/python bench/native/compare_python.py MODEL.pte SONG.raw [--threads N] [--chunks K]

SONG.raw: interleaved little-endian float32 stereo at the model's rate (what ``demix_native
--raw`` reads). Runs ``forward`` on up to K chunks of the song (default: as many as the song
has, chunk starts every ``step`` samples, the last one zero-padded: the same count and cost as the
runner's plan, which only places the last chunk differently) through ExecuTorch's Python
runtime, and prints one JSON line: ms per chunk (median, mean), the process's peak RSS (which
includes Python, torch and the ExecuTorch bindings) and the thread count. Uses only
``executorch.runtime`` and numpy/torch, not the project's internals.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from executorch.runtime import Runtime


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss can carry a forking parent's peak across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("song")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--chunks", type=int, default=None)
    args = ap.parse_args(argv)

    if args.threads:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(args.threads)
    program = Runtime.get().load_program(args.model)
    meta_method = program.load_method("get_metadata")
    meta = json.loads(bytes(meta_method.execute([])[0].numpy().astype("uint8")).decode())
    length = meta["chunk"]
    step = length - meta["context"] - meta["lookahead"]
    forward = program.load_method("forward")

    f = open(args.song, "rb")  # read chunk by chunk (a memmap's touched pages would count as RSS)
    n = os.fstat(f.fileno()).st_size // 8
    n_chunks = max(1, -(-max(n - meta["context"] - meta["lookahead"], 1) // step))
    if args.chunks:
        n_chunks = min(n_chunks, args.chunks)
    times, cpu = [], []  # wall and process CPU ms per forward call
    x = torch.zeros(1, 2, length)
    for k in range(n_chunks):
        f.seek(k * step * 8)
        part = np.fromfile(f, dtype="<f4", count=2 * min(length, n - k * step)).reshape(-1, 2).T
        x.zero_()
        x[0, :, : part.shape[1]] = torch.from_numpy(np.ascontiguousarray(part))
        c0, t0 = time.process_time(), time.perf_counter()
        forward.execute([x])
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    print(json.dumps({
        "model": args.model, "runtime": "executorch.runtime (Python)", "chunks": n_chunks,
        "threads": args.threads, "ms_per_chunk_median": round(statistics.median(times), 2),
        "ms_per_chunk_mean": round(statistics.fmean(times), 2),
        "ms_first_chunk": round(times[0], 2),
        "cpu_ms_per_chunk_median": round(statistics.median(cpu), 2),
        "cpu_ms_per_chunk_mean": round(statistics.fmean(cpu), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
