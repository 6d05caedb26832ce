"""``demix-data``: build training data.

``demix-data synth --out DIR --hours H --seed S [--workers N] [--seconds-per-song MIN [MAX]]``
renders a synthetic multitrack corpus in MUSDB18-HQ layout (see ``export.data.synth``);
``demix-data example --out FILE`` renders one short example song.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from mobile_core.cli.guard import OneLineParser, console_main, say
from mobile_core.errors import DemixError

PROG = "demix-data"


def _parser() -> argparse.ArgumentParser:
    from .synth.fluid import DEFAULT_SOUNDFONT

    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
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
    s.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT,
                   help="GM .sf2 rendering every song (without --soundfonts)")
    s.add_argument(
        "--soundfonts",
        nargs="+",
        default=None,
        metavar="SF",
        help="draw each song's and stem's soundfont from these .sf2/.sf3 files, or 'auto': "
        "every installed GM soundfont (fluidr3, musescore, timgm6mb, opl3)",
    )
    s.add_argument(
        "--heldout-soundfont",
        default=None,
        metavar="NAME",
        help="soundfont name (e.g. timgm6mb) or path never used for train/ songs; it renders "
        "every test/ song alone (needs --soundfonts)",
    )
    s.add_argument(
        "--sung-probability",
        type=float,
        default=None,
        metavar="P",
        help="share of vocal stems sung by espeak-ng + PSOLA, the rest GM voice patches "
        "(default: 0.75 with espeak-ng installed, else 0)",
    )
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
        raise DemixError("--seconds-per-song takes one value or MIN MAX")
    lo, hi = values[0], values[-1]
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise DemixError("--seconds-per-song: need 0 < MIN <= MAX, finite")
    return lo, hi


def check_soundfont(path: Path, option: str = "--soundfont") -> None:
    """Refuse a soundfont that is missing or not a SoundFont file (RIFF ``sfbk``: .sf2, .sf3)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise DemixError(f"{option} {path}: {e.strerror or e}") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise DemixError(f"{option} {path}: not a SoundFont (.sf2/.sf3) file")


def _soundfonts(values: list[str] | None) -> list[Path] | str | None:
    """``--soundfonts``: None, ``"auto"`` or the listed paths."""
    if values is None or values == ["auto"]:
        return None if values is None else "auto"
    if "auto" in values:
        raise DemixError("--soundfonts: give 'auto' alone or a list of files")
    return [Path(v) for v in values]


def _check_options(args: argparse.Namespace) -> None:
    if args.seed < 0:
        raise DemixError(f"--seed must be 0 or more, got {args.seed}")
    if args.command == "example":
        if not (math.isfinite(args.seconds) and 0 < args.seconds <= 3600):
            raise DemixError(f"--seconds must be between 0 and 3600, got {args.seconds}")
    else:
        if args.songs is not None and args.songs < 1:
            raise DemixError(f"--songs must be at least 1, got {args.songs}")
        if args.hours is not None and not (math.isfinite(args.hours) and 0 < args.hours <= 1e4):
            raise DemixError(f"--hours must be a positive number up to 10000, got "
                             f"{args.hours}")
        if args.workers is not None and args.workers < 1:
            raise DemixError(f"--workers must be at least 1, got {args.workers}")
        if args.heldout_soundfont is not None and args.soundfonts is None:
            raise DemixError("--heldout-soundfont needs --soundfonts (auto or a list)")
        if args.sung_probability is not None and not 0 <= args.sung_probability <= 1:
            raise DemixError(f"--sung-probability must be within 0..1, got "
                             f"{args.sung_probability}")
        if args.soundfonts is not None and args.soundfonts != ["auto"]:
            for sf in args.soundfonts:
                check_soundfont(Path(sf), "--soundfonts")
        for name in ("test_fraction", "valid_fraction"):
            v = getattr(args, name)
            if not 0 <= v <= 1:
                raise DemixError(f"--{name.replace('_', '-')} must be within 0..1, got {v}")
    check_soundfont(args.soundfont)


@console_main(PROG, error_status=2)
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``demix-data``: 0 ok, 2 one error line, 130 Ctrl-C."""
    args = _parser().parse_args(argv)
    _check_options(args)
    from .synth.corpus import render_example, write_corpus
    from .synth.fluid import FluidSynthUnavailable
    from .synth.voice import VoiceUnavailable

    try:
        if args.command == "example":
            r = render_example(args.out, args.seconds, args.seed, args.soundfont, args.stems_dir)
            say(f"wrote {args.out} ({r.seconds:.2f} s, {r.song.style}, seed {args.seed})", PROG)
            return 0
        lo, hi = _seconds_range(args.seconds_per_song)
        if args.songs is not None:
            n = args.songs
        else:
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
            soundfonts=_soundfonts(args.soundfonts),
            heldout_soundfont=args.heldout_soundfont,
            sung_probability=args.sung_probability,
        )
    except (FluidSynthUnavailable, VoiceUnavailable, FileNotFoundError, FileExistsError,
            ValueError) as exc:
        raise DemixError(str(exc)) from None
    st = corpus["stats"]
    splits = {s: sum(t["split"] == s for t in corpus["tracks"]) for s in ("train", "test")}
    say(
        f"{n} songs ({splits['train']} train, {splits['test']} test), "
        f"{corpus['total_seconds'] / 3600:.2f} h of audio in {args.out}; rendered "
        f"{st['rendered_audio_seconds']:.0f} s in {st['wall_seconds']:.0f} s with "
        f"{st['workers']} workers: {st['realtime_factor']:.1f}x real time, "
        f"{st['realtime_factor_per_core']:.1f}x per core (CPU time)", PROG
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
