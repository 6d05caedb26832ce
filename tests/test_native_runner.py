"""bench/native: the C++ ExecuTorch runner (no Python) against the Python reference runner.

Builds ``bench/native/build/demix_native`` with ``bench/native/build.sh`` (the executorch wheel's
own C++ SDK) and exports a ``tiny`` fp32 ``.pte`` with fresh weights, once per module; then checks
that the program's stitched stems equal ``mobile_core.separate`` on the same ``.pte`` (same chunk
plan, same runtime), that its memory does not grow with the song, and that bad files give one
line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import mobile_core

REPO = Path(__file__).resolve().parents[1]
BUILD_SH = REPO / "bench" / "native" / "build.sh"
BINARY = REPO / "bench" / "native" / "build" / "demix_native"
SR = 44100
# a short chunk (24 slice hops, 0.55 s): a few seconds of audio then span many chunks
CHUNK_SECONDS = "0.55"


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def native() -> Path:
    """The native runner, built from the current sources."""
    env = dict(os.environ, PYTHON=sys.executable)
    p = subprocess.run(["bash", str(BUILD_SH)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, f"build.sh failed:\n{p.stderr[-4000:]}"
    assert BINARY.is_file() and os.access(BINARY, os.X_OK)
    return BINARY


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory) -> Path:
    """A ``tiny`` fp32 ``.pte`` with fresh weights (demix-export, no held-out songs)."""
    out = tmp_path_factory.mktemp("native-pte")
    exe = Path(sys.executable).parent / "demix-export"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "export.cli_export"]
    cmd += ["--model", "tiny", "--format", "pte", "--quant", "fp32", "--chunk-seconds",
            CHUNK_SECONDS, "--heldout-songs", "0", "--repeats", "1", "--quiet", "-o", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert p.returncode == 0, f"demix-export failed:\n{p.stderr[-4000:]}"
    (pte,) = sorted(out.glob("*.pte"))
    return pte


@pytest.fixture(scope="module")
def meta(tiny_pte) -> dict:
    return mobile_core.read_artifact_metadata(tiny_pte)


@pytest.fixture(scope="module")
def backend(tiny_pte):
    return mobile_core.open_backend(tiny_pte, threads=1)


# ----------------------------------------------------------------------------------- helpers


def song(n: int, seed: int, channels: int = 2) -> np.ndarray:
    """``[n, channels]`` float32: noise with a few tones, peak well inside [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = 0.05 * rng.standard_normal((n, channels))
    for c in range(channels):
        for f in rng.uniform(60, 4000, size=3):
            x[:, c] += 0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
    return x.astype(np.float32)


def run_native(binary: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                       timeout=600)
    if check:
        assert p.returncode == 0, f"demix_native failed ({p.returncode}): {p.stderr}"
    return p


def report(p: subprocess.CompletedProcess) -> dict:
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(lines[0])


def reference(backend, x: np.ndarray) -> np.ndarray:
    """Python reference runner's stems ``[S, 2, N]`` for ``x[N, 2]``."""
    mix = torch.from_numpy(np.ascontiguousarray(x.T))
    return mobile_core.separate(mix, backend).numpy()


def read_stems(path: Path, n_stems: int, n: int) -> np.ndarray:
    y = np.fromfile(path, dtype="<f4")
    assert y.size == n_stems * 2 * n, f"{path}: {y.size} floats, expected {n_stems} x 2 x {n}"
    return y.reshape(n_stems, 2, n)


def assert_same(ref: np.ndarray, got: np.ndarray) -> None:
    """>= 100 dB SNR or max |diff| <= 1e-5, per stem."""
    assert ref.shape == got.shape
    assert np.isfinite(got).all()
    for s in range(ref.shape[0]):
        diff = ref[s].astype(np.float64) - got[s]
        noise = float((diff**2).sum())
        snr = math.inf if noise == 0 else 10 * math.log10(float((ref[s] ** 2).sum()) / noise)
        max_abs = float(np.abs(diff).max())
        assert snr >= 100 or max_abs <= 1e-5, f"stem {s}: {snr:.1f} dB, max |diff| {max_abs:.3g}"


def assert_one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode != 0
    lines = p.stderr.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{p.stderr}"
    assert lines[0].startswith("demix_native: error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert p.stdout == ""


# ------------------------------------------------------------------------------------- tests


def test_float_wav_matches_python_runner(native, tiny_pte, meta, backend, tmp_path):
    n = 3 * SR + 10001  # odd length, 9 chunks; the last one starts 6 hops (not 16) after the 8th
    x = song(n, seed=1)
    wav = tmp_path / "song.wav"
    sf.write(wav, x, SR, subtype="FLOAT")
    out = tmp_path / "stems.f32"
    rep = report(run_native(native, tiny_pte, wav, "--out", out))

    step = meta["chunk"] - meta["context"] - meta["lookahead"]
    assert rep["frames"] == n and rep["sample_rate"] == SR
    assert rep["stems"] == meta["stems"]
    assert rep["chunk"] == meta["chunk"] and rep["step"] == step
    assert rep["chunks"] >= 5  # the stitching is exercised
    assert rep["ms_per_chunk_median"] > 0 and rep["ms_per_chunk_mean"] > 0
    assert rep["rtf"] > 0 and rep["peak_rss_mb"] > 0 and rep["planned_bytes"] > 0
    ref = reference(backend, x)
    assert_same(ref, read_stems(out, len(meta["stems"]), n))


def test_raw_input_and_threads_give_the_same_stems(native, tiny_pte, meta, backend, tmp_path):
    n = 2 * SR + 777
    x = song(n, seed=2)
    raw = tmp_path / "song.raw"
    x.tofile(raw)  # interleaved little-endian float32 stereo
    out1, out2 = tmp_path / "a.f32", tmp_path / "b.f32"
    out3 = tmp_path / "c.f32"
    run_native(native, tiny_pte, raw, "--raw", "--threads", "1", "--out", out1)
    rep = report(run_native(native, tiny_pte, raw, "--raw", "--threads", "2", "--out", out2))
    assert rep["threads"] == 2 and rep["input_format"] == "raw-float32"
    # one XNNPACK workspace per delegate call instead of the shared one: same stems
    rep3 = report(run_native(native, tiny_pte, raw, "--raw", "--workspace", "private",
                             "--out", out3))
    assert rep3["xnnpack_workspace"] == "private" and rep["xnnpack_workspace"] != "unknown"
    ref = reference(backend, x)
    s = len(meta["stems"])
    for out in (out1, out2, out3):
        assert_same(ref, read_stems(out, s, n))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_pcm_wav_is_decoded_like_soundfile(native, tiny_pte, meta, backend, tmp_path, subtype):
    n = SR + 2 * 1001 + 1
    wav = tmp_path / "song.wav"
    sf.write(wav, song(n, seed=3), SR, subtype=subtype)
    x, _ = sf.read(wav, dtype="float32", always_2d=True)  # integer PCM / 2^(bits-1)
    out = tmp_path / "stems.f32"
    run_native(native, tiny_pte, wav, "--out", out)
    assert_same(reference(backend, x), read_stems(out, len(meta["stems"]), n))


def test_mono_is_copied_to_both_sides(native, tiny_pte, meta, backend, tmp_path):
    n = SR + 99
    m = song(n, seed=4, channels=1)
    wav = tmp_path / "mono.wav"
    sf.write(wav, m, SR, subtype="FLOAT")
    out = tmp_path / "stems.f32"
    run_native(native, tiny_pte, wav, "--out", out)
    ref = reference(backend, np.concatenate([m, m], axis=1))
    assert_same(ref, read_stems(out, len(meta["stems"]), n))


def test_one_chunk_song(native, tiny_pte, meta, backend, tmp_path):
    n = meta["chunk"] // 2 + 1  # fits in one chunk: zero-padded to L, all of it kept
    x = song(n, seed=5)
    wav = tmp_path / "short.wav"
    sf.write(wav, x, SR, subtype="FLOAT")
    out = tmp_path / "stems.f32"
    rep = report(run_native(native, tiny_pte, wav, "--out", out))
    assert rep["chunks"] == 1
    assert_same(reference(backend, x), read_stems(out, len(meta["stems"]), n))


def test_peak_memory_is_flat_in_song_length(native, tiny_pte, tmp_path):
    """A 60 s song costs no more memory than a 6 s one (input and stems are streamed)."""
    peaks = {}
    for seconds in (6, 60):
        raw = tmp_path / f"{seconds}.raw"
        song(seconds * SR, seed=seconds).tofile(raw)  # 60 s: 21 MB in, 85 MB of stems out
        rep = report(run_native(native, tiny_pte, raw, "--raw", "--out", tmp_path / "o.f32"))
        peaks[seconds] = rep["peak_rss_mb"]
        raw.unlink()
    assert peaks[60] - peaks[6] < 10, peaks


def test_missing_model_file(native, tmp_path):
    wav = tmp_path / "song.wav"
    sf.write(wav, song(SR, seed=6), SR, subtype="FLOAT")
    missing = tmp_path / "nope.pte"
    assert_one_line_error(run_native(native, missing, wav, check=False), str(missing))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad-header"])
def test_corrupt_model_file(native, tiny_pte, tmp_path, damage):
    wav = tmp_path / "song.wav"
    sf.write(wav, song(SR, seed=7), SR, subtype="FLOAT")
    bad = tmp_path / f"{damage}.pte"
    data = tiny_pte.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 65536, np.uint8).tobytes())
    else:
        bad.write_bytes(b"\0" * 4 + data[4:4096])  # header damaged, rest missing
    out = tmp_path / "stems.f32"
    assert_one_line_error(run_native(native, bad, wav, "--out", out, check=False), str(bad))
    assert not out.exists()


