"""The symbolic song: notes and controller events per part, in MIDI ticks.

A :class:`Song` is everything needed to write the ``.mid`` file and to render the stems: parts
(one MIDI channel each) grouped into the four stems, the tempo, and the per-stem mix settings.
It is plain data (JSON-friendly via :meth:`Song.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

PPQ = 480
"""MIDI ticks per quarter note."""

STEP = PPQ // 4
"""Ticks per 16th note (the composition grid)."""

STEMS = ("vocals", "drums", "bass", "other")
"""Stem order used everywhere in the project."""

VOCAL_SOURCES = ("gm", "sung")
"""Values of :attr:`Song.vocal_source`."""

STEM_CHANNELS: dict[str, tuple[int, ...]] = {
    "vocals": (0, 4, 8),
    "drums": (9,),
    "bass": (2, 6),
    "other": (3, 7, 11),
}
"""MIDI channels per stem (channel 10, i.e. 9, for drums). Distinct across stems, and
``c % 4`` is the stem's index, so one multi-bus synth could also route stems by channel."""

assert all(c % 4 == STEMS.index(s) for s, cs in STEM_CHANNELS.items() for c in cs)

# event kinds, in the order they are applied when they share a tick
PROGRAM, CONTROL, BEND, NOTE_OFF, NOTE_ON = range(5)


class Event(NamedTuple):
    """One channel event. ``a``/``b``: (bank, program), (cc, value), (bend, 0),
    (key, 0) or (key, velocity)."""

    tick: int
    kind: int
    channel: int
    a: int
    b: int


@dataclass(frozen=True)
class Note:
    start: int
    """Onset in ticks."""
    duration: int
    """Length in ticks (> 0)."""
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Control:
    tick: int
    number: int
    """Controller number 0..127, or -1 for pitch bend."""
    value: int
    """0..127 for a controller, 0..16383 (centre 8192) for pitch bend."""


GEN_VOLENV_RELEASE = 38
"""SoundFont generator number of the volume-envelope release time (timecents)."""


def sf2_generator_offset(tick: int, generator: int, offset: float, nrpn_scale: float = 2.0):
    """Controllers that offset a SoundFont generator on a channel via SF2 NRPN (MSB 120).

    ``offset`` is in the generator's units (timecents for envelope times, whose NRPN scale is
    2); FluidSynth and other SF2 players apply it to every voice started afterwards.
    """
    data = int(round(8192 + offset / nrpn_scale))
    data = max(0, min(16383, data))
    return [
        Control(tick, 99, 120),
        Control(tick, 98, generator),
        Control(tick, 38, data & 127),
        Control(tick, 6, data >> 7),
    ]


@dataclass
class Part:
    """One instrument on one MIDI channel."""

    name: str
    stem: str
    channel: int
    bank: int
    program: int
    role: str = ""
    notes: list[Note] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)

    def tidy(self) -> None:
        """Sort notes and cut overlaps between notes of the same pitch (a later note-off would
        otherwise silence the newer note); drop notes that end up empty."""
        by_pitch: dict[int, list[Note]] = {}
        for n in sorted(self.notes, key=lambda n: (n.start, n.pitch)):
            by_pitch.setdefault(n.pitch, []).append(n)
        kept = []
        for same in by_pitch.values():
            for n, nxt in zip(same, same[1:] + [None], strict=True):
                end = n.start + n.duration
                if nxt is not None:
                    end = min(end, nxt.start)
                if end > n.start:
                    kept.append(Note(n.start, end - n.start, n.pitch, n.velocity))
        self.notes = sorted(kept, key=lambda n: (n.start, n.pitch))
        self.controls.sort(key=lambda c: c.tick)

    def events(self) -> list[Event]:
        """All events of the part sorted by tick, then kind (program, cc, bend, off, on)."""
        ch = self.channel
        evs = [Event(0, PROGRAM, ch, self.bank, self.program)]
        for c in self.controls:
            if c.number < 0:
                evs.append(Event(c.tick, BEND, ch, c.value, 0))
            else:
                evs.append(Event(c.tick, CONTROL, ch, c.number, c.value))
        for n in self.notes:
            evs.append(Event(n.start, NOTE_ON, ch, n.pitch, n.velocity))
            evs.append(Event(n.start + n.duration, NOTE_OFF, ch, n.pitch, 0))
        evs.sort(key=lambda e: (e.tick, e.kind))
        return evs


@dataclass(frozen=True)
class Section:
    name: str
    """intro, verse, prechorus, chorus, bridge or outro."""
    start_bar: int
    bars: int
    energy: float
    """0..1, drives density and loudness."""


@dataclass(frozen=True)
class StemMix:
    """Random per-stem mix settings (applied at render time)."""

    level_db: float
    """Loudness of the stem relative to the others."""
    reverb: tuple[float, float, float, float]
    """FluidSynth reverb unit of the stem's bus: room size, damping, width, level."""
    chorus: tuple[int, float, float, float]
    """FluidSynth chorus unit of the stem's bus: voices, level, speed (Hz), depth (ms)."""
    eq: tuple[tuple[str, float, float, float], ...]
    """Biquads ``(kind, freq_hz, gain_db, q)``, kind in lowshelf/highshelf/peak/highpass."""


@dataclass
class Song:
    seed: int
    style: str
    tempo: float
    """Beats per minute (constant)."""
    key: int
    """Tonic pitch class, 0 = C."""
    mode: str
    beats_per_bar: int
    sections: list[Section]
    parts: list[Part]
    mix: dict[str, StemMix]
    swing: float = 0.5
    peak_db: float = -1.0
    """Peak level of the mixture after mastering, dBFS (< 0)."""
    vocal_source: str = "gm"
    """How the vocal stem is rendered: ``gm`` (its parts' GM voice patches, FluidSynth) or
    ``sung`` (espeak-ng syllables sung on its notes, see ``voice.py``)."""

    @property
    def bar_ticks(self) -> int:
        return self.beats_per_bar * PPQ

    @property
    def total_ticks(self) -> int:
        return sum(s.bars for s in self.sections) * self.bar_ticks

    @property
    def seconds(self) -> float:
        """Length of the composed music, without release tails."""
        return self.tick_seconds(self.total_ticks)

    def tick_seconds(self, tick: float) -> float:
        return tick * 60.0 / (self.tempo * PPQ)

    def stem_parts(self, stem: str) -> list[Part]:
        return [p for p in self.parts if p.stem == stem]

    def summary(self) -> dict:
        """JSON-friendly description (for ``corpus.json``)."""
        names = "C C# D D# E F F# G G# A A# B".split()
        return {
            "seed": self.seed,
            "style": self.style,
            "tempo": round(self.tempo, 3),
            "key": f"{names[self.key]} {self.mode}",
            "swing": round(self.swing, 3),
            "peak_db": round(self.peak_db, 2),
            "vocal_source": self.vocal_source,
            "seconds": round(self.seconds, 3),
            "sections": [[s.name, s.bars] for s in self.sections],
            "parts": [
                {
                    "name": p.name,
                    "stem": p.stem,
                    "channel": p.channel,
                    "bank": p.bank,
                    "program": p.program,
                    "role": p.role,
                    "notes": len(p.notes),
                }
                for p in self.parts
            ],
        }
