"""The reference runner: exactly what a phone does with a song, as executable Python.

File in, stems out, blockwise (memory does not grow with the song's length)::

    decode blocks [C, n] (float32)          audio.read_blocks
      -> channel rule -> [2, n]              channels.to_stereo
      -> stream-resample to the model rate   resample.StreamingResampler (rate from the backend)
      -> window of one chunk                 _Window (holds about one chunk of input)
      -> chunk plan, per chunk backend.run   chunking.plan_chunks, Backend.run
      -> keep each chunk's middle            stitch()
      -> [optional] resample back            StreamingResampler(model rate -> input rate)
      -> write stems blockwise               audio.AtomicWavWriter (temp file, renamed at the end)

The number of model-rate samples is needed up front for the chunk plan; it is computed from the
header's frame count with :func:`~mobile_core.contract.resample.output_length`, and the decoded
stream is
checked against it. On any error every temporary stem file is deleted: a failed track leaves no
stem files behind (and no output folder, if this run created it).

``separate(mix[2, N], backend) -> stems[S, 2, N]`` is the same chunk loop on a tensor in memory.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import AudioError, DemixError
from .audio import AudioInfo, probe, read_blocks
from .backends import Backend
from .channels import to_stereo
from .chunking import Chunk, plan_chunks
from .files import StemSink, make_folder, refuse_overwrite, remove_empty
from .resample import StreamingResampler, output_length

__all__ = [
    "MIN_SECONDS",
    "TrackResult",
    "all_finite",
    "model_rate_blocks",
    "separate",
    "separate_file",
    "stitch",
]

MIN_SECONDS = 0.1
"""Shortest input accepted, in seconds (shorter files hold nothing to separate)."""


class _Window:
    """A bounded window over a stream of ``[2, n]`` blocks: samples ``[start, start + len)``.

    ``take(start, length)`` pulls blocks until the range is held and returns it, zero-padded past
    the stream's end; ``release(before)`` drops samples before ``before``. Only the samples of
    the current range (plus at most one block) are ever held.
    """

    def __init__(self, blocks: Iterable[Tensor], channels: int = 2) -> None:
        self._blocks = iter(blocks)
        self._buf = torch.zeros(channels, 0)
        self._borrowed = False  # _buf is (a view of) a block as given, not a copy of ours
        self._start = 0
        self.total = 0  # samples pulled from the stream so far
        self.exhausted = False

    def _pull(self, until: int) -> None:
        while not self.exhausted and self.total < until:
            try:
                block = next(self._blocks)
            except StopIteration:
                self.exhausted = True
                break
            if block.shape[-1] == 0:
                continue
            if self._buf.shape[-1] == 0:  # e.g. a whole song in memory: no copy of it
                self._buf, self._borrowed = block.to(torch.float32), True
            else:
                self._buf = torch.cat([self._buf, block.to(torch.float32)], dim=-1)
                self._borrowed = False
            self.total += block.shape[-1]

    def take(self, start: int, length: int) -> Tensor:
        """Samples ``[start, start + length)`` as ``[2, length]`` (zeros past the end)."""
        if start < self._start:
            raise ValueError(f"sample {start} was already released (window starts at "
                             f"{self._start})")
        self._pull(start + length)
        a = start - self._start
        seg = self._buf[:, a : a + length]
        if seg.shape[-1] < length:
            seg = torch.nn.functional.pad(seg, (0, length - seg.shape[-1]))
        return seg

    def release(self, before: int) -> None:
        """Forget samples before ``before``."""
        cut = min(before - self._start, self._buf.shape[-1])
        if cut > 0:
            # a copy of our own buffer frees its released part; a borrowed block stays alive
            # with its owner anyway, so a view of it saves copying the rest of it every chunk
            rest = self._buf[:, cut:]
            self._buf = rest if self._borrowed else rest.clone()
            self._start += cut

    def drain(self) -> int:
        """Read the rest of the stream (discarding it); returns the total sample count."""
        while not self.exhausted:
            self._pull(self.total + 1)
            self.release(self.total)
        return self.total


def stitch(
    blocks: Iterable[Tensor],
    n_samples: int,
    backend: Backend,
    plan: Sequence[Chunk] | None = None,
    progress: object | None = None,
) -> Iterator[Tensor]:
    """Run the chunk loop over a stream of model-rate stereo blocks.

    Args:
        blocks: ``[2, n]`` float32 blocks at ``backend.spec.sample_rate``, ``n_samples`` in all.
        n_samples: the song's length in samples (drives the chunk plan).
        backend: runs one chunk ``[1, 2, L] -> [1, S, 2, L]``.
        plan: the chunk plan (default: ``plan_chunks(n_samples, backend.spec)``).
        progress: an object with ``update(1)`` (e.g. tqdm), called after each chunk.

    Yields ``[S, 2, n]`` output blocks (one per chunk, the chunk's kept middle) adding up to
    ``n_samples`` samples. Raises AudioError if the stream does not hold ``n_samples`` samples,
    DemixError if the model returns NaN or Inf.
    """
    spec = backend.spec
    plan = list(plan) if plan is not None else plan_chunks(n_samples, spec)
    window = _Window(blocks)
    for i, ch in enumerate(plan):
        x = window.take(ch.start, spec.chunk)
        if i + 1 < len(plan):
            window.release(plan[i + 1].start)
        keep = (ch.keep_from - ch.start, ch.keep_to - ch.start)
        y = backend.run(x.unsqueeze(0), keep)[0, :, :, keep[0] : keep[1]]
        if not all_finite(y):
            raise DemixError(
                f"the model produced non-finite stems (NaN or Inf) in the chunk at sample "
                f"{ch.start}: its weights are damaged; nothing was written"
            )
        yield y
        if progress is not None:
            progress.update(1)
    total = window.drain()
    if total != n_samples:
        raise AudioError(
            f"the decoded audio holds {total} samples at {spec.sample_rate} Hz where its header "
            f"promised {n_samples}: the file is damaged or its length field is wrong"
        )


def all_finite(x: Tensor) -> bool:
    """Whether every element of ``x`` is finite, cheaply: the sum of audio-range values is
    non-finite only if an element is (one reduction: ~0.4 ms for a 48-hop xumx-rt chunk's kept
    stems where ``isfinite(x).all()`` takes ~12 ms); an overflowing sum falls back to the
    element-wise check."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def separate(mix: Tensor, backend: Backend) -> Tensor:
    """In-memory chunked separation.

    mix: ``[2, N]`` float32 at ``backend.spec.sample_rate``. Returns ``stems[S, 2, N]`` in
    ``backend.stems`` order: the same chunk loop the file runner uses.
    """
    if mix.dim() != 2 or mix.shape[0] != 2:
        raise ValueError(f"expected a stereo mix [2, N], got shape {tuple(mix.shape)}")
    if not all_finite(mix):
        raise AudioError("the mix contains NaN or Inf samples; refusing to separate it")
    n = mix.shape[-1]
    out = torch.empty(len(backend.stems), 2, n)  # filled in place: no second copy of the stems
    at = 0
    for block in stitch([mix.to(torch.float32)], n, backend):
        out[..., at : at + block.shape[-1]] = block
        at += block.shape[-1]
    return out


def model_rate_blocks(path: str | os.PathLike, info: AudioInfo, rate: int) -> Iterator[Tensor]:
    """Decode ``path`` blockwise and yield ``[2, n]`` float32 blocks at ``rate`` Hz.

    Channel rule first (mono duplicated, more than two channels downmixed), then the contract
    resampler, streaming (a no-op when the file is already at ``rate``).
    """
    resampler = StreamingResampler(info.sample_rate, rate, 2)
    for block in read_blocks(path):
        y = resampler.process(to_stereo(block))
        if y.shape[-1]:
            yield y
    y = resampler.flush()
    if y.shape[-1]:
        yield y


@dataclass
class TrackResult:
    """What :func:`separate_file` did for one track."""

    input: Path
    out_dir: Path
    outputs: dict[str, Path]
    input_rate: int
    input_channels: int
    output_rate: int
    frames: int
    duration: float  # seconds of audio
    elapsed: float  # seconds of wall time
    chunks: int
    stems: list[str] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (below 1 is faster than real time)."""
        return self.elapsed / self.duration if self.duration > 0 else math.inf

    def to_dict(self) -> dict:
        return {
            "input": str(self.input), "out_dir": str(self.out_dir),
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "input_rate": self.input_rate, "input_channels": self.input_channels,
            "output_rate": self.output_rate, "frames": self.frames,
            "duration": round(self.duration, 6), "elapsed": round(self.elapsed, 6),
            "rtf": round(self.rtf, 6), "chunks": self.chunks,
        }


def _progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over chunks on stderr, or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="chunk", leave=False, file=sys.stderr,
                dynamic_ncols=True)


def separate_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    backend: Backend,
    *,
    fmt: str = "wav16",
    keep_rate: bool = False,
    stems: Sequence[str] | None = None,
    mono_out: bool = False,
    progress: bool = False,
) -> TrackResult:
    """Separate one audio file into ``out_dir/<stem>.wav``, streaming.

    Args:
        path: any file libsndfile decodes (see :mod:`mobile_core.contract.audio`).
        out_dir: folder for the stems (created, with parents, if needed).
        backend: the model (see :mod:`mobile_core.contract.backends`).
        fmt: ``wav16``, ``wav24`` or ``float32``.
        keep_rate: write stems at the input's sample rate (resampled back, cut to the input's
            frame count) instead of the model's rate.
        stems: names of the stems to write (default: all, in ``backend.stems`` order).
        mono_out: for a mono input write mono stems (the mean of the two output channels).
        progress: show a tqdm bar over chunks.

    Raises AudioError / DemixError; on error no stem file of this call is left behind.
    """
    t0 = time.perf_counter()
    path = Path(path)
    out_dir = Path(out_dir)
    names = list(stems) if stems else list(backend.stems)
    unknown = [s for s in names if s not in backend.stems]
    if unknown:
        raise DemixError(f"unknown stem(s) {', '.join(unknown)}; this model has "
                         f"{', '.join(backend.stems)}")
    rate = backend.spec.sample_rate
    info = probe(path)
    min_frames = math.ceil(MIN_SECONDS * info.sample_rate)
    if info.frames < min_frames:
        raise AudioError(
            f"{path}: too short: {info.frames} frames ({info.seconds:.4f} s); at least "
            f"{MIN_SECONDS} s ({min_frames} frames) are needed"
        )
    n_model = output_length(info.frames, info.sample_rate, rate)
    out_rate = info.sample_rate if keep_rate else rate
    n_out = info.frames if keep_rate else n_model
    mono = mono_out and info.channels == 1
    plan = plan_chunks(n_model, backend.spec)

    paths = {backend.stems.index(s): out_dir / f"{s}.wav" for s in names}
    refuse_overwrite(path, paths.values())
    created = make_folder(out_dir)
    sink = None
    bar = None
    try:
        sink = StemSink(paths, rate, out_rate, n_out, fmt, mono)  # no file exists yet
        sink.open()
        bar = _progress_bar(len(plan), path.name, progress)
        blocks = model_rate_blocks(path, info, rate)
        for out in stitch(blocks, n_model, backend, plan=plan, progress=bar):
            sink.write(out)
        sink.finish()
    except BaseException:
        if sink is not None:
            sink.abort()
        if created:
            remove_empty(out_dir, created)
        raise
    finally:
        if bar is not None:
            bar.close()
    return TrackResult(
        input=path, out_dir=out_dir,
        outputs={s: out_dir / f"{s}.wav" for s in names},
        input_rate=info.sample_rate, input_channels=info.channels, output_rate=out_rate,
        frames=info.frames, duration=info.seconds, elapsed=time.perf_counter() - t0,
        chunks=len(plan), stems=names,
    )
