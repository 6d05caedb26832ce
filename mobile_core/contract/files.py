"""Where the runner's stems go: all-or-nothing stem writers, output folders, never an input.

:class:`StemSink` writes the chosen stems blockwise (optionally resampled back and/or mono) with
:class:`~.audio.AtomicWavWriter` s and commits them together; :func:`refuse_overwrite` stops a run
whose output would replace its input (docs/contract.md §6); :func:`make_folder` and
:func:`remove_empty` create the song folder and remove it again after a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from torch import Tensor

from ..errors import AudioError
from .audio import AtomicWavWriter
from .resample import StreamingResampler


class StemSink:
    """Writes the chosen stems blockwise, optionally resampled and/or mono, all-or-nothing.

    ``open()`` creates the temporary files; ``write(stems[S, 2, n])`` takes model-rate blocks
    of all stems; ``finish()`` flushes and renames
    every stem into place; ``abort()`` deletes whatever was written (also already-renamed stems
    of this sink, if a later rename failed).
    """

    def __init__(self, paths: dict[int, Path], model_rate: int, out_rate: int, n_out: int,
                 fmt: str, mono: bool) -> None:
        self.paths = paths
        self.index = list(paths)
        self.n_out = n_out
        self.mono = mono
        self.written = 0
        chans = 1 if mono else 2
        self.writers = {i: AtomicWavWriter(p, out_rate, chans, fmt) for i, p in paths.items()}
        self.resampler = (None if out_rate == model_rate else
                          StreamingResampler(model_rate, out_rate, chans * len(self.index)))
        self.committed: list[Path] = []

    def open(self) -> StemSink:
        """Create every stem's temporary file (all or none: a failure removes those made)."""
        for w in self.writers.values():
            try:
                w.open()
            except BaseException:
                self.abort()
                raise
        return self

    def _emit(self, y: Tensor) -> None:
        """Write ``y[len(index) * chans, n]``, cut to the promised output length."""
        n = min(y.shape[-1], self.n_out - self.written)
        if n <= 0:
            return
        y = y[:, :n]
        chans = 1 if self.mono else 2
        for k, i in enumerate(self.index):
            self.writers[i].write(y[k * chans : (k + 1) * chans])
        self.written += n

    def write(self, stems: Tensor) -> None:
        y = stems[self.index]  # [K, 2, n]
        if self.mono:
            y = y.mean(dim=1, keepdim=True)
        y = y.reshape(-1, y.shape[-1])
        self._emit(y if self.resampler is None else self.resampler.process(y))

    def finish(self) -> None:
        if self.resampler is not None:
            self._emit(self.resampler.flush())
        if self.written != self.n_out:
            raise AudioError(f"wrote {self.written} samples per stem, expected {self.n_out}")
        for i in self.index:
            self.writers[i].commit()
            self.committed.append(self.paths[i])

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()
        for p in self.committed:
            p.unlink(missing_ok=True)
        self.committed = []


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: same inode if both exist, else same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError):
            return False


def refuse_overwrite(source: str | os.PathLike, outputs: Iterable[str | os.PathLike]) -> None:
    """Raise AudioError if writing ``outputs`` would replace the input ``source``."""
    for out in outputs:
        if same_file(source, out):
            raise AudioError(f"{source}: refusing to write its stem {out} over it (the output "
                             f"is the input file); choose another output folder")


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; returns the folders created (deepest last)."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or str(e)
        raise AudioError(f"cannot create output folder {folder}: {reason}") from None
    if not folder.is_dir():
        raise AudioError(f"cannot write to {folder}: not a folder")
    return list(reversed(missing))


def remove_empty(folder: Path, created: list[Path]) -> None:
    """Remove the folders this run created, deepest first, if they are empty."""
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break


__all__ = ["StemSink", "make_folder", "refuse_overwrite", "remove_empty", "same_file"]
