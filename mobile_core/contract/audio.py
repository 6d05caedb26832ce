"""Reading and writing audio files with soundfile (libsndfile), under the contract's rules.

Decoding: any format libsndfile opens (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...) is read block by
block as float32 [channels, frames]. Integer PCM is scaled by 1 / 2^(bits - 1) (16-bit: 1/32768),
so it lies in [-1, 1); float files and lossy codecs are passed through unchanged (their samples
may exceed 1 slightly; nothing is clipped on the way in). Every block is checked for NaN and Inf.

Writing: `AtomicWavWriter` writes WAV blockwise to a hidden temporary file next to the target and
renames it into place only when the whole file has been written, so a failed run never leaves a
partial stem behind.

Every problem a user can cause raises `AudioError` with a one-line message naming the file. The
decoders' own messages (libmpg123 writes notes to file descriptor 2) are kept off the terminal;
the first of them is quoted in the error when opening or decoding fails. Where libsndfile says
only "System error", the message gives the OS's reason (``Permission denied``, ``No space left on
device``).
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import re
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from ..errors import AudioError
from .native_logs import capture_stderr
from .resample import MAX_RATE, MIN_RATE
from .wav_header import wav_frames

__all__ = [
    "WAV_FORMATS",
    "AtomicWavWriter",
    "AudioInfo",
    "probe",
    "read",
    "read_blocks",
]

DEFAULT_BLOCK_FRAMES = 1 << 16

WAV_FORMATS = {"wav16": "PCM_16", "wav24": "PCM_24", "float32": "FLOAT"}
"""Output format name -> libsndfile WAV subtype."""


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    sample_rate: int
    channels: int
    frames: int
    format: str  # libsndfile major format, e.g. "WAV", "FLAC", "MP3"
    subtype: str  # e.g. "PCM_16", "FLOAT", "VORBIS", "MPEG_LAYER_III"

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


_LOG_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)?((note|warning|error):\s*)?", re.IGNORECASE)


def _decoder_note(lines: list[str]) -> str:
    """The first thing a decoder wrote to stderr, without its source prefix; "" if nothing."""
    for line in lines:
        text = _LOG_PREFIX.sub("", line.strip()).strip()
        if text:
            return text[:160]
    return ""


@contextlib.contextmanager
def _quiet(sink: list[str]) -> Iterator[None]:
    """Keep libsndfile's decoders off the terminal: their stderr lines go to ``sink``."""
    with capture_stderr(sink):
        yield


def _os_errno_reason() -> str:
    """The OS's reason for libsndfile's last "System error" in this thread, if it left one."""
    code = sf._ffi.errno
    return os.strerror(code) if code and code in errno_mod.errorcode else ""


def _reason(err: Exception, notes: list[str] | None = None) -> str:
    """A short plain reason from a soundfile / OS error (and the decoder's notes, if any)."""
    reason = _base_reason(err)
    note = _decoder_note(notes or [])
    return f"{reason} (decoder: {note})" if note else reason


def _base_reason(err: Exception) -> str:
    if isinstance(err, sf.LibsndfileError):
        text = err.error_string.strip().rstrip(".")
        if text.startswith("System error"):
            return _os_errno_reason() or text
        if text == "Format not recognised" or text.startswith("File does not exist"):
            # The second is what the MP3 decoder reports for data it cannot parse; existence
            # was checked before opening.
            return "not an audio file soundfile can read (format not recognised)"
        return text or "libsndfile could not read it"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")


def _open(path: Path) -> sf.SoundFile:
    _check_path(path)
    try:
        with open(path, "rb"):  # the OS's own reason (Permission denied) before libsndfile's
            pass
    except OSError as err:
        raise AudioError(f"{path}: cannot open audio: {_reason(err)}") from None
    notes: list[str] = []
    try:
        with _quiet(notes):
            return sf.SoundFile(str(path))
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as err:
        raise AudioError(f"{path}: cannot open audio: {_reason(err, notes)}") from None


