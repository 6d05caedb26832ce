"""A training step's parts: configuration, data sampling, input statistics, loss, validation."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.distributed import DistributedSampler

from export.data.musdb import MUSDBDataset
from mobile_core.model.config import SeparatorConfig, separator_config
from mobile_core.model.separator import Separator
from mobile_core.transform.slicqt import SliCQT, magnitude

from .device import Runtime, all_reduce_sum, autocast
from .losses import separation_loss

# -- configuration and data ------------------------------------------------------------------


def load_config(name_or_path: str) -> SeparatorConfig:
    """A registry name (``xumx-rt``, ``tiny``, ...) or a JSON file of ``SeparatorConfig``."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return SeparatorConfig.from_dict(json.loads(path.read_text()))
    return separator_config(name_or_path)


def corpus_valid_tracks(root: Path) -> list[str] | None:
    """The ``valid_tracks`` of ``root/corpus.json`` (synthetic corpus), else ``None`` (MUSDB)."""
    meta = root / "corpus.json"
    if meta.is_file():
        tracks = json.loads(meta.read_text()).get("valid_tracks")
        if tracks:
            return list(tracks)
    return None


class SkipSampler(Sampler[int]):
    """Wraps a sampler and drops its first ``skip`` indices (resuming in the middle of an epoch).

    The wrapped :class:`DistributedSampler` permutes deterministically from ``(seed, epoch)``,
    so a resumed run sees exactly the batches the interrupted one would have seen next.
    """

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it, None)
        return it

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


# -- model pieces ----------------------------------------------------------------------------


@torch.no_grad()
def input_statistics(
    transform: SliCQT, dataset: MUSDBDataset, device: torch.device, max_items: int | None = None
) -> list[tuple[Tensor, Tensor]]:
    """Per block ``(mean[F_b], std[F_b])`` of the channel-averaged mixture magnitude.

    Over (up to ``max_items``) items of ``dataset`` (whole tracks in deterministic mode); std
    floored at ``1e-4 * max(std)`` as upstream.
    """
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    sums: list[Tensor] = []
    sqs: list[Tensor] = []
    count: list[int] = []
    for i in range(n):
        mix, _ = dataset[i]
        mags = magnitude(transform(mix[None].to(device)))
        for b, mag in enumerate(mags):  # [1, C, F, S, T]
            m = mag.mean(dim=1)[0].flatten(1).double()  # [F, S*T]
            if len(sums) <= b:
                sums.append(torch.zeros(m.shape[0], dtype=torch.float64, device=device))
                sqs.append(torch.zeros_like(sums[-1]))
                count.append(0)
            sums[b] += m.sum(1)
            sqs[b] += m.square().sum(1)
            count[b] += m.shape[1]
    stats = []
    for s, q, c in zip(sums, sqs, count):
        mean = s / max(c, 1)
        std = (q / max(c, 1) - mean.square()).clamp_min(0).sqrt()
        std = torch.maximum(std, 1e-4 * std.max().clamp_min(1e-12))
        stats.append((mean.float(), std.float()))
    return stats


def set_input_statistics(sep: Separator, stats: list[tuple[Tensor, Tensor]]) -> None:
    """``input_mean = mean``, ``input_scale = 1 / std`` in every block masker."""
    with torch.no_grad():
        for masker, (mean, std) in zip(sep.masknet.blocks, stats, strict=True):
            masker.input_mean.copy_(mean)
            masker.input_scale.copy_(1.0 / std)


def target_coefficients(transform: nn.Module, targets: Tensor) -> list[Tensor]:
    """``targets[B, 4, C, N]`` -> per block ``[B, 4, C, F_b, S, T_b, 2]`` (no gradient)."""
    b, k = targets.shape[:2]
    with torch.no_grad():
        blocks = transform(targets.flatten(0, 1))
    return [x.unflatten(0, (b, k)) for x in blocks]


def compute_loss(
    sep: Separator,
    masknet: nn.Module,
    mix: Tensor,
    targets: Tensor,
    rt: Runtime,
    combinations: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(total, complex_mse, mask_sum)`` of one batch: ``mix[B, C, N]``, ``targets[B, 4, C, N]``.

    ``masknet`` is ``sep.masknet`` or its DDP wrapper. The transform and the loss run in
    float32; only the mask network runs under (CUDA) autocast. Mirrors
    :meth:`Separator.analyse`.
    """
    blocks = sep.transform(mix)
    with autocast(rt):
        masks = masknet(magnitude(blocks))
    masks = [m.float() for m in masks]
    estimates = [m.unsqueeze(-1) * x.unsqueeze(1) for m, x in zip(masks, blocks)]
    tgt = target_coefficients(sep.transform, targets)
    return separation_loss(estimates, tgt, masks, combinations=combinations)


# -- the loop --------------------------------------------------------------------------------


@torch.no_grad()
def validate(
    sep: Separator, masknet: nn.Module, loader: DataLoader, rt: Runtime, combinations: bool
) -> float:
    """Mean validation loss over all ranks (eval mode; one host sync at the end)."""
    masknet.eval()
    acc = torch.zeros(2, dtype=torch.float64, device=rt.device)
    for mix, targets in loader:
        mix = mix.to(rt.device, non_blocking=True)
        targets = targets.to(rt.device, non_blocking=True)
        total, _, _ = compute_loss(sep, masknet, mix, targets, rt, combinations)
        acc[0] += total.double() * mix.shape[0]
        acc[1] += mix.shape[0]
    all_reduce_sum(acc, rt)
    acc = acc.cpu()
    return float(acc[0] / acc[1]) if acc[1] > 0 else math.nan


