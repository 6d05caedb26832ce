"""The model an export or bench starts from: a model file, or fresh weights for testing."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from mobile_core.errors import DemixError
from mobile_core.model.model_file import model_id
from mobile_core.model.separator import Separator
from mobile_core.transform.slicqt import magnitude

from .songs import example_song


def fresh_separator(config: str, seed: int = 0) -> Separator:
    """Untrained weights for testing: default init, randomized BatchNorm statistics and affine,
    and the input normalisation set from the example song's magnitudes (as training starts)."""
    torch.manual_seed(seed)
    sep = Separator(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in sep.masknet.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
                mod.bias.copy_(0.1 * torch.randn(n, generator=g))
        mags = magnitude(sep.transform(example_song().mix[None]))
        for blk, mag in zip(sep.masknet.blocks, mags):
            per_bin = mag.transpose(0, 2).reshape(mag.shape[2], -1)  # [F_b, everything else]
            blk.input_mean.copy_(per_bin.mean(-1))
            blk.input_scale.copy_(1.0 / (per_bin.std(-1) + 1e-3))
    sep.model_id = model_id(sep.masknet.state_dict())
    sep.info = {"weights": f"fresh (untrained), seed {seed}"}
    return sep


def resolve_model(model: str | os.PathLike) -> Separator:
    """A model file (``.pt``) or a configuration name (fresh weights, for testing)."""
    from mobile_core.model.config import _named_separators
    from mobile_core.model.model_file import load_model

    text = str(model)
    if text in _named_separators() and not Path(text).exists():
        return fresh_separator(text)
    path = Path(text)
    if not path.exists():
        known = ", ".join(sorted(_named_separators()))
        raise DemixError(f"--model {text}: no such model file, and not a configuration name "
                         f"({known})")
    return load_model(path)


__all__ = ["fresh_separator", "resolve_model"]
