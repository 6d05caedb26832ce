"""Which General-MIDI soundfonts render a song: discovery, a held-out one, per-stem choice.

Rendering every song with one soundfont teaches a model that soundfont. With several
installed, each song draws a main soundfont and each stem may draw another, so a mixture
blends timbres from different sets. One named soundfont can be *held out*: it never renders a
training song and renders the held-out (test) songs alone, measuring generalisation to
unheard instruments.

Known GM soundfonts (Debian package: path): ``fluid-soundfont-gm``
``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (or ``fluidr3mono-gm-soundfont``'s mono version of
the same set), ``musescore-general-soundfont`` / ``-small`` (``.sf3``), ``timgm6mb-soundfont``,
``opl3-soundfont`` (FM synthesis). Versions of one set count as one soundfont, so holding it
out holds out all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .fluid import DEFAULT_SOUNDFONT
from .song import STEMS

KNOWN_SOUNDFONTS: dict[str, tuple[Path, ...]] = {
    "fluidr3": (
        DEFAULT_SOUNDFONT,
        Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
        Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"),
    ),
    "musescore": (
        Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3"),
        Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
        Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
        Path("/usr/share/sounds/sf2/MuseScore_General.sf2"),
    ),
    "timgm6mb": (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),),
    "opl3": (Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),),
}
"""Soundfont name -> candidate paths, best first. All hold the 128 GM programs of bank 0 and
at least the standard drum kit (bank 128, program 0). ``FluidR3_GS.sf2`` is not listed: it
holds only GS variation presets."""

OTHER_STEM = 0.3
"""Probability that a stem uses another soundfont than the song's main one."""

_SALT = 0x50F7


def available_soundfonts(
    known: Mapping[str, Sequence[Path | str]] = KNOWN_SOUNDFONTS,
) -> dict[str, Path]:
    """Installed soundfonts: name -> first existing path, in ``known``'s order."""
    found = {}
    for name, paths in known.items():
        for p in paths:
            if Path(p).is_file():
                found[name] = Path(p)
                break
    return found


def soundfont_name(path: Path | str, known: Mapping[str, Sequence[Path | str]] = KNOWN_SOUNDFONTS
                   ) -> str:
    """The name of ``path`` in ``known`` (any of its versions), else its lower-case stem."""
    resolved = Path(path).resolve()
    for name, paths in known.items():
        if any(Path(p).resolve() == resolved for p in paths):
            return name
    return Path(path).stem.lower()


def split_pool(
    pool: Sequence[Path | str], heldout: Path | str | None
) -> tuple[list[Path], Path | None]:
    """Split ``pool`` into (training soundfonts, held-out soundfont).

    ``heldout`` is a soundfont name (see :data:`KNOWN_SOUNDFONTS`), a path, or None (nothing
    held out). Every member of ``pool`` with the same name as ``heldout`` leaves the training
    list. A held-out path not in ``pool`` is used as given.

    Raises:
        ValueError: the held-out name matches nothing, or nothing is left to train on.
    """
    paths = [Path(p) for p in pool]
    if heldout is None:
        if not paths:
            raise ValueError("no soundfont to render with")
        return paths, None
    target = soundfont_name(heldout) if Path(heldout).suffix else str(heldout).lower()
    train = [p for p in paths if soundfont_name(p) != target]
    held = [p for p in paths if soundfont_name(p) == target]
    if held:
        held_path = held[0]
    elif Path(heldout).is_file():
        held_path = Path(heldout)
    else:
        raise ValueError(f"held-out soundfont {heldout!r} is not among {[str(p) for p in paths]}")
    if not train:
        raise ValueError(f"holding out {heldout!r} leaves no soundfont for training")
    return train, held_path


def pick_soundfonts(
    song_seed: int, pool: Sequence[Path | str], other_stem: float = OTHER_STEM
) -> dict[str, Path]:
    """Soundfont of each stem of song ``song_seed``: a main one drawn from ``pool``, and for
    each stem, with probability ``other_stem``, another draw. Deterministic per seed; with a
    single soundfont every stem gets it."""
    paths = [Path(p) for p in pool]
    if not paths:
        raise ValueError("empty soundfont pool")
    if len(paths) == 1:
        return {stem: paths[0] for stem in STEMS}
    rng = np.random.default_rng([song_seed, _SALT])
    main = paths[int(rng.integers(len(paths)))]
    picks = {}
    for stem in STEMS:
        other = paths[int(rng.integers(len(paths)))]
        picks[stem] = other if rng.random() < other_stem else main
    return picks
