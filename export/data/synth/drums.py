"""Drum part: a style groove on GM channel 10, varied by section energy, with fills and
crashes at section boundaries."""

from __future__ import annotations

import numpy as np

from .fluid import DRUM_BANK
from .song import STEP, Note, Part, Section
from .styles import Style
from .timing import Grid, jitter, velocity

KIT_NAMES = {
    0: "standard", 8: "room", 16: "power", 24: "electronic", 25: "tr-808", 32: "jazz", 40: "brush",
}
GM_DRUMS = {
    "kick": 36, "snare": 38, "rim": 37, "clap": 39, "hat": 42, "pedal": 44, "open": 46,
    "ride": 51, "bell": 53, "crash": 49, "crash2": 57, "tamb": 54, "shaker": 70,
}
TOMS = (50, 48, 47, 45, 43, 41)  # high to low
ACCENT = {"x": 1.0, "o": 0.75, "g": 0.3}


def _hits(pattern: str) -> list[tuple[int, float]]:
    return [(i, ACCENT[c]) for i, c in enumerate(pattern) if c != "."]


def _bar_voices(groove: dict[str, str], energy: float, rng: np.random.Generator) -> dict:
    """The groove of one bar adapted to ``energy``: voice -> [(step, accent)]."""
    voices = {v: _hits(p) for v, p in groove.items()}
    if energy < 0.35:  # sparse: kick on one, quarter hats, side-stick instead of snare
        voices = {
            "kick": [(0, 0.8)],
            "hat" if "hat" in voices else "ride": [(s, 0.6) for s in (0, 4, 8, 12)],
            "rim": voices.get("snare", voices.get("rim", voices.get("clap", []))),
        }
    elif energy >= 0.85 and "hat" in voices and rng.random() < 0.5:
        # big section: ride or open-hat 8ths instead of the closed hat
        voices["ride" if rng.random() < 0.5 else "open"] = [(s, 0.8) for s in range(0, 16, 2)]
        voices.pop("hat")
    return voices


def _fill(bar: int, grid: Grid, steps: int, rng: np.random.Generator) -> list[Note]:
    """A snare or tom fill over the last ``steps`` 16ths of ``bar``."""
    kind = rng.choice(["snare", "toms", "mixed"])
    notes = []
    for k, step in enumerate(range(16 - steps, 16)):
        if kind == "snare" or (kind == "mixed" and k < steps // 2):
            pitch = GM_DRUMS["snare"]
        else:
            pitch = TOMS[min(len(TOMS) - 1, k * len(TOMS) // steps)]
        vel = velocity(rng, 70 + 50 * (k + 1) / steps, 10)
        notes.append(Note(grid.tick(bar, step), STEP, pitch, vel))
    notes.append(Note(grid.tick(bar, 16 - steps), STEP, GM_DRUMS["kick"], velocity(rng, 100)))
    return notes


def drum_part(
    sections: list[Section], style: Style, grid: Grid, rng: np.random.Generator
) -> Part:
    """Compose the drum part for the whole song (channel 10 = MIDI channel 9)."""
    kit = int(rng.choice(style.kits))
    part = Part(f"drums ({KIT_NAMES.get(kit, kit)})", "drums", 9, DRUM_BANK, kit, role="kit")
    tamb = rng.random() < 0.3
    skip_intro = rng.random() < 0.25
    loose = int(rng.integers(0, 12))  # timing looseness in ticks
    for si, sec in enumerate(sections):
        if sec.name == "intro" and skip_intro and si + 1 < len(sections):
            continue
        last = si + 1 == len(sections)
        for b in range(sec.bars):
            bar = sec.start_bar + b
            voices = _bar_voices(style.groove, sec.energy, rng)
            fill_steps = 0
            if b == sec.bars - 1 and not last:
                nxt = sections[si + 1]
                if nxt.energy > sec.energy or rng.random() < 0.5:
                    fill_steps = int(rng.choice([4, 8]))
            if rng.random() < 0.2 and "kick" in voices:  # occasional extra kick
                voices["kick"] = voices["kick"] + [(int(rng.choice([3, 7, 11, 14])), 0.6)]
            if tamb and sec.energy >= 0.8:
                voices["tamb"] = [(s, 0.5) for s in range(2, 16, 4)]
            for voice, hits in voices.items():
                for step, accent in hits:
                    if fill_steps and step >= 16 - fill_steps and voice != "kick":
                        continue
                    base = (55 + 65 * accent) * (0.8 + 0.2 * sec.energy)
                    tick = jitter(rng, grid.tick(bar, step), loose)
                    part.notes.append(Note(tick, STEP, GM_DRUMS[voice], velocity(rng, base)))
            if fill_steps:
                part.notes.extend(_fill(bar, grid, fill_steps, rng))
            if b == 0 and sec.energy >= 0.5 and (si > 0 or rng.random() < 0.5):
                crash = GM_DRUMS["crash" if rng.random() < 0.7 else "crash2"]
                part.notes.append(Note(grid.tick(bar, 0), STEP, crash, velocity(rng, 110)))
    if not part.notes:  # never leave the stem silent
        part.notes.append(Note(0, STEP, GM_DRUMS["crash"], 100))
    part.notes.sort(key=lambda n: (n.start, n.pitch))
    return part
