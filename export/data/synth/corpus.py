"""Write a synthetic multitrack corpus in MUSDB18-HQ layout, or one example song.

Layout::

    DIR/corpus.json                      songs, seeds, tempo/key/programs, splits
    DIR/{train,test}/<track>/mixture.flac, vocals.flac, drums.flac, bass.flac, other.flac
    DIR/{train,test}/<track>/song.mid    the score the stems were rendered from
    DIR/{train,test}/<track>/meta.json   per-song description (written last: "done" marker)

16-bit stereo FLAC at 44.1 kHz; ``mixture`` is exactly the sum of the four stems. Song ``i`` of
seed ``s`` depends only on ``(s, i)`` and the options (soundfonts, sung share): the corpus is
identical for any number of workers, a longer corpus extends a shorter one with the same seed,
and an interrupted run resumes.

Most vocal stems are sung (espeak-ng + PSOLA, see ``voice.py``); the rest are GM voice patches.
With several soundfonts (``soundfonts=``, e.g. ``"auto"``), each song and stem draws one; a
``heldout_soundfont`` renders the ``test/`` songs alone and no training song (see
``soundfonts.py``).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .compose import compose_song
from .effects import apply_eq
from .fluid import DEFAULT_SOUNDFONT, SoundFont
from .folder import CORPUS_FORMAT, claim_folder, remove_stale_songs
from .midi import write_midi
from .mix import master
from .render import render_song
from .song import STEMS, Song
from .soundfonts import available_soundfonts, pick_soundfonts, soundfont_name, split_pool
from .voice import singer_summary, sung_share

SAMPLE_RATE = 44100
GENERATOR_VERSION = 2
"""Bump when the generator's output changes, so that resumed runs re-render."""

_SOUNDFONTS: dict[str, SoundFont] = {}


def get_soundfont(path: Path | str = DEFAULT_SOUNDFONT) -> SoundFont:
    """The process-wide loaded soundfont (loaded on first use, then reused)."""
    key = str(Path(path).resolve())
    if key not in _SOUNDFONTS:
        _SOUNDFONTS[key] = SoundFont(key)
    return _SOUNDFONTS[key]


@dataclass
class RenderedSong:
    song: Song
    stems: np.ndarray
    """int16 ``[4, n, 2]`` in :data:`~.song.STEMS` order."""
    mixture: np.ndarray
    """int16 ``[n, 2]``, equal to ``stems.sum(0)``."""
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return self.mixture.shape[0] / self.sample_rate


def render(
    song: Song,
    soundfont: Path | str | Mapping[str, Path | str] = DEFAULT_SOUNDFONT,
    sample_rate: int = SAMPLE_RATE,
) -> RenderedSong:
    """Synthesise, EQ, level and quantise the stems of ``song``.

    ``soundfont``: one for every stem, or one per stem name (see
    :func:`~.soundfonts.pick_soundfonts`); only the soundfonts a stem uses are loaded.
    """
    if isinstance(soundfont, Mapping):
        needed = [s for s in STEMS if not (s == "vocals" and song.vocal_source == "sung")]
        fonts = {s: get_soundfont(soundfont[s]) for s in needed}
        audio = render_song(song, fonts, sample_rate)
    else:
        audio = render_song(song, get_soundfont(soundfont), sample_rate)
    for i, stem in enumerate(STEMS):
        audio[i] = apply_eq(audio[i], song.mix[stem].eq, sample_rate)
    levels = [song.mix[stem].level_db for stem in STEMS]
    stems, mixture = master(audio, levels, song.peak_db, sample_rate)
    return RenderedSong(song, stems, mixture, sample_rate)


def write_track(track_dir: Path, rendered: RenderedSong, midi: bool = True) -> None:
    """Write the five FLAC files (and ``song.mid``) of one song into ``track_dir``."""
    track_dir.mkdir(parents=True, exist_ok=True)
    sr = rendered.sample_rate
    sf.write(track_dir / "mixture.flac", rendered.mixture, sr, subtype="PCM_16", format="FLAC")
    for stem, audio in zip(STEMS, rendered.stems, strict=True):
        sf.write(track_dir / f"{stem}.flac", audio, sr, subtype="PCM_16", format="FLAC")
    if midi:
        write_midi(rendered.song, track_dir / "song.mid")


def render_example(
    path: Path | str,
    seconds: float = 6.0,
    seed: int = 0,
    soundfont: Path | str = DEFAULT_SOUNDFONT,
    stems_dir: Path | str | None = None,
    sung_probability: float | None = None,
) -> RenderedSong:
    """Render one short song and write its mixture to ``path`` (16-bit; format from the
    suffix, e.g. ``.wav`` or ``.flac``). With ``stems_dir``, also write the stems and MIDI
    there. ``sung_probability``: see :func:`~.voice.sung_share`. Returns the rendered song
    (int16 stems and mixture)."""
    rendered = render(compose_song(seed, seconds, sung_share(sung_probability)), soundfont)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, rendered.mixture, rendered.sample_rate, subtype="PCM_16")
    if stems_dir is not None:
        write_track(Path(stems_dir), rendered)
    return rendered


