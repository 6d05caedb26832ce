"""The reference runner: chunked == whole song, the input rules, and every backend alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from mobile_core.contract.audio import probe
from mobile_core.contract.backends import EagerBackend, open_backend
from mobile_core.contract.channels import to_stereo
from mobile_core.contract.chunking import ChunkSpec, plan_chunks
from mobile_core.contract.resample import output_length, resample
from mobile_core.contract.runner import _Window, separate, separate_file, stitch
from mobile_core.errors import AudioError, DemixError

from .conftest import SR, ScaleBackend, read_stem, snr_db, write_audio

pytestmark = pytest.mark.usefixtures("one_thread")

STEMS = ("vocals", "drums", "bass", "other")


def chunk_spec_like(chunk: int, context: int, lookahead: int, hop: int) -> ChunkSpec:
    """A hand-made chunk geometry for the stand-in model."""
    return ChunkSpec(SR, chunk, context, lookahead, hop)


# ---------------------------------------------------------------------------------------------
# chunked == whole


@pytest.mark.parametrize(("hops", "n"), [(9, 30011), (16, 61237), (37, 123457), (61, 100003)])
def test_chunked_equals_whole_song(tiny_sep, song, hops: int, n: int) -> None:
    backend = EagerBackend(tiny_sep, chunk_hops=hops)
    assert len(plan_chunks(n, backend.spec)) >= 2
    mix = song(n, seed=hops)
    with torch.inference_mode():
        whole = tiny_sep(mix.unsqueeze(0))[0]
    chunked = separate(mix, backend)
    assert chunked.shape == (4, 2, n)
    # the masks are far from constant: the check below cannot pass by accident
    assert (whole - 0.25 * mix).abs().max() > 0.05
    assert snr_db(whole, chunked) >= 80.0


def test_too_little_context_shows_seams(tiny_sep, song) -> None:
    """Negative control: chunks with two hops less context or look-ahead than the plan's have
    seams the 80 dB check catches (so it is not passing by accident)."""
    mix = song(61237, seed=2)
    with torch.inference_mode():
        whole = tiny_sep(mix.unsqueeze(0))[0]
    for less_context, less_lookahead in ((0, 0), (2, 0), (0, 2)):
        backend = EagerBackend(tiny_sep, chunk_hops=16)
        s = backend.spec
        backend.spec = ChunkSpec(s.sample_rate, s.chunk, s.context - less_context * s.hop,
                                 s.lookahead - less_lookahead * s.hop, s.hop)
        snr = snr_db(whole, separate(mix, backend))
        assert (snr >= 80.0) == (less_context == less_lookahead == 0), snr


def test_chunked_equals_whole_on_example_song(tiny_sep) -> None:
    from mobile_core.assets import EXAMPLE_SONG
    from mobile_core.contract.audio import read

    mix, sr = read(EXAMPLE_SONG)
    assert sr == SR
    mix = mix[:, : 3 * SR + 1234]
    backend = EagerBackend(tiny_sep, chunk_hops=50)
    with torch.inference_mode():
        whole = tiny_sep(mix.unsqueeze(0))[0]
    assert snr_db(whole, separate(mix, backend)) >= 80.0


def test_a_song_shorter_than_one_chunk_is_the_padded_chunk(tiny_sep, song) -> None:
    """One chunk: the song zero-padded to L, run once, cut to N (the contract's rule)."""
    backend = EagerBackend(tiny_sep, chunk_hops=16)
    n = 7001
    mix = song(n, seed=3)
    assert plan_chunks(n, backend.spec) == [plan_chunks(n, backend.spec)[0]]
    padded = torch.nn.functional.pad(mix, (0, backend.spec.chunk - n))
    with torch.inference_mode():
        ref = tiny_sep.for_inference()(padded.unsqueeze(0))[0, :, :, :n]
    assert torch.equal(separate(mix, backend), ref)


def test_stitching_tiles_the_song_exactly(song) -> None:
    """With a stand-in model that scales its input, the stitched output is exactly scaled input."""
    spec = chunk_spec_like(chunk=4000, context=600, lookahead=400, hop=200)
    for n in (1, 199, 4000, 4001, 12345, 40000):
        backend = ScaleBackend(spec)
        mix = song(n, seed=n)
        out = separate(mix, backend)
        gains = torch.tensor([0.25, 0.5, 0.75, 1.0]).view(4, 1, 1)
        assert torch.equal(out, gains * mix), n
        assert backend.calls == len(plan_chunks(n, spec))


def test_window_holds_about_one_chunk(song) -> None:
    """Memory is bounded: the window never holds much more than one chunk plus one block."""
    spec = chunk_spec_like(chunk=4000, context=600, lookahead=400, hop=200)
    n, block = 200_000, 1000
    mix = song(n)
    blocks = (mix[:, i : i + block] for i in range(0, n, block))
    window = _Window(blocks)
    held = []
    orig_take = window.take

    def take(start, length):
        x = orig_take(start, length)
        held.append(window._buf.shape[-1])
        return x

    window.take = take
    plan = plan_chunks(n, spec)
    for i, ch in enumerate(plan):
        x = window.take(ch.start, spec.chunk)
        assert torch.equal(x[:, : min(spec.chunk, n - ch.start)],
                           mix[:, ch.start : ch.start + spec.chunk])
        if i + 1 < len(plan):
            window.release(plan[i + 1].start)
    assert max(held) <= spec.chunk + block


def test_stream_shorter_than_its_header_is_an_error(song) -> None:
    spec = chunk_spec_like(chunk=4000, context=600, lookahead=400, hop=200)
    mix = song(9000)
    with pytest.raises(AudioError, match="header promised 10000"):
        list(stitch([mix], 10000, ScaleBackend(spec)))


# ---------------------------------------------------------------------------------------------
# the file runner


@pytest.fixture(scope="module")
def small(tiny_sep):
    """tiny with short chunks (16 hops, 0.37 s): quick on short files."""
    return EagerBackend(tiny_sep, chunk_hops=16)


def _expected(small, x, sr: int) -> torch.Tensor:
    """What the runner must produce for input ``x[C, n]`` at ``sr`` (model rate, all stems)."""
    return separate(resample(to_stereo(x), sr, SR), small)


def test_file_runner_equals_in_memory(tmp_path, small, song) -> None:
    x = song(SR + 4321, seed=1)
    src = write_audio(tmp_path / "song.wav", x)
    r = separate_file(src, tmp_path / "out", small, fmt="float32")
    assert r.output_rate == SR and r.frames == x.shape[-1] and r.chunks > 2
    ref = _expected(small, x, SR)
    for i, s in enumerate(STEMS):
        y, sr = read_stem(r.outputs[s])
        assert sr == SR and torch.equal(y, ref[i])


def test_mono_input_is_duplicated_and_mono_out(tmp_path, small, song) -> None:
    x = song(SR // 2 + 77, channels=1, seed=2)
    src = write_audio(tmp_path / "mono.wav", x)
    r = separate_file(src, tmp_path / "a", small, fmt="float32")
    ref = _expected(small, x, SR)
    y, _ = read_stem(r.outputs["vocals"])
    assert y.shape == (2, x.shape[-1]) and torch.equal(y, ref[0])
    r = separate_file(src, tmp_path / "b", small, fmt="float32", mono_out=True)
    y, _ = read_stem(r.outputs["bass"])
    assert y.shape == (1, x.shape[-1])
    assert torch.allclose(y[0], ref[2].mean(0), atol=1e-7)


@pytest.mark.parametrize("channels", [6, 8])
def test_surround_input_is_downmixed(tmp_path, small, song, channels: int) -> None:
    x = song(SR // 2 + 5, channels=channels, seed=channels)
    src = write_audio(tmp_path / f"c{channels}.wav", x)
    r = separate_file(src, tmp_path / "out", small, fmt="float32")
    ref = _expected(small, x, SR)
    y, _ = read_stem(r.outputs["drums"])
    assert y.shape == (2, x.shape[-1])
    assert snr_db(ref[1], y) > 120


@pytest.mark.parametrize("sr", [8000, 192000])
def test_extreme_sample_rates(tmp_path, small, song, sr: int) -> None:
    n = sr // 3 + 11
    x = song(n, sr=sr, seed=sr)
    src = write_audio(tmp_path / f"r{sr}.wav", x, sr=sr)
    r = separate_file(src, tmp_path / "a", small, fmt="float32")
    n44 = output_length(n, sr, SR)
    ref = _expected(small, x, sr)
    y, rate = read_stem(r.outputs["other"])
    assert rate == SR and y.shape == (2, n44)
    assert snr_db(ref[3], y) > 120
    r = separate_file(src, tmp_path / "b", small, fmt="float32", keep_rate=True)
    y, rate = read_stem(r.outputs["other"])
    assert rate == sr and y.shape == (2, n)
    back = resample(ref[3], SR, sr)[:, :n]
    assert snr_db(back, y) > 100


@pytest.mark.parametrize(("name", "subtype"),
                         [("s.flac", "PCM_16"), ("s.ogg", "VORBIS"), ("s.mp3", "MPEG_LAYER_III"),
                          ("s16.wav", "PCM_16"), ("sf.wav", "FLOAT")])
def test_formats(tmp_path, small, song, name: str, subtype: str) -> None:
    x = 0.5 * song(SR // 2, seed=4)
    src = write_audio(tmp_path / name, x, subtype=subtype)
    frames = probe(src).frames
    r = separate_file(src, tmp_path / "out", small)
    for s in STEMS:
        info = probe(r.outputs[s])
        assert (info.sample_rate, info.channels, info.frames) == (SR, 2, frames)
        assert info.subtype == "PCM_16"
    y, _ = read_stem(r.outputs["vocals"])
    assert y.abs().max() > 1e-3


def test_short_song_and_stem_subset(tmp_path, tiny_model_file, song) -> None:
    backend = open_backend(tiny_model_file)  # default chunk: 48 hops, 1.1 s
    x = song(SR // 4, seed=9)
    src = write_audio(tmp_path / "short.wav", x, subtype="PCM_16")
    assert x.shape[-1] < backend.spec.chunk
    r = separate_file(src, tmp_path / "out", backend, stems=["drums", "vocals"], fmt="wav24")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["drums.wav", "vocals.wav"]
    assert r.chunks == 1 and probe(r.outputs["drums"]).subtype == "PCM_24"


def test_too_short_input_is_rejected(tmp_path, small) -> None:
    src = write_audio(tmp_path / "one.wav", torch.zeros(2, 1))
    with pytest.raises(AudioError, match="too short"):
        separate_file(src, tmp_path / "out", small)
    assert not (tmp_path / "out").exists()


def test_failure_midway_leaves_nothing(tmp_path, small, song) -> None:
    """NaN in the second block: the writers already ran; nothing may remain."""
    x = song(3 * 65536, seed=5)
    x[1, 2 * 65536 + 17] = math.nan
    src = write_audio(tmp_path / "nan.wav", x)
    out = tmp_path / "deep" / "out"
    with pytest.raises(AudioError, match="NaN"):
        separate_file(src, out, small)
    assert not (tmp_path / "deep").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(AudioError):
        separate_file(src, existing, small)
    assert list(existing.iterdir()) == []


def test_unknown_stem_is_an_error(tmp_path, small, song) -> None:
    src = write_audio(tmp_path / "a.wav", song(SR // 2))
    with pytest.raises(DemixError, match="unknown stem"):
        separate_file(src, tmp_path / "out", small, stems=["piano"])


# ---------------------------------------------------------------------------------------------
# backends


def test_eager_backend_from_file_and_chunk_seconds(tiny_model_file) -> None:
    b = open_backend(tiny_model_file, chunk_seconds=1.0)
    assert b.name == "eager" and b.stems == STEMS and b.model_id
    assert b.spec.chunk == round(SR / b.spec.hop) * b.spec.hop
    with pytest.raises(DemixError, match="too short"):
        open_backend(tiny_model_file, chunk_seconds=0.05)
    with pytest.raises(DemixError, match="cannot run"):
        open_backend(tiny_model_file, backend="pte")


@pytest.mark.parametrize("kind", ["pte", "ptl", "onnx", "ort"])
def test_artifact_backend_equals_eager(tmp_path, artifacts, micro_model_file, micro_spec, song,
                                       kind: str) -> None:
    path = artifacts(kind)
    backend = open_backend(path, threads=1)
    assert backend.name == kind and backend.spec == micro_spec and backend.stems == STEMS
    eager = open_backend(micro_model_file, chunk_hops=micro_spec.chunk // micro_spec.hop)
    assert eager.model_id == backend.model_id
    x = song(SR // 2 + 999, seed=11)
    src = write_audio(tmp_path / "song.wav", x)
    ref = separate_file(src, tmp_path / "ref", eager, fmt="float32")
    got = separate_file(src, tmp_path / "got", backend, fmt="float32")
    assert got.chunks == ref.chunks > 3
    for s in STEMS:
        a, _ = read_stem(ref.outputs[s])
        b, _ = read_stem(got.outputs[s])
        assert a.shape == b.shape == (2, x.shape[-1])
        assert snr_db(a, b) >= 60.0, (kind, s)


def test_artifact_metadata_drives_the_plan(artifacts, micro_spec) -> None:
    backend = open_backend(artifacts("ptl"))
    assert backend.spec == micro_spec
    with pytest.raises(DemixError, match="fixed by its export"):
        open_backend(artifacts("ptl"), chunk_seconds=1.0)


def test_wav_data_types_of_outputs(tmp_path, small, song) -> None:
    src = write_audio(tmp_path / "a.wav", song(SR // 3))
    for fmt, subtype in (("wav16", "PCM_16"), ("wav24", "PCM_24"), ("float32", "FLOAT")):
        r = separate_file(src, tmp_path / fmt, small, fmt=fmt)
        assert sf.info(str(r.outputs["vocals"])).subtype == subtype
    a = np.asarray(sf.read(str(tmp_path / "wav16" / "vocals.wav"))[0])
    b = np.asarray(sf.read(str(tmp_path / "float32" / "vocals.wav"))[0])
    assert np.abs(a - b).max() <= 1 / 32768 + 1e-7


def test_separate_rejects_non_stereo(small) -> None:
    with pytest.raises(ValueError, match="stereo"):
        separate(torch.zeros(1, 100), small)


def test_all_finite_sees_every_nan_and_inf_and_no_false_alarm() -> None:
    from mobile_core.contract.runner import all_finite

    x = torch.zeros(4, 2, 1000)
    assert all_finite(x)
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[3, 1, 999] = bad
        assert not all_finite(y)
    big = torch.full((2, 10), 3e38)  # finite values whose sum overflows
    assert all_finite(big)
