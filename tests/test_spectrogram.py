"""The ragged sliCQT picture puts energy where the signal has it."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from mobile_core.cli.spectrogram import block_images, main, render
from mobile_core.transform.slicqt import SliCQT, magnitude


def test_tone_lights_the_row_of_its_frequency():
    t = SliCQT.from_config("tiny")
    n = 44100
    tone = torch.sin(2 * np.pi * 2000.0 * torch.arange(n) / 44100.0)[None, None]
    mags = [m[0, 0] for m in magnitude(t(tone))]
    level = np.concatenate([im.mean(axis=1) for im in block_images(mags)])  # low to high
    assert level.shape[0] == t.n_channels
    loudest = int(np.argmax(level))
    nearest = int(np.argmin(np.abs(np.array(t.freqs) - 2000.0)))
    assert abs(loudest - nearest) <= 1
    rgb = render(mags, width=64, row_height=2)
    assert rgb.shape == (2 * t.n_channels, 64, 3) and rgb.dtype == np.uint8
    row = rgb.shape[0] - 1 - 2 * loudest  # image rows run top (high) to bottom (low)
    assert rgb[row].sum() > rgb[rgb.shape[0] - 1].sum()


def test_cli_writes_png(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal((22050, 2)) * 0.1, 22050)
    out = tmp_path / "a.png"
    assert main([str(wav), "-o", str(out), "--config", "tiny", "--width", "100"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 100  # IHDR width


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demix-spectrogram: error:") and "\n" not in err