# -- corpus -------------------------------------------------------------------------------


def _picked(index: int, fraction: float, offset: float = 0.0) -> bool:
    """Evenly spread selection of ``fraction`` of indices, stable as the corpus grows."""
    return math.floor((index + 1) * fraction + offset + 1e-9) > math.floor(
        index * fraction + offset + 1e-9
    )


def song_plan(seed: int, index: int, seconds: tuple[float, float]) -> tuple[int, float]:
    """(song seed, target seconds) of song ``index`` of a corpus with ``seed``."""
    rng = np.random.default_rng([seed, index])
    return int(rng.integers(2**31 - 1)), float(rng.uniform(*seconds))


@dataclass(frozen=True)
class _Job:
    index: int
    name: str
    split: str
    song_seed: int
    seconds: float
    out: str
    soundfonts: tuple[str, ...]
    """The pool this song's stems draw from."""
    midi: bool
    sung_probability: float


def _meta(job: _Job, rendered: RenderedSong, fonts: dict[str, str]) -> dict:
    song = rendered.song
    return {
        "name": job.name,
        "split": job.split,
        "index": job.index,
        "generator_version": GENERATOR_VERSION,
        "target_seconds": round(job.seconds, 3),
        "audio_seconds": round(rendered.seconds, 3),
        **song.summary(),
        "soundfonts": fonts,
        **({"singer": singer_summary(song)} if song.vocal_source == "sung" else {}),
    }


def _run_job(job: _Job) -> tuple[dict, float, bool]:
    """Render and write one song; returns (meta, CPU seconds spent, skipped)."""
    t0 = time.process_time()
    track_dir = Path(job.out) / job.split / job.name
    meta_path = track_dir / "meta.json"
    song = compose_song(job.song_seed, job.seconds, job.sung_probability)
    picks = pick_soundfonts(job.song_seed, job.soundfonts)
    fonts = {stem: soundfont_name(p) for stem, p in picks.items()}
    if song.vocal_source == "sung":
        fonts["vocals"] = "espeak-ng"
    if meta_path.is_file():  # resume: same seed, generator and choices -> same files
        try:
            meta = json.loads(meta_path.read_text())
            if (
                meta.get("seed"), meta.get("generator_version"), meta.get("soundfonts"),
                meta.get("vocal_source"),
            ) == (job.song_seed, GENERATOR_VERSION, fonts, song.vocal_source) and all(
                (track_dir / f"{s}.flac").is_file() for s in ("mixture", *STEMS)
            ):
                return meta, time.process_time() - t0, True
        except (OSError, ValueError):
            pass
    rendered = render(song, picks)
    write_track(track_dir, rendered, midi=job.midi)
    meta = _meta(job, rendered, fonts)
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, meta_path)
    return meta, time.process_time() - t0, False


