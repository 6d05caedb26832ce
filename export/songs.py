"""Music for calibration and checks: the exact chunks the runner feeds, from real songs.

Calibration data (:func:`calibration_chunks`) is music: synthetic songs rendered by
``export.data.synth`` (FluidSynth) plus the bundled example song, cut into the exact full-length
chunks the runner feeds (:func:`song_chunks`). Never white noise: the activation ranges of noise
are not those of music. Held-out songs with stems (:func:`heldout_songs`) use other seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mobile_core.contract.chunking import ChunkSpec, plan_chunks

CALIBRATION_SEED = 1000
"""Seeds of calibration songs start here; held-out songs start at :data:`HELDOUT_SEED`."""
HELDOUT_SEED = 2000

@dataclass
class Song:
    """A stereo song at 44.1 kHz: ``mix[2, N]`` and, for held-out songs, ``stems[4, 2, N]``."""

    name: str
    mix: Tensor
    stems: Tensor | None = None


_SONG_CACHE: dict[tuple[int, float], Song] = {}


def synth_song(seed: int, seconds: float) -> Song:
    """Render one synthetic song (stems in vocals, drums, bass, other order); cached per process.

    Raises ``export.data.synth.fluid.FluidSynthUnavailable`` without FluidSynth.
    """
    key = (seed, float(seconds))
    if key not in _SONG_CACHE:
        from export.data.synth.compose import compose_song
        from export.data.synth.corpus import render

        r = render(compose_song(seed, seconds))
        mix = torch.from_numpy(r.mixture.T.astype("float32") / 32768.0)
        stems = torch.from_numpy(r.stems.transpose(0, 2, 1).astype("float32") / 32768.0)
        _SONG_CACHE[key] = Song(f"synth-{seed}", mix.contiguous(), stems.contiguous())
    return _SONG_CACHE[key]


def example_song() -> Song:
    """The bundled example song (8.8 s, no stems)."""
    from mobile_core.assets import EXAMPLE_SONG
    from mobile_core.contract.audio import read

    x, sr = read(EXAMPLE_SONG)
    if sr != 44100:
        raise ValueError(f"{EXAMPLE_SONG} is at {sr} Hz, expected 44100")
    return Song("example", x[:2].contiguous())


def song_chunks(mix: Tensor, spec: ChunkSpec) -> list[Tensor]:
    """The chunk inputs ``[1, 2, L]`` the runner feeds for ``mix[2, N]`` (zero-padded)."""
    out = []
    n = mix.shape[-1]
    for c in plan_chunks(n, spec):
        x = torch.zeros(1, 2, spec.chunk)
        seg = mix[:, c.start : c.start + spec.chunk]
        x[0, :, : seg.shape[-1]] = seg
        out.append(x)
    return out


def song_seconds(spec: ChunkSpec) -> float:
    """Length of calibration / held-out songs: at least 2.5 chunks (and 12 s)."""
    return max(12.0, 2.5 * spec.chunk / spec.sample_rate)


def calibration_chunks(
    spec: ChunkSpec, n_chunks: int = 8, n_songs: int = 3, seed: int = CALIBRATION_SEED,
    log: Callable[[str], None] | None = None,
) -> list[Tensor]:
    """``n_chunks`` full-length music chunks ``[1, 2, L]`` for calibration.

    From ``n_songs`` synthetic songs (seeds ``seed..``) and the bundled example song, taken
    round-robin over the songs so that every song contributes. Without FluidSynth only the
    example song is used (with a warning through ``log``).
    """
    songs = [example_song()]
    try:
        songs += [synth_song(seed + i, song_seconds(spec)) for i in range(n_songs)]
    except Exception as e:  # FluidSynthUnavailable or a missing soundfont
        if log:
            log(f"warning: no synthetic songs for calibration ({e}); using the example song only")
    per_song = [song_chunks(s.mix, spec) for s in songs]
    chunks: list[Tensor] = []
    i = 0
    while len(chunks) < n_chunks and any(i < len(p) for p in per_song):
        chunks += [p[i] for p in per_song if i < len(p)]
        i += 1
    return chunks[:n_chunks]


def heldout_songs(spec: ChunkSpec, n_songs: int = 3, seed: int = HELDOUT_SEED) -> list[Song]:
    """``n_songs`` synthetic songs with stems, disjoint from the calibration seeds."""
    return [synth_song(seed + i, song_seconds(spec)) for i in range(n_songs)]


__all__ = ["CALIBRATION_SEED", "HELDOUT_SEED", "Song", "calibration_chunks", "example_song",
           "heldout_songs", "song_chunks", "song_seconds", "synth_song"]
