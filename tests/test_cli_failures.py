"""Issue 16, ``demix``: nothing lost, nothing half-written, one line per error.

Every case runs the real console script in a subprocess and checks the exit status, a single
stderr line, no traceback, no file left behind and the input unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mobile_core.contract import audio as audio_mod
from mobile_core.contract.backends import available_cores, backend_for_path, open_backend
from mobile_core.contract.runner import separate
from mobile_core.errors import AudioError
from mobile_core.model.model_file import save_model
from mobile_core.model.separator import Separator

from .conftest import SR, digest
from .conftest import write_audio as _write_audio

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STEMS = ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]


def write_audio(path: Path, x: torch.Tensor, **kw: object) -> Path:
    """``conftest.write_audio``, creating the folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_audio(path, x, **kw)


def cli(tool: str, *args: object, cwd: Path | None = None, timeout: float = 180,
        **kw: object) -> subprocess.CompletedProcess:
    """Run a console script of this package; text output captured unless redirected."""
    kw.setdefault("capture_output", True)
    return subprocess.run([str(BIN / tool), *map(str, args)], cwd=cwd, env=ENV, text=True,
                          timeout=timeout, **kw)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> its digest."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_error(res: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """Assert the status, exactly one stderr line, no traceback; returns the line."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == status, res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def wav(tmp_path, song) -> Path:
    return write_audio(tmp_path / "in" / "song.wav", song(SR // 2, seed=1), subtype="PCM_16")


@pytest.fixture()
def fast(tiny_model_file) -> list[str]:
    return ["-m", str(tiny_model_file), "--chunk-seconds", "0.4", "-q"]


# 1. two inputs, one folder ---------------------------------------------------------------------


@pytest.mark.parametrize("second", ["b/song.wav", "song.flac"])
def test_clashing_names_are_refused_before_any_work(tmp_path, song, fast, second) -> None:
    a = write_audio(tmp_path / "a" / "song.wav", song(SR // 2, seed=1), subtype="PCM_16")
    b = write_audio(tmp_path / second, song(SR // 2, seed=2), subtype="PCM_16")
    before = snapshot(tmp_path)
    res = cli("demix", *fast, a, b, "-o", tmp_path / "out")
    one_error(res, 1, str(a), str(b), "both write")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_the_same_input_twice_is_processed_once(tmp_path, wav, tiny_model_file) -> None:
    res = cli("demix", "-m", tiny_model_file, "--chunk-seconds", "0.4", wav,
              wav.parent / ".." / "in" / "song.wav", "-o", tmp_path / "out")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert len(res.stdout.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == STEMS


# 2. never over an input ------------------------------------------------------------------------


def test_a_stem_is_never_written_over_its_input(tmp_path, song, fast) -> None:
    src = write_audio(tmp_path / "d" / "vocals" / "vocals.wav", song(SR // 2, seed=3))
    before = snapshot(tmp_path)
    res = cli("demix", *fast, src, "-o", tmp_path / "d")
    one_error(res, 1, "over this input")
    assert snapshot(tmp_path) == before


def test_json_is_never_written_over_an_input(tmp_path, wav, fast) -> None:
    before = snapshot(tmp_path)
    one_error(cli("demix", *fast, wav, "--json", wav, "-o", tmp_path / "out"), 1, "--json")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# 3 and 5. signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                        (signal.SIGHUP, 129)])
def test_a_signal_removes_partial_files(tmp_path, fast, sig, status) -> None:
    rng = np.random.default_rng(0)
    src = tmp_path / "long.wav"
    sf.write(src, (0.1 * rng.standard_normal((SR * 90, 2))).astype(np.float32), SR,
             subtype="PCM_16")
    before = snapshot(tmp_path)
    folder = tmp_path / "out" / "long"
    # the default disposition in the child: a test run under nohup (SIGHUP ignored, which demix
    # honours on purpose) must still test the handler
    proc = subprocess.Popen([str(BIN / "demix"), *fast, str(src), "-o", str(tmp_path / "out")],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (folder.is_dir() and any(".partial-" in p.name for p in folder.iterdir())):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no partial files appeared"
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# 4. closed or full stdout ----------------------------------------------------------------------


def test_a_closed_stdout_does_not_stop_the_work(tmp_path, song, tiny_model_file) -> None:
    tracks = [write_audio(tmp_path / f"t{i}.wav", song(SR // 2, seed=i)) for i in range(3)]
    proc = subprocess.Popen([str(BIN / "demix"), "-m", str(tiny_model_file), "--chunk-seconds",
                             "0.4", *map(str, tracks), "-o", str(tmp_path / "out")], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()  # `| head -n 1`
    err = proc.stderr.read()
    proc.wait(timeout=180)
    assert first.startswith("t0.wav:")
    assert proc.returncode == 0 and err == "", err
    for i in range(3):
        assert sorted(p.name for p in (tmp_path / "out" / f"t{i}").iterdir()) == STEMS


def test_a_full_stdout_warns_once_and_the_work_goes_on(tmp_path, wav, tiny_model_file) -> None:
    with open("/dev/full", "w") as full:
        res = cli("demix", "-m", tiny_model_file, "--chunk-seconds", "0.4", wav, "-o",
                  tmp_path / "out", stdout=full, stderr=subprocess.PIPE, capture_output=False)
    one_error(res, 0, "No space left on device")
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == STEMS


# 6. chunk length -------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["inf", "1e9", "1e300", "nan", "-1"])
def test_impossible_chunk_lengths_are_one_line(tmp_path, wav, tiny_model_file, seconds) -> None:
    before = snapshot(tmp_path)
    res = cli("demix", "-m", tiny_model_file, "--chunk-seconds", seconds, wav, "-o",
              tmp_path / "out")
    one_error(res, 1, "chunk")
    assert snapshot(tmp_path) == before


# 7. --json checked first -----------------------------------------------------------------------


def test_an_unwritable_json_is_refused_before_any_work(tmp_path, wav, fast) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = snapshot(tmp_path)
    res = cli("demix", *fast, wav, "--json", blocker / "r.json", "-o", tmp_path / "out")
    one_error(res, 1, "--json")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# 8. the MP3 decoder's chatter ------------------------------------------------------------------


def test_decoder_chatter_stays_off_the_terminal(tmp_path, fast) -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal((SR, 2))).astype(np.float32)
    good = tmp_path / "good.mp3"
    sf.write(good, x, SR, format="MP3")
    bad = tmp_path / "bad.mp3"
    noise = np.random.default_rng(1).integers(0, 256, 4000).astype(np.uint8).tobytes()
    bad.write_bytes(good.read_bytes()[:400] + noise)
    before = snapshot(tmp_path)
    line = one_error(cli("demix", *fast, bad, "-o", tmp_path / "out"), 1, str(bad))
    assert "decoder:" in line
    assert snapshot(tmp_path) == before


# 9. the OS's reason ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_system_errors_give_the_os_reason(code) -> None:
    sf._ffi.errno = code  # what libsndfile's failed write or open left behind
    reason = audio_mod._reason(sf.LibsndfileError(2))  # libsndfile's "System error."
    assert reason == os.strerror(code)


def test_a_full_disk_is_named_through_demix(tmp_path, wav) -> None:
    """A 256 KiB tmpfs holds less than the four stems: one line with the OS's reason (mounting
    needs root, which CI and the dev boxes are; Permission denied cannot be provoked as root,
    hence the in-process test above)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a small tmpfs: {mounted.stderr}"
    try:
        long = write_audio(tmp_path / "long.wav", torch.randn(2, 2 * SR) * 0.1,
                           subtype="PCM_16")
        line = one_error(cli("demix", "-q", long, "-o", disk), 1, "No space left on device")
        assert "System error" not in line
        assert list(disk.iterdir()) == []  # no partial stem, no song folder
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# 10. odd paths ---------------------------------------------------------------------------------


def test_an_odd_path_is_printed_once_on_one_line(tmp_path, fast) -> None:
    odd = tmp_path / "a  b\nc.wav"
    line = one_error(cli("demix", *fast, odd, "-o", tmp_path / "out"), 1)
    assert line.count("a  b\\nc.wav") == 1 and "no such file" in line


# 11. threads capped ----------------------------------------------------------------------------


def test_threads_are_capped_at_the_cores(tmp_path, wav, tiny_model_file) -> None:
    report = tmp_path / "r.json"
    res = cli("demix", "-m", tiny_model_file, "--chunk-seconds", "0.4", "--threads", "1000",
              "-q", wav, "-o", tmp_path / "out", "--json", report)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert 1 <= json.loads(report.read_text())["workers"] <= available_cores()
    open_backend(tiny_model_file, threads=1000)
    assert torch.get_num_threads() <= available_cores()


# 12. model files by content --------------------------------------------------------------------


def test_a_model_file_is_recognised_by_its_content(tmp_path, wav, tiny_model_file) -> None:
    renamed = tmp_path / "my.model"
    renamed.write_bytes(tiny_model_file.read_bytes())
    assert backend_for_path(renamed) == "eager"
    res = cli("demix", "-m", renamed, "--chunk-seconds", "0.4", "-q", wav, "-o",
              tmp_path / "out")
    assert res.returncode == 0, res.stderr
    text = tmp_path / "notes.model"
    text.write_text("hello")
    one_error(cli("demix", "-m", text, wav, "-o", tmp_path / "o2"), 1, "unknown model file")


@pytest.mark.parametrize("kind", ["pte", "ptl", "onnx", "ort"])
def test_an_artifact_is_recognised_by_its_content(tmp_path, wav, artifacts, kind) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(artifacts(kind).read_bytes())
    assert backend_for_path(renamed) == kind
    res = cli("demix", "-m", renamed, "-q", wav, "-o", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == [
        "bass.wav", "drums.wav", "other.wav", "vocals.wav"]


# 13. non-finite stems --------------------------------------------------------------------------


def test_a_model_with_nan_weights_writes_nothing(tmp_path, wav, tiny_sep) -> None:
    sep = Separator(tiny_sep.config)
    sep.load_state_dict(tiny_sep.state_dict())
    with torch.no_grad():
        next(sep.masknet.parameters()).fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    save_model(sep, bad)
    before = snapshot(tmp_path)
    res = cli("demix", "-m", bad, "--chunk-seconds", "0.4", wav, "-o", tmp_path / "out")
    one_error(res, 1, "non-finite")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# 22. the Python API's entry checks ---------------------------------------------------------------


def test_separator_checks_its_input(tiny_sep) -> None:
    x = torch.randn(1, 2, 8000) * 0.1
    # (mono [B, 1, N] is converted, as the contract converts it: tests/test_inference.py)
    for bad in (x[0], x[:, :, None], torch.zeros(1, 2, 8000, dtype=torch.int16)):
        with pytest.raises(ValueError, match=r"mix\[B, 2, N\]|floating-point"):
            tiny_sep(bad)
    with torch.no_grad():
        y32 = tiny_sep(x)
        y64 = tiny_sep(x.double())  # converted to the weights' dtype, as the contract does
    assert y64.dtype == torch.float32 and torch.allclose(y32, y64)


def test_separate_refuses_nan(tiny_model_file) -> None:
    backend = open_backend(tiny_model_file, chunk_seconds=0.4)
    mix = torch.zeros(2, 8000)
    mix[0, 10] = float("nan")
    with pytest.raises(AudioError, match="NaN"):
        separate(mix, backend)