def test_bad_inputs(native, tiny_pte, tmp_path):
    missing = tmp_path / "missing.wav"
    assert_one_line_error(run_native(native, tiny_pte, missing, check=False), str(missing))

    not_wav = tmp_path / "text.wav"
    not_wav.write_text("hello, not audio\n" * 10)
    assert_one_line_error(run_native(native, tiny_pte, not_wav, check=False), "WAV")

    rate = tmp_path / "48k.wav"
    sf.write(rate, song(48000, seed=8), 48000, subtype="FLOAT")
    assert_one_line_error(run_native(native, tiny_pte, rate, check=False), "48000")

    x = song(SR, seed=9)
    x[1234, 1] = np.nan
    nan = tmp_path / "nan.wav"
    sf.write(nan, x, SR, subtype="FLOAT")
    out = tmp_path / "stems.f32"
    assert_one_line_error(run_native(native, tiny_pte, nan, "--out", out, check=False), "1234")
    assert not out.exists()

    odd_raw = tmp_path / "odd.raw"
    odd_raw.write_bytes(b"\0" * 8001)
    assert_one_line_error(run_native(native, tiny_pte, odd_raw, "--raw", check=False), "raw")

    usage = run_native(native, tiny_pte, check=False)
    assert usage.returncode == 2
    assert len(usage.stderr.strip().splitlines()) == 1
    bad = run_native(native, tiny_pte, odd_raw, "--workspace", "shared", check=False)
    assert bad.returncode == 2 and "--workspace" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
