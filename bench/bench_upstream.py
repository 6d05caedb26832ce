"""Upstream xumx-sliCQ-V2's own eager PyTorch realtime model vs this project's artifacts, one song.

    python bench/bench_upstream.py --upstream DIR [--pte FILE ...] [--eager MODEL]
                                   [--song F.wav | --seconds 240] [--threads 1 2] [--pairs N]
                                   [--json F]

What it measures: for each thread count, ``--pairs`` interleaved rounds (upstream, then each
``--pte`` (and ``--eager``); the order is reversed every other round), each measurement in a
fresh subprocess that separates the whole song into four stems and reports wall seconds, CPU
seconds and its own peak RSS (``VmHWM``, see peak_rss.py). Then a Markdown table (median and
every wall time) and the ratio upstream / artifact of the median wall times per thread count,
with the machine (CPU model, load average at start and end) and both commits.

* Upstream (https://github.com/sevagh/xumx-sliCQ, branch ``v2``, package ``xumx_slicq_v2``):
  ``torch.set_num_threads(t)``, then upstream's own build, ``Separator.load(model_path=
  DIR/pretrained_model_realtime, realtime=True, runtime_backend="torch-cpu")`` (its realtime
  configuration: bark, 262 bins, fmin 32.9 Hz, causal CDAE, phasemix), and upstream's own
  inference path, the body of ``xumx_slicq_v2.inference.inference_main`` for one file:
  ``data.load_audio`` (the whole song), ``inference.separate`` (``preprocess_audio``, then
  ``Separator.forward``, which cuts the song into non-overlapping chunks of upstream's default
  ``chunk_size`` 2621440 samples, 59.4 s, and concatenates the outputs) and four float32 WAV
  stems written as ``inference_main`` does (``encoding="PCM_F"``). Timed: decode + separate +
  write; upstream's own "Inference time" (``separate``'s forward only) is reported too.
* Artifacts: exactly what ``bench_formats.py``'s worker does (its ``_worker`` is called):
  ``torch.set_num_threads(t)``, ``open_backend(path, threads=t)`` (for a ``.pte`` this sizes
  ExecuTorch's threadpool to ``t``), then :func:`mobile_core.contract.runner.separate_file`
  (decode, chunk plan, runtime, stitching, 16-bit WAV stems). ``--eager`` adds this project's
  eager float32 model the same way (a ``.pt`` file or a configuration name, fresh weights).

The song is bench_formats.py's synthetic song (same function, seed and cache file) unless
``--song`` is given (upstream's path needs it at 44.1 kHz: resampling would need torchaudio).

Make the upstream checkout (never commit upstream code here) from a mirror or a clone::

    git clone -b v2 https://github.com/sevagh/xumx-sliCQ /tmp/upb/xumx-sliCQ
    # or, from a bare mirror M of that repository:
    D=/tmp/upb/xumx-sliCQ; mkdir -p $D && git --git-dir=$M archive HEAD | tar -x -C $D
    git --git-dir=$M rev-parse HEAD > $D/UPSTREAM_COMMIT

RANDOM WEIGHTS: upstream's weights (``xumx_slicq_v2.pth``) are Git LFS pointers in such a
checkout; when the file is a pointer, ``torch.load`` of it returns an empty state dict, so
upstream's ``load_state_dict(state, strict=False)`` keeps PyTorch's default initialisation. Speed
and memory do not depend on the weights; the stems are noise. After ``git lfs pull`` in a clone
the real weights are loaded.

Run-time shims, applied in the upstream worker only (upstream files are never edited):

* ``torchaudio`` (not installed here; recent releases dropped its I/O backends) is replaced by a
  stub module whose ``load``/``save`` use soundfile, the library this project's runner decodes
  and writes with; ``set_audio_backend`` is a no-op, ``transforms.Resample`` refuses.
* ``torch.no_grad()`` around upstream's separation: upstream calls ``Separator.forward`` with
  autograd on (its ``freeze()`` only clears ``.grad``; its ``requires_grad = False`` line is
  commented out), which fails in torch 2.13 inside ``nsgt/nsigtf.py`` ("a leaf Variable that
  requires grad is being used in an in-place operation"). No gradients are needed for
  inference, so this is what upstream's ``freeze()`` means to do.
* ``torch.load`` returns ``{}`` for a Git LFS pointer (see RANDOM WEIGHTS).

The machine may be shared: the load average is printed with the numbers, and the A/B order
alternates so that a change of load hits both sides; CPU seconds of a one-thread run are the
closest stand-in for its time on an idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from bench_formats import _cpu_name, _eager_model, _song
from benchlib import run_worker
from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UPSTREAM = "upstream xumx-sliCQ-V2 realtime (torch eager)"
LFS_POINTER = b"version https://git-lfs"


def _make_command(dest: Path) -> str:
    return (f"git clone -b v2 https://github.com/sevagh/xumx-sliCQ {dest}\n"
            f"  (or from a bare mirror M: mkdir -p {dest} && git --git-dir=$M archive HEAD | "
            f"tar -x -C {dest} && git --git-dir=$M rev-parse HEAD > {dest}/UPSTREAM_COMMIT)")


def _check_upstream(path: Path | None) -> str | None:
    """None if ``path`` is an upstream checkout, else what is wrong and how to make one."""
    dest = path or Path("/tmp/upb/xumx-sliCQ")
    need = ["xumx_slicq_v2/separator.py", "xumx_slicq_v2/inference.py",
            "pretrained_model_realtime/xumx_slicq_v2.json"]
    missing = [n for n in need if not (dest / n).is_file()]
    if path is not None and not missing:
        return None
    what = "--upstream is required" if path is None else f"{dest} lacks {', '.join(missing)}"
    return f"{what}; make an upstream checkout with:\n  {_make_command(dest)}"


# ---------------------------------------------------------------- upstream worker (shims)


def _torchaudio_stub() -> types.ModuleType:
    """A ``torchaudio`` with just what upstream's inference path calls, on soundfile."""
    import soundfile as sf
    import torch

    mod = types.ModuleType("torchaudio")

    def load(path, frame_offset: int = 0, num_frames: int = -1, **_kw):
        data, rate = sf.read(str(path), start=frame_offset,
                             frames=num_frames if num_frames > 0 else -1,
                             dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), rate

    def save(path, src, sample_rate, encoding: str = "PCM_F", **_kw):
        subtype = {"PCM_F": "FLOAT", "PCM_S": "PCM_16"}.get(encoding, "FLOAT")
        x = src.detach().cpu().numpy()
        sf.write(str(path), x.T if x.ndim == 2 else x, int(float(sample_rate)), subtype=subtype)

    class Resample:  # only reached for a song not at 44.1 kHz
        def __init__(self, *a, **k):
            raise NotImplementedError("bench_upstream: upstream would resample the song with "
                                      "torchaudio, which is not installed; give a 44.1 kHz song")

    mod.load = load
    mod.save = save
    mod.set_audio_backend = lambda *_a, **_k: None
    mod.get_audio_backend = lambda: "soundfile"
    mod.transforms = types.SimpleNamespace(Resample=Resample)
    return mod


