"""Issue 16, the other console scripts: one line per error, no code run from a checkpoint, no run
or dataset overwritten, no input written over, nothing half-written.

CLI cases run the real console scripts in subprocesses (see ``test_cli_failures.cli``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from export.convert_upstream import check_weights
from export.data.synth.folder import MARKER, claim_folder, remove_stale_songs
from export.train.checkpoint import CHECKPOINT, LOG_CSV
from mobile_core.cli.guard import one_line
from mobile_core.errors import DemixError
from mobile_core.model.model_file import save_model
from mobile_core.model.separator import Separator

from .test_cli_failures import BIN, ENV, cli, one_error, snapshot
from .test_train import MICRO, make_corpus

SR = 44100


class _Planted:
    """Unpickling this runs ``open(marker, "w")``: the code a crafted checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def _fake_checkpoint(path: Path, config: dict, extra: object = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "masknet": {}, "optimizer": {}, "scheduler": {},
                "progress": {}, "rng": {}, "planted": extra}, path)


@pytest.fixture()
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    return root


# 15. a crafted checkpoint never runs ------------------------------------------------------------


def test_resume_refuses_a_checkpoint_carrying_code(tmp_path, data) -> None:
    marker = tmp_path / "pwned"
    _fake_checkpoint(tmp_path / "run" / CHECKPOINT, MICRO.to_dict(), _Planted(marker))
    before = snapshot(tmp_path)
    res = cli("demix-train", "--data", data, "--out", tmp_path / "run", "--resume")
    one_error(res, 1, "--resume", "refused")
    assert not marker.exists() and snapshot(tmp_path) == before


# 16. a run is never overwritten silently --------------------------------------------------------


def test_an_out_holding_a_run_needs_resume_or_overwrite(tmp_path, data) -> None:
    run = tmp_path / "run"
    _fake_checkpoint(run / CHECKPOINT, MICRO.to_dict())
    (run / LOG_CSV).write_text("epoch\n0\n")
    before = snapshot(tmp_path)
    one_error(cli("demix-train", "--data", data, "--out", run), 1, "already holds a run",
              "--overwrite")
    one_error(cli("demix-train", "--data", data, "--out", run, "--resume", "--config", "tiny"),
              1, "differs")
    assert snapshot(tmp_path) == before


# 17. NaN stops with one line ---------------------------------------------------------------------


def test_training_on_a_nan_sample_stops_at_once(tmp_path) -> None:
    root = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.0)
    for song in ("song00", "song01"):  # the training tracks (song02 is the valid one)
        stem = root / "train" / song / "vocals.wav"
        x, _ = sf.read(stem, dtype="float32")
        x[::2000, 0] = np.nan  # a NaN in every excerpt the loader can draw
        sf.write(stem, x, SR, subtype="FLOAT")
    cfg = tmp_path / "micro.json"
    cfg.write_text(json.dumps(MICRO.to_dict()))
    before = snapshot(tmp_path)
    res = cli("demix-train", "--data", root, "--config", cfg, "--out", tmp_path / "run",
              "--batch-size", "2", "--seq-dur", "0.5", "--samples-per-track", "2",
              "--valid-seq-dur", "0.5", "--workers", "0", "--epochs", "3", "--stats-tracks",
              "0", "--quiet", "--threads", "1")
    one_error(res, 1, "not finite", "NaN")
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()


def test_converter_refuses_nan_weights_and_negative_variances() -> None:
    with pytest.raises(DemixError, match="NaN"):
        check_weights({"a.weight": torch.tensor([1.0, float("nan")])}, "up.pth")
    with pytest.raises(DemixError, match="infinite"):
        check_weights({"a.weight": torch.tensor([float("inf")])}, "up.pth")
    with pytest.raises(DemixError, match="variance"):
        check_weights({"bn.running_var": torch.tensor([1.0, -0.5])}, "up.pth")
    check_weights({"bn.running_var": torch.tensor([1.0, 0.5])}, "up.pth")


def test_export_refuses_a_nan_model(tmp_path, micro_sep) -> None:
    sep = Separator(micro_sep.config)
    sep.load_state_dict(micro_sep.state_dict())
    with torch.no_grad():
        next(sep.masknet.parameters()).fill_(float("nan"))
    save_model(sep, tmp_path / "nan.pt")
    before = snapshot(tmp_path)
    res = cli("demix-export", "--model", tmp_path / "nan.pt", "-o", tmp_path / "out", "--quiet")
    one_error(res, 2, "NaN")
    assert snapshot(tmp_path) == before


def test_eval_refuses_nan_audio(tmp_path, micro_model_file) -> None:
    root = make_corpus(tmp_path / "data", n_train=1, n_test=1, seconds=0.5)
    stem = root / "test" / "test00" / "bass.wav"
    x, _ = sf.read(stem, dtype="float32")
    x[5, 1] = np.inf
    sf.write(stem, x, SR, subtype="FLOAT")
    before = snapshot(tmp_path)
    res = cli("demix-eval", "--data", root, "--model", micro_model_file, "--quiet")
    one_error(res, 2, "test00", "NaN or Inf")
    assert snapshot(tmp_path) == before


