"""Vocal stem: a sung-like lead melody (GM "voice" programs) with legato phrasing.

Phrases are a rhythm plus a stepwise scale-degree contour, written once per section name and
repeated (with an answering variation), so choruses recur like choruses do. Notes within a
phrase overlap slightly and portamento is on, so FluidSynth glides between them; vibrato
(CC1) swells on long notes, expression (CC11) shapes each phrase, and some phrases start with
a pitch-bend scoop. Optional backing vocals double the chorus a third away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .harmony import ChordSpan, chord_at
from .song import GEN_VOLENV_RELEASE, STEP, Control, Note, Part, Section, sf2_generator_offset
from .theory import Key, place
from .timing import Grid, velocity

VOICES = {52: "choir aahs", 53: "voice oohs", 85: "voice lead"}
"""0-based GM programs 53, 54 and 86."""

SINGING = {"verse": 1.0, "prechorus": 1.0, "chorus": 1.0, "bridge": 0.6, "outro": 0.2}
"""Probability that a section has vocals."""


@dataclass(frozen=True)
class Phrase:
    rhythm: tuple[tuple[int, int], ...]
    """(start step, length in steps) within the phrase."""
    contour: tuple[int, ...]
    """Scale-degree offset of each note."""


def _rhythm(steps: int, tempo: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    if tempo > 120:
        lengths, weights = (2, 4, 6, 8), (0.35, 0.4, 0.1, 0.15)
    else:
        lengths, weights = (1, 2, 3, 4, 6, 8), (0.06, 0.44, 0.08, 0.3, 0.07, 0.05)
    w = np.asarray(weights) / sum(weights)
    pos = int(rng.choice([0, 0, 2, 4]))
    end = steps - int(rng.choice([4, 6, 8]))
    notes: list[tuple[int, int]] = []
    while pos < end:
        length = int(min(lengths[int(rng.choice(len(lengths), p=w))], end - pos))
        notes.append((pos, length))
        pos += length + (2 if rng.random() < 0.08 else 0)
    if notes:  # hold the last note to the end of the sung part
        s, _ = notes[-1]
        notes[-1] = (s, max(2, end - s))
    return notes or [(0, max(2, end))]


def _contour(n: int, rng: np.random.Generator, lo: int = -4, hi: int = 6) -> list[int]:
    moves, probs = (-2, -1, 0, 1, 2, -3, 3), (0.12, 0.3, 0.1, 0.3, 0.1, 0.04, 0.04)
    deg = int(rng.integers(-1, 3))
    out = []
    for _ in range(n):
        out.append(deg)
        deg += int(rng.choice(moves, p=probs))
        if deg < lo or deg > hi:  # reflect at the range edge
            deg = int(np.clip(2 * np.clip(deg, lo, hi) - deg, lo, hi))
    return out


def _phrase(steps: int, tempo: float, rng: np.random.Generator) -> Phrase:
    rhythm = _rhythm(steps, tempo, rng)
    return Phrase(tuple(rhythm), tuple(_contour(len(rhythm), rng)))


def _answer(p: Phrase, rng: np.random.Generator) -> Phrase:
    """Same rhythm, a new tail that comes home to a chord tone."""
    n = len(p.contour)
    keep = max(1, int(n * 0.6))
    tail = _contour(n - keep, rng)
    shift = p.contour[keep - 1] - (tail[0] if tail else 0)
    return Phrase(p.rhythm, p.contour[:keep] + tuple(t + shift for t in tail))


def _snap(degree: int, key: Key, chord_pcs: tuple[int, ...], base: int) -> int:
    """Nearest scale degree (to ``degree``) whose pitch is a chord tone."""
    for d in (0, -1, 1, -2, 2, -3, 3):
        if key.degree_pitch(degree + d, base) % 12 in chord_pcs:
            return degree + d
    return degree


def vocal_parts(
    spans: list[ChordSpan],
    sections: list[Section],
    key: Key,
    tempo: float,
    grid: Grid,
    bar_ticks: int,
    rng: np.random.Generator,
) -> list[Part]:
    """Lead vocal (channel 1) and, sometimes, chorus backing vocals (channel 5)."""
    program = int(rng.choice(list(VOICES)))
    lead = Part(VOICES[program], "vocals", 0, 0, program, role="lead")
    center = int(rng.integers(57, 68))
    base = place(key.tonic, center - 5) - key.tonic  # "C" of the octave holding the tonic
    overlap = int(rng.integers(20, 60))
    vibrato = int(rng.integers(25, 70))
    glide = rng.random() < 0.75
    lead.controls += [Control(0, 7, 110), Control(0, 65, 127 if glide else 0)]
    lead.controls += [Control(0, 5, 0), Control(0, 37, int(rng.integers(25, 90)))]
    backing = rng.random() < 0.4
    bprog = int(rng.choice([52, 53]))
    back = Part(f"backing {VOICES[bprog]}", "vocals", 4, 0, bprog, role="backing")
    back.controls += [Control(0, 7, 90), Control(0, 65, 0)]
    for part in (lead, back):  # a singer's release is short; the presets' are long
        cents = float(rng.uniform(-1800, -600))
        part.controls += sf2_generator_offset(0, GEN_VOLENV_RELEASE, cents)
    phrase_bars = int(rng.choice([1, 2, 2, 4])) if tempo > 100 else int(rng.choice([1, 2]))
    steps = 16 * phrase_bars
    motifs: dict[str, Phrase] = {}
    lift = {"chorus": int(rng.integers(2, 5)), "bridge": int(rng.integers(-1, 3))}
    sung = [i for i, s in enumerate(sections) if rng.random() < SINGING.get(s.name, 0.0)]
    if not sung:
        sung = [max(range(len(sections)), key=lambda i: sections[i].energy)]
    for si in sung:
        sec = sections[si]
        if sec.name not in motifs:
            motifs[sec.name] = _phrase(steps, tempo, rng)
        for k in range(max(1, sec.bars // phrase_bars)):
            phrase = motifs[sec.name] if k % 2 == 0 else _answer(motifs[sec.name], rng)
            bar0 = sec.start_bar + k * phrase_bars
            if bar0 >= sec.start_bar + sec.bars:
                break
            _realise(
                phrase, bar0, lead, key, base, lift.get(sec.name, 0), spans, grid, overlap,
                vibrato, sec.energy, rng,
            )
            if backing and sec.name == "chorus":
                _realise(
                    phrase, bar0, back, key, base, lift["chorus"] - 2, spans, grid, overlap,
                    0, sec.energy - 0.2, rng,
                )
    return [lead] + ([back] if back.notes else [])


def _realise(
    phrase: Phrase,
    bar0: int,
    part: Part,
    key: Key,
    base: int,
    lift: int,
    spans: list[ChordSpan],
    grid: Grid,
    overlap: int,
    vibrato: int,
    energy: float,
    rng: np.random.Generator,
) -> None:
    """Append one phrase (notes, vibrato, expression, scoop) to ``part``."""
    starts = [grid.tick(bar0, s) for s, _ in phrase.rhythm]
    ends = [grid.tick(bar0, s + n) for s, n in phrase.rhythm]
    pitches = []
    for (step, length), deg, tick in zip(phrase.rhythm, phrase.contour, starts, strict=True):
        d = deg + lift
        if step % 8 == 0 or length >= 4:
            d = _snap(d, key, chord_at(spans, tick).pitch_classes, base)
        pitches.append(key.degree_pitch(d, base))
    loud = 80 + 30 * energy
    for i, (t0, t1, p) in enumerate(zip(starts, ends, pitches, strict=True)):
        legato = i + 1 < len(starts) and starts[i + 1] == t1 and pitches[i + 1] != p
        end = t1 + overlap if legato else t1 - 10
        part.notes.append(Note(t0, max(STEP // 2, end - t0), p, velocity(rng, loud, 10)))
        if vibrato and t1 - t0 >= 3 * STEP:  # vibrato swells in on long notes
            part.controls.append(Control(t0 + (t1 - t0) // 3, 1, vibrato // 2))
            part.controls.append(Control(t0 + 2 * (t1 - t0) // 3, 1, vibrato))
            part.controls.append(Control(t1, 1, 0))
    first, last = starts[0], ends[-1]
    for frac, value in ((0.0, 88), (0.3, 118), (0.75, 110), (1.0, 84)):
        part.controls.append(Control(int(first + frac * (last - first)), 11, value))
    if rng.random() < 0.3:  # scoop into the phrase from below
        for k, v in enumerate((6144, 6900, 7600, 8192)):
            part.controls.append(Control(first + k * 25, -1, v))
