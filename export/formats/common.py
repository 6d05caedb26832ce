"""What every format's writer shares: the ``torch.export`` step, atomic writes, quiet exporters."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn


def usual_mode(path: str | Path) -> None:
    """``mkstemp`` makes 0600 files; give the renamed artifact the usual 0666-less-umask mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_program(module: nn.Module, inputs: Sequence[Tensor]) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) of ``module`` in eval mode for these exact input shapes."""
    module = module.eval()
    with torch.no_grad():
        return torch.export.export(module, tuple(inputs), strict=False)


class quiet:
    """Silence the ONNX exporter's progress prints (it writes to stdout)."""

    def __enter__(self):
        self._ctx = contextlib.redirect_stdout(io.StringIO())
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def metadata_json(meta: dict) -> str:
    """Canonical JSON for artifact metadata (sorted keys, compact)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


__all__ = ["atomic_write", "export_program", "metadata_json", "quiet", "usual_mode"]
