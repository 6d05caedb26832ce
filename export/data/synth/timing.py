"""The 16th-note grid: swing and humanised timing/velocity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .song import STEP


@dataclass(frozen=True)
class Grid:
    """Maps (bar, 16th step) to ticks, with swing.

    ``swing`` is the fraction of the swung pair given to its first note (0.5 = straight,
    0.66 = triplet feel); ``swing_unit`` 1 swings 16ths, 2 swings 8ths.
    """

    bar_ticks: int
    swing: float = 0.5
    swing_unit: int = 2

    def tick(self, bar: int, step: float) -> int:
        """Tick of 16th ``step`` (may exceed the bar, may be fractional) in ``bar``."""
        unit = self.swing_unit
        pair = 2 * unit
        whole, frac = divmod(step, pair)
        pos = whole * pair
        if frac < unit:  # first half of the swung pair: stretch
            pos += frac * (2 * self.swing)
        else:  # second half: starts late, compressed
            pos += unit * 2 * self.swing + (frac - unit) * 2 * (1 - self.swing)
        return int(round(bar * self.bar_ticks + pos * STEP))


def jitter(rng: np.random.Generator, tick: int, amount: int) -> int:
    """``tick`` moved by up to ``amount`` ticks (never before 0)."""
    if amount <= 0:
        return tick
    return max(0, tick + int(rng.integers(-amount, amount + 1)))


def velocity(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    """A MIDI velocity near ``base``, clipped to 1..127."""
    return int(np.clip(round(base + rng.normal(0.0, spread / 2)), 1, 127))