def _init_worker(preload: tuple[str, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent alone stops the run (and terminates
    # the pool), so the workers print no tracebacks of their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for path in preload:
        get_soundfont(path)


def _soundfont_pools(
    soundfont: Path | str, soundfonts: Sequence[Path | str] | str | None,
    heldout: Path | str | None,
) -> tuple[list[str], list[str]]:
    """(training pool, test pool) as resolved paths; the test pool is the held-out
    soundfont alone when there is one, else the training pool."""
    if soundfonts is None:
        pool: list[Path | str] = [soundfont]
    elif isinstance(soundfonts, str):
        if soundfonts != "auto":
            raise ValueError(f"soundfonts must be a list of paths or 'auto', not {soundfonts!r}")
        pool = list(available_soundfonts().values()) or [soundfont]
    else:
        pool = list(soundfonts)
    for p in pool:
        if not Path(p).is_file():
            raise FileNotFoundError(f"soundfont not found: {p}")
    train, held = split_pool(pool, heldout)
    train_paths = [str(Path(p).resolve()) for p in train]
    if held is None:
        return train_paths, train_paths
    return train_paths, [str(held.resolve())]


def write_corpus(
    out: Path | str,
    n_songs: int,
    seed: int = 0,
    seconds: tuple[float, float] = (40.0, 80.0),
    workers: int | None = None,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    soundfont: Path | str = DEFAULT_SOUNDFONT,
    midi: bool = True,
    progress: bool = True,
    soundfonts: Sequence[Path | str] | str | None = None,
    heldout_soundfont: Path | str | None = None,
    sung_probability: float | None = None,
) -> dict:
    """Render ``n_songs`` songs into ``out`` and write ``out/corpus.json``.

    Args:
        soundfont: the soundfont when ``soundfonts`` is None.
        soundfonts: paths to draw from per song and stem, or ``"auto"`` (every installed one,
            :func:`~.soundfonts.available_soundfonts`); None: ``soundfont`` alone.
        heldout_soundfont: a name (e.g. ``"timgm6mb"``) or path: excluded from ``train/`` and
            rendering every ``test/`` song alone.
        sung_probability: share of sung vocal stems (see :func:`~.voice.sung_share`).
        seconds: (min, max) target song length; each song draws its own.
        workers: processes (default: CPU count); 1 renders in this process.
        test_fraction: share of songs written to ``test/`` (evenly spread by index: with 0.1,
            songs 4, 14, 24, ...).
        valid_fraction: share of the *train* songs listed as ``valid_tracks`` in
            ``corpus.json`` (they stay in ``train/``, as MUSDB's validation tracks do).

    Returns:
        The ``corpus.json`` content, plus the non-deterministic key ``"stats"`` (timing),
        which is not written to the file.
    """
    if n_songs < 1:
        raise ValueError("n_songs must be >= 1")
    lo, hi = float(seconds[0]), float(seconds[-1])
    if not 0 < lo <= hi:
        raise ValueError(f"bad seconds range {seconds}")
    train_fonts, test_fonts = _soundfont_pools(soundfont, soundfonts, heldout_soundfont)
    sung = sung_share(sung_probability)
    out = Path(out)
    claim_folder(out)
    jobs = []
    for i in range(n_songs):
        song_seed, target = song_plan(seed, i, (lo, hi))
        split = "test" if _picked(i, test_fraction, 0.5) else "train"
        name = f"synth{i:05d}"
        stale = out / ("train" if split == "test" else "test") / name
        if stale.exists():  # would put one song in both splits
            raise FileExistsError(
                f"{stale} exists but this run puts {name} in {split}/ (different "
                "test_fraction?); use a new output directory"
            )
        fonts = tuple(test_fonts if split == "test" else train_fonts)
        jobs.append(_Job(i, name, split, song_seed, target, str(out), fonts, midi, sung))
    workers = max(1, min(workers or os.cpu_count() or 1, n_songs))
    metas: dict[int, dict] = {}
    busy = 0.0
    rendered_seconds = 0.0
    t0 = time.perf_counter()
    bar = tqdm(total=n_songs, unit="song", desc="synth", disable=not progress)
    try:
        if workers == 1:
            results = map(_run_job, jobs)
            pool = None
        else:
            preload = tuple(train_fonts) if len(train_fonts) == 1 else ()
            pool = mp.get_context("spawn").Pool(workers, _init_worker, (preload,))
            results = pool.imap_unordered(_run_job, jobs)
        for meta, wall, skipped in results:
            metas[meta["index"]] = meta
            if not skipped:
                busy += wall
                rendered_seconds += meta["audio_seconds"]
            bar.update(1)
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        bar.close()
        if workers > 1 and pool is not None:
            pool.terminate()
    tracks = [metas[i] for i in range(n_songs)]
    remove_stale_songs(out, n_songs)
    train = [t["name"] for t in tracks if t["split"] == "train"]
    corpus = {
        "format": CORPUS_FORMAT,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_songs": n_songs,
        "seconds_per_song": [lo, hi],
        "sample_rate": SAMPLE_RATE,
        "stems": list(STEMS),
        "soundfont": Path(train_fonts[0]).name,
        **(
            {"soundfonts": [Path(p).name for p in train_fonts]} if len(train_fonts) > 1 else {}
        ),
        **(
            {"heldout_soundfont": Path(test_fonts[0]).name}
            if heldout_soundfont is not None else {}
        ),
        "sung_probability": sung,
        "test_fraction": test_fraction,
        "valid_tracks": [n for i, n in enumerate(train) if _picked(i, valid_fraction)],
        "total_seconds": round(sum(t["audio_seconds"] for t in tracks), 3),
        "tracks": tracks,
    }
    tmp = out / "corpus.json.tmp"
    tmp.write_text(json.dumps(corpus, indent=1) + "\n")
    os.replace(tmp, out / "corpus.json")
    wall = time.perf_counter() - t0
    corpus["stats"] = {
        "workers": workers,
        "wall_seconds": wall,
        "rendered_audio_seconds": rendered_seconds,
        "realtime_factor": rendered_seconds / wall if wall > 0 else 0.0,
        "cpu_seconds": busy,
        "realtime_factor_per_core": rendered_seconds / busy if busy > 0 else 0.0,
    }
    return corpus
