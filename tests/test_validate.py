"""``demix-validate``: PASS on identical stems, FAIL on every kind of mismatch, artifact mode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mobile_core.cli.validate import compare_dirs, main
from mobile_core.contract.backends import EagerBackend
from mobile_core.contract.runner import separate_file

from .conftest import SR, write_audio

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_sep, song) -> Path:
    """Runner output for two short tracks: REF/<track>/<stem>.wav (16-bit)."""
    root = tmp_path_factory.mktemp("validate")
    backend = EagerBackend(tiny_sep, chunk_hops=16)
    for i, name in enumerate(("one", "two")):
        src = write_audio(root / f"{name}.wav", song(SR // 3, seed=20 + i))
        separate_file(src, root / "ref" / name, backend)
    return root / "ref"


def _copy(reference: Path, tmp_path: Path) -> Path:
    cand = tmp_path / "cand"
    shutil.copytree(reference, cand)
    return cand


def _run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_identical_folders_pass(tmp_path, capsys, reference) -> None:
    cand = _copy(reference, tmp_path)
    rc, out, _ = _run(capsys, "--reference", reference, "--candidate", cand,
                      "--json", tmp_path / "r.json")
    assert rc == 0
    assert out.strip().splitlines()[-1].startswith("PASS: 8/8 stems")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is True and len(report["stems"]) == 8
    assert all(s["snr_db"] == "inf" and s["max_abs"] == 0.0 for s in report["stems"])


def _rewrite(path: Path, fn) -> None:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    data, sr = fn(data, sr)
    sf.write(str(path), data, sr, subtype="PCM_16")


@pytest.mark.parametrize(("case", "reason"), [
    ("perturbed", "SNR"),
    ("longer", "length"),
    ("shorter", "length"),
    ("rate", "sample rate 48000 != 44100"),
    ("mono", "channels 1 != 2"),
    ("missing", "missing in candidate"),
])
def test_mismatches_fail(tmp_path, capsys, reference, case: str, reason: str) -> None:
    cand = _copy(reference, tmp_path)
    target = cand / "two" / "drums.wav"
    rng = np.random.default_rng(0)
    if case == "perturbed":  # noise at about -20 dB of the stem
        _rewrite(target, lambda d, sr: (d + 0.1 * d.std() * rng.standard_normal(d.shape)
                                        .astype(np.float32), sr))
    elif case == "longer":
        _rewrite(target, lambda d, sr: (np.concatenate([d, d[:10]]), sr))
    elif case == "shorter":
        _rewrite(target, lambda d, sr: (d[:-1], sr))
    elif case == "rate":
        _rewrite(target, lambda d, sr: (d, 48000))
    elif case == "mono":
        _rewrite(target, lambda d, sr: (d[:, :1], sr))
    else:
        target.unlink()
    rc, out, _ = _run(capsys, "--reference", reference, "--candidate", cand)
    assert rc == 1
    lines = out.strip().splitlines()
    assert lines[-1].startswith("FAIL: 7/8 stems")
    (bad,) = [ln for ln in lines if "FAIL" in ln and "drums" in ln]
    assert "two/drums.wav" in bad and reason in bad


def test_thresholds(tmp_path, reference) -> None:
    """A small perturbation: FAIL at 60 dB, PASS at 20 dB (the int8 setting)."""
    cand = _copy(reference, tmp_path)
    target = cand / "one" / "vocals.wav"
    _rewrite(target, lambda d, sr: (d * 1.001 + 0.0, sr))  # -60 dB gain error
    strict = {r.name: r for r in compare_dirs(reference, cand, min_snr=70.0, max_abs=0.0)}
    loose = {r.name: r for r in compare_dirs(reference, cand, min_snr=20.0, max_abs=0.0)}
    name = str(Path("one") / "vocals.wav")
    assert not strict[name].passed and loose[name].passed
    assert 50 < strict[name].snr_db < 70


def test_missing_folder_is_an_error(tmp_path, capsys, reference) -> None:
    rc, _, err = _run(capsys, "--reference", reference, "--candidate", tmp_path / "nope")
    assert rc == 2 and err.strip() == (f"demix-validate: error: candidate folder "
                                       f"{tmp_path / 'nope'} does not exist")


def test_artifact_mode(tmp_path, capsys, artifacts, micro_model_file, tiny_model_file,
                       song) -> None:
    src = write_audio(tmp_path / "song.wav", song(SR // 2, seed=3))
    rc, out, err = _run(capsys, "--artifact", artifacts("onnx"), "--input", src,
                        "--model", micro_model_file, "--out", tmp_path / "kept",
                        "--json", tmp_path / "a.json")
    assert rc == 0, out + err
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["passed"] and report["backend"] == "onnx" and report["min_snr"] == 60.0
    assert min(s["snr_db"] for s in report["stems"]) > 100
    assert (tmp_path / "kept" / "candidate" / "song" / "bass.wav").is_file()
    rc, _, err = _run(capsys, "--artifact", artifacts("onnx"), "--input", src,
                      "--model", tiny_model_file)
    assert rc == 2 and "pass the matching model file with --model" in err