@contextlib.contextmanager
def _random_weights_if_lfs():
    """``torch.load`` of a Git LFS pointer file returns an empty state dict (random weights)."""
    import torch

    real = torch.load
    seen: list[str] = []

    def load(f, *a, **k):
        p = Path(f) if isinstance(f, (str, os.PathLike)) else None
        if p is not None and p.is_file():
            with open(p, "rb") as fh:
                if fh.read(len(LFS_POINTER)) == LFS_POINTER:
                    seen.append(str(p))
                    return {}
        return real(f, *a, **k)

    torch.load = load
    try:
        yield seen
    finally:
        torch.load = real


def _upstream_worker(upstream: str, song: str, threads: int) -> dict:
    """One measurement of upstream's realtime separator in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    sys.modules["torchaudio"] = _torchaudio_stub()
    sys.path.insert(0, str(Path(upstream).resolve()))
    torchaudio = sys.modules["torchaudio"]
    from xumx_slicq_v2 import data, inference
    from xumx_slicq_v2.separator import Separator

    rss_base = peak_rss_mb()
    model_path = Path(upstream) / "pretrained_model_realtime"
    t0 = time.perf_counter()
    with _random_weights_if_lfs() as lfs:
        sep = Separator.load(model_path=str(model_path), runtime_backend="torch-cpu",
                             realtime=True, device="cpu")
    sep.quiet = True  # no tqdm bar over song chunks
    load_s = time.perf_counter() - t0
    rss_load = peak_rss_mb()
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as out:
        c0 = time.process_time()
        t0 = time.perf_counter()
        with torch.no_grad():  # shim: see the module docstring
            audio, rate = data.load_audio(song)
            estimates, fwd_s = inference.separate(audio=audio, rate=rate, separator=sep,
                                                  device=device)
        for target, estimate in estimates.items():
            torchaudio.save(str(Path(out) / f"{target}.wav"),
                            torch.squeeze(estimate).detach().cpu(), encoding="PCM_F",
                            sample_rate=sep.sample_rate)
        run_s = time.perf_counter() - t0
        cpu_s = time.process_time() - c0
    audio_s = audio.shape[-1] / rate
    return {"kind": "upstream", "threads": threads, "chunks": -(-audio.shape[-1] // sep.chunk_size),
            "chunk": sep.chunk_size, "audio_s": audio_s, "load_s": round(load_s, 3),
            "run_s": round(run_s, 3), "cpu_s": round(cpu_s, 3), "forward_s": round(fwd_s, 3),
            "rtf": round(run_s / audio_s, 5), "random_weights": bool(lfs),
            "params": sum(p.numel() for p in sep.xumx_model.parameters()),
            "rss_base_mb": round(rss_base, 1), "rss_after_load_mb": round(rss_load, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def _ours_worker(model: str, song: str, threads: int, hops: int) -> dict:
    """One measurement of an artifact or eager model: bench_formats.py's worker, verbatim."""
    from bench_formats import _worker

    return _worker(model, song, threads, hops or None)


