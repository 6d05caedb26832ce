"""Synthetic multitrack corpus, Slakh-style: procedurally composed songs rendered per stem
with FluidSynth (General MIDI soundfont), written in MUSDB18-HQ layout.

Pipeline: ``compose`` (seed -> :class:`Song`) -> ``render`` (FluidSynth, one bus per stem;
most vocal stems are sung instead: ``voice``, from espeak-ng syllables via ``psola``)
-> ``effects`` (EQ) -> ``mix`` (levels, int16, exact-sum mixture) -> ``corpus`` (files).
``soundfonts`` picks a GM soundfont per song and stem, and can hold one out for the test split.
Needs ``libfluidsynth`` (>= 2.2), a GM soundfont, ``mido`` and ``scipy``, and for sung vocals
the ``espeak-ng`` binary; importing this package does not load any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .corpus import RenderedSong, render_example, write_corpus

__all__ = ["RenderedSong", "render_example", "write_corpus"]


def __getattr__(name: str):
    if name in __all__:
        from . import corpus

        return getattr(corpus, name)
    raise AttributeError(name)
