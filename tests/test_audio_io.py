"""Audio decoding, validation messages, and the atomic stem writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mobile_core.contract.audio import AtomicWavWriter, AudioInfo, probe, read, read_blocks
from mobile_core.errors import AudioError, DemixError

SR = 44100


def _tone(frames: int = SR // 2, channels: int = 2) -> np.ndarray:
    """[frames, channels] float32 test signal, peak 0.5."""
    t = np.arange(frames) / SR
    cols = [0.5 * np.sin(2 * np.pi * (220.0 * (c + 1)) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "fmt", "subtype"),
    [
        ("a.wav", "WAV", "PCM_16"),
        ("b.wav", "WAV", "PCM_24"),
        ("c.wav", "WAV", "FLOAT"),
        ("d.flac", "FLAC", "PCM_16"),
        ("e.ogg", "OGG", "VORBIS"),
        ("f.mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_formats_round_trip(tmp_path: Path, name: str, fmt: str, subtype: str) -> None:
    data = _tone()
    path = tmp_path / name
    sf.write(path, data, SR, format=fmt, subtype=subtype)
    info = probe(path)
    assert info == AudioInfo(SR, 2, len(data), fmt, subtype)
    x, sr = read(path)
    assert sr == SR and x.dtype == torch.float32 and x.shape == (2, len(data))
    ref = torch.from_numpy(data.T.copy())
    if subtype == "FLOAT":
        assert torch.equal(x, ref)
    elif subtype in ("PCM_16", "PCM_24"):  # integer PCM scaled by 1 / 2^(bits-1)
        full = 2 ** (int(subtype[-2:]) - 1)
        ints = x.double() * full
        assert torch.equal(ints, ints.round())
        assert (x - ref).abs().max().item() <= 1.01 / full
    else:  # lossy: decoded, same length, still the same tone
        corr = torch.nn.functional.cosine_similarity(x.flatten(), ref.flatten(), dim=0)
        assert corr > 0.95


def test_pcm16_scaling_is_one_over_32768(tmp_path: Path) -> None:
    path = tmp_path / "ints.wav"
    ints = np.array([[-32768], [-1], [0], [1], [16384], [32767]], dtype=np.int16)
    sf.write(path, ints, SR, subtype="PCM_16")
    x, _ = read(path)
    assert torch.equal(x[0], torch.tensor([-32768, -1, 0, 1, 16384, 32767]) / 32768.0)


def test_blockwise_equals_whole(tmp_path: Path) -> None:
    data = _tone(10007, channels=6)
    path = tmp_path / "six.flac"
    sf.write(path, data, SR, subtype="PCM_24")
    whole, _ = read(path)
    blocks = list(read_blocks(path, block_frames=1000))
    assert [b.shape[-1] for b in blocks] == [1000] * 10 + [7]
    assert all(b.shape[0] == 6 and b.dtype == torch.float32 for b in blocks)
    assert torch.equal(torch.cat(blocks, dim=-1), whole)
    assert whole.shape == (6, 10007)


def _one_line_error(path: Path, *needles: str, min_frames: int = 0) -> str:
    """Check that probe, read and read_blocks all fail with the same kind of one-line error."""
    messages = []
    for call in (
        lambda: probe(path, min_frames=min_frames),
        lambda: read(path, min_frames=min_frames),
        lambda: read_blocks(path, min_frames=min_frames),  # raises before any block is read
    ):
        with pytest.raises(AudioError) as info:
            call()
        messages.append(str(info.value))
    for msg in messages:
        assert "\n" not in msg and str(path) in msg, msg
        for needle in needles:
            assert needle in msg, msg
    return messages[0]


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "nope.wav", "no such file")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    _one_line_error(tmp_path / "dir.wav", "folder")


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2), np.float32), SR, subtype="PCM_16")
    _one_line_error(path, "no audio", "0 frames")


def test_truncated_header(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, _tone(), SR, subtype="PCM_16")
    path = tmp_path / "cut.wav"
    path.write_bytes(good.read_bytes()[:20])
    _one_line_error(path, "cannot open audio")


@pytest.mark.parametrize("name", ["notes.txt", "notes.wav", "notes.mp3"])
def test_text_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("these are not the samples you are looking for\n" * 20)
    _one_line_error(path, "not an audio file")


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "NaN"), (np.inf, "+Inf"), (-np.inf, "-Inf")])
def test_non_finite_samples(tmp_path: Path, bad: float, kind: str) -> None:
    data = _tone(5000)
    data[4321, 1] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, data, SR, subtype="FLOAT")
    probe(path)  # the header is fine
    msg = _one_line_error_blocks(path, block_frames=1000)
    assert kind in msg and "frame 4321" in msg and "channel 1" in msg


def _one_line_error_blocks(path: Path, block_frames: int) -> str:
    blocks = read_blocks(path, block_frames=block_frames)
    got = []
    with pytest.raises(AudioError) as info:
        for b in blocks:
            got.append(b)
    assert len(got) == 4  # the clean blocks before the bad one were delivered
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    with pytest.raises(AudioError):
        read(path)
    return msg


@pytest.mark.parametrize("rate", [1, 7999, 192001, 10_000_000])
def test_absurd_sample_rates(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"sr{rate}.wav"
    sf.write(path, _tone(1000), rate, subtype="PCM_16")
    assert sf.info(path).samplerate == rate  # soundfile did write the odd rate
    msg = _one_line_error(path, f"sample rate {rate} Hz")
    assert msg.endswith("is outside the supported range 8000–192000 Hz")


def test_supported_extreme_rates_are_accepted(tmp_path: Path) -> None:
    for rate in (8000, 192000):
        path = tmp_path / f"ok{rate}.wav"
        sf.write(path, _tone(1000), rate, subtype="PCM_16")
        assert probe(path).sample_rate == rate


def test_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, _tone(100), SR, subtype="PCM_16")
    _one_line_error(path, "too short", "100 frames", "4410 frames", min_frames=4410)
    assert read(path, min_frames=100)[0].shape == (2, 100)


def test_errors_are_demix_errors() -> None:
    assert issubclass(AudioError, DemixError) and issubclass(DemixError, Exception)


# ---------------------------------------------------------------------------------------------
# Writing


def test_writer_success_leaves_exactly_the_final_file(tmp_path: Path) -> None:
    out = tmp_path / "stems"
    out.mkdir()
    target = out / "vocals.wav"
    data = torch.from_numpy(_tone(3000).T.copy())
    with AtomicWavWriter(target, SR, 2, fmt="float32") as w:
        for start in range(0, 3000, 1024):
            w.write(data[:, start : start + 1024])
        assert not target.exists()  # not visible before it is complete
        assert len(os.listdir(out)) == 1 and os.listdir(out)[0].startswith(".vocals.wav.partial-")
    assert os.listdir(out) == ["vocals.wav"]
    back, sr = sf.read(target, dtype="float32")
    assert sr == SR and sf.info(target).subtype == "FLOAT"
    assert np.array_equal(back.T, data.numpy())


def test_writer_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "bass.wav"
    target.write_bytes(b"old")
    with AtomicWavWriter(target, SR, 1) as w:
        w.write(torch.zeros(1, 10))
    assert sf.info(target).frames == 10 and os.listdir(tmp_path) == ["bass.wav"]


@pytest.mark.parametrize("fmt", ["wav16", "wav24", "float32"])
def test_writer_error_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "drums.wav"
    with pytest.raises(KeyError):
        with AtomicWavWriter(target, SR, 2, fmt=fmt) as w:
            w.write(torch.zeros(2, 500))
            raise KeyError("boom")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError):
        with AtomicWavWriter(target, SR, 2, fmt=fmt) as w:
            w.write(torch.zeros(3, 500))  # wrong channel count
    assert os.listdir(tmp_path) == []


def test_wav16_and_wav24_quantise_and_clip(tmp_path: Path) -> None:
    x = torch.tensor([[0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 1 / 32768, 0.6 / 32768]])
    with AtomicWavWriter(tmp_path / "a.wav", SR, 1, fmt="wav16") as w:
        w.write(x)
    ints, _ = sf.read(tmp_path / "a.wav", dtype="int16")
    assert sf.info(tmp_path / "a.wav").subtype == "PCM_16"
    assert ints.tolist() == [16384, -16384, 32767, -32768, 32767, -32768, 1, 1]
    with AtomicWavWriter(tmp_path / "b.wav", SR, 1, fmt="wav24") as w:
        w.write(x)
    assert sf.info(tmp_path / "b.wav").subtype == "PCM_24"
    ints24 = sf.read(tmp_path / "b.wav", dtype="int32")[0] >> 8
    full = 1 << 23
    assert ints24.tolist() == [full // 2, -full // 2, full - 1, -full, full - 1, -full, 256, 154]


def test_unwritable_folder(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("a regular file, so nothing can be created under it")
    for target in (afile / "out", afile / "out" / "vocals.wav", tmp_path / "missing" / "x.wav"):
        with pytest.raises(AudioError) as info:
            with AtomicWavWriter(target, SR, 2) as w:
                w.write(torch.zeros(2, 10))
        msg = str(info.value)
        assert "\n" not in msg and "cannot write" in msg and str(target) in msg
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_writer_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wav16"):
        AtomicWavWriter(tmp_path / "x.wav", SR, 2, fmt="mp3")


@pytest.mark.parametrize("subtype, width", [("PCM_16", 4), ("PCM_24", 6), ("FLOAT", 8)])
def test_a_truncated_wav_is_refused_not_shortened(tmp_path: Path, subtype: str, width: int) -> None:
    """libsndfile decodes what a truncated WAV holds; the contract refuses it (as the bridge)."""
    from mobile_core.contract.audio import probe, read

    x = np.zeros((1000, 2), np.float32)
    whole = tmp_path / "whole.wav"
    sf.write(whole, x, 44100, subtype=subtype)
    assert probe(whole).frames == 1000
    raw = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) - 251 * width])  # the last 251 frames missing
    for fn in (probe, read):
        with pytest.raises(AudioError, match="truncated file: its header declares 1000 frames "
                                             "but only 749 are present"):
            fn(cut)
    # a chunk after the data (as some editors write) is not a truncation
    tail = tmp_path / "tail.wav"
    tail.write_bytes(raw + b"LIST\x04\x00\x00\x00INFO")
    assert probe(tail).frames == 1000