# 18. the spectrogram never replaces its input or writes into the package ----------------------


def test_spectrogram_never_writes_over_its_input(tmp_path) -> None:
    src = tmp_path / "song.wav"
    sf.write(src, np.zeros((SR // 2, 2), np.float32), SR)
    before = snapshot(tmp_path)
    one_error(cli("demix-spectrogram", src, "-o", src), 1, "over the input")
    import mobile_core.assets as assets

    inside = Path(assets.__file__).parent / "x.png"
    one_error(cli("demix-spectrogram", "--example", "-o", inside), 1, "installed package")
    assert snapshot(tmp_path) == before and not inside.exists()
    res = cli("demix-spectrogram", "--example", "--config", "tiny", "--width", "64",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "example.png").read_bytes()[:4] == b"\x89PNG"


# 19. the synthetic corpus manages only its own folder ------------------------------------------


def test_synth_refuses_a_folder_it_did_not_create(tmp_path) -> None:
    user = tmp_path / "mine"
    (user / "train" / "my song").mkdir(parents=True)
    (user / "corpus.json").write_text(json.dumps({"valid_tracks": ["my song"]}))
    before = snapshot(tmp_path)
    one_error(cli("demix-data", "synth", "--out", user, "--songs", "1"), 2, "did not write")
    assert snapshot(tmp_path) == before


def test_synth_removes_only_its_own_stale_songs(tmp_path) -> None:
    out = tmp_path / "corpus"
    claim_folder(out)
    assert (out / MARKER).is_file()
    for name in ("synth00000", "synth00001", "synth00002", "keep"):
        (out / "train" / name).mkdir(parents=True)
    removed = remove_stale_songs(out, 1)
    assert sorted(p.name for p in removed) == ["synth00001", "synth00002"]
    assert sorted(p.name for p in (out / "train").iterdir()) == ["keep", "synth00000"]
    claim_folder(out)  # its own folder: accepted again


# 20. one line instead of a traceback ------------------------------------------------------------


def _cases(tmp: Path, wav: Path, text: Path, data: Path) -> list[tuple]:
    return [
        ("demix-train", ["--data", tmp / "missing", "--out", tmp / "r"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--batch-size", "0"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--seq-dur", "nan"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--device", "tpu"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--config", "nope"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--epochs", "0"], 1),
        ("demix-train", ["--data", data, "--out", tmp / "r", "--lr", "1e12"], 1),
        ("demix-eval", ["--data", data, "--split", "test"], 2),
        ("demix-eval", ["--data", data, "--threads", "-1"], 2),
        ("demix-convert-upstream", [wav, tmp / "m.pt"], 2),
        ("demix-convert-upstream", [text, tmp / "m.pt"], 2),
        ("demix-convert-upstream", [text, tmp], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--hours", "nan"], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--hours", "inf"], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "0"], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--seed", "-1"], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--soundfont", text], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--soundfonts", text], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--soundfonts", "auto",
                        wav], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--heldout-soundfont",
                        "opl3"], 2),
        ("demix-data", ["synth", "--out", tmp / "c", "--songs", "1", "--sung-probability",
                        "1.5"], 2),
        ("demix-export", ["--model", wav, "-o", tmp / "x"], 2),
        ("demix-export", ["--model", "tiny", "--chunk-seconds", "inf", "-o", tmp / "x"], 2),
        ("demix-export", ["--model", "tiny", "--chunk-seconds", "1e9", "-o", tmp / "x"], 2),
        ("demix-spectrogram", [wav, "--width", "1000000000000"], 2),
        ("demix-spectrogram", [wav, "--width", "1e12"], 2),
        ("demix-validate", ["--reference", tmp / "none", "--candidate", tmp / "none"], 2),
    ]


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path) -> None:
    wav = tmp_path / "song.wav"
    sf.write(wav, np.zeros((SR // 2, 2), np.float32), SR)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    before = snapshot(tmp_path)
    for tool, args, status in _cases(tmp_path, wav, text, data):
        res = cli(tool, *args)
        assert res.returncode == status, (tool, args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr, (tool, args, res.stderr)
        assert lines[0].startswith(f"{tool}: error: "), lines[0]
        assert snapshot(tmp_path) == before, (tool, args)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt", "song.wav"]


def test_ctrl_c_in_training_is_one_line(tmp_path) -> None:
    root = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.0)
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        [str(BIN / "demix-train"), "--data", str(root), "--config", "tiny", "--out",
         str(tmp_path / "run"), "--workers", "0", "--quiet", "--threads", "1"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "demix-train: interrupted"
    assert "Traceback" not in err and snapshot(tmp_path) == before
    assert not (tmp_path / "run").exists()


# 21. nothing half-written ------------------------------------------------------------------------


def test_validate_json_to_a_folder_leaves_no_partial(tmp_path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    sf.write(ref / "vocals.wav", np.zeros((1000, 2), np.float32), SR)
    target = tmp_path / "report"
    target.mkdir()
    before = snapshot(tmp_path)
    res = cli("demix-validate", "--reference", ref, "--candidate", ref, "--json", target)
    one_error(res, 2, "is a folder")
    assert snapshot(tmp_path) == before and list(target.iterdir()) == []


def test_golden_stopped_mid_run_leaves_nothing(tmp_path) -> None:
    out = tmp_path / "golden"
    proc = subprocess.Popen([str(BIN / "demix-golden"), "--out", str(out), "--configs", "tiny"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".golden.partial-") and any(p.rglob("*.bin"))
                      for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip() == "demix-golden: terminated by SIGTERM"
    assert list(tmp_path.iterdir()) == []


def test_one_line_escapes_control_characters_only() -> None:
    assert one_line("a  b\nc\td") == "a  b\\nc\\td"


# 20. the remaining data cases of demix-train and demix-eval, through the real scripts ------------

def _train(root: Path, out: Path, *extra: object) -> subprocess.CompletedProcess:
    return cli("demix-train", "--data", root, "--out", out, "--config", "tiny", "--epochs", "1",
               "--batch-size", "1", "--seq-dur", "0.5", "--samples-per-track", "1",
               "--workers", "0", "--quiet", "--threads", "1", *extra)


@pytest.mark.parametrize("damage", ["48kHz", "6 channels", "corrupt stem"])
def test_train_and_eval_refuse_a_damaged_track_in_one_line(tmp_path, damage) -> None:
    root = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.0)
    for split, song in (("train", "song00"), ("test", "test00")):
        stem = root / split / song / "bass.wav"
        if damage == "48kHz":
            sf.write(stem, np.zeros((48000, 2), np.float32), 48000, subtype="FLOAT")
        elif damage == "6 channels":
            sf.write(stem, np.zeros((SR, 6), np.float32), SR, subtype="FLOAT")
        else:
            stem.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    before = snapshot(tmp_path)
    line = one_error(_train(root, tmp_path / "run"), 1, "demix-train: error: ")
    assert "bass.wav" in line or "song00" in line, line
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()
    model = tmp_path / "m.pt"
    save_model(Separator(MICRO), model)
    before = snapshot(tmp_path)
    line = one_error(cli("demix-eval", "--data", root, "--model", model, "--split", "test"), 2,
                     "demix-eval: error: ")
    assert "bass.wav" in line or "test00" in line, line
    assert snapshot(tmp_path) == before


def test_train_refuses_a_corrupt_checkpoint_and_an_out_that_is_a_file(tmp_path) -> None:
    root = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes(b"this is not a checkpoint")
    afile = tmp_path / "afile"
    afile.write_text("x")
    before = snapshot(tmp_path)
    one_error(_train(root, run, "--resume"), 1, "demix-train: error: ", str(CHECKPOINT))
    one_error(_train(root, afile), 1, "demix-train: error: ", "afile")
    assert snapshot(tmp_path) == before


# 17 and 19 through the real scripts --------------------------------------------------------------

@pytest.mark.parametrize("damage, needle", [("nan", "NaN"), ("inf", "infinite"),
                                            ("variance", "variance")])
def test_converter_script_refuses_damaged_weights(tmp_path, damage, needle) -> None:
    from .test_convert_upstream import random_upstream

    sep = Separator.from_config("tiny")
    blocks = list(zip(sep.transform.block_channels, sep.transform.block_lengths))
    state = random_upstream(blocks, seed=3).state_dict()
    if damage == "variance":
        key = next(k for k in state if k.endswith("running_var"))
        state[key] = -state[key].abs() - 1.0
    else:
        key = next(k for k in state if k.endswith("weight"))
        state[key] = state[key].clone()
        state[key].view(-1)[0] = float("nan") if damage == "nan" else float("inf")
    ckpt = tmp_path / "xumx_slicq_v2.pth"
    torch.save(state, ckpt)
    before = snapshot(tmp_path)
    one_error(cli("demix-convert-upstream", ckpt, tmp_path / "out.pt", "--config", "tiny"), 2,
              needle)
    assert snapshot(tmp_path) == before


def test_synth_script_rerun_with_fewer_songs_leaves_no_stale_song(tmp_path) -> None:
    out = tmp_path / "corpus"
    args = ["synth", "--out", out, "--seconds-per-song", "2", "--test-fraction", "0",
            "--valid-fraction", "0", "--workers", "1", "--quiet", "--no-midi"]
    first = cli("demix-data", *args, "--songs", "3", timeout=600)
    assert first.returncode == 0, first.stderr
    songs = sorted(p.name for p in (out / "train").iterdir())
    assert len(songs) == 3
    second = cli("demix-data", *args, "--songs", "2", timeout=600)
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in (out / "train").iterdir()) == songs[:2]
    listed = json.loads((out / "corpus.json").read_text())
    assert songs[2] not in json.dumps(listed)
