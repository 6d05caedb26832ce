"""Chunk plan invariants: contiguous coverage, kept parts inside the chunk's valid middle."""

from __future__ import annotations

import pytest

from mobile_core.contract.chunking import ChunkSpec, chunk_spec, context_slices, plan_chunks
from mobile_core.model.separator import Separator
from mobile_core.transform.slicqt import n_slices


@pytest.fixture(scope="module")
def spec() -> ChunkSpec:
    sep = Separator.from_config("xumx-rt")
    assert context_slices(sep.transform, sep.config.cdae) == (4, 2)
    return chunk_spec(sep.transform, sep.config.cdae, 30)


def test_xumx_rt_geometry(spec):
    assert (spec.hop, spec.chunk, spec.context, spec.lookahead) == (9030, 270900, 45150, 27090)
    assert spec.step == 270900 - 45150 - 27090


@pytest.mark.parametrize("n", [1, 5000, 270900, 270901, 1_000_003, 10_000_000])
def test_plan_covers_the_song_exactly_once(spec, n):
    chunks = plan_chunks(n, spec)
    assert chunks[0].start == 0 and chunks[0].keep_from == 0
    assert chunks[-1].keep_to == n
    h, m = spec.hop, spec.chunk // spec.hop
    s = n_slices(n, spec.sllen)
    for prev, cur in zip(chunks, chunks[1:]):
        assert cur.keep_from == prev.keep_to  # contiguous, no overlap, no gap
    for i, c in enumerate(chunks):
        assert c.start % h == 0 and c.keep_from < c.keep_to
        lo, hi = c.keep_from - c.start, c.keep_to - c.start
        assert 0 <= lo < hi <= spec.chunk
        if i > 0:  # everything but the song start needs full left context
            assert lo >= spec.context
        if i < len(chunks) - 1:  # everything but the song end needs full look-ahead
            assert hi <= spec.chunk - spec.lookahead
    if len(chunks) > 1:  # the last chunk ends on the song's last slice
        assert chunks[-1].start // h + m == s - 1


def test_too_short_chunks_are_refused():
    sep = Separator.from_config("tiny")
    with pytest.raises(ValueError, match="slice hops"):
        chunk_spec(sep.transform, sep.config.cdae, 8)
