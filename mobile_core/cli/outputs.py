"""Where a run's outputs go, checked before any work: no clash, no input written over.

The rules (``docs/contract.md`` §6):

* a track's stems go to ``OUT/<file name without extension>/<stem>.wav``;
* the same input given twice (the same file, by inode or resolved path) is processed once;
* two different inputs whose folder names are equal (``a/song.wav`` and ``b/song.wav``, or
  ``song.wav`` and ``song.flac``; compared without case, as some file systems do) are refused
  before any work, with one line naming both: rename one, or run them with different ``-o``;
* no output (a stem, the ``--json`` summary) may be an input file; such a run is refused before
  any work;
* the ``--json`` file's folder must be writable before any track runs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..contract.files import same_file
from ..errors import DemixError

__all__ = ["Job", "check_json_target", "plan_jobs"]


@dataclass(frozen=True)
class Job:
    """One input and the folder its stems go to."""

    track: Path
    out_dir: Path


def _identity(path: Path) -> tuple:
    try:
        st = path.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", str(path.resolve()))


def plan_jobs(tracks: Sequence[Path], out: Path, stems: Sequence[str]) -> list[Job]:
    """The jobs of a run, duplicates dropped; DemixError on a clash or an input in the way."""
    jobs: list[Job] = []
    seen: set[tuple] = set()
    folders: dict[str, Path] = {}
    for track in tracks:
        ident = _identity(track)
        if ident in seen:
            continue
        seen.add(ident)
        key = track.stem.casefold()
        if key in folders:
            raise DemixError(
                f"{folders[key]} and {track} would both write their stems to "
                f"{out / track.stem}; rename one of them or separate them into different "
                f"output folders (-o)"
            )
        folders[key] = track
        jobs.append(Job(track, out / track.stem))
    for job in jobs:
        for s in stems:
            target = job.out_dir / f"{s}.wav"
            for other in jobs:
                if same_file(other.track, target):
                    raise DemixError(
                        f"{other.track}: refusing to run: the stem {target} would be written "
                        f"over this input; choose another output folder (-o)"
                    )
    return jobs


def check_json_target(path: Path, inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """Refuse a ``--json`` path that is an input, a stem, a folder, or not writable."""
    for p in inputs:
        if same_file(p, path):
            raise DemixError(f"--json {path}: refusing to write the summary over the input {p}")
    for p in outputs:
        if same_file(p, path):
            raise DemixError(f"--json {path}: it is also the stem file {p}")
    if path.is_dir():
        raise DemixError(f"--json {path}: cannot write the JSON summary: is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise DemixError(f"--json {path}: cannot write the JSON summary: {os.strerror(13)}")
    _probe_folder(path)


def _probe_folder(path: Path) -> None:
    """Create and delete a file beside ``path`` (and any missing folders): the write the run
    ends with will work. Leaves nothing behind."""
    missing = []
    p = path.parent
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        probe = path.parent / f".{path.name}.probe-{secrets.token_hex(4)}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as e:
        raise DemixError(f"--json {path}: cannot write the JSON summary: "
                         f"{e.strerror or e}") from None
    finally:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
