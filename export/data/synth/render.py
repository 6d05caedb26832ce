"""Render a :class:`~.song.Song` to four float stems with FluidSynth (a sung vocal stem comes
from :mod:`.voice` instead).

Every stem is rendered by its own fresh synth (the soundfont itself is loaded once per
process and shared), with its own reverb and chorus unit. A stem is therefore a pure function
of its own events: nothing leaks between stems or between songs (no voice, controller,
effect-buffer or voice-slot state survives), which a single synth reset between stems would
not guarantee. After its last event each synth keeps running until every voice has ended and
the reverb tail is below -100 dBFS (at most ``max_tail`` seconds), so no release or reverb
tail is cut.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .fluid import SoundFont, Synth
from .song import (
    BEND,
    CONTROL,
    NOTE_OFF,
    NOTE_ON,
    PPQ,
    PROGRAM,
    STEMS,
    VOCAL_SOURCES,
    Event,
    Song,
    StemMix,
)

TAIL_BLOCK = 4096
SILENCE = 1e-5
"""-100 dBFS: a tail block below this (with no voice left) ends the stem."""


def _apply(synth: Synth, e: Event) -> None:
    if e.kind == NOTE_ON:
        synth.noteon(e.channel, e.a, e.b)
    elif e.kind == NOTE_OFF:
        synth.noteoff(e.channel, e.a)
    elif e.kind == CONTROL:
        synth.cc(e.channel, e.a, e.b)
    elif e.kind == BEND:
        synth.pitch_bend(e.channel, e.a)
    elif e.kind == PROGRAM:
        try:
            synth.program_select(e.channel, e.a, e.b)
        except ValueError:  # a soundfont without this variation (e.g. drum kit 25): use 0
            synth.program_select(e.channel, e.a, 0)


def _render_stem(
    events: list[Event],
    mix: StemMix,
    frames_per_tick: float,
    end: int,
    max_tail: int,
    soundfont: SoundFont,
    sample_rate: int,
) -> np.ndarray:
    """One stem with a fresh single-bus synth: float32 ``[2, n]`` (n >= ``end``)."""
    last = int(round(events[-1].tick * frames_per_tick)) if events else 0
    cap = max(end, last) + max_tail
    buf = np.zeros((2, cap), dtype=np.float32)
    with Synth(soundfont, sample_rate, groups=1) as synth:
        synth.set_reverb(0, *mix.reverb)
        synth.set_chorus(0, *mix.chorus)
        cur = 0
        for e in events:
            frame = int(round(e.tick * frames_per_tick))
            if frame > cur:
                synth.process(buf, cur, frame - cur)
                cur = frame
            _apply(synth, e)
        if end > cur:
            synth.process(buf, cur, end - cur)
            cur = end
        while cur < cap:
            n = min(TAIL_BLOCK, cap - cur)
            synth.process(buf, cur, n)
            cur += n
            quiet = float(np.max(np.abs(buf[:, cur - n : cur]))) < SILENCE
            if quiet and synth.active_voices() == 0:
                break
    return buf[:, :cur]


def render_song(
    song: Song,
    soundfont: SoundFont | Mapping[str, SoundFont],
    sample_rate: int = 44100,
    max_tail: float = 6.0,
) -> np.ndarray:
    """Audio of each stem (its instruments with their reverb and chorus), before EQ/levels.

    ``soundfont``: one for all stems, or one per stem name. A song whose
    :attr:`~.song.Song.vocal_source` is ``sung`` gets its vocal stem from
    :func:`.voice.sung_vocals` (espeak-ng) instead of FluidSynth.

    Returns:
        float32 ``[4, 2, n]`` in :data:`~.song.STEMS` order; ``n`` covers the song and the
        longest tail (shorter stems are zero-padded).
    """
    if song.vocal_source not in VOCAL_SOURCES:
        raise ValueError(f"unknown vocal_source {song.vocal_source!r}")
    frames_per_tick = 60.0 * sample_rate / (song.tempo * PPQ)
    end = int(round(song.total_ticks * frames_per_tick))
    stems = []
    for stem in STEMS:
        if stem == "vocals" and song.vocal_source == "sung":
            from .voice import sung_vocals  # needs espeak-ng

            stems.append(sung_vocals(song, sample_rate))
            continue
        sfont = soundfont[stem] if isinstance(soundfont, Mapping) else soundfont
        events = [e for part in song.stem_parts(stem) for e in part.events()]
        events.sort(key=lambda e: (e.tick, e.kind, e.channel))
        stems.append(
            _render_stem(
                events, song.mix[stem], frames_per_tick, end, int(max_tail * sample_rate),
                sfont, sample_rate,
            )
        )
    n = max(x.shape[1] for x in stems)
    out = np.zeros((len(STEMS), 2, n), dtype=np.float32)
    for i, x in enumerate(stems):
        out[i, :, : x.shape[1]] = x
    return out
