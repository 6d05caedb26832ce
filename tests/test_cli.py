"""``demix``: options, summaries, and one clear error line for every kind of bad input."""

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

import mobile_core.assets
from mobile_core.cli.demix import main
from mobile_core.contract.audio import probe

from .conftest import SR, digest, read_stem, write_audio

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]
STEM_FILES = ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]


def run(capfd, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return rc, out, err


def wavs_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.wav")) if folder.exists() else []


@pytest.fixture()
def good(tmp_path, song) -> Path:
    return write_audio(tmp_path / "good.wav", song(SR // 2, seed=1), subtype="PCM_16")


@pytest.fixture()
def fast(tiny_model_file) -> list[str]:
    """Model options for quick runs: the tiny model with 0.4 s chunks."""
    return ["-m", str(tiny_model_file), "--chunk-seconds", "0.4", "-q"]


# ---------------------------------------------------------------------------------------------
# working runs


def test_separates_into_out_track_folder(tmp_path, capfd, good, tiny_model_file) -> None:
    rc, out, err = run(capfd, "-m", tiny_model_file, "-o", tmp_path / "sep", good)
    assert rc == 0, err
    folder = tmp_path / "sep" / "good"
    assert sorted(p.name for p in folder.iterdir()) == STEM_FILES
    line = out.strip()
    assert line.startswith("good.wav: 0.5 s of audio in ") and "RTF" in line
    assert "x real time" in line and len(out.strip().splitlines()) == 1
    info = probe(folder / "vocals.wav")
    assert (info.sample_rate, info.channels, info.subtype) == (SR, 2, "PCM_16")


def test_options_keep_rate_mono_stems_format_json(tmp_path, capfd, song, fast) -> None:
    src = write_audio(tmp_path / "m48.wav", song(24000, sr=48000, channels=1), sr=48000)
    report = tmp_path / "r" / "run.json"
    rc, out, err = run(capfd, *fast, "-o", tmp_path / "o", "--keep-rate", "--mono-out",
                       "--stems", "vocals,bass", "--format", "float32", "--json", report, src)
    assert rc == 0, err and out == ""
    folder = tmp_path / "o" / "m48"
    assert sorted(p.name for p in folder.iterdir()) == ["bass.wav", "vocals.wav"]
    y, sr = read_stem(folder / "bass.wav")
    assert sr == 48000 and y.shape == (1, 24000)
    assert probe(folder / "bass.wav").subtype == "FLOAT"
    data = json.loads(report.read_text())
    assert data["failed"] == 0 and data["backend"] == "eager" and data["keep_rate"] is True
    (track,) = data["tracks"]
    assert track["ok"] and track["output_rate"] == 48000 and track["frames"] == 24000
    assert set(track["outputs"]) == {"vocals", "bass"} and track["rtf"] > 0


def test_example_song(tmp_path, capfd, fast) -> None:
    rc, _, err = run(capfd, *fast, "-o", tmp_path, "--example", "--stems", "drums")
    assert rc == 0, err
    assert probe(tmp_path / "example" / "drums.wav").frames == probe(
        mobile_core.assets.EXAMPLE_SONG).frames


def test_no_tracks_is_a_usage_error(capfd) -> None:
    assert main([]) == 2
    err = capfd.readouterr().err
    assert "no tracks given" in err and len(err.strip().splitlines()) == 1


def test_unknown_stem_is_a_usage_error(tmp_path, capfd, good, fast) -> None:
    assert main([*fast, "--stems", "piano", str(good)]) == 2
    assert "unknown stem(s) piano" in capfd.readouterr().err


def test_missing_default_model_names_the_file(tmp_path, capfd, good, monkeypatch) -> None:
    missing = tmp_path / "assets" / "default_model.pt"
    monkeypatch.setattr(mobile_core.assets, "DEFAULT_MODEL", missing)
    rc, out, err = run(capfd, "-o", tmp_path / "o", good)
    assert rc == 1 and out == ""
    assert err.strip().splitlines() == [
        f"demix: error: the bundled default model {missing} is missing; pass a model file or "
        f"artifact with -m/--model"]


def test_chunk_seconds_is_for_model_files_only(tmp_path, capfd, good, artifacts) -> None:
    rc, _, err = run(capfd, "-m", artifacts("ptl"), "--chunk-seconds", "1", good)
    assert rc == 1 and "applies to .pt model files only" in err


def test_backend_must_match_the_file(tmp_path, capfd, good, tiny_model_file) -> None:
    rc, _, err = run(capfd, "-m", tiny_model_file, "--backend", "onnx", good)
    assert rc == 1 and "backend onnx cannot run" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit != 0, no traceback, no stems, input untouched


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, expected fragment of the reason)."""
    files: dict[str, tuple[Path, str]] = {}
    files["missing"] = (tmp / "nope.wav", "no such file")
    d = tmp / "folder.wav"
    d.mkdir()
    files["directory"] = (d, "is a folder")
    p = tmp / "empty.wav"
    sf.write(str(p), np.zeros((0, 2), np.float32), SR)
    files["zero-length"] = (p, "0 frames")
    p = tmp / "truncated.wav"
    sf.write(str(p), np.zeros((1000, 2), np.float32), SR)
    p.write_bytes(p.read_bytes()[:30])
    files["truncated-header"] = (p, "cannot open audio")
    p = tmp / "notes.wav"
    p.write_text("these are not the samples you are looking for\n" * 20)
    files["non-audio"] = (p, "not an audio file")
    for name, value in (("nan", math.nan), ("inf", math.inf)):
        x = 0.1 * np.ones((SR // 2, 2), np.float32)
        x[1234, 1] = value
        p = tmp / f"{name}.wav"
        sf.write(str(p), x, SR, subtype="FLOAT")
        files[name] = (p, "NaN" if name == "nan" else "+Inf")
    p = tmp / "one.wav"
    sf.write(str(p), np.zeros((1, 2), np.float32), SR)
    files["one-sample"] = (p, "too short")
    for rate in (1, 10_000_000):
        p = tmp / f"rate{rate}.wav"
        sf.write(str(p), np.zeros((SR, 2), np.float32), rate)
        files[f"rate-{rate}"] = (p, f"sample rate {rate} Hz is outside")
    return files


BAD = ["missing", "directory", "zero-length", "truncated-header", "non-audio", "nan", "inf",
       "one-sample", "rate-1", "rate-10000000"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input(tmp_path, capfd, fast, case: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    path, reason = _bad_files(inputs)[case]
    before = digest(path) if path.is_file() else None
    out_dir = tmp_path / "out"
    rc, out, err = run(capfd, *fast, "-o", out_dir, path)
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"demix: error: {path}") and reason in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    assert wavs_under(out_dir) == [] and not (out_dir / path.stem).exists()
    if before is not None:
        assert digest(path) == before


def test_unwritable_output_folder(tmp_path, capfd, good, fast) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a regular file\n")
    before = digest(good)
    rc, out, err = run(capfd, *fast, "-o", blocker / "out", good)
    lines = err.strip().splitlines()
    assert rc != 0 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"demix: error: {good}: cannot create output folder")
    assert digest(good) == before and wavs_under(blocker.parent / "out") == []


def test_one_bad_track_does_not_stop_the_others(tmp_path, capfd, song, fast) -> None:
    a = write_audio(tmp_path / "a.wav", song(SR // 2, seed=1))
    bad = tmp_path / "b.wav"
    bad.write_text("not audio")
    c = write_audio(tmp_path / "c.flac", song(SR // 2, seed=2), subtype="PCM_16")
    rc, _, err = run(capfd, *fast, "-o", tmp_path / "out", a, bad, c, "--json",
                     tmp_path / "s.json")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"demix: error: {bad}")
    for name in ("a", "c"):
        assert sorted(p.name for p in (tmp_path / "out" / name).iterdir()) == STEM_FILES
    assert not (tmp_path / "out" / "b").exists()
    report = json.loads((tmp_path / "s.json").read_text())
    assert [t["ok"] for t in report["tracks"]] == [True, False, True]
    assert report["failed"] == 1 and "not an audio file" in report["tracks"][1]["error"]


# ---------------------------------------------------------------------------------------------
# bad models / artifacts


def _bad_model(tmp: Path, artifacts, case: str) -> tuple[Path, str]:
    if case == "txt-renamed-pte":
        p = tmp / "model.pte"
        p.write_text("hello, I am text\n")
        return p, "is not a loadable ExecuTorch program"
    if case == "pte-version-999":
        return artifacts("pte-v999"), "artifact format version 999"
    if case == "ptl-wrong-kind":
        return artifacts("ptl-kind-pte"), "metadata says kind 'pte'"
    if case == "txt-renamed-pt":
        p = tmp / "model.pt"
        p.write_text("hello\n")
        return p, "is not a readable model file"
    if case == "onnx-garbage":
        p = tmp / "model.onnx"
        p.write_bytes(os.urandom(512))
        return p, "is not a loadable ONNX model"
    if case == "unknown-suffix":
        p = tmp / "model.bin"
        p.write_bytes(b"\0" * 10)
        return p, "unknown model file type"
    raise KeyError(case)


@pytest.mark.parametrize("case", ["txt-renamed-pte", "pte-version-999", "ptl-wrong-kind",
                                  "txt-renamed-pt", "onnx-garbage", "unknown-suffix"])
def test_bad_model(tmp_path, capfd, good, artifacts, case: str) -> None:
    model, reason = _bad_model(tmp_path, artifacts, case)
    rc, out, err = run(capfd, "-m", model, "-o", tmp_path / "out", good)
    lines = err.strip().splitlines()
    assert rc != 0 and len(lines) == 1, err
    assert lines[0].startswith(f"demix: error: {model}") and reason in lines[0], lines[0]
    assert "Traceback" not in err and wavs_under(tmp_path / "out") == []


def test_subprocess_bad_artifact_one_line(tmp_path, good, artifacts) -> None:
    """In a fresh process too (runtime import and load logs on fd 2 must stay hidden)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = digest(good)
    res = subprocess.run(
        [sys.executable, "-m", "mobile_core.cli.demix", "-m", str(artifacts("pte-v999")),
         "-o", str(tmp_path / "out"), str(good)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"demix: error: {artifacts('pte-v999')} has artifact format version 999; this build "
        f"reads version 1: re-export it with this version's demix-export"]
    assert res.stdout == "" and digest(good) == before and wavs_under(tmp_path / "out") == []


def test_pte_artifact_runs_from_the_command_line(tmp_path, capfd, artifacts, song) -> None:
    src = write_audio(tmp_path / "s.wav", song(SR // 3, seed=8))
    rc, out, err = run(capfd, "-m", artifacts("pte"), "--threads", "1", "-o", tmp_path / "o",
                       src)
    assert rc == 0, err
    assert err == "" and out.startswith("s.wav: ")
    y, _ = read_stem(tmp_path / "o" / "s" / "vocals.wav")
    assert y.shape == (2, SR // 3) and torch.isfinite(y).all()
