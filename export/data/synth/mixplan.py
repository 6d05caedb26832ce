"""Random mix decisions: per-channel volume/pan/effect sends, per-stem level, reverb, chorus
and EQ. Pure data; applied by ``render.py`` (FluidSynth buses) and ``effects.py`` (EQ)."""

from __future__ import annotations

import numpy as np

from .song import STEMS, Control, Part, StemMix

# (reverb room range, reverb level range, send CC91 range, chorus send CC93 range)
_FX = {
    "vocals": ((0.3, 0.85), (0.3, 0.9), (40, 100), (0, 40)),
    "drums": ((0.1, 0.5), (0.1, 0.6), (5, 60), (0, 1)),
    "bass": ((0.1, 0.3), (0.0, 0.3), (0, 20), (0, 30)),
    "other": ((0.2, 0.9), (0.2, 0.8), (20, 90), (0, 70)),
}
_LEVEL_DB = {"vocals": (0.0, 1.5), "drums": (-1.0, 2.0), "bass": (-3.0, 2.0), "other": (-2.5, 2.0)}


def _eq(stem: str, rng: np.random.Generator) -> tuple[tuple[str, float, float, float], ...]:
    bands = []
    if stem in ("vocals", "other") and rng.random() < 0.3:
        bands.append(("highpass", float(rng.uniform(60, 200)), 0.0, 0.707))
    if rng.random() < 0.5:
        bands.append(("lowshelf", float(rng.uniform(80, 250)), float(rng.uniform(-6, 4)), 0.707))
    if rng.random() < 0.5:
        bands.append(("peak", float(np.exp(rng.uniform(np.log(250), np.log(5000)))),
                      float(rng.uniform(-6, 6)), float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.5:
        bands.append(("highshelf", float(rng.uniform(3000, 10000)), float(rng.uniform(-8, 4)),
                      0.707))
    return tuple(bands)


def plan_mix(parts: list[Part], rng: np.random.Generator) -> dict[str, StemMix]:
    """Add volume/pan/send controllers at tick 0 to every part; return per-stem settings."""
    mix = {}
    for stem in STEMS:
        room, level, send, chorus = _FX[stem]
        mean, sd = _LEVEL_DB[stem]
        mix[stem] = StemMix(
            level_db=float(rng.normal(mean, sd)),
            reverb=(
                float(rng.uniform(*room)),
                float(rng.uniform(0.1, 0.7)),
                float(rng.uniform(0.2, 1.0)),
                float(rng.uniform(*level)),
            ),
            chorus=(
                int(rng.integers(2, 5)),
                float(rng.uniform(0.8, 2.5)),
                float(rng.uniform(0.2, 1.5)),
                float(rng.uniform(2.0, 12.0)),
            ),
            eq=_eq(stem, rng),
        )
        for k, part in enumerate(p for p in parts if p.stem == stem):
            spread = {"drums": 8, "bass": 6, "vocals": 6 if k == 0 else 30, "other": 44}[stem]
            pan = int(np.clip(64 + rng.integers(-spread, spread + 1), 0, 127))
            part.controls[:0] = [
                Control(0, 7, int(rng.integers(95, 121))),
                Control(0, 10, pan),
                Control(0, 91, int(rng.integers(send[0], send[1] + 1))),
                Control(0, 93, int(rng.integers(chorus[0], chorus[1] + 1))),
            ]
    return mix
