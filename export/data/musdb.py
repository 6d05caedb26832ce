"""MUSDB18-HQ folder-layout loader (also reads the synthetic corpus, which uses FLAC).

Layout: ``root/{train,test}/<track>/{mixture,vocals,drums,bass,other}.{wav,flac}``. Splits
follow musdb / open-unmix: ``valid`` is the 14 standard validation tracks taken out of
``train/``, ``train`` is the rest of ``train/``, ``test`` is ``test/``.

:class:`MUSDBDataset` yields ``(mixture [2, T], targets [4, 2, T])`` float32 tensors, stems in
the order vocals, drums, bass, other. In random (training) mode every item is an excerpt of
``seq_dur`` seconds whose sources may each come from a different track (random-track mixing),
each with a random gain and channel swap, re-drawn when a source is near-silent; the mixture
is the sum of the augmented sources. Items are a pure function of ``(seed, epoch, index)``, so
they do not depend on DataLoader workers or their order. In deterministic (validation) mode
items are whole tracks or evenly spaced fixed excerpts with their real mixture.

Audio is read per item with ``soundfile`` (``start``/``frames``); no file stays open, so the
dataset is safe to use with DataLoader worker processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

SAMPLE_RATE = 44100
SOURCES = ("vocals", "drums", "bass", "other")
SPLITS = ("train", "valid", "test")
EXTENSIONS = (".wav", ".flac")

MUSDB_VALID_TRACKS = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)
"""The standard MUSDB18 validation tracks (musdb ``mus.setup``'s ``validation_tracks``)."""


@dataclass(frozen=True)
class Track:
    name: str
    paths: dict[str, Path]
    """``vocals``/``drums``/``bass``/``other`` and, when present, ``mixture``."""
    frames: int
    """Length in samples (the shortest of its files)."""


def _find_audio(track_dir: Path, stem: str) -> Path | None:
    for ext in EXTENSIONS:
        path = track_dir / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def _scan_track(track_dir: Path) -> Track | None:
    paths = {}
    for stem in ("mixture", *SOURCES):
        path = _find_audio(track_dir, stem)
        if path is not None:
            paths[stem] = path
    if not all(s in paths for s in SOURCES):
        return None
    frames = []
    for path in paths.values():
        info = sf.info(str(path))
        if info.samplerate != SAMPLE_RATE:
            raise ValueError(
                f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz "
                "(MUSDB18-HQ is 44.1 kHz; resample the dataset first)"
            )
        if info.channels not in (1, 2):
            raise ValueError(f"{path}: {info.channels} channels, expected mono or stereo")
        frames.append(info.frames)
    return Track(track_dir.name, paths, min(frames))


def find_tracks(
    root: Path | str, split: str, valid_tracks: Iterable[str] | None = None
) -> list[Track]:
    """Tracks of ``split`` (``train``, ``valid`` or ``test``) under ``root``, sorted by name.

    ``valid_tracks`` defaults to :data:`MUSDB_VALID_TRACKS`; names not present are ignored.
    Track folders missing one of the four sources are skipped.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    root = Path(root)
    folder = root / ("test" if split == "test" else "train")
    if not folder.is_dir():
        raise FileNotFoundError(f"no {folder} (expected MUSDB18-HQ layout under {root})")
    valid = set(MUSDB_VALID_TRACKS if valid_tracks is None else valid_tracks)
    tracks = []
    for track_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if split != "test" and (track_dir.name in valid) != (split == "valid"):
            continue
        track = _scan_track(track_dir)
        if track is not None:
            tracks.append(track)
    return tracks


def read_excerpt(path: Path, start: int, frames: int | None) -> np.ndarray:
    """``frames`` samples from ``start`` (``None``: to the end) as float32 ``[2, frames]``;
    mono is duplicated, a short read is zero-padded."""
    data, _ = sf.read(
        str(path), start=start, frames=-1 if frames is None else frames, dtype="float32",
        always_2d=True,
    )
    data = data.T
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    if frames is not None and data.shape[1] < frames:
        data = np.pad(data, ((0, 0), (0, frames - data.shape[1])))
    return np.ascontiguousarray(data)


def _rms_db(x: np.ndarray) -> float:
    power = float(np.mean(np.square(x, dtype=np.float64)))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


class MUSDBDataset(Dataset):
    """MUSDB18-HQ-layout dataset of ``(mixture [2, T], targets [4, 2, T])`` float32 tensors.

    Args:
        root: dataset root holding ``train/`` and ``test/``.
        split: ``train``, ``valid`` or ``test``.
        seq_dur: excerpt length in seconds; ``None`` for whole tracks (deterministic mode
            only; batch them with ``batch_size=1``).
        samples_per_track: items per track per epoch (random mode; default 64) or fixed
            excerpts per track (deterministic mode; default 1).
        random: random excerpts (training) or deterministic items; default: ``split == "train"``.
        augment: random gain and channel swap per source (random mode; default ``random``).
        random_track_mix: each source from an independently drawn track (random mode; default
            ``random``); otherwise all sources share one track and offset.
        gain_range: range of the random per-source gain.
        swap_prob: probability of swapping left/right per source.
        silence_db: an excerpt whose source RMS is below this (dBFS) is re-drawn...
        max_redraws: ...at most this many times (then the last draw is kept).
        seed: base seed; see :meth:`set_epoch`.
        valid_tracks: names forming ``valid`` (default: :data:`MUSDB_VALID_TRACKS`).
    """

    def __init__(
        self,
        root: Path | str,
        split: str = "train",
        seq_dur: float | None = 6.0,
        samples_per_track: int | None = None,
        random: bool | None = None,
        augment: bool | None = None,
        random_track_mix: bool | None = None,
        gain_range: tuple[float, float] = (0.25, 1.25),
        swap_prob: float = 0.5,
        silence_db: float = -60.0,
        max_redraws: int = 10,
        seed: int = 0,
        valid_tracks: Sequence[str] | None = None,
    ):
        self.root = Path(root)
        self.split = split
        self.tracks = find_tracks(self.root, split, valid_tracks)
        self.random = split == "train" if random is None else random
        if seq_dur is None and self.random:
            raise ValueError("random excerpts need a seq_dur")
        self.seq_len = None if seq_dur is None else int(round(seq_dur * SAMPLE_RATE))
        if self.seq_len is not None and self.seq_len <= 0:
            raise ValueError("seq_dur must be positive")
        default_spt = 64 if self.random else 1
        self.samples_per_track = default_spt if samples_per_track is None else samples_per_track
        if self.samples_per_track < 1:
            raise ValueError("samples_per_track must be >= 1")
        self.augment = self.random if augment is None else augment
        self.random_track_mix = self.random if random_track_mix is None else random_track_mix
        self.gain_range = gain_range
        self.swap_prob = swap_prob
        self.silence_db = silence_db
        self.max_redraws = max_redraws
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new excerpts: items depend on ``(seed, epoch, index)``. Call before creating
        the DataLoader iterator of each epoch (not seen by ``persistent_workers``)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if not self.random and self.seq_len is None:
            return len(self.tracks)
        return len(self.tracks) * self.samples_per_track

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self.random:
            mixture, targets = self._random_item(index)
        else:
            mixture, targets = self._fixed_item(index)
        return torch.from_numpy(mixture), torch.from_numpy(targets)

    # -- deterministic (validation) items ---------------------------------------------------
    def _fixed_item(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.seq_len is None:
            track, start, frames = self.tracks[index], 0, self.tracks[index].frames
        else:
            track = self.tracks[index // self.samples_per_track]
            k = index % self.samples_per_track
            room = max(0, track.frames - self.seq_len)
            start = int(round(room * (k + 0.5) / self.samples_per_track))
            frames = self.seq_len
        targets = np.stack([read_excerpt(track.paths[s], start, frames) for s in SOURCES])
        if "mixture" in track.paths:
            mixture = read_excerpt(track.paths["mixture"], start, frames)
        else:
            mixture = targets.sum(axis=0)
        return mixture, targets

    # -- random (training) items -----------------------------------------------------------
    def _draw(self, rng: np.random.Generator, track: Track, source: str) -> np.ndarray:
        """An excerpt of ``source`` from ``track``, re-drawn while near-silent."""
        assert self.seq_len is not None
        audio = np.zeros((2, self.seq_len), dtype=np.float32)
        for _ in range(1 + self.max_redraws):
            start = int(rng.integers(0, max(1, track.frames - self.seq_len + 1)))
            audio = read_excerpt(track.paths[source], start, self.seq_len)
            if _rms_db(audio) > self.silence_db:
                break
        return audio

    def _random_item(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.seq_len is not None
        rng = np.random.default_rng([self.seed, self.epoch, index])
        anchor = index // self.samples_per_track
        sources = []
        if self.random_track_mix:
            for source in SOURCES:
                track = self.tracks[int(rng.integers(len(self.tracks)))]
                sources.append(self._draw(rng, track, source))
        else:
            track = self.tracks[anchor]
            for _ in range(1 + self.max_redraws):
                start = int(rng.integers(0, max(1, track.frames - self.seq_len + 1)))
                sources = [read_excerpt(track.paths[s], start, self.seq_len) for s in SOURCES]
                if min(_rms_db(x) for x in sources) > self.silence_db:
                    break
        if self.augment:
            for i, audio in enumerate(sources):
                audio = audio * np.float32(rng.uniform(*self.gain_range))
                if rng.random() < self.swap_prob:
                    audio = audio[::-1]
                sources[i] = np.ascontiguousarray(audio)
        targets = np.stack(sources).astype(np.float32)
        return targets.sum(axis=0), targets
