"""Speed, memory and size of every exported artifact on one long song, eager fp32 as baseline.

    python bench/bench_formats.py --artifacts DIR [--model MODEL] [--song F.wav | --seconds 240]
                                  [--threads 1 2] [--profile] [--json F]
    python bench/bench_formats.py --chunk-sweep CONFIG HOPS [HOPS ...]

For each artifact in ``DIR`` (``demix-*.pte|ptl|onnx|ort``, as ``demix-export`` writes them) and
the eager float32 model (``--model``: a ``.pt`` file or a configuration name, fresh weights; run
at the artifacts' chunk length), and each thread count, one fresh subprocess streams the song
through :func:`mobile_core.contract.runner.separate_file`
(decode, chunk plan, the backend's runtime,
stitching, 16-bit WAV stems: what a phone does) and reports wall seconds, CPU seconds, the real-time
factor and its own peak RSS (``getrusage``), plus the RSS after imports (Python + torch + the
runtime, before the model is loaded) so that the model's own share is visible. File sizes are
listed too.

The song is a synthetic 240 s multitrack song (``export.data.synth``, fixed seed; cached in the
system temp folder) unless ``--song`` is given. ``--profile`` adds an ExecuTorch ETDump per-op
profile of one chunk of every ``.pte`` (``executorch.devtools.Inspector``), grouped by operator:
XNNPACK kernels vs portable/optimized kernels outside the delegate, and a line that splits it into
the network (its quantized layers, conversions and sigmoid) and the transform (the rest), with
the transform's time over its FFT kernels' (``benchlib.split_profile``).

``--chunk-sweep`` measures the cost per second of output of the eager chunk graph at several chunk
lengths (fresh process each), the measurement behind ``DEFAULT_CHUNK_HOPS``.

The machine is shared: the load average is printed with the numbers; CPU seconds of a one-thread
run are the closest stand-in for its time on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import etdump_by_operator, run_worker, split_line
from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SONG_SEED = 3000
KIND_ORDER = {"eager": 0, "pte": 1, "ptl": 2, "onnx": 3, "ort": 4}


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``VmHWM``, see peak_rss.py)."""
    return peak_rss_mb()


def _worker(model: str, song: str, threads: int, chunk_hops: int | None) -> dict:
    """One measurement in this (fresh) process: stream ``song`` through ``model``."""
    import torch

    torch.set_num_threads(threads)
    from mobile_core.contract.backends import open_backend
    from mobile_core.contract.runner import separate_file

    kind = Path(model).suffix.lstrip(".")
    if kind == "pte":
        import executorch.runtime  # noqa: F401
    elif kind in ("onnx", "ort"):
        import onnxruntime  # noqa: F401
    rss_base = _rss_mb()
    t0 = time.perf_counter()
    backend = open_backend(model, threads=threads, chunk_hops=chunk_hops if kind == "pt" else None)
    load_s = time.perf_counter() - t0
    rss_load = _rss_mb()
    with tempfile.TemporaryDirectory() as out:
        c0 = time.process_time()
        r = separate_file(song, out, backend)
        cpu_s = time.process_time() - c0
    return {"kind": "eager" if kind == "pt" else kind, "threads": threads, "chunks": r.chunks,
            "chunk": backend.spec.chunk, "audio_s": r.duration, "load_s": round(load_s, 3),
            "run_s": round(r.elapsed, 3), "cpu_s": round(cpu_s, 3), "rtf": round(r.rtf, 5),
            "rss_base_mb": round(rss_base, 1), "rss_after_load_mb": round(rss_load, 1),
            "peak_rss_mb": round(_rss_mb(), 1)}


def _profile_worker(path: str, repeats: int = 2) -> dict:
    """ETDump of one chunk of a ``.pte`` (one thread), grouped by operator."""
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    from mobile_core.contract.artifacts import read_artifact_metadata

    _unsafe_reset_threadpool(1)
    meta = read_artifact_metadata(path)
    x = (torch.rand(1, 2, int(meta["chunk"]), generator=torch.Generator().manual_seed(0)) - 0.5)
    prog = Runtime.get().load_program(path, enable_etdump=True, debug_buffer_size=0)
    method = prog.load_method("forward")
    for _ in range(repeats):
        method.execute([x * 0.3])
    with tempfile.TemporaryDirectory() as tmp:
        etdp = Path(tmp) / "run.etdp"
        prog.write_etdump_result_to_file(str(etdp), str(Path(tmp) / "debug.bin"))
        total, rows = etdump_by_operator(etdp)
    return {"file": path, "total_ms": round(total, 2),
            "ops": [{"op": k, "ms": round(ms, 2), "calls": n} for k, ms, n in rows]}


