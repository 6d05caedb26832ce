"""Forward + inverse sliCQT time and peak memory for a long stereo signal.

    python bench/bench_slicqt.py [--seconds 240] [--config xumx-rt] [--threads 1 2] [--json F]

Each measurement runs in a fresh subprocess (so peak RSS is its own): ``SliCQT`` itself under
``torch.inference_mode()`` (row ``SliCQT, eager inference``: what a user of the transform gets,
its engine ``mobile_core.transform.engine`` with complex FFTs and NumPy's pocketfft), and its
real-valued path with the ``fft`` and ``matmul`` DFT forms (what autograd and exports run) on
each thread count, and the reference ``nsgt`` 0.19 (NumPy, one
thread) as the baseline timed in the same run. Times are
the best of ``--repeat`` runs after one warm-up.

``--floor`` adds the DFT work no implementation of this transform can skip, alone, without any
windowing, gathering or copying: the real DFT of every slice (``C * S`` frames of ``sllen``
samples) and its inverse with ``torch.fft.rfft``/``irfft`` (torch's CPU FFT, the fastest DFT a
torch graph can use), plus for ``torch`` one complex FFT and inverse of every coefficient's block
(length ``T_b``), on each thread count; and for context the slice DFTs alone with ``scipy.fft``
(pocketfft, float32, one thread) when SciPy is installed: a faster FFT that a torch graph cannot
call.

``--gather-ab`` instead compares the inverse map's two forms on one 48-hop chunk's coefficient
spectra: the eager one (slot gathers, ``index_add``) and the exported one (``full`` in the output:
gathers and small matmuls, run in eager PyTorch), as interleaved pairs in one process per thread
count (medians of ``--pairs``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]


def _signal(n_samples: int):
    """``[1, 2, n_samples]`` noise at -20 dBFS, the same every run."""
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, 2, n_samples, generator=gen).mul_(0.1)


def _run_worker(*args: str) -> dict:
    """Run ``--worker ...args`` of this script in a fresh subprocess (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--worker", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _worker(kind: str, threads: int, seconds: float, config: str, repeat: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    n = int(seconds * 44100)
    if kind == "nsgt":
        sys.path.insert(0, str(ROOT))
        from mobile_core.transform.slicqt import SliCQT
        from tests.nsgt_oracle import reference_nsgt

        t = SliCQT.from_config(config)
        cfg = t.config
        ref = reference_nsgt(cfg.scale, cfg.bins, cfg.fmin, cfg.fmax, t.sllen, t.trlen)
        sig = _signal(n)[0].double().numpy()

        def run() -> float:
            t0 = time.perf_counter()
            coefs = list(ref.forward((sig,)))
            out = list(ref.backward(coefs))
            del out
            return time.perf_counter() - t0

        run_times = [run() for _ in range(max(1, repeat - 1))]
    elif kind in ("floor-torch", "floor-scipy"):
        from mobile_core.transform.slicqt import SliCQT

        t = SliCQT.from_config(config)
        frames = torch.randn(2 * t.n_slices(n), t.sllen)  # [C * S, sllen], stereo
        if kind == "floor-scipy":
            import scipy.fft

            frames = frames.numpy()

            def run() -> float:
                t0 = time.perf_counter()
                scipy.fft.irfft(scipy.fft.rfft(frames, axis=-1), n=t.sllen, axis=-1)
                return time.perf_counter() - t0
        else:
            # every coefficient also passes through one short DFT per direction (length T_b of
            # its block): timed here with torch's complex FFT, the cheapest way torch has
            rows = frames.shape[0]
            coefs = [torch.randn(rows * f, m, dtype=torch.complex64)
                     for f, m in zip(t.block_channels, t.block_lengths)]

            def run() -> float:
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    torch.fft.irfft(torch.fft.rfft(frames, dim=-1), n=t.sllen, dim=-1)
                    for c in coefs:
                        torch.fft.fft(torch.fft.ifft(c, dim=-1), dim=-1)
                    return time.perf_counter() - t0

        run()
        run_times = [run() for _ in range(repeat)]
    else:
        from mobile_core.transform.slicqt import SliCQT

        t = SliCQT.from_config(config, dft="fft" if kind == "engine" else kind)
        x = _signal(n)
        fwd, inv = t, t.inverse  # "engine": what SliCQT runs in eager inference
        if kind != "engine":  # the real-valued path autograd and exports run, called directly
            fwd = lambda v: t._analyse(v, t._forward_frames)  # noqa: E731
            inv = lambda b, k: t._synthesise(b, k, None, None, t._inverse_frames)  # noqa: E731

        def run() -> float:
            with torch.inference_mode():
                t0 = time.perf_counter()
                y = inv(fwd(x), n)
                del y
                return time.perf_counter() - t0

        run()
        run_times = [run() for _ in range(repeat)]
    peak_mb = peak_rss_mb()
    return {"impl": kind, "threads": threads, "seconds": min(run_times), "peak_rss_mb": peak_mb}


def _gather_ab(threads: int, config: str, pairs: int) -> dict:
    """Medians (ms) of interleaved timings of the inverse map's two forms on one chunk's
    coefficient spectra ``[2, S, P, 2]``: eager (slot gathers, ``index_add`` of the extras) and
    exported (float-pair ``index_select`` and ``[4, 2]`` matmuls, as run in eager PyTorch)."""
    import statistics

    import torch

    from mobile_core.contract.chunking import chunk_spec, default_chunk_hops
    from mobile_core.model.cdae import CDAEConfig
    from mobile_core.transform.inverse_map import compact_spectrum, sum_pairs
    from mobile_core.transform.slicqt import SliCQT

    torch.set_num_threads(threads)
    t = SliCQT.from_config(config)
    n = chunk_spec(t, CDAEConfig(), default_chunk_hops(config, t)).chunk
    spec = torch.randn(2, t.n_slices(n), t._n_slots, 2, generator=torch.Generator().manual_seed(0))
    forms = {"compact": lambda: compact_spectrum(t, spec), "exported": lambda: sum_pairs(t, spec)}
    times: dict[str, list[float]] = {k: [] for k in forms}
    with torch.inference_mode():
        for f in forms.values():
            f()
        for _ in range(pairs):
            for name, f in forms.items():
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
    return {"threads": threads, "samples": n,
            "compact_ms": 1e3 * statistics.median(times["compact"]),
            "full_ms": 1e3 * statistics.median(times["exported"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=240.0, help="signal length (stereo, 44.1 kHz)")
    p.add_argument("--config", default="xumx-rt")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-nsgt", action="store_true", help="skip the (slow) reference baseline")
    p.add_argument("--floor", action="store_true",
                   help="also time the DFTs alone (torch.fft; scipy.fft for context)")
    p.add_argument("--gather-ab", action="store_true",
                   help="only compare the inverse map's eager and exported forms on one chunk")
    p.add_argument("--pairs", type=int, default=30, help="interleaved pairs for --gather-ab")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker and args.worker[0] == "gather-ab":
        print(json.dumps(_gather_ab(int(args.worker[1]), args.config, args.pairs)))
        return
    if args.worker:
        res = _worker(args.worker[0], int(args.worker[1]), args.seconds, args.config, args.repeat)
        print(json.dumps(res))
        return

    if args.gather_ab:
        print(f"sliCQT inverse of one chunk, {args.config}: inverse map, eager vs exported form "
              f"(medians of {args.pairs} interleaved pairs)")
        for th in args.threads:
            r = _run_worker("gather-ab", str(th), "--config", args.config,
                            "--pairs", str(args.pairs))
            print(f"  {th} thread(s), {r['samples']} samples: compact {r['compact_ms']:.1f} ms, "
                  f"exported {r['full_ms']:.1f} ms ({1 - r['compact_ms'] / r['full_ms']:.0%} less)")
        return

    jobs = [(kind, th) for kind in ("fft", "engine", "matmul") for th in args.threads]
    if not args.no_nsgt:
        jobs.insert(0, ("nsgt", 1))
    if args.floor:
        jobs += [("floor-torch", th) for th in args.threads]
        if importlib.util.find_spec("scipy") is not None:
            jobs.append(("floor-scipy", 1))
    results = []
    for kind, th in jobs:
        results.append(_run_worker(kind, str(th), "--seconds", str(args.seconds),
                                   "--config", args.config, "--repeat", str(args.repeat)))
        print(f"  measured {kind} on {th} thread(s)", file=sys.stderr)
    base = next((r["seconds"] for r in results if r["impl"] == "nsgt"), None)
    print(f"sliCQT forward+inverse, {args.config}, {args.seconds:.0f} s stereo at 44.1 kHz")
    print(f"{'implementation':<26}{'threads':>8}{'time (s)':>10}{'x nsgt':>9}{'peak RSS (MB)':>15}")
    for r in results:
        name = {"nsgt": "nsgt 0.19 (NumPy)", "fft": "real path, dft=fft",
                "engine": "SliCQT, eager inference",
                "matmul": "real path, dft=matmul", "floor-torch": "DFTs only, torch",
                "floor-scipy": "slice DFTs only, scipy"}[r["impl"]]
        speed = f"{base / r['seconds']:.1f}" if base else "-"
        print(f"{name:<26}{r['threads']:>8}{r['seconds']:>10.2f}{speed:>9}{r['peak_rss_mb']:>15.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