def _info(path: Path, handle: sf.SoundFile, min_frames: int) -> AudioInfo:
    info = AudioInfo(
        sample_rate=int(handle.samplerate),
        channels=int(handle.channels),
        frames=int(handle.frames),
        format=str(handle.format),
        subtype=str(handle.subtype),
    )
    if not MIN_RATE <= info.sample_rate <= MAX_RATE:
        raise AudioError(
            f"{path}: sample rate {info.sample_rate} Hz is outside the supported range "
            f"{MIN_RATE}–{MAX_RATE} Hz"
        )
    if info.channels < 1:
        raise AudioError(f"{path}: the file declares no audio channels")
    frames = wav_frames(path) if info.format in ("WAV", "WAVEX") else None
    if frames is not None and frames[0] > frames[1]:
        raise AudioError(f"{path}: truncated file: its header declares {frames[0]} frames but "
                         f"only {frames[1]} are present")
    if info.frames <= 0:
        raise AudioError(f"{path}: contains no audio (0 frames)")
    if info.frames < min_frames:
        raise AudioError(
            f"{path}: too short: {info.frames} frames ({info.seconds:.3f} s), "
            f"at least {min_frames} frames ({min_frames / info.sample_rate:.3f} s) are needed"
        )
    return info


def probe(path: str | os.PathLike[str], min_frames: int = 0) -> AudioInfo:
    """Read and validate the header of an audio file.

    Raises `AudioError` for a missing file, a folder, an unreadable or non-audio file, zero
    frames, fewer than ``min_frames`` frames, or a sample rate outside 8000–192000 Hz.
    """
    p = Path(path)
    with _open(p) as handle:
        return _info(p, handle, min_frames)


def _check_finite(path: Path, block: np.ndarray, first_frame: int) -> None:
    """Raise `AudioError` if a block [n, C] holds NaN or Inf; name the first bad frame."""
    bad = ~np.isfinite(block)
    if not bad.any():
        return
    frame, channel = (int(i) for i in np.argwhere(bad)[0])
    value = block[frame, channel]
    kind = "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    raise AudioError(
        f"{path}: contains {kind} samples (first at frame {first_frame + frame}, "
        f"channel {channel}); the file is damaged or not normalised audio"
    )


