"""Eager whole-song separation time, memory and FLOPs of the separator.

    python bench/bench_separator.py [--seconds 240] [--config xumx-rt] [--threads 1 2]

For each thread count ``k``, in a fresh subprocess (so peak RSS is its own), the song in memory
through the reference runner's chunk loop (``mobile_core.contract.runner.separate`` with an
``EagerBackend``, default chunk plan; equals one whole-song forward to ~135 dB), stems in memory:

* ``tasks`` (``k`` > 1): ``k`` task workers with one torch intra-op thread each, what
  ``demix``/``open_backend`` does with ``k`` threads (see ``InferenceSeparator.separate``);
* ``intra-op``: one worker, ``k`` torch intra-op threads (the serial inference form);
* ``one-shot``: a single call of ``Separator.for_inference()`` over the whole song on ``k``
  intra-op threads
  (``--one-shot``; memory grows with the song, so it is off by default for long songs).

Also reported: parameter count, FLOPs per second of audio (``torch.utils.flop_counter``: convs and
matmuls; FFTs and elementwise ops are not counted), the achieved GFLOP/s, and as the same-run
yardstick this machine's float32 GEMM throughput (a 2048 x 2048 matmul, same thread count, measured
right after the separation) with the achieved share of it. Fresh weights with
trained-like BatchNorm statistics: speed does not depend on the weights' values.

``--ab CHECKOUT`` instead compares this checkout with another one (e.g. ``git worktree add
/tmp/base <commit>``) on the same song: ``--pairs`` runs of each, interleaved, each side running
its own worker code (``tasks`` for more than one thread, ``intra-op`` for one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _separator(config: str):
    import torch

    from mobile_core.model.separator import Separator

    torch.manual_seed(0)
    sep = Separator.from_config(config).eval()
    with torch.no_grad():
        for mod in sep.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_var.uniform_(0.5, 1.5)
    return sep


def _worker(mode: str, threads: int, seconds: float, config: str) -> dict:
    import torch

    from mobile_core.contract.backends import EagerBackend
    from mobile_core.contract.runner import separate

    workers = threads if mode == "tasks" else 1
    torch.set_num_threads(threads // workers)
    sep = _separator(config)
    x = torch.randn(2, int(seconds * 44100), generator=torch.Generator().manual_seed(0))
    x.mul_(0.1)  # in place: a temporary copy of the song would count in the peak
    if mode == "one-shot":
        fast = sep.for_inference()

        def run(v):
            with torch.inference_mode():
                return fast(v[None])
    else:
        backend = EagerBackend(sep, workers=workers)

        def run(v):
            return separate(v, backend)
    run(x[..., : 44100 * 2])  # warm-up (kernel selection, allocator, folded weights)
    t0 = time.perf_counter()
    y = run(x)
    elapsed = time.perf_counter() - t0
    del y
    peak = peak_rss_mb()
    torch.set_num_threads(threads)  # the yardstick uses all k threads, whatever the mode
    return {"mode": mode, "threads": threads, "seconds": elapsed, "peak_rss_mb": peak,
            "gemm_gflops": _gemm_gflops()}


def _gemm_gflops(n: int = 2048, repeat: int = 5) -> float:
    """This machine's float32 GEMM throughput now (best of ``repeat``), on the current threads:
    the same-run yardstick for the separator's achieved GFLOP/s (the host's load varies)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _flops_per_audio_second(config: str) -> tuple[int, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sep = _separator(config)
    seconds = 10.0
    x = torch.randn(1, 2, int(seconds * 44100)) * 0.1
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        sep(x)
    return sep.n_parameters(), counter.get_total_flops() / seconds


def _run(tree: Path, mode: str, threads: int, seconds: float, config: str) -> dict:
    """One worker of ``tree``'s own bench script, with ``tree`` on the path."""
    cmd = [sys.executable, str(tree / "bench" / "bench_separator.py"), "--worker", mode,
           str(threads), "--seconds", str(seconds), "--config", config]
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ab(args: argparse.Namespace) -> None:
    """Interleaved A/B: this checkout (A) and ``args.ab`` (B), alternating which goes first."""
    import statistics

    trees = {"A": ROOT, "B": args.ab.resolve()}
    print(f"A/B, {args.config}, {args.seconds:.0f} s stereo: A = {trees['A']}, B = {trees['B']}")
    for th in args.threads:
        mode = "tasks" if th > 1 else "intra-op"
        times: dict[str, list[float]] = {"A": [], "B": []}
        peaks: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(args.pairs):
            for side in ("AB" if i % 2 == 0 else "BA"):
                r = _run(trees[side], mode, th, args.seconds, args.config)
                times[side].append(r["seconds"])
                peaks[side].append(r["peak_rss_mb"])
                print(f"  {mode} {th} thread(s), run {i + 1}, {side}: {r['seconds']:.2f} s, "
                      f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr)
        for side in "AB":
            print(f"{mode:<9}{th:>3} thread(s) {side}: median {statistics.median(times[side]):.2f}"
                  f" s (runs {' / '.join(f'{x:.2f}' for x in times[side])}), peak RSS "
                  f"{min(peaks[side]):.0f}-{max(peaks[side]):.0f} MB")
        ratio = statistics.median(times["A"]) / statistics.median(times["B"])
        print(f"{mode:<9}{th:>3} thread(s) A/B median time ratio: {ratio:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=240.0)
    p.add_argument("--config", default="xumx-rt")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--one-shot", action="store_true", help="also time one whole-song forward")
    p.add_argument("--json", type=Path)
    p.add_argument("--ab", type=Path, metavar="CHECKOUT",
                   help="instead: A/B against another checkout of this repository (e.g. a git "
                        "worktree of an older commit), --pairs interleaved runs of each")
    p.add_argument("--pairs", type=int, default=4, help="with --ab: runs of each side")
    p.add_argument("--worker", nargs=2, metavar=("MODE", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]), args.seconds, args.config)))
        return
    if args.ab:
        _ab(args)
        return
    modes = ["tasks", "intra-op"] + (["one-shot"] if args.one_shot else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    results = []
    for mode in modes:
        for th in args.threads:
            if mode == "tasks" and th == 1:
                continue  # one worker is the intra-op row
            cmd = [sys.executable, __file__, "--worker", mode, str(th),
                   "--seconds", str(args.seconds), "--config", args.config]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  measured {mode} on {th} thread(s)", file=sys.stderr)
    n_params, flops = _flops_per_audio_second(args.config)
    print(f"Eager separation, {args.config} ({n_params:,} parameters), {args.seconds:.0f} s stereo")
    print(f"counted FLOPs per second of audio: {flops / 1e9:.2f} GFLOP (convs + matmuls)")
    print(f"{'mode':<10}{'threads':>8}{'time (s)':>10}{'RTF':>8}{'GFLOP/s':>9}"
          f"{'GEMM GFLOP/s':>14}{'% of GEMM':>11}{'peak RSS (MB)':>15}")
    for r in results:
        rtf = r["seconds"] / args.seconds
        gflops = flops * args.seconds / r["seconds"] / 1e9
        share = 100 * gflops / r["gemm_gflops"]
        print(f"{r['mode']:<10}{r['threads']:>8}{r['seconds']:>10.2f}{rtf:>8.3f}{gflops:>9.1f}"
              f"{r['gemm_gflops']:>14.1f}{share:>10.1f}%{r['peak_rss_mb']:>15.0f}")
    if args.json:
        args.json.write_text(json.dumps({"params": n_params, "flops_per_second": flops,
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
