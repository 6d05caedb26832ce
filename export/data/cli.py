"""``demix-data``: build training data.

``demix-data synth --out DIR --hours H --seed S [--workers N] [--seconds-per-song MIN [MAX]]``
renders a synthetic multitrack corpus in MUSDB18-HQ layout (see ``export.data.synth``);
``demix-data example --out FILE`` renders one short example song.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from .synth.fluid import DEFAULT_SOUNDFONT

    p = argparse.ArgumentParser(prog="demix-data", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "synth",
        help="render a synthetic multitrack corpus (MUSDB18-HQ layout)",
        description="Procedurally compose songs and render them per stem with FluidSynth into "
        "DIR/{train,test}/<track>/{mixture,vocals,drums,bass,other}.flac (+ song.mid), with "
        "DIR/corpus.json. Same seed -> identical files; an interrupted run resumes.",
    )
    s.add_argument("--out", type=Path, required=True, help="output directory")
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--hours", type=float, help="about this many hours of audio")
    size.add_argument("--songs", type=int, help="exactly this many songs")
    s.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    s.add_argument(
        "--workers", type=int, default=None, help="processes (default: number of CPUs)"
    )
    s.add_argument(
        "--seconds-per-song",
        type=float,
        nargs="+",
        default=[40.0, 80.0],
        metavar=("MIN", "MAX"),
        help="song length, or a MIN MAX range each song draws from (default 40 80)",
    )
    s.add_argument("--test-fraction", type=float, default=0.1, help="share in test/ (0.1)")
    s.add_argument(
        "--valid-fraction",
        type=float,
        default=0.1,
        help="share of train songs listed as valid_tracks in corpus.json (0.1)",
    )
    s.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT, help="GM .sf2")
    s.add_argument("--no-midi", action="store_true", help="do not keep song.mid files")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    e = sub.add_parser("example", help="render one short example song")
    e.add_argument("--out", type=Path, required=True, help="mixture file (.wav or .flac)")
    e.add_argument("--seconds", type=float, default=6.0)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--stems-dir", type=Path, default=None, help="also write stems + MIDI here")
    e.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT)
    return p


def _seconds_range(values: list[float]) -> tuple[float, float]:
    if len(values) not in (1, 2):
        raise SystemExit("--seconds-per-song takes one value or MIN MAX")
    lo, hi = values[0], values[-1]
    if not 0 < lo <= hi:
        raise SystemExit("--seconds-per-song: need 0 < MIN <= MAX")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .synth.corpus import render_example, write_corpus
    from .synth.fluid import FluidSynthUnavailable

    try:
        if args.command == "example":
            r = render_example(args.out, args.seconds, args.seed, args.soundfont, args.stems_dir)
            print(f"wrote {args.out} ({r.seconds:.2f} s, {r.song.style}, seed {args.seed})")
            return 0
        lo, hi = _seconds_range(args.seconds_per_song)
        if args.songs is not None:
            n = args.songs
        else:
            if args.hours <= 0:
                raise SystemExit("--hours must be > 0")
            n = max(1, math.ceil(args.hours * 3600.0 / ((lo + hi) / 2)))
        corpus = write_corpus(
            args.out,
            n,
            seed=args.seed,
            seconds=(lo, hi),
            workers=args.workers,
            test_fraction=args.test_fraction,
            valid_fraction=args.valid_fraction,
            soundfont=args.soundfont,
            midi=not args.no_midi,
            progress=not args.quiet,
        )
    except (FluidSynthUnavailable, FileNotFoundError, FileExistsError) as exc:
        print(f"demix-data: {exc}", file=sys.stderr)
        return 2
    st = corpus["stats"]
    splits = {s: sum(t["split"] == s for t in corpus["tracks"]) for s in ("train", "test")}
    print(
        f"{n} songs ({splits['train']} train, {splits['test']} test), "
        f"{corpus['total_seconds'] / 3600:.2f} h of audio in {args.out}; rendered "
        f"{st['rendered_audio_seconds']:.0f} s in {st['wall_seconds']:.0f} s with "
        f"{st['workers']} workers: {st['realtime_factor']:.1f}x real time, "
        f"{st['realtime_factor_per_core']:.1f}x per core (CPU time)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
