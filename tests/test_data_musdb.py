"""MUSDB18-HQ layout loader on a tiny folder written by the test itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from export.data.musdb import MUSDB_VALID_TRACKS, SOURCES, MUSDBDataset, find_tracks

SR = 44100
SECONDS = 2.0
VALID_NAME = "Actions - One Minute Smile"
TRAIN_NAMES = ["Artist A - Song 1", "Artist B - Song 2", "Artist C - Song 3"]
TEST_NAMES = ["Artist D - Test Song"]


def _stem_signal(track: int, k: int, frames: int, silent_first_half: bool = False) -> np.ndarray:
    """A distinct stereo signal per (track, stem): [frames, 2], left != right."""
    t = np.arange(frames) / SR
    freq = 110.0 * (k + 1) + 7.0 * track + 0.37  # not periodic over whole seconds
    left = 0.2 * np.sin(2 * np.pi * freq * t)
    right = 0.1 * np.sin(2 * np.pi * freq * 1.5 * t + 0.3)
    x = np.stack([left, right], axis=1)
    if silent_first_half:
        x[: frames // 2] = 0.0
    return x


def _write_track(folder: Path, idx: int, ext: str = ".wav", sr: int = SR, skip: str = "",
                 silent_vocals_first_half: bool = False) -> None:
    folder.mkdir(parents=True)
    frames = int(SECONDS * sr)
    stems = {
        s: _stem_signal(idx, k, frames, silent_vocals_first_half and s == "vocals")
        for k, s in enumerate(SOURCES)
    }
    stems["mixture"] = sum(stems[s] for s in SOURCES)
    for name, audio in stems.items():
        if name != skip:
            sf.write(folder / f"{name}{ext}", audio, sr, subtype="PCM_16")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("musdb")
    for i, name in enumerate(TRAIN_NAMES):
        # the second track is FLAC (the synthetic corpus format); the third has vocals that
        # are silent for the first half (exercises silence-aware sampling)
        _write_track(root / "train" / name, i, ".flac" if i == 1 else ".wav",
                     silent_vocals_first_half=i == 2)
    _write_track(root / "train" / VALID_NAME, 10)
    _write_track(root / "train" / "Incomplete - No Bass", 11, skip="bass")
    for j, name in enumerate(TEST_NAMES):
        _write_track(root / "test" / name, 20 + j)
    return root


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32", always_2d=True)[0].T


def test_validation_list_is_the_standard_one():
    assert len(MUSDB_VALID_TRACKS) == 14 == len(set(MUSDB_VALID_TRACKS))
    assert "Traffic Experiment - Sirens" in MUSDB_VALID_TRACKS


def test_split_membership(root):
    names = {split: [t.name for t in find_tracks(root, split)] for split in
             ("train", "valid", "test")}
    assert names["train"] == sorted(TRAIN_NAMES)  # incomplete track skipped, valid excluded
    assert names["valid"] == [VALID_NAME]
    assert names["test"] == TEST_NAMES
    custom = [t.name for t in find_tracks(root, "valid", valid_tracks=[TRAIN_NAMES[0]])]
    assert custom == [TRAIN_NAMES[0]]
    with pytest.raises(ValueError):
        find_tracks(root, "validation")


def test_whole_tracks_shapes_and_stem_order(root):
    for split in ("valid", "test"):
        ds = MUSDBDataset(root, split, seq_dur=None)
        assert not ds.random and len(ds) == 1
        mixture, targets = ds[0]
        frames = int(SECONDS * SR)
        assert mixture.shape == (2, frames) and targets.shape == (4, 2, frames)
        assert mixture.dtype == targets.dtype == torch.float32
        track = root / ("test" if split == "test" else "train") / ds.tracks[0].name
        for k, stem in enumerate(SOURCES):  # vocals, drums, bass, other
            np.testing.assert_array_equal(targets[k].numpy(), _read(track / f"{stem}.wav"))
        np.testing.assert_array_equal(mixture.numpy(), _read(track / "mixture.wav"))


def test_fixed_excerpts_are_deterministic(root):
    ds = MUSDBDataset(root, "valid", seq_dur=0.5, samples_per_track=3)
    assert len(ds) == 3
    items = [ds[i] for i in range(3)]
    again = MUSDBDataset(root, "valid", seq_dur=0.5, samples_per_track=3, seed=99)
    for (m, t), (m2, t2) in zip(items, (again[i] for i in range(3)), strict=True):
        assert m.shape == (2, SR // 2) and t.shape == (4, 2, SR // 2)
        assert torch.equal(m, m2) and torch.equal(t, t2)
    assert not torch.equal(items[0][1], items[2][1])  # different (evenly spaced) offsets


def test_random_excerpts(root):
    ds = MUSDBDataset(root, "train", seq_dur=0.25, samples_per_track=4)
    assert ds.random and len(ds) == 3 * 4
    for i in range(len(ds)):
        mixture, targets = ds[i]
        assert mixture.shape == (2, int(0.25 * SR)) and targets.shape == (4, 2, int(0.25 * SR))
        assert torch.equal(mixture, targets.sum(dim=0))  # mixture == sum of returned targets


def test_augmentation_seeded(root):
    a = MUSDBDataset(root, "train", seq_dur=0.25, samples_per_track=2, seed=1)
    b = MUSDBDataset(root, "train", seq_dur=0.25, samples_per_track=2, seed=1)
    c = MUSDBDataset(root, "train", seq_dur=0.25, samples_per_track=2, seed=2)
    for i in range(len(a)):
        assert torch.equal(a[i][1], b[i][1])
    assert any(not torch.equal(a[i][1], c[i][1]) for i in range(len(a)))
    before = a[0][1]
    a.set_epoch(1)
    assert not torch.equal(a[0][1], before)


def test_gain_and_channel_swap_are_applied(root):
    kw = dict(seq_dur=0.25, samples_per_track=3, seed=5, random_track_mix=False)
    raw = MUSDBDataset(root, "train", augment=False, **kw)
    aug = MUSDBDataset(root, "train", augment=True, swap_prob=1.0, **kw)
    gains = []
    for i in range(len(raw)):
        r, x = raw[i][1].numpy().astype(np.float64), aug[i][1].numpy().astype(np.float64)
        for k in range(4):
            swapped = r[k, ::-1]  # swap_prob=1: left and right exchanged
            g = float(np.dot(x[k].ravel(), swapped.ravel()) / np.dot(swapped.ravel(),
                                                                     swapped.ravel()))
            np.testing.assert_allclose(x[k], g * swapped, atol=1e-6)
            gains.append(g)
    assert min(gains) >= 0.25 - 1e-6 and max(gains) <= 1.25 + 1e-6
    assert np.std(gains) > 0.05  # really random


def test_random_track_mixing_draws_from_several_tracks(root):
    ds = MUSDBDataset(root, "train", seq_dur=0.25, samples_per_track=8, augment=False)
    fingerprints = set()
    for i in range(len(ds)):
        targets = ds[i][1].numpy()
        # dominant frequency of each stem identifies its track (110 * (k + 1) + 7 * track)
        spec = np.abs(np.fft.rfft(targets[:, 0], axis=-1))
        freqs = np.argmax(spec, axis=-1) * SR / targets.shape[-1]
        fingerprints.add(tuple(int(round((f - 110 * (k + 1)) / 7)) for k, f in
                               enumerate(freqs)))
    assert any(len(set(fp)) > 1 for fp in fingerprints)  # stems of one item from other tracks


def test_silence_aware_sampling(root):
    only = [TRAIN_NAMES[2]]  # vocals silent in the first half
    kw = dict(seq_dur=0.25, samples_per_track=40, augment=False, random_track_mix=False,
              valid_tracks=[VALID_NAME] + [n for n in TRAIN_NAMES if n not in only])
    careless = MUSDBDataset(root, "train", max_redraws=0, **kw)
    careful = MUSDBDataset(root, "train", max_redraws=30, **kw)
    assert [t.name for t in careful.tracks] == only

    def vocal_rms(ds):
        return [float(ds[i][1][0].pow(2).mean().sqrt()) for i in range(len(ds))]

    assert min(vocal_rms(careless)) == 0.0  # without the check, silent excerpts happen
    assert min(vocal_rms(careful)) > 0.01


def test_wrong_sample_rate_is_rejected(tmp_path):
    _write_track(tmp_path / "train" / "Low Rate - Song", 0, sr=22050)
    with pytest.raises(ValueError, match="44100"):
        MUSDBDataset(tmp_path, "train")


def test_dataloader_with_workers(root):
    ds = MUSDBDataset(root, "train", seq_dur=0.2, samples_per_track=2, seed=3)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert len(batches) == 3
    mixture, targets = batches[1]
    assert mixture.shape == (2, 2, int(0.2 * SR)) and targets.shape == (2, 4, 2, int(0.2 * SR))
    assert torch.equal(targets[0], ds[2][1]) and torch.equal(mixture[1], ds[3][0])
    valid = DataLoader(MUSDBDataset(root, "test", seq_dur=None), batch_size=1, num_workers=2)
    (vm, vt), = list(valid)
    assert vm.shape == (1, 2, int(SECONDS * SR)) and vt.shape == (1, 4, 2, int(SECONDS * SR))
