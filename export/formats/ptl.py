"""TorchScript-lite ``.ptl``: ``torch.jit.trace`` -> ``_save_for_lite_interpreter``, the metadata
as an extra file. Deprecated upstream, and its last Android runtime (2.1.0) is not 16 KB-page
aligned: a secondary artifact."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .common import usual_mode


def to_ptl(
    module: nn.Module, inputs: Sequence[Tensor], path: str | Path,
    extra_files: dict[str, str] | None = None,
) -> None:
    """Trace and save for the TorchScript lite interpreter (``.ptl``)."""
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, tuple(inputs), check_trace=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced._save_for_lite_interpreter(tmp, _extra_files=extra_files or {})
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["to_ptl"]
