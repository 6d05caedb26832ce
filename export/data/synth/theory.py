"""Just enough music theory: modes, diatonic chords, progressions, voicings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
MODE_WEIGHTS = {"major": 0.45, "minor": 0.35, "dorian": 0.1, "mixolydian": 0.1}

# progressions as 0-based scale degrees, one chord per slot
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": (
        (0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 3, 0, 4), (1, 4, 0, 0),
        (0, 2, 3, 4), (3, 4, 0, 5), (0, 0, 3, 4), (0, 5, 1, 4), (3, 0, 4, 5), (0, 4, 3, 3),
    ),
    "minor": (
        (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2), (5, 6, 0, 0),
        (0, 0, 5, 4), (0, 2, 6, 3), (3, 0, 6, 5), (0, 6, 3, 4),
    ),
}
PROGRESSIONS["dorian"] = PROGRESSIONS["minor"] + ((0, 3, 0, 3), (0, 1, 0, 3))
PROGRESSIONS["mixolydian"] = PROGRESSIONS["major"] + ((0, 6, 3, 0), (0, 6, 0, 3))


@dataclass(frozen=True)
class Chord:
    """A diatonic chord: ``degree`` of the key's mode, its pitch classes (root first)."""

    degree: int
    pitch_classes: tuple[int, ...]

    @property
    def root(self) -> int:
        return self.pitch_classes[0]

    @property
    def fifth(self) -> int:
        return self.pitch_classes[2]


@dataclass(frozen=True)
class Key:
    tonic: int
    """Pitch class 0..11."""
    mode: str

    @property
    def scale(self) -> tuple[int, ...]:
        return MODES[self.mode]

    def degree_pitch(self, degree: int, octave_base: int = 60) -> int:
        """MIDI pitch of scale ``degree`` (any integer; 7 = octave up) above the tonic in the
        octave whose C is ``octave_base``."""
        octave, step = divmod(degree, 7)
        return octave_base + self.tonic + self.scale[step] + 12 * octave

    def chord(self, degree: int, seventh: bool = False) -> Chord:
        steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
        pcs = tuple((self.tonic + self.scale[(degree + s) % 7]) % 12 for s in steps)
        return Chord(degree % 7, pcs)

    def pitch_degree(self, pitch: int, octave_base: int = 60) -> int:
        """Inverse of :meth:`degree_pitch` for in-scale pitches (nearest degree otherwise)."""
        best, best_d = 0, 99
        for d in range(-21, 29):
            dist = abs(self.degree_pitch(d, octave_base) - pitch)
            if dist < best_d:
                best, best_d = d, dist
        return best


def place(pitch_class: int, low: int) -> int:
    """Lowest MIDI pitch >= ``low`` with the given pitch class."""
    return low + (pitch_class - low) % 12


def voicing(pcs: tuple[int, ...], low: int, high: int, center: float) -> list[int]:
    """Close-position chord voicing within ``[low, high]`` whose mean is nearest ``center``.

    Tries every inversion and octave placement; returns ascending MIDI pitches.
    """
    best: list[int] = []
    best_cost = float("inf")
    n = len(pcs)
    for inv in range(n):
        order = pcs[inv:] + pcs[:inv]
        for base in range(low, high + 1, 12):
            notes = [place(order[0], base)]
            for pc in order[1:]:
                notes.append(place(pc, notes[-1] + 1))
            if notes[0] < low or notes[-1] > high:
                continue
            cost = abs(float(np.mean(notes)) - center)
            if cost < best_cost:
                best, best_cost = notes, cost
    if not best:  # range too narrow for a close voicing: stack upward from low
        best = [place(pcs[0], low)]
        for pc in pcs[1:]:
            best.append(place(pc, best[-1] + 1))
    return best


def weighted_choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    w = np.asarray([options[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]
