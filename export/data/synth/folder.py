"""The synthetic corpus manages only its own folder: claim it, and remove its own stale songs.

``demix-data synth --out DIR`` writes into ``DIR`` only when ``DIR`` is new or empty, or was
written by it before (it holds the marker file :data:`MARKER`, or a ``corpus.json`` of this
generator's format): songs are never added among a user's own tracks, and their ``corpus.json``
is never replaced. A re-run with fewer songs removes the song folders (``synthNNNNN``) past the
new count, which the loaders would otherwise still read.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

MARKER = ".demix-synth-corpus"
"""Empty file that marks a folder as written by ``demix-data synth``."""

CORPUS_FORMAT = "demix-mobile synthetic multitrack corpus (MUSDB18-HQ layout)"
_SONG = re.compile(r"synth(\d{5})")


def _ours(out: Path) -> bool:
    if (out / MARKER).is_file():
        return True
    meta = out / "corpus.json"
    try:
        return json.loads(meta.read_text()).get("format") == CORPUS_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def claim_folder(out: Path) -> None:
    """Make ``out`` this generator's folder; FileExistsError if it holds someone else's files."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _ours(out):
        raise FileExistsError(f"{out} holds files demix-data synth did not write; choose a new "
                              f"or empty folder (it never adds songs to an existing dataset)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()


def remove_stale_songs(out: Path, n_songs: int) -> list[Path]:
    """Delete this generator's song folders numbered ``n_songs`` or more; returns them."""
    removed = []
    for split in ("train", "test"):
        folder = out / split
        if not folder.is_dir():
            continue
        for d in sorted(folder.iterdir()):
            m = _SONG.fullmatch(d.name)
            if m and d.is_dir() and int(m.group(1)) >= n_songs:
                shutil.rmtree(d)
                removed.append(d)
    return removed
