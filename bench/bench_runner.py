"""Peak memory and time of the chunked reference runner on long songs (file in, stems out).

    python bench/bench_runner.py [--minutes 10 60] [--model M.pt] [--threads 1] [--json F]
                                 [--pte A.pte | --build-pte [--quant fp32|int8]]

For every backend (eager ``.pt`` model; ``.pte`` if given or built) and every song length, one
fresh subprocess runs :func:`mobile_core.contract.runner.separate_file` on a long WAV and
reports its own peak RSS (``getrusage``), the RSS peak right after loading the model, and the
wall time. Memory must not grow with the song's length: the runner streams its input and output.

Inputs are generated on the fly as 44.1 kHz stereo 16-bit WAV files written blockwise (a
20-second music-like signal repeated), in a temporary folder removed at the end; the stems (four
16-bit WAVs) are deleted after each run. Without ``--model`` the ``tiny`` configuration with
fixed-seed weights is used (speed and memory do not depend on the weights). ``--build-pte``
exports that model's default-length chunk to ``.pte`` first (needs the ``export`` extra; takes
minutes).

``--build-pte`` writes the artifact the way ``demix-export`` does (chunk graph, XNNPACK
delegate, ``--quant int8`` by default: PT2E calibrated on music), with the model's default chunk
length. The table also shows the RSS right after loading (Python + torch + the runtime + the model):
everything above it is the runner's working set (decode, resample, chunk buffers, stems); on a
phone only the runtime, the model and that working set exist, not Python or torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
SR = 44100


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``VmHWM``, see peak_rss.py)."""
    return peak_rss_mb()


def _worker(model: str, song: str, out: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from mobile_core.contract.backends import open_backend
    from mobile_core.contract.runner import separate_file

    t0 = time.perf_counter()
    backend = open_backend(model, threads=threads)
    load_s = time.perf_counter() - t0
    load_rss = _rss_mb()
    r = separate_file(song, out, backend)
    return {"backend": backend.name, "chunk": backend.spec.chunk, "chunks": r.chunks,
            "audio_s": r.duration, "load_s": load_s, "run_s": r.elapsed, "rtf": r.rtf,
            "rss_after_load_mb": load_rss, "peak_rss_mb": _rss_mb()}


def write_long_wav(path: Path, minutes: float) -> None:
    """A ``minutes``-long stereo 16-bit WAV, written blockwise (bounded memory)."""
    import soundfile as sf

    from mobile_core.cli.golden import music_signal

    piece = music_signal(20 * SR, SR, 2, seed=1).numpy().T * 0.8
    total = int(minutes * 60 * SR)
    with sf.SoundFile(str(path), "w", SR, 2, subtype="PCM_16", format="WAV") as f:
        done = 0
        while done < total:
            n = min(len(piece), total - done)
            f.write(piece[:n])
            done += n


def build_pte(model: Path, path: Path, quant: str) -> None:
    """Export ``model``'s default-length chunk graph to ``.pte`` as ``demix-export`` does."""
    sys.path.insert(0, str(ROOT))
    from export.artifacts import artifact_path, export_artifacts
    from mobile_core.model.model_file import load_model

    sep = load_model(model)
    export_artifacts(sep, path.parent, ["pte"], [quant], heldout=0, timing_repeats=1, log=None)
    artifact_path(path.parent, sep.config.name, quant, "pte").rename(path)


def _run_case(model: Path, song: Path, out: Path, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--worker", str(model), str(song), str(out),
           "--threads", str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        raise RuntimeError(f"worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    head = (f"{'backend':<8} {'audio':>8} {'chunk':>8} {'chunks':>7} {'wall s':>8} {'RTF':>7} "
            f"{'RSS after load':>15} {'peak RSS':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['backend']:<8} {r['audio_s'] / 60:>6.1f} m {r['chunk']:>8} {r['chunks']:>7} "
            f"{r['run_s']:>8.1f} {r['rtf']:>7.3f} {r['rss_after_load_mb']:>12.0f} MB "
            f"{r['peak_rss_mb']:>6.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", nargs=3, metavar=("MODEL", "SONG", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--minutes", type=float, nargs="+", default=[10.0])
    p.add_argument("--model", type=Path, default=None, help=".pt model (default: tiny, seeded)")
    p.add_argument("--pte", type=Path, default=None, help="also run this .pte artifact")
    p.add_argument("--build-pte", action="store_true", help="export the model to .pte first")
    p.add_argument("--quant", choices=("fp32", "int8"), default="int8",
                   help="quantization of the --build-pte artifact (default int8)")
    p.add_argument("--no-eager", action="store_true", help="skip the eager backend")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: system tmp)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(*args.worker, args.threads)))
        return 0

    sys.path.insert(0, str(ROOT))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-runner-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from mobile_core.cli.golden import golden_model
            from mobile_core.model.model_file import save_model

            model = tmp / "tiny.pt"
            save_model(golden_model("tiny"), model)
        models = [] if args.no_eager else [model]
        if args.build_pte:
            t0 = time.perf_counter()
            build_pte(model, tmp / f"model-{args.quant}.pte", args.quant)
            print(f"built .pte in {time.perf_counter() - t0:.0f} s", flush=True)
            models.append(tmp / f"model-{args.quant}.pte")
        elif args.pte is not None:
            models.append(args.pte)
        for minutes in args.minutes:
            song = tmp / f"song-{minutes:g}min.wav"
            write_long_wav(song, minutes)
            for m in models:
                row = _run_case(m, song, tmp / "out", args.threads)
                row["model"] = str(m) if m.parent != tmp else m.name
                rows.append(row)
                print(_table([row]).splitlines()[-1], flush=True)
            song.unlink()
    print()
    print(_table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
