"""Training: loss values by hand, overfitting a fixed batch, resume, torchrun/gloo (2 CPUs)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from export import train as train_mod
from export.train.device import Runtime
from export.train.losses import (
    TARGET_COMBINATIONS,
    complex_mse_loss,
    mask_sum_loss,
    separation_loss,
)
from mobile_core.model.cdae import CDAEConfig
from mobile_core.model.config import SeparatorConfig
from mobile_core.model.model_file import load_model
from mobile_core.model.separator import Separator
from mobile_core.transform.config import TRANSFORM_CONFIGS

SR = 44100
ROOT = Path(__file__).resolve().parents[1]
MICRO = SeparatorConfig("micro", TRANSFORM_CONFIGS["tiny"], CDAEConfig(hidden1=4, hidden2=4))


def stem_signals(seconds: float, seed: int) -> dict[str, np.ndarray]:
    """Four simple, distinct stereo stems ``[N, 2]`` (vocals, drums, bass, other)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 220.0 * 2 ** (rng.integers(0, 12) / 12)
    vocals = 0.2 * np.sin(2 * np.pi * f0 * t + 3 * np.sin(2 * np.pi * 5 * t))
    env = np.exp(-30.0 * (t % 0.25))
    drums = 0.3 * env * rng.standard_normal(n)
    bass = 0.3 * np.sin(2 * np.pi * (f0 / 4) * t)
    other = 0.1 * np.sign(np.sin(2 * np.pi * f0 * 1.5 * t)) * (1 + 0.5 * np.sin(2 * np.pi * t))
    out = {}
    for i, (name, x) in enumerate(
        {"vocals": vocals, "drums": drums, "bass": bass, "other": other}.items()
    ):
        pan = 0.3 + 0.1 * i
        out[name] = np.stack([x * (1 - pan), x * pan], axis=1).astype(np.float32)
    return out


def make_corpus(root: Path, n_train: int = 3, n_test: int = 2, seconds: float = 2.0) -> Path:
    """A MUSDB-layout folder of synthetic tracks (float WAV); the last train track is valid."""
    names = {"train": [f"song{i:02d}" for i in range(n_train)],
             "test": [f"test{i:02d}" for i in range(n_test)]}
    for split, tracks in names.items():
        for k, name in enumerate(tracks):
            d = root / split / name
            d.mkdir(parents=True)
            stems = stem_signals(seconds, seed=k + (100 if split == "test" else 0))
            for stem, x in stems.items():
                sf.write(d / f"{stem}.wav", x, SR, subtype="FLOAT")
            sf.write(d / "mixture.wav", sum(stems.values()), SR, subtype="FLOAT")
    (root / "corpus.json").write_text(json.dumps({"valid_tracks": names["train"][-1:]}))
    return root


def micro_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "micro.json"
    path.write_text(json.dumps(MICRO.to_dict()))
    return path


# -- the loss, by hand -------------------------------------------------------------------------


