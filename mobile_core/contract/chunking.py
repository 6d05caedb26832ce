"""Chunk plan: fixed-length chunks whose stitched middles equal the whole-song output.

A song of ``N`` samples has ``S`` sliCQT slices; slice ``j`` covers samples ``[(j-1) h, (j+1) h)``
with ``h`` = slice hop = ``sllen / 2``. A chunk is ``L = m h`` samples starting at ``k h`` (zeros
past the song's end): its ``m + 1`` slices are the song's slices ``k .. k+m``, except its first one
(half of it is the zero padding before the chunk, not song) and its last one (half past the chunk).

The network's mask for slice ``j`` reads slices ``j - P .. j + F`` (``P``, ``F`` from the CDAE's
receptive field, maximised over blocks), and output sample ``t`` in hop segment ``q = t // h``
mixes slices ``q`` and ``q + 1``. So a chunk's output equals the whole song's on chunk samples
``[(1 + P) h, (m - 1 - F) h)``:

* ``context = (1 + P) h`` samples of left context, ``lookahead = (1 + F) h`` samples of look-ahead;
* consecutive chunks advance by ``step = L - context - lookahead`` samples;
* the first chunk starts at the song's start (its slice 0 is the song's slice 0, zero padding and
  all) and keeps everything before its look-ahead;
* the last chunk ends on the song's last slice (it starts at ``(S - 1 - m) h``), so the network
  sees exactly the song's slices at the end; it keeps what the previous chunk did not.

A song with ``S - 1 <= m`` is one chunk (zero-padded to ``L``). xumx-rt: ``h`` = 9030 samples,
``P`` = 4, ``F`` = 2: context 45150 samples (1.02 s), look-ahead 27090 samples (0.61 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model import CDAEConfig, receptive_field
from ..transform import SliCQT, n_slices


@dataclass(frozen=True)
class ChunkSpec:
    """Geometry of an exported chunk graph (all in samples at ``sample_rate``)."""

    sample_rate: int
    chunk: int
    context: int
    lookahead: int
    hop: int

    @property
    def step(self) -> int:
        """Samples of new output per chunk."""
        return self.chunk - self.context - self.lookahead

    @property
    def sllen(self) -> int:
        return 2 * self.hop

    def to_dict(self) -> dict:
        return {"sample_rate": self.sample_rate, "chunk": self.chunk, "context": self.context,
                "lookahead": self.lookahead, "hop": self.hop}


@dataclass(frozen=True)
class Chunk:
    """One chunk: input ``song[start : start + L]`` (zero-padded), output kept on ``[keep_from,
    keep_to)`` in song samples, i.e. chunk offsets ``[keep_from - start, keep_to - start)``."""

    start: int
    keep_from: int
    keep_to: int


def context_slices(transform: SliCQT, cdae: CDAEConfig) -> tuple[int, int]:
    """``(P, F)``: slices before and after a slice that its mask depends on (max over blocks)."""
    past = future = 0
    for t_b in transform.block_lengths:
        p, f = receptive_field(t_b, cdae)
        past = max(past, math.ceil(p / t_b))
        future = max(future, (t_b - 1 + f) // t_b)
    return past, future


def chunk_spec(transform: SliCQT, cdae: CDAEConfig, chunk_hops: int) -> ChunkSpec:
    """The chunk geometry for a chunk of ``chunk_hops`` slice hops."""
    p, f = context_slices(transform, cdae)
    hop = transform.hop
    if chunk_hops < p + f + 3:
        raise ValueError(
            f"a chunk needs more than {p + f + 2} slice hops ({(p + f + 2) * hop} samples) "
            f"of context and look-ahead; got {chunk_hops}"
        )
    return ChunkSpec(int(transform.sample_rate), chunk_hops * hop, (1 + p) * hop,
                     (1 + f) * hop, hop)


def plan_chunks(n_samples: int, spec: ChunkSpec) -> list[Chunk]:
    """The chunks that cover a song of ``n_samples`` samples (see the module docstring)."""
    if n_samples < 1:
        raise ValueError(f"need at least one sample, got {n_samples}")
    h = spec.hop
    m = spec.chunk // h
    cl, cr = spec.context // h, spec.lookahead // h
    stepq = m - cl - cr
    s = n_slices(n_samples, spec.sllen)
    if s - 1 <= m:
        return [Chunk(0, 0, n_samples)]
    chunks: list[Chunk] = []
    end = 0
    k = 0
    while k + m < s - 1:
        keep_from = 0 if k == 0 else (k + cl) * h
        assert keep_from == end
        end = (k + m - cr) * h
        chunks.append(Chunk(k * h, keep_from, end))
        k += stepq
    last = s - 1 - m
    chunks.append(Chunk(last * h, end, n_samples))
    return chunks


#: Default chunk length in slice hops per configuration, chosen by measurement (docs/formats.md,
#: "Chunk length"): context + look-ahead are 8 hops for all, so 48 hops spends 17 % of the work on
#: overlap while memory grows linearly with the chunk. xumx-rt: 9.83 s; tiny: 1.10 s;
#: bark64: 2.37 s.
DEFAULT_CHUNK_HOPS: dict[str, int] = {
    "xumx-rt": 48, "tiny": 48, "tiny-small": 48, "bark64-small": 48
}


def default_chunk_hops(config: str, transform: SliCQT | None = None) -> int:
    """Default chunk length (in slice hops) for a configuration name; ~10 s for unknown ones."""
    if config in DEFAULT_CHUNK_HOPS:
        return DEFAULT_CHUNK_HOPS[config]
    if transform is None:
        raise ValueError(f"no default chunk length for configuration {config!r}")
    return max(16, round(10.0 * transform.sample_rate / transform.hop))