def read_blocks(
    path: str | os.PathLike[str],
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    min_frames: int = 0,
) -> Iterator[Tensor]:
    """Decode a file block by block.

    The file is opened and validated as in `probe` right away (errors raise here, not at the
    first ``next``). The returned iterator yields float32 tensors [C, n] with
    n == block_frames except for the last block; memory use does not grow with the file's
    length. NaN / Inf samples raise `AudioError` when the block holding them is read.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")
    p = Path(path)
    handle = _open(p)
    try:
        _info(p, handle, min_frames)
    except BaseException:
        handle.close()
        raise
    return _blocks(p, handle, block_frames)


def _blocks(path: Path, handle: sf.SoundFile, block_frames: int) -> Iterator[Tensor]:
    """Yield [C, n] float32 blocks from an open, validated file; close it at the end."""
    with handle:
        done = 0
        while True:
            notes: list[str] = []
            try:
                with _quiet(notes):
                    block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as err:
                raise AudioError(f"{path}: cannot decode audio: {_reason(err, notes)}") from None
            if block.shape[0] == 0:
                break
            _check_finite(path, block, done)
            done += block.shape[0]
            yield torch.from_numpy(np.ascontiguousarray(block.T))
            if block.shape[0] < block_frames:
                break


def read(path: str | os.PathLike[str], min_frames: int = 0) -> tuple[Tensor, int]:
    """Decode a whole file: returns (float32 [C, N], sample rate in Hz).

    Validates as `read_blocks`.
    """
    sr = probe(path, min_frames).sample_rate
    blocks = list(read_blocks(path, min_frames=min_frames))
    return torch.cat(blocks, dim=-1), sr


def _to_pcm(block: np.ndarray, bits: int) -> np.ndarray:
    """float [n, C] -> integer PCM [n, C].

    ``s = clamp(round_half_even(x * 2^(bits-1)), -2^(bits-1), 2^(bits-1) - 1)``.
    16-bit returns int16. 24-bit returns int32 holding the sample in the upper 24 bits, the form
    libsndfile stores as PCM_24.
    """
    full = float(1 << (bits - 1))
    q = np.clip(np.rint(block.astype(np.float64) * full), -full, full - 1)
    if bits == 16:
        return q.astype(np.int16)
    return q.astype(np.int32) << 8


_HELD = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
              if s is not None)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for this thread during the block (delivered right after it).

    A temporary file must be recorded by its writer as soon as it exists, or an interrupt
    between the two leaves it behind; POSIX lets the block defer them. Elsewhere (no
    ``pthread_sigmask``) the block runs as it is.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _create_unique(folder: Path, prefix: str) -> Path:
    """Create a new empty file ``folder / (prefix + random hex)`` with the usual permissions.

    Unlike `tempfile.mkstemp` the mode is 0o666 less the umask, so the renamed result is an
    ordinary file. Raises OSError when the folder cannot be written.
    """
    for _ in range(100):
        candidate = folder / f"{prefix}{secrets.token_hex(4)}"
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"no free temporary name in {folder}")


class AtomicWavWriter:
    """Write a WAV file blockwise; it appears under its final name only when complete.

    ``fmt``: "wav16" (PCM 16-bit, samples clipped to [-1, 1]), "wav24" (PCM 24-bit, clipped),
    or "float32" (IEEE float, not clipped). Use as a context manager; `write` takes [C, n] blocks.
    If the ``with`` body raises, the temporary file is deleted and nothing is left behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        fmt: str = "wav16",
    ) -> None:
        if fmt not in WAV_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {sorted(WAV_FORMATS)}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.fmt = fmt
        self._tmp: Path | None = None
        self._file: sf.SoundFile | None = None

    def open(self) -> AtomicWavWriter:
        """Create the temporary file. Raises `AudioError` if the folder cannot be written."""
        folder = self.path.parent
        if not folder.is_dir():
            why = "is not a folder" if folder.exists() else "does not exist"
            raise AudioError(f"{self.path}: cannot write: {folder} {why}")
        try:
            with _signals_held():  # a Ctrl-C cannot fall between creating and recording it
                self._tmp = _create_unique(folder, f".{self.path.name}.partial-")
        except OSError as err:
            raise AudioError(
                f"{self.path}: cannot write to folder {folder}: {_reason(err)}"
            ) from None
        tmp = self._tmp
        try:
            self._file = sf.SoundFile(
                str(tmp),
                mode="w",
                samplerate=self.sample_rate,
                channels=self.channels,
                format="WAV",
                subtype=WAV_FORMATS[self.fmt],
            )
        except (sf.SoundFileError, RuntimeError, OSError, ValueError) as err:
            self._discard()
            raise AudioError(f"{self.path}: cannot write: {_reason(err)}") from None
        return self

    def write(self, block: Tensor) -> None:
        """Append samples [C, n] (float, nominally in [-1, 1])."""
        if self._file is None:
            raise RuntimeError("AtomicWavWriter.write called on a writer that is not open")
        if block.dim() != 2 or block.shape[0] != self.channels:
            raise ValueError(
                f"expected a block [{self.channels}, n], got shape {tuple(block.shape)}"
            )
        data = block.detach().to("cpu", torch.float32).numpy().T
        if self.fmt == "wav16":
            data = _to_pcm(data, 16)
        elif self.fmt == "wav24":
            data = _to_pcm(data, 24)
        try:
            self._file.write(np.ascontiguousarray(data))
        except (sf.SoundFileError, RuntimeError, OSError) as err:
            raise AudioError(f"{self.path}: cannot write: {_reason(err)}") from None

    def commit(self) -> None:
        """Finish the file and move it to its final name."""
        if self._file is None or self._tmp is None:
            raise RuntimeError("AtomicWavWriter.commit called on a writer that is not open")
        try:
            self._file.close()
            self._file = None
            os.replace(self._tmp, self.path)
        except (sf.SoundFileError, RuntimeError, OSError) as err:
            self._discard()
            raise AudioError(f"{self.path}: cannot write: {_reason(err)}") from None
        self._tmp = None

    def _discard(self) -> None:
        """Close and delete the temporary file, ignoring errors (used on failure)."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # already failing: the original error is the one to report
                pass
            self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def abort(self) -> None:
        """Give up: delete the temporary file; the final name is not touched."""
        self._discard()

    def __enter__(self) -> AtomicWavWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._discard()