def test_complex_mse_by_hand() -> None:
    # one coefficient per target, real part j + 1, imaginary 0; estimates all zero
    tgt = torch.zeros(1, 4, 1, 1, 1, 1, 2)
    tgt[0, :, 0, 0, 0, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    est = torch.zeros_like(tgt)
    # singles: (1 + 4 + 9 + 16) / 2 (mean over re, im) / 4 targets
    assert complex_mse_loss([est], [tgt], combinations=False).item() == pytest.approx(3.75)
    # 14 sets: singles 1,4,9,16; pairs 9,16,25,25,36,49; triples 36,49,64,81 -> 420 / 2 / 14
    assert len(TARGET_COMBINATIONS) == 14
    assert complex_mse_loss([est], [tgt]).item() == pytest.approx(15.0)
    # averaged over blocks: a second, perfect block halves it
    assert complex_mse_loss([est, tgt], [tgt, tgt]).item() == pytest.approx(7.5)


def test_complex_mse_matches_explicit_combinations() -> None:
    g = torch.Generator().manual_seed(0)
    est = [torch.randn(2, 4, 2, f, 3, t, 2, generator=g) for f, t in ((3, 5), (1, 8))]
    tgt = [torch.randn(e.shape, generator=g) for e in est]
    ref = sum(
        sum(((e[:, list(k)] - t[:, list(k)]).sum(1) ** 2).mean() for k in TARGET_COMBINATIONS)
        / 14 for e, t in zip(est, tgt)
    ) / 2
    assert complex_mse_loss(est, tgt).item() == pytest.approx(ref.item(), rel=1e-6)


def test_mask_sum_by_hand() -> None:
    half = torch.full((1, 4, 2, 3, 2, 4), 0.5)  # sums to 2: error 1
    quarter = torch.full((1, 4, 2, 1, 2, 6), 0.25)  # sums to 1: error 0
    assert mask_sum_loss([half]).item() == pytest.approx(1.0)
    assert mask_sum_loss([half, quarter]).item() == pytest.approx(0.5)
    masks = [torch.zeros(1, 4, 1, 1, 1, 2)]
    masks[0][0, 0] = 0.7  # sums to 0.7: error 0.09
    assert mask_sum_loss(masks).item() == pytest.approx(0.09)
    tgt = torch.ones(1, 4, 1, 1, 1, 2, 2)
    total, mse, msum = separation_loss([torch.zeros_like(tgt)], [tgt], masks)
    assert total.item() == pytest.approx(mse.item() + msum.item())
    assert mse.item() == pytest.approx((4 * 1 + 6 * 4 + 4 * 9) / 14)  # singles, pairs, triples


# -- training ------------------------------------------------------------------------------------


def _fixed_batch(seconds: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    stems = stem_signals(seconds, seed=3)
    targets = torch.from_numpy(np.stack([stems[s].T for s in ("vocals", "drums", "bass",
                                                              "other")]))[None]
    return targets.sum(1), targets  # [1, 2, N], [1, 4, 2, N]


def test_overfits_a_fixed_batch() -> None:
    torch.manual_seed(0)
    sep = Separator(MICRO)
    rt = Runtime(torch.device("cpu"))
    mix, targets = _fixed_batch()
    opt = torch.optim.AdamW(sep.masknet.parameters(), lr=1e-2)
    losses, mses = [], []
    for _ in range(30):
        total, mse, _ = train_mod.compute_loss(sep, sep.masknet, mix, targets, rt)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
        mses.append(mse.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert mses[-1] < 0.8 * mses[0], mses  # the separation term learns too, not only the sum


def _run(tmp_path: Path, data: Path, out: str, *extra: str) -> Path:
    args = ["--data", str(data), "--config", str(micro_config_file(tmp_path)),
            "--out", str(tmp_path / out), "--batch-size", "2", "--seq-dur", "0.5",
            "--samples-per-track", "2", "--valid-seq-dur", "0.5", "--workers", "0",
            "--epochs", "10", "--step-log", "--quiet", *extra]
    assert train_mod.main(args) == 0
    return tmp_path / out


def _step_losses(out: Path) -> dict[int, float]:
    with (out / train_mod.STEP_CSV).open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def test_resume_continues_exactly(tmp_path: Path) -> None:
    data = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.5)
    # 2 train tracks x 2 excerpts / batch 2 = 2 steps per epoch: stop mid-epoch 1 at step 3
    part = _run(tmp_path, data, "run", "--max-steps", "3")
    ck = torch.load(part / train_mod.CHECKPOINT, weights_only=False)
    assert ck["progress"]["step"] == 3 and ck["progress"]["epoch"] == 1
    assert ck["progress"]["batch"] == 1
    assert ck["optimizer"]["state"]  # Adam moments are saved
    _run(tmp_path, data, "run", "--max-steps", "5", "--resume")
    full = _run(tmp_path, data, "full", "--max-steps", "5")
    resumed, straight = _step_losses(part), _step_losses(full)
    assert sorted(resumed) == [1, 2, 3, 4, 5]
    for step in (4, 5):
        assert resumed[step] == pytest.approx(straight[step], rel=1e-5, abs=1e-7)
    a = torch.load(part / train_mod.CHECKPOINT, weights_only=False)
    b = torch.load(full / train_mod.CHECKPOINT, weights_only=False)
    assert a["progress"]["step"] == b["progress"]["step"] == 5
    for name, value in b["masknet"].items():
        torch.testing.assert_close(a["masknet"][name], value, rtol=1e-5, atol=1e-6)
    model = load_model(full / train_mod.BEST_MODEL)
    assert model.config.name == "micro" and model.info["trainer"] == "demix-train"


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    data = make_corpus(tmp_path / "data", n_train=3, n_test=1, seconds=1.5)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "export.train", "--data", str(data), "--config",
           str(micro_config_file(tmp_path)), "--out", str(out), "--batch-size", "1",
           "--seq-dur", "0.5", "--samples-per-track", "2", "--valid-seq-dur", "0.5",
           "--workers", "0", "--threads", "1", "--epochs", "2", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = torch.load(out / train_mod.CHECKPOINT, weights_only=False)
    assert ck["world_size"] == 2
    # 4 items over 2 ranks at batch 1: 2 steps per epoch, 2 epochs
    assert ck["progress"]["step"] == 4 and ck["progress"]["epoch"] == 2
    with (out / train_mod.LOG_CSV).open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(np.isfinite(float(r["valid_loss"])) for r in rows)
    single = Separator(MICRO).masknet.state_dict()
    assert {k: v.shape for k, v in ck["masknet"].items()} == {k: v.shape for k, v in
                                                              single.items()}
    assert load_model(out / train_mod.BEST_MODEL).config.name == "micro"
