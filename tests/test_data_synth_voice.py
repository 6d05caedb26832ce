"""Sung vocals (espeak-ng + PSOLA) and multi-soundfont rendering of the synthetic corpus.

The sung-voice tests need the ``espeak-ng`` binary (Debian: espeak-ng) and the corpus tests
also libfluidsynth and the GM soundfont; each is skipped with the reason when missing. The
soundfont-selection tests use fake files and always run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from export.data.synth.compose import compose_song
from export.data.synth.espeak import espeak_available
from export.data.synth.fluid import DEFAULT_SOUNDFONT, fluidsynth_available
from export.data.synth.song import STEMS
from export.data.synth.soundfonts import (
    available_soundfonts,
    pick_soundfonts,
    soundfont_name,
    split_pool,
)

needs_espeak = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth_available(DEFAULT_SOUNDFONT),
    reason=f"libfluidsynth or the soundfont {DEFAULT_SOUNDFONT} is not installed "
    "(apt-get install libfluidsynth3 fluid-soundfont-gm)",
)
SOLO_SEEDS = (3, 11, 12)
"""Seeds whose 4 s song has a lead vocal only, sung solo (no backing part, double or
harmony), so the vocal stem's pitch is the melody's."""


# -- an f0 estimator independent of the one in psola.py --------------------------------------


def yin_f0(x: np.ndarray, sr: int, t: float, fmin: float = 70.0, fmax: float = 1100.0,
           win: float = 0.025, threshold: float = 0.12) -> float:
    """f0 (Hz) of ``x`` ``[n]`` in the frame starting at ``t`` seconds; 0 if unvoiced/quiet.

    YIN (de Cheveigné & Kawahara 2002): first dip of the cumulative-mean-normalised squared
    difference below ``threshold``, refined to its local minimum and parabolically.
    """
    w, tau_max = int(win * sr), int(sr / fmin) + 1
    i = int(t * sr)
    seg = np.asarray(x[i : i + w + tau_max], dtype=np.float64)
    if len(seg) < w + tau_max or np.sqrt(np.mean(seg[:w] ** 2)) < 1e-4:
        return 0.0
    lagged = np.lib.stride_tricks.sliding_window_view(seg, w)[: tau_max + 1]
    d = np.sum((lagged - seg[:w]) ** 2, axis=1)
    dn = np.ones_like(d)
    dn[1:] = d[1:] * np.arange(1, len(d)) / np.maximum(np.cumsum(d[1:]), 1e-20)
    tau_min = int(sr / fmax)
    below = np.flatnonzero(dn[tau_min:] < threshold)
    if below.size == 0:
        return 0.0
    k = tau_min + int(below[0])
    while k + 1 < len(dn) and dn[k + 1] < dn[k]:
        k += 1
    shift = 0.0
    if 0 < k < len(dn) - 1:
        den = dn[k - 1] - 2 * dn[k] + dn[k + 1]
        shift = 0.5 * (dn[k - 1] - dn[k + 1]) / den if den > 0 else 0.0
    return sr / (k + shift)


def _pitch_errors(audio: np.ndarray, sr: int, notes: list[tuple[float, float, float]]
                  ) -> tuple[np.ndarray, int]:
    """Semitone errors of the voiced frames inside ``notes`` ((start s, end s, MIDI pitch),
    sorted), away from onsets and the next note; also the number of frames looked at."""
    errors, frames = [], 0
    for k, (start, end, pitch) in enumerate(notes):
        if k + 1 < len(notes):
            end = min(end, notes[k + 1][0] - 0.09)  # the next consonant starts early
        for t in np.arange(start + 0.1, end - 0.06, 0.02):
            frames += 1
            f = yin_f0(audio, sr, t)
            if f > 0:
                errors.append(12.0 * np.log2(f / (440.0 * 2.0 ** ((pitch - 69.0) / 12.0))))
    return np.abs(np.asarray(errors)), frames


def _yin_self_check() -> None:
    sr = 22050
    t = np.arange(sr) / sr
    tone = sum(a * np.sin(2 * np.pi * 220.0 * h * t) for h, a in ((1, 1.0), (2, 0.6), (3, 0.3)))
    assert abs(yin_f0(tone, sr, 0.3) - 220.0) < 1.0
    assert yin_f0(np.random.default_rng(0).standard_normal(sr), sr, 0.3) == 0.0


# -- sung voice -----------------------------------------------------------------------------


@needs_espeak
def test_sung_vocal_is_deterministic_non_silent_and_seed_dependent():
    from export.data.synth import espeak, voice

    song = compose_song(SOLO_SEEDS[0], 4.0, sung_probability=1.0)
    assert song.vocal_source == "sung"
    a = voice.sung_vocals(song, 44100)
    assert a.dtype == np.float32 and a.shape[0] == 2 and a.shape[1] >= song.seconds * 44100
    rms_db = 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2)) + 1e-12)
    assert rms_db > -45.0, f"sung vocal is (nearly) silent: {rms_db:.1f} dBFS"
    assert np.all(np.isfinite(a))
    espeak._speak_cached.cache_clear()  # re-synthesise every syllable from scratch
    voice._syllable.cache_clear()
    b = voice.sung_vocals(compose_song(SOLO_SEEDS[0], 4.0, sung_probability=1.0), 44100)
    np.testing.assert_array_equal(a, b)
    other = voice.sung_vocals(compose_song(SOLO_SEEDS[1], 4.0, sung_probability=1.0), 44100)
    n = min(a.shape[1], other.shape[1])
    assert not np.allclose(a[:, :n], other[:, :n], atol=1e-4)


@needs_espeak
def test_singer_varies_by_seed():
    from export.data.synth.voice import LAYERS, plan_singer

    singers = [plan_singer(compose_song(s, 4.0, 1.0)) for s in range(40)]
    assert {s.layer for s in singers} == set(LAYERS)
    assert len({s.voice.split("+")[0] for s in singers}) >= 4  # several languages
    assert len({s.voice for s in singers}) >= 12
    assert all(5.0 <= s.vibrato_rate <= 6.0 for s in singers)
    assert plan_singer(compose_song(7, 4.0, 1.0)) == plan_singer(compose_song(7, 4.0, 1.0))


@needs_espeak
def test_sung_line_follows_the_melody_pitch():
    from export.data.synth.voice import SR, part_notes, plan_singer, sing

    _yin_self_check()
    for seed in range(6):
        song = compose_song(seed, 10.0, sung_probability=1.0)
        singer = plan_singer(song)
        lead = song.stem_parts("vocals")[0]
        notes = part_notes(lead, song, singer.words, np.random.default_rng(seed))
        line = sing(notes, singer, seed)
        spans = [(n.start, n.start + n.duration, n.pitch) for n in notes]
        err, frames = _pitch_errors(line, SR, spans)
        assert len(err) >= 0.7 * frames > 10, f"seed {seed}: too few voiced frames"
        assert np.median(err) < 0.5, f"seed {seed} ({singer.voice}): median {np.median(err)}"
        assert np.mean(err < 1.0) > 0.8, f"seed {seed} ({singer.voice}): {np.mean(err < 1)}"


@needs_espeak
def test_sung_vocal_stem_follows_the_melody_pitch():
    """The whole stem (breaths, reverb, resampling) of solo songs, against the MIDI notes."""
    from export.data.synth.voice import plan_singer, sung_vocals

    for seed in SOLO_SEEDS:
        song = compose_song(seed, 4.0, sung_probability=1.0)
        assert plan_singer(song).layer == "solo" and len(song.stem_parts("vocals")) == 1
        stem = sung_vocals(song, 44100).mean(axis=0)
        (lead,) = song.stem_parts("vocals")
        spans = [(song.tick_seconds(n.start), song.tick_seconds(n.start + n.duration),
                  float(n.pitch)) for n in lead.notes]
        err, frames = _pitch_errors(stem, 44100, spans)
        assert len(err) >= 0.6 * frames > 5, f"seed {seed}: too few voiced frames"
        assert np.median(err) < 0.5 and np.mean(err < 1.0) > 0.75, (seed, np.median(err))


def test_harmony_is_a_diatonic_third_above():
    from export.data.synth.theory import Key
    from export.data.synth.voice import third_above

    key = Key(0, "major")
    assert [third_above(p, key) - p for p in (60, 62, 64, 65, 67, 69, 71)] == [4, 3, 3, 4, 4,
                                                                                 3, 3]


# -- corpus with sung vocals and several soundfonts -----------------------------------------


@needs_espeak
@needs_fluidsynth
def test_corpus_with_sung_vocals_and_heldout_soundfont(tmp_path):
    """Through the CLI: ``--soundfonts``, ``--heldout-soundfont`` and ``--sung-probability``."""
    from export.data.cli import main

    tim = available_soundfonts().get("timgm6mb")  # small, loads fast
    pool, heldout = ([DEFAULT_SOUNDFONT, tim], "timgm6mb") if tim else ([DEFAULT_SOUNDFONT], None)
    args = ["synth", "--out", str(tmp_path / "c"), "--songs", "4", "--seed", "5",
            "--seconds-per-song", "2.5", "3.0", "--workers", "1", "--test-fraction", "0.5",
            "--quiet", "--sung-probability", "1", "--soundfonts", *map(str, pool)]
    assert main(args + (["--heldout-soundfont", heldout] if heldout else [])) == 0
    corpus = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert corpus["sung_probability"] == 1.0
    for track in corpus["tracks"]:
        d = tmp_path / "c" / track["split"] / track["name"]
        meta = json.loads((d / "meta.json").read_text())
        assert meta["vocal_source"] == "sung" and meta["soundfonts"]["vocals"] == "espeak-ng"
        assert "voice" in meta["singer"]
        fonts = {meta["soundfonts"][s] for s in STEMS if s != "vocals"}
        if heldout is not None:
            if track["split"] == "test":
                assert fonts == {heldout}
            else:
                assert heldout not in fonts
        audio = {n: sf.read(d / f"{n}.flac", dtype="int16")[0] for n in ("mixture", *STEMS)}
        total = sum(audio[s].astype(np.int32) for s in STEMS)
        np.testing.assert_array_equal(total, audio["mixture"])  # exact, and fits int16
        floats = {n: sf.read(d / f"{n}.flac", dtype="float32")[0] for n in ("mixture", *STEMS)}
        np.testing.assert_array_equal(sum(floats[s] for s in STEMS), floats["mixture"])
        vocal_rms = np.sqrt(np.mean((audio["vocals"] / 32768.0) ** 2))
        assert 20 * np.log10(vocal_rms + 1e-12) > -50.0, f"{d.name}: silent sung vocals"


@needs_fluidsynth
def test_render_mixes_soundfonts_per_stem():
    from export.data.synth.corpus import get_soundfont
    from export.data.synth.render import render_song

    tim = available_soundfonts().get("timgm6mb")
    if tim is None:
        pytest.skip("needs a second GM soundfont (apt-get install timgm6mb-soundfont)")
    song = compose_song(4, 2.0, sung_probability=0.0)
    a, b = get_soundfont(DEFAULT_SOUNDFONT), get_soundfont(tim)
    same = render_song(song, a)
    mixed = render_song(song, {"vocals": a, "drums": b, "bass": a, "other": a})
    n = min(same.shape[-1], mixed.shape[-1])
    for k, stem in enumerate(STEMS):
        if stem == "drums":
            assert not np.allclose(same[k, :, :n], mixed[k, :, :n], atol=1e-4)
        else:
            np.testing.assert_array_equal(same[k, :, :n], mixed[k, :, :n])


# -- soundfont selection (no audio) ---------------------------------------------------------


def _fake_fonts(tmp_path: Path, names: tuple[str, ...]) -> list[Path]:
    paths = []
    for name in names:
        p = tmp_path / f"{name}.sf2"
        p.write_bytes(b"RIFF\0\0\0\0sfbk")
        paths.append(p)
    return paths


def test_available_soundfonts_takes_the_first_existing_version(tmp_path):
    a1, b2 = _fake_fonts(tmp_path, ("a1", "b2"))
    known = {"a": (tmp_path / "missing.sf2", a1), "b": (tmp_path / "b1.sf2", b2),
             "c": (tmp_path / "c.sf2",)}
    assert available_soundfonts(known) == {"a": a1, "b": b2}
    assert soundfont_name(a1, known) == "a" and soundfont_name(tmp_path / "X.sf2", known) == "x"
    assert soundfont_name(DEFAULT_SOUNDFONT) == "fluidr3"


def test_soundfont_selection_honours_the_heldout_soundfont(tmp_path):
    a, b, c = _fake_fonts(tmp_path, ("a", "b", "c"))
    train, held = split_pool([a, b, c], "b")
    assert train == [a, c] and held == b
    assert split_pool([a, b, c], b) == ([a, c], b)  # by path, too
    assert split_pool([a, b], None) == ([a, b], None)
    used: set[Path] = set()
    mixed_songs = 0
    for seed in range(300):
        picks = pick_soundfonts(seed, train)
        assert set(picks) == set(STEMS)
        assert b not in picks.values()
        used |= set(picks.values())
        mixed_songs += len(set(picks.values())) > 1
        assert picks == pick_soundfonts(seed, train)  # deterministic
    assert used == {a, c}
    assert 30 < mixed_songs < 270  # stems sometimes, not always, use another soundfont
    assert pick_soundfonts(1, [a]) == {s: a for s in STEMS}  # one soundfont: as before
    with pytest.raises(ValueError):
        split_pool([a], "a")  # nothing left to train on
    with pytest.raises(ValueError):
        split_pool([a, c], "nope")


def test_fluidr3_versions_are_held_out_together():
    mono = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")
    tim = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
    train, held = split_pool([DEFAULT_SOUNDFONT, mono, tim], "fluidr3")
    assert train == [tim] and held == DEFAULT_SOUNDFONT


def test_compose_sung_choice_changes_nothing_else():
    for seed in range(8):
        gm, sung = compose_song(seed, 6.0, 0.0), compose_song(seed, 6.0, 1.0)
        assert (gm.vocal_source, sung.vocal_source) == ("gm", "sung")
        assert [p.events() for p in gm.parts] == [p.events() for p in sung.parts]
    share = np.mean([compose_song(s, 4.0).vocal_source == "sung" for s in range(200)])
    assert 0.65 < share < 0.85  # default: GM voice patches are a minority (~25 %)
    with pytest.raises(ValueError):
        compose_song(0, 4.0, 1.5)