# ---------------------------------------------------------------- driver


def _run(args: list[str]) -> dict:
    return run_worker(__file__, args)


def _git(cwd: Path, *a: str) -> str:
    try:
        r = subprocess.run(["git", "-C", str(cwd), *a], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def _project_commit() -> str:
    head = _git(ROOT, "rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--"],
                           capture_output=True).returncode != 0
    return head + (" + uncommitted changes" if dirty and head != "unknown" else "")


def _upstream_commit(path: Path) -> str:
    f = path / "UPSTREAM_COMMIT"
    if f.is_file():
        return f.read_text().strip()[:40]
    if (path / ".git").exists():
        return _git(path, "rev-parse", "HEAD") or "unknown"
    return "unknown (no UPSTREAM_COMMIT file)"


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _table(names: list[str], threads: list[int], rows: list[dict]) -> str:
    out = ["| name | threads | median wall s | wall s (each run) | median CPU s | RTF "
           "| peak RSS MB | RSS after imports MB |",
           "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for t in threads:
        for name in names:
            rs = [r for r in rows if r["name"] == name and r["threads"] == t]
            if not rs:
                continue
            wall = _median([r["run_s"] for r in rs])
            each = ", ".join(f"{r['run_s']:.2f}" for r in rs)
            out.append(
                f"| {name} | {t} | {wall:.2f} | {each} | "
                f"{_median([r['cpu_s'] for r in rs]):.2f} | {wall / rs[0]['audio_s']:.4f} | "
                f"{max(r['peak_rss_mb'] for r in rs):.0f} | "
                f"{_median([r['rss_base_mb'] for r in rs]):.0f} |")
    return "\n".join(out)


def _ratios(names: list[str], threads: list[int], rows: list[dict]) -> list[dict]:
    res = []
    for t in threads:
        up = [r for r in rows if r["name"] == UPSTREAM and r["threads"] == t]
        for name in names:
            if name == UPSTREAM:
                continue
            ours = [r for r in rows if r["name"] == name and r["threads"] == t]
            if up and ours:
                res.append({"threads": t, "name": name,
                            "wall": _median([r["run_s"] for r in up])
                            / _median([r["run_s"] for r in ours]),
                            "cpu": _median([r["cpu_s"] for r in up])
                            / _median([r["cpu_s"] for r in ours]),
                            "rss": max(r["peak_rss_mb"] for r in up)
                            / max(r["peak_rss_mb"] for r in ours)})
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", type=Path, default=None,
                   help="upstream xumx-sliCQ checkout (branch v2; see the docstring)")
    p.add_argument("--pte", type=Path, nargs="*", default=[], help="artifacts to compare")
    p.add_argument("--eager", default=None,
                   help="also this project's eager fp32 model: .pt file or configuration name "
                        "(fresh weights), at the first --pte's chunk length")
    p.add_argument("--song", type=Path, default=None, help="song to separate (default: synth)")
    p.add_argument("--seconds", type=float, default=240.0, help="synthetic song length (240)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--pairs", type=int, default=3, help="interleaved rounds per thread count")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--upstream-worker", nargs=3, metavar=("DIR", "SONG", "THREADS"),
                   help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "SONG", "THREADS", "HOPS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.upstream_worker:
        d, song, threads = args.upstream_worker
        print(json.dumps(_upstream_worker(d, song, int(threads))))
        return 0
    if args.worker:
        model, song, threads, hops = args.worker
        print(json.dumps(_ours_worker(model, song, int(threads), int(hops))))
        return 0
    problem = _check_upstream(args.upstream)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    for f in args.pte:
        if not f.is_file():
            p.error(f"no such artifact: {f}")

    from mobile_core.contract.artifacts import read_artifact_metadata

    metas = {f: read_artifact_metadata(f) for f in args.pte}
    for f, m in metas.items():
        if m.get("config") != "xumx-rt":
            print(f"warning: {f.name} is a {m.get('config')} artifact, not xumx-rt",
                  file=sys.stderr)
    song = _song(args)
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        # (name, model path, chunk hops); model None: upstream
        cases: list[tuple[str, Path | None, int]] = [(UPSTREAM, None, 0)]
        if args.eager:
            pt = _eager_model(args.eager, Path(tmp))
            first = next(iter(metas.values()), None)
            hops = int(first["chunk"]) // int(first["hop"]) if first else 0
            cases.append((f"eager fp32 ({pt.name})", pt, hops))
        for f, m in metas.items():
            name = f"{f.name} ({m.get('config')}, {m.get('quantization', 'fp32')})"
            cases.append((name, f.resolve(), 0))
        names = [c[0] for c in cases]
        for threads in args.threads:
            for rnd in range(args.pairs):
                order = cases if rnd % 2 == 0 else cases[::-1]
                for name, model, hops in order:
                    if model is None:
                        wargs = ["--upstream-worker", str(args.upstream.resolve()), str(song),
                                 str(threads)]
                    else:
                        wargs = ["--worker", str(model), str(song), str(threads), str(hops)]
                    print(f"[{threads} thread(s), round {rnd + 1}/{args.pairs}] {name} ...",
                          file=sys.stderr, flush=True)
                    r = _run(wargs)
                    r.update(name=name, round=rnd, load_avg=os.getloadavg()[0])
                    rows.append(r)
                    print(f"  {r['run_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, peak RSS "
                          f"{r['peak_rss_mb']:.0f} MB (load {r['load_avg']:.2f})",
                          file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    machine = (f"{os.cpu_count()} CPUs ({_cpu_name()}), load average at start "
               f"{load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, at end "
               f"{load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}")
    commits = {"project": _project_commit(), "upstream": _upstream_commit(args.upstream)}
    up_rows = [r for r in rows if r["name"] == UPSTREAM]
    audio = rows[0]["audio_s"]
    weights = "RANDOM weights (LFS pointer)" if up_rows[0]["random_weights"] else "real weights"
    print(f"\n{audio:.1f} s stereo song {song.name}, {started}; {machine}")
    print(f"commits: this project {commits['project']}, upstream {commits['upstream']}")
    print(f"upstream: Separator.load(realtime=True), {up_rows[0]['params']:,} parameters, "
          f"{weights}, chunk_size {up_rows[0]['chunk']} samples, {up_rows[0]['chunks']} "
          f"chunk(s), torch {_torch_version()}\n")
    print(_table(names, args.threads, rows))
    print()
    for t in args.threads:
        fwd = [r["forward_s"] for r in up_rows if r["threads"] == t]
        if fwd:
            print(f"- upstream's own 'Inference time' (Separator.forward only), {t} thread(s): "
                  f"median {_median(fwd):.2f} s")
    ratios = _ratios(names, args.threads, rows)
    for r in ratios:
        print(f"- {r['threads']} thread(s): upstream / {r['name']}: wall {r['wall']:.2f}x, "
              f"CPU {r['cpu']:.2f}x, peak RSS {r['rss']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(
            {"rows": rows, "ratios": ratios, "machine": machine, "commits": commits,
             "song": str(song), "started": started, "pairs": args.pairs}, indent=1) + "\n")
    return 0


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    raise SystemExit(main())
