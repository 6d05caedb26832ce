"""Synthetic multitrack corpus: composition, stem isolation, exact-sum mixing, determinism.

The rendering tests need libfluidsynth and the GM soundfont (Debian: libfluidsynth3,
fluid-soundfont-gm) and are skipped without them; the composition/mixing tests always run.
Vocal stems are sung when espeak-ng is installed, GM voice patches otherwise (the sung voice
itself is tested in ``test_data_synth_voice.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from export.data.synth.compose import compose_song
from export.data.synth.fluid import DEFAULT_SOUNDFONT, fluidsynth_available
from export.data.synth.mix import master
from export.data.synth.song import STEM_CHANNELS, STEMS
from export.data.synth.voice import sung_share

needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth_available(DEFAULT_SOUNDFONT),
    reason=f"libfluidsynth or the soundfont {DEFAULT_SOUNDFONT} is not installed "
    "(apt-get install libfluidsynth3 fluid-soundfont-gm)",
)
FILES = ("mixture", *STEMS)
SEED = 123
SONGS = 3
SECONDS = ["2.5", "3.5"]


# -- no FluidSynth needed --------------------------------------------------------------------


def test_composition_is_deterministic_and_well_formed():
    for seed in range(12):
        song = compose_song(seed, 45.0)
        again = compose_song(seed, 45.0)
        assert song.summary() == again.summary()
        assert [p.events() for p in song.parts] == [p.events() for p in again.parts]
        assert abs(song.seconds - 45.0) <= 240.0 / song.tempo  # within one bar
        assert sum(s.bars for s in song.sections) * song.bar_ticks == song.total_ticks
        stems = {p.stem for p in song.parts}
        assert stems == set(STEMS)
        for part in song.parts:
            assert part.channel in STEM_CHANNELS[part.stem]
            assert part.notes, part.name
            assert all(0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 for n in part.notes)
            by_pitch: dict[int, int] = {}
            for n in part.notes:  # no same-pitch overlaps (a note-off would cut the next)
                assert n.duration > 0 and n.start >= by_pitch.get(n.pitch, 0)
                by_pitch[n.pitch] = n.start + n.duration
        lead = song.stem_parts("vocals")[0]
        assert lead.program in (52, 53, 85) and lead.bank == 0
        (drums,) = song.stem_parts("drums")
        assert drums.channel == 9 and drums.bank == 128
        (bass,) = song.stem_parts("bass")
        assert 32 <= bass.program <= 39
        assert 1 <= len(song.stem_parts("other")) <= 3
    assert compose_song(1, 45.0).summary() != compose_song(2, 45.0).summary()


def test_master_quantises_to_an_exact_non_clipping_sum():
    rng = np.random.default_rng(0)
    n = 30000
    stems = rng.standard_normal((4, 2, n)).astype(np.float32)
    stems[1] = -0.99 * stems[0]  # two stems that cancel: the stems, not the mix, set the peak
    q, mixture = master(stems, [0.0, -1.0, -3.0, -2.0], -1.0, 44100)
    assert q.shape == (4, n, 2) and q.dtype == np.int16
    assert mixture.shape == (n, 2) and mixture.dtype == np.int16
    np.testing.assert_array_equal(q.astype(np.int32).sum(axis=0), mixture)
    peak = max(int(np.abs(q).max()), int(np.abs(mixture.astype(np.int32)).max()))
    assert 0.85 * 32767 < peak <= 32767 * 10 ** (-1 / 20) + 2
    with pytest.raises(ValueError):
        master(stems, [0.0] * 4, 0.0, 44100)


# -- rendering ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from export.data.synth.corpus import write_corpus

    out = tmp_path_factory.mktemp("synth") / "corpus"
    write_corpus(out, SONGS, seed=SEED, seconds=(2.5, 3.5), workers=1, test_fraction=0.34,
                 progress=False)
    return out


def _tracks(root: Path) -> list[Path]:
    dirs = [p for split in ("train", "test") for p in (root / split).glob("*") if p.is_dir()]
    return sorted(dirs, key=lambda p: p.name)


@needs_fluidsynth
def test_corpus_layout(corpus):
    meta = json.loads((corpus / "corpus.json").read_text())
    assert meta["seed"] == SEED and meta["n_songs"] == SONGS and meta["stems"] == list(STEMS)
    names = [t["name"] for t in meta["tracks"]]
    splits = {t["name"]: t["split"] for t in meta["tracks"]}
    assert sorted(splits.values()) == ["test", "train", "train"]
    assert [p.name for p in _tracks(corpus)] == sorted(names)
    for track in meta["tracks"]:
        d = corpus / track["split"] / track["name"]
        assert {"tempo", "key", "seed", "parts", "sections"} <= set(track)
        assert (d / "song.mid").is_file() and (d / "meta.json").is_file()
        for name in FILES:
            info = sf.info(d / f"{name}.flac")
            assert (info.samplerate, info.channels, info.format, info.subtype) == (
                44100, 2, "FLAC", "PCM_16")
        mid = mido.MidiFile(d / "song.mid")
        channels = {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"}
        assert {0, 9, 2} <= channels and channels & {3, 7, 11}
    total = sum(sf.info(d / "mixture.flac").duration for d in _tracks(corpus))
    assert 7.0 < total < 30.0  # a few short songs plus their release/reverb tails


@needs_fluidsynth
def test_mixture_is_exact_sum_of_non_silent_stems(corpus):
    for d in _tracks(corpus):
        audio = {name: sf.read(d / f"{name}.flac", dtype="int16")[0] for name in FILES}
        total = sum(audio[s].astype(np.int32) for s in STEMS)
        np.testing.assert_array_equal(total, audio["mixture"])  # exact, and fits int16
        floats = {name: sf.read(d / f"{name}.flac", dtype="float32")[0] for name in FILES}
        np.testing.assert_array_equal(sum(floats[s] for s in STEMS), floats["mixture"])
        for s in STEMS:
            rms = np.sqrt(np.mean((audio[s] / 32768.0) ** 2))
            assert 20 * np.log10(rms + 1e-12) > -50.0, f"{d.name}/{s} is (nearly) silent"
        assert np.abs(audio["mixture"]).max() < 32767


@needs_fluidsynth
def test_same_seed_same_files_via_cli_with_workers(corpus, tmp_path):
    from export.data.cli import main

    out = tmp_path / "again"
    args = ["synth", "--out", str(out), "--songs", str(SONGS), "--seed", str(SEED),
            "--seconds-per-song", *SECONDS, "--workers", "2", "--test-fraction", "0.34",
            "--quiet"]
    assert main(args) == 0
    assert (out / "corpus.json").read_text() == (corpus / "corpus.json").read_text()
    for a, b in zip(_tracks(corpus), _tracks(out), strict=True):
        assert a.name == b.name
        assert (a / "song.mid").read_bytes() == (b / "song.mid").read_bytes()
        for name in FILES:
            xa = sf.read(a / f"{name}.flac", dtype="int16")[0]
            xb = sf.read(b / f"{name}.flac", dtype="int16")[0]
            np.testing.assert_array_equal(xa, xb)


@needs_fluidsynth
def test_other_seed_differs_and_rerun_resumes(corpus, tmp_path):
    from export.data.synth.corpus import write_corpus

    other = write_corpus(tmp_path / "other", 1, seed=SEED + 1, seconds=(2.5, 3.5), workers=1,
                         progress=False)
    first = _tracks(corpus)[0]
    d = tmp_path / "other" / other["tracks"][0]["split"] / other["tracks"][0]["name"]
    a = sf.read(first / "mixture.flac", dtype="int16")[0]
    b = sf.read(d / "mixture.flac", dtype="int16")[0]
    assert a.shape != b.shape or not np.array_equal(a, b)
    again = write_corpus(corpus, SONGS, seed=SEED, seconds=(2.5, 3.5), workers=1,
                         test_fraction=0.34, progress=False)
    assert again["stats"]["rendered_audio_seconds"] == 0.0  # all songs already there


@needs_fluidsynth
def test_stems_are_isolated_and_songs_independent():
    from export.data.synth.corpus import get_soundfont
    from export.data.synth.render import render_song

    sung = sung_share()  # seed 5 sings when espeak-ng is installed, else a GM voice patch
    sfont = get_soundfont(DEFAULT_SOUNDFONT)
    song = compose_song(5, 2.0, sung)
    full = render_song(song, sfont)
    render_song(compose_song(6, 2.0, sung), sfont)  # a different song in between
    np.testing.assert_array_equal(render_song(song, sfont), full)  # nothing carries over
    for k, stem in enumerate(STEMS):
        alone = compose_song(5, 2.0, sung)
        alone.parts = [p for p in alone.parts if p.stem == stem]
        audio = render_song(alone, sfont)
        n = min(audio.shape[-1], full.shape[-1])
        others = np.delete(audio, k, axis=0)
        assert np.abs(others).max() < 1e-6, f"{stem} leaks into other stems"
        assert np.abs(full[k, :, audio.shape[-1]:]).max(initial=0.0) < 1e-6
        assert np.abs(audio[k]).max() > 1e-3
        # a stem depends only on its own notes: rendered alone it is bit-identical
        np.testing.assert_array_equal(audio[k, :, :n], full[k, :, :n])


@needs_fluidsynth
def test_render_example(tmp_path):
    from export.data.synth.corpus import render_example

    path = tmp_path / "example.wav"
    rendered = render_example(path, seconds=2.0, seed=3, stems_dir=tmp_path / "stems")
    mixture, sr = sf.read(path, dtype="int16")
    assert sr == 44100 and mixture.shape[1] == 2
    assert 2.0 <= mixture.shape[0] / sr < 2.0 + 240 / rendered.song.tempo + 6.5
    np.testing.assert_array_equal(mixture, rendered.mixture)
    np.testing.assert_array_equal(rendered.stems.astype(np.int32).sum(0), rendered.mixture)
    assert all((tmp_path / "stems" / f"{s}.flac").is_file() for s in FILES)