def _sweep_worker(config: str, hops: int, repeats: int = 3) -> dict:
    """Eager chunk graph at ``hops`` slice hops, one thread: CPU s per chunk and peak RSS."""
    import torch

    torch.set_num_threads(1)
    from export.graph import ChunkGraph
    from export.models import fresh_separator
    from export.songs import example_song
    from mobile_core.contract.chunking import chunk_spec

    sep = fresh_separator(config)
    spec = chunk_spec(sep.transform, sep.config.cdae, hops)
    graph = ChunkGraph(sep, spec.chunk)
    mix = example_song().mix
    x = torch.zeros(1, 2, spec.chunk)
    n = min(spec.chunk, mix.shape[-1])
    x[0, :, :n] = mix[:, :n]
    rss0 = _rss_mb()
    times = []
    with torch.inference_mode():
        graph(x)
        for _ in range(repeats):
            c0 = time.process_time()
            graph(x)
            times.append(time.process_time() - c0)
    cpu = sorted(times)[len(times) // 2]
    return {"config": config, "hops": hops, "chunk_s": spec.chunk / spec.sample_rate,
            "step_s": spec.step / spec.sample_rate, "cpu_s_per_chunk": round(cpu, 4),
            "cpu_s_per_output_s": round(cpu / (spec.step / spec.sample_rate), 5),
            "overhead": round(1 - spec.step / spec.chunk, 4),
            "rss_run_mb": round(_rss_mb() - rss0, 1)}


def chunk_sweep(config: str, hops_list: list[int]) -> str:
    """Cost per second of output vs chunk length (eager chunk graph, fresh process each)."""
    rows = [_run(["--sweep-worker", config, str(h)]) for h in hops_list]
    out = [f"chunk length sweep, {config}, eager chunk graph, one thread (CPU s; load average "
           f"{os.getloadavg()[0]:.2f})", "",
           "| hops | chunk s | step s | context+look-ahead share | CPU s / chunk "
           "| CPU s / output s | run memory MB |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['hops']} | {r['chunk_s']:.2f} | {r['step_s']:.2f} | "
                   f"{100 * r['overhead']:.0f} % | {r['cpu_s_per_chunk']:.3f} | "
                   f"{r['cpu_s_per_output_s']:.4f} | {r['rss_run_mb']:.0f} |")
    return "\n".join(out)


def _run(args: list[str]) -> dict:
    return run_worker(__file__, args, tail=5)


def _song(args: argparse.Namespace) -> Path:
    if args.song:
        return args.song
    path = Path(tempfile.gettempdir()) / f"demix-bench-song-{args.seconds:g}s-seed{SONG_SEED}.wav"
    if not path.exists():
        from export.data.synth.corpus import render_example

        print(f"rendering a {args.seconds:g} s synthetic song to {path} ...", file=sys.stderr)
        part = path.with_suffix(".partial.wav")
        render_example(part, args.seconds, SONG_SEED)
        os.replace(part, path)
    return path


def _eager_model(model: str, tmp: Path) -> Path:
    """A ``.pt`` path for the eager baseline (config names get fresh weights saved to tmp)."""
    if Path(model).suffix == ".pt" and Path(model).exists():
        return Path(model)
    from export.models import resolve_model
    from mobile_core.model.model_file import save_model

    sep = resolve_model(model)
    path = tmp / f"{sep.config.name}-fresh.pt"
    save_model(sep, path, {"weights": "fresh, for benchmarking"})
    return path


def _table(rows: list[dict]) -> str:
    out = ["| artifact | threads | wall s | CPU s | RTF | peak RSS MB | RSS after imports MB "
           "| model + run MB | file MB |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['threads']} | {r['run_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['rtf']:.4f} | {r['peak_rss_mb']:.0f} | {r['rss_base_mb']:.0f} | "
            f"{r['peak_rss_mb'] - r['rss_base_mb']:.0f} | {r['size_mb']:.2f} |")
    return "\n".join(out)


def _profile_table(p: dict) -> str:
    out = [f"ETDump, one chunk of {Path(p['file']).name}, one thread: "
           f"{p['total_ms']:.0f} ms in Method::execute",
           "", "| operator (where it runs) | ms | calls | share |", "| --- | ---: | ---: | ---: |"]
    for o in p["ops"][:25]:
        share = 100.0 * o["ms"] / p["total_ms"] if p["total_ms"] else 0.0
        out.append(f"| {o['op']} | {o['ms']:.1f} | {o['calls']} | {share:.1f} % |")
    rows = [(o["op"], o["ms"], o["calls"]) for o in p["ops"]]
    if p["total_ms"]:
        out += ["", split_line(rows, p["total_ms"])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", type=Path, required=False, help="folder of demix-* artifacts")
    p.add_argument("--model", default=None,
                   help="eager baseline: .pt model file or configuration name (default: the "
                        "artifacts' configuration, fresh weights)")
    p.add_argument("--song", type=Path, default=None, help="song to separate (default: synth)")
    p.add_argument("--seconds", type=float, default=240.0, help="synthetic song length (240)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="+", default=None, help="artifact file names to include")
    p.add_argument("--no-eager", action="store_true", help="skip the eager baseline")
    p.add_argument("--profile", action="store_true", help="ETDump per-op profile of each .pte")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "SONG", "THREADS", "HOPS"),
                   help=argparse.SUPPRESS)
    p.add_argument("--profile-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--chunk-sweep", nargs="+", default=None, metavar="CONFIG_OR_HOPS",
                   help="instead of artifacts: eager cost per output second vs chunk length, "
                        "e.g. --chunk-sweep xumx-rt 12 24 48 96")
    p.add_argument("--sweep-worker", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.sweep_worker:
        print(json.dumps(_sweep_worker(args.sweep_worker[0], int(args.sweep_worker[1]))))
        return 0
    if args.chunk_sweep:
        print(chunk_sweep(args.chunk_sweep[0], [int(h) for h in args.chunk_sweep[1:]]))
        return 0
    if args.worker:
        model, song, threads, hops = args.worker
        print(json.dumps(_worker(model, song, int(threads), int(hops) or None)))
        return 0
    if args.profile_worker:
        print(json.dumps(_profile_worker(args.profile_worker)))
        return 0
    if args.artifacts is None:
        p.error("--artifacts is required")

    from mobile_core.contract.artifacts import read_artifact_metadata

    files = sorted((f for f in args.artifacts.glob("demix-*")
                    if f.suffix.lstrip(".") in KIND_ORDER and f.is_file()),
                   key=lambda f: (KIND_ORDER[f.suffix.lstrip(".")], f.name))
    if args.only:
        files = [f for f in files if f.name in args.only]
    if not files:
        p.error(f"no demix-*.pte/.ptl/.onnx/.ort files in {args.artifacts}")
    metas = {f: read_artifact_metadata(f) for f in files}
    first = metas[files[0]]
    song = _song(args)
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Path, int, float]] = []
        if not args.no_eager:
            pt = _eager_model(args.model or first["config"], Path(tmp))
            hops = int(first["chunk"]) // int(first["hop"])
            cases.append(("eager fp32 (torch)", pt, hops, 0.0))
        cases += [(f.name, f, 0, f.stat().st_size / 1e6) for f in files]
        for name, path, hops, size in cases:
            for threads in args.threads:
                print(f"{name}, {threads} thread(s) ...", file=sys.stderr, flush=True)
                r = _run(["--worker", str(path), str(song), str(threads), str(hops)])
                r.update(name=name, size_mb=size, load_avg=os.getloadavg()[0])
                rows.append(r)
                print(f"  {r['run_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
        profiles = []
        if args.profile:
            for f in files:
                if f.suffix == ".pte":
                    print(f"profiling {f.name} ...", file=sys.stderr, flush=True)
                    profiles.append(_run(["--profile-worker", str(f)]))
    load1 = os.getloadavg()
    machine = (f"{os.cpu_count()} CPUs ({_cpu_name()}), load average at start "
               f"{load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, at end "
               f"{load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}")
    audio = rows[0]["audio_s"] if rows else 0.0
    print(f"\n{audio:.1f} s stereo song {song.name}, config {first['config']}, chunk "
          f"{first['chunk']} samples ({first['chunk'] / first['sample_rate']:.2f} s), "
          f"{started}; {machine}\n")
    print(_table(rows))
    for prof in profiles:
        print()
        print(_profile_table(prof))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "profiles": profiles, "machine": machine,
                                         "song": str(song), "started": started,
                                         "config": first["config"]}, indent=1) + "\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
