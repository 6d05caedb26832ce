"""ONNX ``.onnx``: ``torch.onnx.export(dynamo=True)``, the metadata in ``metadata_props``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from mobile_core.contract.artifacts import ONNX_METADATA_KEY, encode_metadata

from .common import atomic_write, quiet


def to_onnx(
    module: nn.Module, inputs: Sequence[Tensor], path: str | Path,
    metadata: dict[str, str] | None = None, input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> None:
    """Export with the dynamo ONNX exporter (opset 18+) and store ``metadata_props``.

    ``optimize=False``: the exporter's onnxscript rewriter is quadratic in graph size (an xumx-rt
    chunk graph was still in it after 30 minutes); onnxruntime applies its own graph
    optimizations at load time and in the ``.ort`` conversion.
    """
    import onnx

    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings(), quiet():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            module, tuple(inputs), dynamo=True, verbose=False, optimize=False,
            input_names=list(input_names) if input_names else None,
            output_names=list(output_names) if output_names else None,
        )
    model = prog.model_proto
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write(Path(path), model.SerializeToString())
    onnx.checker.check_model(str(path))


def set_onnx_metadata(src: Path, dst: Path, meta: dict) -> None:
    """Copy ONNX model ``src`` to ``dst`` with ``metadata_props[demix_metadata]`` = ``meta``."""
    import onnx

    model = onnx.load(str(src))
    keep = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, encode_metadata(meta)
    tmp = dst.with_name(f".{dst.name}.partial")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)


__all__ = ["set_onnx_metadata", "to_onnx"]
