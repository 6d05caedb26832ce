"""Song styles: tempo range, feel, drum groove and the patterns the other parts may use.

Grooves are one bar of 16th steps per drum voice: ``x`` accent, ``o`` normal hit, ``g`` ghost
note, ``.`` rest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    name: str
    tempo: tuple[float, float]
    swing: tuple[float, float]
    """Range of the swing ratio (0.5 = straight)."""
    swing_unit: int
    """1: swing 16ths, 2: swing 8ths."""
    groove: dict[str, str]
    bass: tuple[str, ...]
    """Bass pattern names (see ``bass.py``)."""
    comp: tuple[str, ...]
    """Comping rhythms (see ``harmony.py``)."""
    kits: tuple[int, ...]
    """Drum kits: programs of bank 128."""
    chord_bars: tuple[float, ...] = (1.0,)
    """Possible chord durations, in bars."""
    sevenths: float = 0.2
    """Probability of seventh chords."""


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            name="rock",
            tempo=(96, 150),
            swing=(0.5, 0.5),
            swing_unit=2,
            groove={"kick": "x.......x.x.....", "snare": "....x.......x...",
                    "hat": "x.o.x.o.x.o.x.o."},
            bass=("eighths", "root", "kick"),
            comp=("eighths", "quarters", "half"),
            kits=(0, 8, 16),
            chord_bars=(1.0, 0.5),
            sevenths=0.1,
        ),
        Style(
            name="pop",
            tempo=(84, 128),
            swing=(0.5, 0.56),
            swing_unit=1,
            groove={"kick": "x.....x.x.......", "snare": "....x.......x...",
                    "hat": "xoxoxoxoxoxoxoxo"},
            bass=("kick", "eighths", "root_fifth"),
            comp=("syncopated", "quarters", "offbeats"),
            kits=(0, 8, 24, 25),
            chord_bars=(1.0, 0.5),
            sevenths=0.25,
        ),
        Style(
            name="dance",
            tempo=(112, 128),
            swing=(0.5, 0.54),
            swing_unit=1,
            groove={"kick": "x...x...x...x...", "clap": "....x.......x...",
                    "hat": "x.x.x.x.x.x.x.x.", "open": "..o...o...o...o."},
            bass=("octaves", "offbeat"),
            comp=("offbeats", "syncopated", "half"),
            kits=(24, 25, 0),
            chord_bars=(1.0,),
            sevenths=0.3,
        ),
        Style(
            name="funk",
            tempo=(88, 116),
            swing=(0.5, 0.6),
            swing_unit=1,
            groove={"kick": "x..x..x...x.....", "snare": "....x..g.g..x..g",
                    "hat": "xoooxoooxoooxooo"},
            bass=("kick", "syncopated", "octaves"),
            comp=("sixteenths", "syncopated", "offbeats"),
            kits=(0, 8, 16),
            chord_bars=(1.0, 0.5),
            sevenths=0.6,
        ),
        Style(
            name="halftime",
            tempo=(64, 90),
            swing=(0.5, 0.58),
            swing_unit=1,
            groove={"kick": "x.........x.....", "snare": "........x.......",
                    "hat": "x.o.x.o.x.o.x.o."},
            bass=("root", "kick", "whole"),
            comp=("half", "quarters", "syncopated"),
            kits=(0, 8, 16, 25),
            chord_bars=(1.0, 2.0),
            sevenths=0.3,
        ),
        Style(
            name="hiphop",
            tempo=(78, 98),
            swing=(0.54, 0.64),
            swing_unit=1,
            groove={"kick": "x......x..x.....", "snare": "....x.......x...",
                    "hat": "x.o.x.o.x.o.x.o."},
            bass=("kick", "whole", "root"),
            comp=("half", "syncopated"),
            kits=(25, 24, 0),
            chord_bars=(1.0, 2.0),
            sevenths=0.5,
        ),
        Style(
            name="shuffle",
            tempo=(100, 168),
            swing=(0.6, 0.68),
            swing_unit=2,
            groove={"ride": "x...x.o.x...x.o.", "pedal": "....o.......o...",
                    "kick": "o.......o.......", "snare": "......g.......g."},
            bass=("walking", "root_fifth"),
            comp=("charleston", "quarters", "half"),
            kits=(32, 40, 0),
            chord_bars=(1.0, 0.5),
            sevenths=0.7,
        ),
        Style(
            name="ballad",
            tempo=(62, 84),
            swing=(0.5, 0.55),
            swing_unit=2,
            groove={"kick": "x.......x.g.....", "rim": "....x.......x...",
                    "hat": "x.o.x.o.x.o.x.o."},
            bass=("whole", "root_fifth", "root"),
            comp=("half", "quarters"),
            kits=(0, 8, 32, 40),
            chord_bars=(1.0, 2.0),
            sevenths=0.35,
        ),
        Style(
            name="reggae",
            tempo=(70, 90),
            swing=(0.5, 0.58),
            swing_unit=2,
            groove={"kick": "........x.......", "rim": "........x.......",
                    "hat": "x.o.x.o.x.o.x.o."},
            bass=("syncopated", "root_fifth"),
            comp=("offbeats",),
            kits=(0, 8),
            chord_bars=(1.0, 2.0),
            sevenths=0.2,
        ),
    )
}

STYLE_WEIGHTS = {
    "rock": 0.17,
    "pop": 0.2,
    "dance": 0.1,
    "funk": 0.1,
    "halftime": 0.1,
    "hiphop": 0.1,
    "shuffle": 0.08,
    "ballad": 0.1,
    "reggae": 0.05,
}
