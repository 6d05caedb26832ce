"""Chord timeline of a song, and the chord-playing parts of the ``other`` stem
(pads, comping, arpeggios, strummed guitars)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .song import GEN_VOLENV_RELEASE, STEP, Control, Note, Part, Section, sf2_generator_offset
from .theory import PROGRESSIONS, Chord, Key, voicing
from .timing import Grid, jitter, velocity


@dataclass(frozen=True)
class ChordSpan:
    start: int
    """Tick."""
    end: int
    chord: Chord
    section: int
    """Index of the section it belongs to."""


def chord_timeline(
    sections: list[Section],
    key: Key,
    bar_ticks: int,
    chord_bars: tuple[float, ...],
    sevenths: float,
    rng: np.random.Generator,
) -> list[ChordSpan]:
    """One progression and chord length per section name, looped over each section."""
    plans: dict[str, tuple[tuple[int, ...], float, bool]] = {}
    spans = []
    for si, sec in enumerate(sections):
        name = {"intro": "verse", "outro": "chorus", "prechorus": "bridge"}.get(sec.name, sec.name)
        if name not in plans:
            progs = PROGRESSIONS[key.mode]
            prog = progs[int(rng.integers(len(progs)))]
            plans[name] = (prog, float(rng.choice(chord_bars)), bool(rng.random() < sevenths))
        prog, length, seventh = plans[name]
        span = int(round(length * bar_ticks))
        start = sec.start_bar * bar_ticks
        end = start + sec.bars * bar_ticks
        i = 0
        while start < end:
            chord = key.chord(prog[i % len(prog)], seventh)
            spans.append(ChordSpan(start, min(end, start + span), chord, si))
            start += span
            i += 1
    return spans


def chord_at(spans: list[ChordSpan], tick: int) -> Chord:
    """The chord sounding at ``tick`` (the last one after the end)."""
    for s in spans:
        if s.start <= tick < s.end:
            return s.chord
    return spans[-1].chord


# 16th-step rhythms for one bar of comping: (step, length in steps)
COMP_RHYTHMS: dict[str, tuple[tuple[int, int], ...]] = {
    "quarters": ((0, 3), (4, 3), (8, 3), (12, 3)),
    "half": ((0, 7), (8, 7)),
    "eighths": tuple((s, 2) for s in range(0, 16, 2)),
    "offbeats": ((2, 1), (6, 1), (10, 1), (14, 1)),
    "syncopated": ((0, 3), (3, 3), (6, 2), (10, 2), (12, 3)),
    "sixteenths": ((0, 1), (2, 1), (3, 1), (6, 1), (8, 1), (10, 1), (11, 1), (14, 1)),
    "charleston": ((0, 3), (6, 4)),
}


@dataclass(frozen=True)
class Instrument:
    program: int
    """0-based GM program."""
    name: str
    roles: tuple[str, ...]
    register: tuple[int, int]
    """Lowest and highest MIDI pitch for chord tones."""


INSTRUMENTS = (
    Instrument(0, "acoustic grand piano", ("comp", "arp", "pad"), (48, 79)),
    Instrument(1, "bright piano", ("comp", "arp"), (48, 79)),
    Instrument(2, "electric grand", ("comp", "arp"), (48, 76)),
    Instrument(4, "electric piano 1", ("comp", "pad", "arp"), (48, 76)),
    Instrument(5, "electric piano 2", ("comp", "arp"), (50, 79)),
    Instrument(7, "clavinet", ("comp",), (50, 74)),
    Instrument(11, "vibraphone", ("arp", "comp"), (55, 84)),
    Instrument(12, "marimba", ("arp",), (55, 84)),
    Instrument(16, "drawbar organ", ("pad", "comp"), (48, 76)),
    Instrument(17, "percussive organ", ("comp",), (50, 76)),
    Instrument(18, "rock organ", ("pad", "comp"), (48, 76)),
    Instrument(19, "church organ", ("pad",), (48, 76)),
    Instrument(24, "nylon guitar", ("strum", "arp"), (45, 72)),
    Instrument(25, "steel guitar", ("strum", "arp"), (45, 74)),
    Instrument(26, "jazz guitar", ("comp", "arp"), (48, 74)),
    Instrument(27, "clean guitar", ("strum", "comp", "arp"), (48, 76)),
    Instrument(28, "muted guitar", ("comp",), (48, 72)),
    Instrument(29, "overdriven guitar", ("power",), (40, 64)),
    Instrument(30, "distortion guitar", ("power",), (40, 64)),
    Instrument(48, "string ensemble 1", ("pad",), (48, 81)),
    Instrument(49, "string ensemble 2", ("pad",), (48, 81)),
    Instrument(50, "synth strings 1", ("pad",), (48, 79)),
    Instrument(61, "brass section", ("comp",), (52, 76)),
    Instrument(80, "square lead", ("arp",), (55, 84)),
    Instrument(81, "saw lead", ("arp",), (55, 84)),
    Instrument(88, "new age pad", ("pad",), (48, 79)),
    Instrument(89, "warm pad", ("pad",), (48, 79)),
    Instrument(90, "polysynth pad", ("pad", "comp"), (48, 79)),
    Instrument(92, "bowed pad", ("pad",), (48, 79)),
    Instrument(94, "halo pad", ("pad",), (48, 79)),
    Instrument(95, "sweep pad", ("pad",), (48, 79)),
)


def _span_slices(spans: list[ChordSpan], sections: set[int]) -> list[ChordSpan]:
    return [s for s in spans if s.section in sections]


Rng = np.random.Generator


def _pad(
    spans: list[ChordSpan], low: int, high: int, center: float, rng: Rng, loose: int
) -> list[Note]:
    """Held chords, one voicing per chord span."""
    notes = []
    for s in spans:
        vel = velocity(rng, 62 + 20 * rng.random())
        for p in voicing(s.chord.pitch_classes, low, high, center):
            start = jitter(rng, s.start, loose)
            notes.append(Note(start, max(STEP, s.end - start - 10), p, vel))
    return notes


def _comp(
    spans: list[ChordSpan],
    low: int,
    high: int,
    center: float,
    rhythm: str,
    grid: Grid,
    bar_ticks: int,
    rng: Rng,
    loose: int,
    power: bool = False,
) -> list[Note]:
    """Rhythmic chords (or root-fifth-octave power chords) on a ``COMP_RHYTHMS`` pattern."""
    notes = []
    for s in spans:
        first_bar, last_bar = s.start // bar_ticks, (s.end - 1) // bar_ticks
        for bar in range(first_bar, last_bar + 1):
            for step, length in COMP_RHYTHMS[rhythm]:
                tick = grid.tick(bar, step)
                if not s.start <= tick < s.end:
                    continue
                end = min(grid.tick(bar, step + length), s.end) - 5
                if power:
                    root = voicing((s.chord.root,), low, high - 12, center)[0]
                    pitches = [root, root + 7, root + 12]
                else:
                    pitches = voicing(s.chord.pitch_classes, low, high, center)
                vel = velocity(rng, 88 if step % 4 == 0 else 76)
                t0 = jitter(rng, tick, loose)
                notes += [Note(t0, max(30, end - t0), p, vel) for p in pitches]
    return notes


def _strum(
    spans: list[ChordSpan],
    low: int,
    high: int,
    center: float,
    rhythm: str,
    grid: Grid,
    bar_ticks: int,
    rng: Rng,
    loose: int,
) -> list[Note]:
    """Guitar strums: chord notes staggered by a few ms, down on beats, up off the beat."""
    notes = []
    for s in spans:
        for bar in range(s.start // bar_ticks, (s.end - 1) // bar_ticks + 1):
            for step, length in COMP_RHYTHMS[rhythm]:
                tick = grid.tick(bar, step)
                if not s.start <= tick < s.end:
                    continue
                pitches = voicing(s.chord.pitch_classes, low, low + 14, center - 6)
                pitches = pitches + [p + 12 for p in pitches[: 5 - len(pitches)]]
                if step % 4:  # up-strum on off-beats
                    pitches = pitches[::-1][:3]
                gap = int(rng.integers(6, 20))
                end = min(grid.tick(bar, step + length), s.end) - 5
                vel = velocity(rng, 84 if step % 4 == 0 else 70)
                t0 = jitter(rng, tick, loose)
                for k, p in enumerate(pitches):
                    notes.append(Note(t0 + k * gap, max(30, end - t0 - k * gap), p, vel))
    return notes


def _arp(
    spans: list[ChordSpan], low: int, high: int, grid: Grid, bar_ticks: int, rng: Rng
) -> list[Note]:
    """Arpeggios over the chord tones (up, down, up-down or random) in 8ths/16ths/quarters."""
    rate = int(rng.choice([1, 2, 2, 4]))  # steps per note
    shape = rng.choice(["up", "down", "updown", "random"])
    notes = []
    for s in spans:
        tones = voicing(s.chord.pitch_classes, low, high, low + 9)
        tones = tones + [p + 12 for p in tones if p + 12 <= high]
        if shape == "down":
            tones = tones[::-1]
        elif shape == "updown":
            tones = tones + tones[-2:0:-1]
        k = 0
        for bar in range(s.start // bar_ticks, (s.end - 1) // bar_ticks + 1):
            for step in range(0, 16, rate):
                tick = grid.tick(bar, step)
                if not s.start <= tick < s.end:
                    continue
                if shape == "random":
                    pitch = tones[int(rng.integers(len(tones)))]
                else:
                    pitch = tones[k % len(tones)]
                k += 1
                dur = min(grid.tick(bar, step + rate) - tick, s.end - tick) - 10
                notes.append(Note(tick, max(30, dur), pitch, velocity(rng, 80 if step % 4 else 92)))
    return notes


def other_parts(
    spans: list[ChordSpan],
    sections: list[Section],
    comp_rhythms: tuple[str, ...],
    grid: Grid,
    bar_ticks: int,
    rng: np.random.Generator,
) -> list[Part]:
    """1 to 3 chord instruments on channels 4, 8, 12 (0-based 3, 7, 11).

    The first plays in every section, so the ``other`` stem is never silent; later ones join
    in the louder sections only.
    """
    count = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    order = rng.permutation(len(INSTRUMENTS))
    chosen: list[tuple[Instrument, str]] = []
    used_roles: set[str] = set()
    for idx in order:
        inst = INSTRUMENTS[int(idx)]
        fresh = [r for r in inst.roles if r not in used_roles]
        if not fresh:
            continue
        role = fresh[int(rng.integers(len(fresh)))]
        chosen.append((inst, role))
        used_roles.add(role)
        if len(chosen) == count:
            break
    parts = []
    for k, (inst, role) in enumerate(chosen):
        threshold = (0.0, 0.55, 0.8)[k]
        active = {i for i, s in enumerate(sections) if s.energy >= threshold} or {0}
        mine = _span_slices(spans, active)
        low, high = inst.register
        center = (low + high) / 2 + rng.uniform(-4, 4)
        loose = int(rng.integers(0, 10))
        rhythm = str(rng.choice(comp_rhythms))
        if role == "pad":
            notes = _pad(mine, low, high, center, rng, loose)
        elif role in ("comp", "power"):
            notes = _comp(
                mine, low, high, center, rhythm, grid, bar_ticks, rng, loose, role == "power"
            )
        elif role == "strum":
            notes = _strum(mine, low, high, center, rhythm, grid, bar_ticks, rng, loose)
        else:
            notes = _arp(mine, low, high, grid, bar_ticks, rng)
        channel = (3, 7, 11)[k]
        part = Part(inst.name, "other", channel, 0, inst.program, role=role, notes=notes)
        if role == "pad":
            part.controls.append(Control(0, 11, int(rng.integers(90, 128))))
            # pads' multi-second releases overlap chord after chord; shorten them (x1/2..1/4)
            cents = float(rng.uniform(-2400, -1200))
            part.controls += sf2_generator_offset(0, GEN_VOLENV_RELEASE, cents)
        parts.append(part)
    return parts
