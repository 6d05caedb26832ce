"""``demix``: separate songs into vocals, drums, bass and other.

    demix song.mp3                         -> separated/song/{vocals,drums,bass,other}.wav
    demix --example                        -> the bundled example song
    demix -m model.pte --keep-rate a.flac b.wav -o stems/

Each track gets a one-line summary (duration, time taken, real-time factor). A track that cannot
be processed gets one error line, ``demix: error: <track>: <reason>``; the other tracks still run,
nothing partial is written for the bad one, and the exit status is 1 at the end. Before any work
the run is refused with one line if two inputs would write to the same folder, a stem or the
``--json`` file would be written over an input, or the ``--json`` file cannot be written
(:mod:`.outputs`). Ctrl-C, ``SIGTERM`` and ``SIGHUP`` remove the partial files and exit 130, 143,
129; a closed stdout (``| head``) silences the summaries but not the work (:mod:`.guard`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..contract.audio import WAV_FORMATS
from ..contract.backends import BACKENDS, Backend, open_backend
from ..contract.runner import TrackResult, separate_file
from ..errors import DemixError
from .guard import OneLineParser, console_main, error_line, say
from .outputs import check_json_target, plan_jobs

PROG = "demix"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``demix``."""
    p = OneLineParser(
        prog=PROG,
        description="Separate songs into stems (vocals, drums, bass, other) with the on-device "
                    "model: the Python reference of what the phone app does.",
    )
    p.add_argument("tracks", nargs="*", type=Path, metavar="TRACKS",
                   help="audio files (WAV, FLAC, OGG, MP3, ... anything libsndfile reads)")
    p.add_argument("-o", "--out", type=Path, default=Path("separated"),
                   help="output folder; stems go to OUT/<track name>/<stem>.wav "
                        "(default: separated)")
    p.add_argument("-m", "--model", type=Path, default=None,
                   help="model file (.pt) or exported artifact (.pte, .ptl, .onnx, .ort); "
                        "default: the bundled model")
    p.add_argument("--example", action="store_true", help="also separate the bundled example song")
    p.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                   help="runtime; auto picks it from the model file's extension")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the runtime (default: all cores); a .pt model runs "
                        "each chunk's parts as tasks on up to 4 of them")
    p.add_argument("--format", dest="fmt", default="wav16", choices=sorted(WAV_FORMATS),
                   help="stem file format (default: wav16)")
    p.add_argument("--keep-rate", action="store_true",
                   help="write stems at the input's sample rate (default: the model's, 44.1 kHz)")
    p.add_argument("--stems", default=None,
                   help="comma-separated subset of stems to write, e.g. vocals,drums")
    p.add_argument("--mono-out", action="store_true",
                   help="for mono inputs, write mono stems (mean of the two output channels)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="write a JSON summary of the run to FILE")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="chunk length in seconds (eager .pt models only; rounded to slice hops)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars and no summary lines (errors still go to stderr)")
    return p


def _summary(r: TrackResult) -> str:
    speed = r.duration / r.elapsed if r.elapsed > 0 else float("inf")
    return (f"{r.input.name}: {r.duration:.1f} s of audio in {r.elapsed:.1f} s "
            f"(RTF {r.rtf:.3f}, {speed:.1f}x real time), {r.chunks} chunk(s) -> {r.out_dir}")


def _write_json(path: Path, report: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise DemixError(f"cannot write the JSON summary {path}: "
                             f"{e.strerror or e}") from None
        raise


def _backend_info(b: Backend, path: Path | None) -> dict:
    return {"model": str(path) if path else "default", "backend": b.name,
            "model_id": b.model_id, "config": getattr(b, "config", None),
            "quantization": getattr(b, "quantization", None), "stems": list(b.stems),
            "chunk": b.spec.to_dict()}


@console_main(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``demix``; returns the exit status (0 ok, 1 a track or the model failed,
    2 a bad option, 128 + N on signal N)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    tracks = list(args.tracks)
    if args.example:
        from ..assets import EXAMPLE_SONG

        tracks.append(EXAMPLE_SONG)
    if not tracks:
        parser.error("no tracks given (pass audio files, or --example)")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    backend = open_backend(args.model, backend=args.backend, threads=args.threads,
                           chunk_seconds=args.chunk_seconds)
    stems = None
    if args.stems is not None:
        stems = [s.strip() for s in args.stems.split(",") if s.strip()]
        unknown = [s for s in stems if s not in backend.stems]
        if unknown or not stems:
            parser.error(f"--stems: unknown stem(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {','.join(backend.stems)}")

    names = stems or list(backend.stems)
    jobs = plan_jobs(tracks, args.out, names)
    if args.json is not None:
        check_json_target(args.json, tracks,
                          [j.out_dir / f"{s}.wav" for j in jobs for s in names])

    show_progress = not args.quiet and sys.stderr.isatty()
    report = {"tool": PROG, **_backend_info(backend, args.model), "format": args.fmt,
              "keep_rate": args.keep_rate, "threads": args.threads, "tracks": []}
    if hasattr(backend, "workers"):
        report["workers"] = backend.workers
    failed = 0
    t0 = time.perf_counter()
    for job in jobs:
        try:
            r = separate_file(job.track, job.out_dir, backend, fmt=args.fmt,
                              keep_rate=args.keep_rate, stems=stems, mono_out=args.mono_out,
                              progress=show_progress)
        except (DemixError, OSError) as e:
            failed += 1
            line = error_line(PROG, e, job.track)
            print(line, file=sys.stderr, flush=True)
            report["tracks"].append({"input": str(job.track), "ok": False,
                                     "error": line.split("error: ", 1)[1]})
            continue
        if not args.quiet:
            say(_summary(r), PROG)
        report["tracks"].append({"ok": True, **r.to_dict()})
    report["elapsed"] = round(time.perf_counter() - t0, 6)
    report["failed"] = failed
    if args.json is not None:
        _write_json(args.json, report)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
