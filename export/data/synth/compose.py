"""Procedural composition: seed -> :class:`~.song.Song` (structure, harmony, all parts, mix).

Everything random comes from one ``numpy`` generator seeded with the song seed (split into
independent child streams per part), so a seed always gives the same song.
"""

from __future__ import annotations

import numpy as np

from .bass import bass_part
from .drums import drum_part
from .harmony import chord_timeline, other_parts
from .melody import vocal_parts
from .mixplan import plan_mix
from .song import PPQ, Section, Song
from .styles import STYLE_WEIGHTS, STYLES
from .theory import MODE_WEIGHTS, Key, weighted_choice
from .timing import Grid

ENERGY = {
    "intro": (0.2, 0.45),
    "verse": (0.45, 0.7),
    "prechorus": (0.6, 0.8),
    "chorus": (0.85, 1.0),
    "bridge": (0.3, 0.65),
    "outro": (0.25, 0.5),
}


def song_structure(target_bars: int, rng: np.random.Generator) -> list[Section]:
    """Intro / verse / (pre-chorus) / chorus / bridge / outro, exactly ``target_bars`` long.

    Very short songs (< 8 bars) are a single chorus, so every stem plays.
    """
    plan: list[tuple[str, int]] = []
    if target_bars < 8:
        plan = [("chorus", max(1, target_bars))]
    else:
        verse, chorus = int(rng.choice([4, 8, 8])), int(rng.choice([4, 8, 8]))
        pre = int(rng.choice([0, 0, 2, 4]))
        outro = int(rng.choice([0, 2, 4])) if target_bars >= 16 else 0
        if rng.random() < 0.8 and target_bars >= 12:
            plan.append(("intro", int(rng.choice([2, 4]))))
        choruses = 0
        while sum(b for _, b in plan) + outro < target_bars:
            if choruses >= 2 and rng.random() < 0.5:
                plan.append(("bridge", int(rng.choice([4, 8]))))
            else:
                plan.append(("verse", verse))
                if pre:
                    plan.append(("prechorus", pre))
            plan.append(("chorus", chorus))
            choruses += 1
        body = target_bars - outro
        while len(plan) > 1 and sum(b for _, b in plan[:-1]) >= body:
            plan.pop()
        name, bars = plan[-1]
        plan[-1] = (name, bars - (sum(b for _, b in plan) - body))  # exact length
        if outro:
            plan.append(("outro", outro))
    sections, bar = [], 0
    for name, bars in plan:
        sections.append(Section(name, bar, bars, float(rng.uniform(*ENERGY[name]))))
        bar += bars
    return sections


SUNG_PROBABILITY = 0.75
"""Default share of songs whose vocal stem is sung (espeak-ng + PSOLA) rather than played by a
GM voice patch."""


def compose_song(seed: int, seconds: float, sung_probability: float = SUNG_PROBABILITY) -> Song:
    """Compose a song of about ``seconds`` (rounded to whole 4/4 bars, at least one bar).

    ``sung_probability``: chance that :attr:`~.song.Song.vocal_source` is ``sung`` (drawn from
    its own stream: it changes nothing else in the song).
    """
    if not 0.0 <= sung_probability <= 1.0:
        raise ValueError(f"sung_probability must be within 0..1, got {sung_probability}")
    rng = np.random.default_rng(seed)
    r_struct, r_harm, r_drums, r_bass, r_other, r_vocals, r_mix = rng.spawn(7)
    style = STYLES[weighted_choice(rng, STYLE_WEIGHTS)]
    tempo = float(rng.uniform(*style.tempo))
    swing = float(rng.uniform(*style.swing))
    key = Key(int(rng.integers(12)), weighted_choice(rng, MODE_WEIGHTS))
    bar_ticks = 4 * PPQ
    target_bars = max(1, int(round(seconds * tempo / 240.0)))
    sections = song_structure(target_bars, r_struct)
    grid = Grid(bar_ticks, swing, style.swing_unit)
    spans = chord_timeline(sections, key, bar_ticks, style.chord_bars, style.sevenths, r_harm)
    parts = vocal_parts(spans, sections, key, tempo, grid, bar_ticks, r_vocals)
    parts.append(drum_part(sections, style, grid, r_drums))
    kick = style.groove.get("kick", "x.......x.......")
    parts.append(bass_part(spans, sections, key, style.bass, kick, grid, bar_ticks, r_bass))
    parts += other_parts(spans, sections, style.comp, grid, bar_ticks, r_other)
    mix = plan_mix(parts, r_mix)
    total = sum(s.bars for s in sections) * bar_ticks
    for part in parts:
        part.notes = [n for n in part.notes if n.start < total]
        part.tidy()
    peak_db = float(r_mix.uniform(-6.0, -1.0))
    (r_source,) = rng.spawn(1)
    sung = float(r_source.random()) < sung_probability
    return Song(
        seed, style.name, tempo, key.tonic, key.mode, 4, sections, parts, mix, swing, peak_db,
        "sung" if sung else "gm",
    )
