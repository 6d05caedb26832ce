"""Bass part (GM programs 33-40): patterns that follow the chords and the kick."""

from __future__ import annotations

import numpy as np

from .harmony import ChordSpan
from .song import STEP, Note, Part, Section
from .theory import Key, place
from .timing import Grid, jitter, velocity

BASSES = {
    32: "acoustic bass", 33: "finger bass", 34: "pick bass", 35: "fretless bass",
    36: "slap bass 1", 37: "slap bass 2", 38: "synth bass 1", 39: "synth bass 2",
}
LOW = 28  # E1


def _steps(pattern: str, kick: str) -> list[tuple[int, int, str]]:
    """(step, length in steps, tone) for one bar; tone in root/fifth/octave/walk."""
    if pattern == "whole":
        return [(0, 15, "root")]
    if pattern == "root":
        return [(0, 7, "root"), (8, 7, "root")]
    if pattern == "root_fifth":
        return [(0, 4, "root"), (4, 4, "fifth"), (8, 4, "root"), (12, 4, "fifth")]
    if pattern == "eighths":
        return [(s, 2, "root") for s in range(0, 16, 2)]
    if pattern == "octaves":
        return [(s, 2, "octave" if s % 4 else "root") for s in range(0, 16, 2)]
    if pattern == "offbeat":
        return [(s, 2, "root") for s in (2, 6, 10, 14)]
    if pattern == "syncopated":
        return [(0, 3, "root"), (3, 3, "root"), (6, 2, "fifth"), (10, 2, "root"), (12, 3, "octave")]
    if pattern == "walking":
        return [(0, 4, "root"), (4, 4, "walk"), (8, 4, "walk"), (12, 4, "approach")]
    # "kick": follow the kick drum
    hits = [i for i, c in enumerate(kick) if c != "."] or [0]
    return [(s, max(1, (hits + [16])[k + 1] - s), "root") for k, s in enumerate(hits)]


def bass_part(
    spans: list[ChordSpan],
    sections: list[Section],
    key: Key,
    patterns: tuple[str, ...],
    kick: str,
    grid: Grid,
    bar_ticks: int,
    rng: np.random.Generator,
) -> Part:
    """The bass part on MIDI channel 3 (2): one pattern per section name, simplified to whole
    notes in quiet sections; ``kick`` is the groove's kick line (for the ``kick`` pattern)."""
    program = int(rng.choice(list(BASSES)))
    part = Part(BASSES[program], "bass", 2, 0, program, role="bass")
    per_section = {s.name: str(rng.choice(patterns)) for s in sections}
    staccato = rng.uniform(0.55, 0.95)
    loose = int(rng.integers(0, 8))
    skip_intro = rng.random() < 0.3
    for n, span in enumerate(spans):
        sec = sections[span.section]
        if sec.name == "intro" and skip_intro and span.section + 1 < len(sections):
            continue
        pattern = per_section[sec.name] if sec.energy >= 0.35 else "whole"
        root = place(span.chord.root, LOW)
        next_root = place(spans[n + 1].chord.root, LOW) if n + 1 < len(spans) else root
        for bar in range(span.start // bar_ticks, (span.end - 1) // bar_ticks + 1):
            for step, length, tone in _steps(pattern, kick):
                tick = grid.tick(bar, step)
                if not span.start <= tick < span.end:
                    continue
                if tone == "root":
                    pitch = root
                elif tone == "fifth":
                    pitch = place(span.chord.fifth, root)
                elif tone == "octave":
                    pitch = root + 12
                elif tone == "approach":
                    pitch = next_root + int(rng.choice([-1, 1, -2, 2]))
                else:  # walk: a chord or scale tone above the root
                    pitch = place(int(rng.choice(span.chord.pitch_classes)), root + 1)
                dur = int(min(grid.tick(bar, step + length), span.end) - tick)
                vel = velocity(rng, 100 if step % 4 == 0 else 86, 10)
                start = jitter(rng, tick, loose)
                part.notes.append(Note(start, max(STEP // 2, int(dur * staccato)), pitch, vel))
    if not part.notes:
        part.notes.append(Note(0, bar_ticks, place(key.tonic, LOW), 90))
    return part
