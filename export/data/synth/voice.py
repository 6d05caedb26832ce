"""Sung vocal stem: espeak-ng syllables retimed and repitched onto the song's vocal melody.

Each note of the vocal parts gets a pseudo-lyric syllable, spoken by an espeak-ng voice
(:mod:`.espeak`; language and variant drawn per song), then resynthesised with TD-PSOLA
(:mod:`.psola`) so that its vowel lasts the note and its pitch follows the note: the
consonant keeps its natural length (and starts just before the beat), the vowel is stretched,
and the f0 curve carries a glide from the previous note inside a phrase (or a small scoop),
vibrato that swells in on held notes (5-6 Hz, depth drawn per song and varied per note) and a
slow drift. Soft breath noise precedes phrases. By seed, the lead is sung alone, double-tracked
(a second, slightly detuned and delayed take) or with a harmony a diatonic third above; the
song's backing-vocal part, if any, is sung on open vowels. Everything is panned, summed and
sent through a synthetic room (:mod:`.reverb`).

Deterministic: the same song (seed) and espeak-ng version give the same samples.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.signal import resample_poly, sosfilt

from .compose import SUNG_PROBABILITY
from .effects import biquad
from .espeak import (
    ESPEAK_RATE,
    FEMALE_VARIANTS,
    LANGUAGES,
    MALE_VARIANTS,
    VoiceUnavailable,
    espeak_available,
    speak,
)
from .psola import Analysis, analyse, psola
from .reverb import add_reverb
from .song import Part, Song
from .theory import Key

SR = ESPEAK_RATE
"""Internal sample rate of the sung lines (resampled to the song's rate at the end)."""

ONSETS = ("", "l", "n", "m", "d", "b", "s", "t", "k", "h", "w", "y", "r", "sh", "p", "g", "f")
VOWELS = ("a", "e", "i", "o", "u", "ay", "oh", "ee", "oo", "ah")
WORDS = (
    "love night day way home time light heart fire rain stay go know be free sun sky you "
    "me now high low run"
).split()
"""Pseudo-lyrics: consonant-vowel syllables and a few one-syllable words (every language
reads them as one syllable)."""
BACKING_VOWELS = ("ah", "oh", "oo")

LAYERS = {"solo": 0.4, "double": 0.35, "harmony": 0.25}
"""What accompanies the lead, and its probability."""

_SALT = 0x5157  # separates the voice's random stream from the composition's
PHRASE_GAP = 0.3
"""A silence longer than this (seconds) between two notes starts a new phrase."""


@dataclass(frozen=True)
class Singer:
    """Per-song voice choices (JSON-friendly via :func:`dataclasses.asdict`)."""

    voice: str
    """espeak-ng voice, ``language+variant``."""
    speed: int
    pitch: int
    """espeak-ng speed (words/min) and pitch (0..99) of the spoken syllables."""
    vibrato_rate: float
    """Hz."""
    vibrato_depth: float
    """Cents (peak), before the per-note variation."""
    glide: float
    """Time constant of the glide into a legato note, seconds."""
    breath: float
    """Breath-noise level relative to the voice."""
    layer: str
    """``solo``, ``double`` or ``harmony`` (see :data:`LAYERS`)."""
    detune: float
    """Cents of the double-tracked take."""
    delay: float
    """Seconds of the double-tracked take."""
    words: tuple[str, ...]
    """The song's pseudo-lyric vocabulary."""


@dataclass(frozen=True)
class SungNote:
    start: float
    """Seconds (the vowel starts here; the consonant just before)."""
    duration: float
    pitch: float
    """MIDI pitch, fractional for detuning."""
    gain: float
    text: str
    glide_from: float | None = None
    """Pitch of the previous note when sung legato into this one."""


def sung_share(requested: float | None = None) -> float:
    """The share of sung vocal stems to compose with.

    None: :data:`~.compose.SUNG_PROBABILITY` when espeak-ng is installed, else 0 (every
    vocal stem a GM voice patch, as before sung vocals existed). An explicit share above 0
    needs espeak-ng.

    Raises:
        ValueError: outside 0..1.
        VoiceUnavailable: a share above 0 without espeak-ng.
    """
    if requested is None:
        return SUNG_PROBABILITY if espeak_available() else 0.0
    if not 0.0 <= requested <= 1.0:
        raise ValueError(f"sung_probability must be within 0..1, got {requested}")
    if requested > 0 and not espeak_available():
        raise VoiceUnavailable(
            "sung vocals need espeak-ng (Debian/Ubuntu: apt-get install espeak-ng); pass "
            "sung_probability=0 to use GM voice patches only"
        )
    return float(requested)


def plan_singer(song: Song) -> Singer:
    """The voice of ``song``, drawn from its seed (independent of the composition)."""
    rng = np.random.default_rng([song.seed, _SALT])
    pitches = [n.pitch for p in song.stem_parts("vocals") if p.role == "lead" for n in p.notes]
    register = float(np.median(pitches)) if pitches else 64.0
    female = rng.random() < float(np.clip(0.5 + 0.1 * (register - 64.0), 0.2, 0.9))
    variants = FEMALE_VARIANTS if female else MALE_VARIANTS
    voice = f"{LANGUAGES[int(rng.integers(len(LANGUAGES)))]}+{rng.choice(variants)}"
    n_words = int(rng.integers(6, 13))
    vocab = [o + v for o in ONSETS for v in VOWELS] + WORDS
    words = tuple(str(w) for w in rng.choice(vocab, n_words, replace=False))
    layer = str(rng.choice(list(LAYERS), p=np.asarray(list(LAYERS.values()))))
    return Singer(
        voice=voice,
        speed=int(rng.integers(110, 160)),
        pitch=int(rng.integers(55, 90) if female else rng.integers(70, 100)),
        vibrato_rate=float(rng.uniform(5.0, 6.0)),
        vibrato_depth=float(rng.uniform(15.0, 55.0)),
        glide=float(rng.uniform(0.015, 0.05)),
        breath=float(rng.uniform(0.03, 0.12)),
        layer=layer,
        detune=float(rng.choice([-1, 1]) * rng.uniform(4.0, 12.0)),
        delay=float(rng.uniform(0.012, 0.035)),
        words=words,
    )


@lru_cache(maxsize=256)
def _syllable(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, Analysis]:
    """A spoken syllable at RMS 0.1 (float64 ``[n]``) and its pitch marks."""
    x = np.asarray(speak(text, voice, speed, pitch), dtype=np.float64)
    x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 0.1
    return x, analyse(x, SR)


def _time_map(n_out: int, pre: int, x_len: int, analysis: Analysis) -> np.ndarray:
    """Input position for each output sample: consonant and vowel onset 1:1, the vowel's
    middle stretched (or squeezed) to fill, its last 60 ms and the coda 1:1. float ``[n_out]``."""
    span = analysis.voiced_span or (0, x_len - 1)
    head = min(span[0] + int(0.05 * SR), x_len // 2)
    tail_start = max(span[1] - int(0.06 * SR), head)
    head_out = pre + (head - span[0] if head > span[0] else 0)
    mid_out = n_out - head_out - (x_len - tail_start)
    t = np.arange(n_out, dtype=np.float64)
    if mid_out <= 0:  # shorter than the syllable: squeeze everything
        return t * (x_len - 1) / max(1, n_out - 1)
    knots_out = [0.0, head_out, head_out + mid_out, float(n_out)]
    knots_in = [float(span[0] - pre), float(head), float(tail_start), float(x_len)]
    return np.clip(np.interp(t, knots_out, knots_in), 0, x_len - 1)


def _f0_curve(
    note: SungNote, n_out: int, pre: int, singer: Singer, rng: np.random.Generator
) -> np.ndarray:
    """Target f0 (Hz) per output sample of one note: float ``[n_out]``."""
    t = (np.arange(n_out) - pre) / SR  # 0 at the vowel onset
    cents = np.zeros(n_out)
    if note.glide_from is not None:
        offset = 100.0 * (note.glide_from - note.pitch)
        cents += offset * np.exp(-np.maximum(t, 0.0) / singer.glide)
    elif rng.random() < 0.3:  # scoop up into the note
        cents -= rng.uniform(30.0, 80.0) * np.exp(-np.maximum(t, 0.0) / 0.05)
    depth = singer.vibrato_depth * rng.uniform(0.6, 1.3)
    onset = rng.uniform(0.12, 0.3)
    swell = np.clip((t - onset) / 0.35, 0.0, 1.0)
    rate = singer.vibrato_rate * rng.uniform(0.95, 1.05)
    cents += depth * swell * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    drift_rate = rng.uniform(0.3, 1.2)
    cents += rng.uniform(2.0, 8.0) * np.sin(2 * np.pi * drift_rate * t + rng.uniform(0, 6.3))
    return 440.0 * 2.0 ** ((note.pitch - 69.0 + cents / 100.0) / 12.0)


def sing(notes: list[SungNote], singer: Singer, seed: int, pitch: int | None = None) -> np.ndarray:
    """One dry sung line at :data:`SR`: float32 ``[n]`` (``n`` covers the last note).

    ``pitch``: espeak-ng pitch of the source syllables (default ``singer.pitch``); a double
    take uses another one so that its grains differ.
    """
    rng = np.random.default_rng([seed, _SALT, 1])
    src_pitch = singer.pitch if pitch is None else pitch
    end = max((n.start + n.duration for n in notes), default=0.0)
    out = np.zeros(int((end + 0.5) * SR) + 1)
    for note in notes:
        x, analysis = _syllable(note.text, singer.voice, singer.speed, src_pitch)
        span = analysis.voiced_span or (0, len(x) - 1)
        pre = min(span[0], int(0.08 * SR))
        start = int(round(note.start * SR)) - pre
        n_out = pre + max(int(round(note.duration * SR)), int(0.06 * SR))
        source = _time_map(n_out, pre, len(x), analysis)
        y = psola(x, analysis, source, _f0_curve(note, n_out, pre, singer, rng), SR)
        fade_in, fade_out = min(int(0.005 * SR), n_out // 4), min(int(0.04 * SR), n_out // 3)
        y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
        y[n_out - fade_out :] *= np.cos(np.linspace(0.0, np.pi / 2, fade_out)) ** 2
        if start < 0:
            y, start = y[-start:], 0
        out[start : start + len(y)] += note.gain * y
    return out.astype(np.float32)


def _phrases(notes: list[SungNote]) -> list[list[SungNote]]:
    phrases: list[list[SungNote]] = []
    end = -math.inf
    for n in notes:
        if n.start - end > PHRASE_GAP or not phrases:
            phrases.append([])
        phrases[-1].append(n)
        end = max(end, n.start + n.duration)
    return phrases


def breaths(notes: list[SungNote], singer: Singer, n: int, seed: int) -> np.ndarray:
    """Soft inhales (band-passed noise) in the gaps before phrases: float32 ``[n]`` at SR."""
    rng = np.random.default_rng([seed, _SALT, 2])
    out = np.zeros(n)
    sos = np.stack([biquad("highpass", 700.0, 0.0, 0.7, SR), biquad("peak", 2500.0, 6.0, 1.0,
                                                                      SR)])
    prev_end = 0.0
    for phrase in _phrases(notes):
        gap = phrase[0].start - prev_end
        prev_end = max(n.start + n.duration for n in phrase)
        if gap < PHRASE_GAP or rng.random() < 0.25:
            continue
        length = min(0.45, 0.6 * gap) * rng.uniform(0.6, 1.0)
        stop = phrase[0].start - rng.uniform(0.06, 0.12)
        i0, m = int((stop - length) * SR), int(length * SR)
        if i0 < 0 or m < 16:
            continue
        t = np.linspace(0.0, 1.0, m)
        env = np.where(t < 0.7, np.sin(np.pi / 2 * t / 0.7) ** 2, np.cos(np.pi / 2 * (t - 0.7)
                                                                          / 0.3) ** 2)
        noise = sosfilt(sos, rng.standard_normal(m))
        out[i0 : i0 + m] += singer.breath * 0.1 * rng.uniform(0.6, 1.0) * env * noise
    return out.astype(np.float32)


def _last_control(part: Part, number: int, default: int) -> int:
    values = [c.value for c in part.controls if c.number == number and c.tick == 0]
    return values[-1] if values else default


def _pan(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan of ``mono`` ``[n]``; ``pan`` 0..127 (64 = centre): ``[2, n]``."""
    theta = float(np.clip(pan, 0, 127)) / 127.0 * np.pi / 2
    return np.stack([np.cos(theta) * mono, np.sin(theta) * mono])


def part_notes(
    part: Part, song: Song, words: tuple[str, ...], rng: np.random.Generator,
    vowels_only: bool = False,
) -> list[SungNote]:
    """The notes of ``part`` as sung notes with lyrics and legato glides.

    Phrases with the same rhythm get the same words (choruses repeat their lyrics).
    """
    raw = sorted(part.notes, key=lambda n: (n.start, -n.pitch))
    lines: dict[tuple[int, ...], list[str]] = {}
    out: list[SungNote] = []
    for i, n in enumerate(raw):
        start = song.tick_seconds(n.start)
        dur = song.tick_seconds(n.duration)
        prev = raw[i - 1] if i else None
        legato = prev is not None and prev.start + prev.duration >= n.start - 10
        out.append(SungNote(start, dur, float(n.pitch), (n.velocity / 127.0) ** 1.5, "",
                            float(prev.pitch) if legato and prev.pitch != n.pitch else None))
    sung = []
    for phrase in _phrases(out):
        if vowels_only:
            texts = [str(rng.choice(BACKING_VOWELS))] * len(phrase)
        else:
            rhythm = tuple(int(round(n.duration * 20)) for n in phrase)
            if rhythm not in lines:
                lines[rhythm] = [str(rng.choice(words)) for _ in phrase]
            texts = lines[rhythm]
        sung += [SungNote(n.start, n.duration, n.pitch, n.gain, t, n.glide_from)
                 for n, t in zip(phrase, texts, strict=True)]
    return sung


def third_above(pitch: float, key: Key) -> float:
    """The diatonic third above ``pitch`` in ``key`` (3 or 4 semitones; 4 if off the scale)."""
    pcs = {(key.tonic + s) % 12 for s in key.scale}
    p = int(round(pitch))
    for up in (3, 4) if (p + 4) % 12 not in pcs else (4, 3):
        if (p + up) % 12 in pcs:
            return pitch + up
    return pitch + 4


def sung_vocals(song: Song, sample_rate: int = 44100) -> np.ndarray:
    """The vocal stem of ``song`` sung (with its backing part, layer, breaths and room).

    Returns:
        float32 ``[2, n]`` at ``sample_rate``; ``n`` covers the song and the reverb tail.
    """
    singer = plan_singer(song)
    rng = np.random.default_rng([song.seed, _SALT, 3])
    parts = song.stem_parts("vocals")
    lead = next((p for p in parts if p.role == "lead"), parts[0] if parts else None)
    n = int((song.seconds + 1.0) * SR)
    dry = np.zeros((2, n), dtype=np.float32)

    def add(mono: np.ndarray, pan: float, gain: float = 1.0) -> None:
        m = min(n, len(mono))
        dry[:, :m] += gain * _pan(mono[:m], pan)

    if lead is not None and lead.notes:
        pan = _last_control(lead, 10, 64)
        notes = part_notes(lead, song, singer.words, rng)
        line = sing(notes, singer, song.seed)
        add(line, pan)
        add(breaths(notes, singer, len(line), song.seed), pan)
        if singer.layer == "double":
            jit = rng.normal(0.0, 0.008, len(notes))
            take = [SungNote(s.start + singer.delay + j, s.duration, s.pitch + singer.detune
                             / 100.0, s.gain * rng.uniform(0.8, 1.0), s.text, s.glide_from)
                    for s, j in zip(notes, jit, strict=True)]
            other = sing(take, singer, song.seed + 1, pitch=max(0, singer.pitch - 6))
            add(other, 127 - pan + (20 if pan <= 64 else -20), rng.uniform(0.5, 0.8))
        elif singer.layer == "harmony":
            key = Key(song.key, song.mode)
            high = [SungNote(s.start, s.duration, third_above(s.pitch, key), s.gain, s.text,
                             None if s.glide_from is None else third_above(s.glide_from, key))
                    for s in notes]
            add(sing(high, singer, song.seed + 2), pan + rng.uniform(-30, 30),
                rng.uniform(0.35, 0.55))
    for part in parts:
        if part is lead or not part.notes:
            continue
        notes = part_notes(part, song, singer.words, rng, vowels_only=True)
        add(sing(notes, singer, song.seed + 3), _last_control(part, 10, 64), 0.5)
    ratio = Fraction(sample_rate, SR)
    stereo = resample_poly(dry, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)
    send = _last_control(lead, 91, 64) / 127.0 if lead is not None else 0.5
    wet = add_reverb(stereo, song.mix["vocals"].reverb, send, sample_rate,
                     np.random.default_rng([song.seed, _SALT, 4]))
    return wet


def singer_summary(song: Song) -> dict:
    """JSON-friendly description of the song's singer."""
    d = asdict(plan_singer(song))
    d["words"] = list(d["words"])
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
