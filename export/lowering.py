"""Lower a fixed-shape ``nn.Module`` to the three mobile formats.

* ExecuTorch ``.pte``: ``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK
  partitioner -> ``to_executorch``. Constant methods (e.g. metadata) can be attached.
* TorchScript-lite ``.ptl``: ``torch.jit.trace`` -> ``_save_for_lite_interpreter`` (extra files
  carry metadata). Deprecated upstream; kept as a secondary artifact.
* ONNX ``.onnx``: ``torch.onnx.export(dynamo=True)``; metadata in ``metadata_props``.

Each function takes example inputs with the exact shapes the artifact will run on (static shapes
delegate far better to XNNPACK than dynamic ones).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn


@dataclass
class PteReport:
    """What lowering to ExecuTorch did: delegated vs non-delegated operator counts.

    ``kernel_ops``: the operators (``name.overload``) the program's methods call outside any
    delegate, i.e. the kernels the runtime must ship (portable / optimized / quantized libraries).
    ``delegates``: backend ids of the delegate blobs (``XnnpackBackend`` ...).
    ``planned_bytes``: the memory-planned arena of ``forward`` (activations outside XNNPACK's own
    workspace).
    """

    delegated_nodes: int
    other_ops: dict[str, int]
    kernel_ops: list[str] = field(default_factory=list)
    delegates: list[str] = field(default_factory=list)
    planned_bytes: int = 0
    """Memory-planned activation arena of ``forward`` (what the runtime allocates for it)."""


def _usual_mode(path: str | Path) -> None:
    """``mkstemp`` makes 0600 files; give the renamed artifact the usual 0666-less-umask mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_program(module: nn.Module, inputs: Sequence[Tensor]) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) of ``module`` in eval mode for these exact input shapes."""
    module = module.eval()
    with torch.no_grad():
        return torch.export.export(module, tuple(inputs), strict=False)


def to_pte(
    module: nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Tensor],
    path: str | Path,
    constant_methods: dict[str, object] | None = None,
    xnnpack: bool = True,
) -> PteReport:
    """Write an ExecuTorch program; returns the delegation summary."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    ep = module if isinstance(module, torch.export.ExportedProgram) else export_program(
        module, inputs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edge = to_edge_transform_and_lower(
            ep,
            partitioner=[XnnpackPartitioner()] if xnnpack else [],
            compile_config=EdgeCompileConfig(_check_ir_validity=False),
            constant_methods=constant_methods,
        )
    report = _delegation_report(edge.exported_program().graph_module)
    prog = edge.to_executorch()
    plans = prog.executorch_program.execution_plan
    report.kernel_ops = sorted({
        f"{op.name}.{op.overload}" if op.overload else op.name
        for plan in plans for op in plan.operators
    })
    report.delegates = sorted({d.id for plan in plans for d in plan.delegates})
    report.planned_bytes = int(sum(
        sum(plan.non_const_buffer_sizes) for plan in plans if plan.name == "forward"))
    _atomic_write(Path(path), prog.buffer)
    return report


def _delegation_report(gm: torch.fx.GraphModule) -> PteReport:
    delegated = 0
    other: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if "executorch_call_delegate" in name:
            delegated += 1
        elif name not in ("getitem",):
            key = name.replace("aten.", "").split(".")[0]
            other[key] = other.get(key, 0) + 1
    return PteReport(delegated, dict(sorted(other.items())))


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
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    with torch.no_grad(), warnings.catch_warnings(), _quiet():
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
    _atomic_write(Path(path), model.SerializeToString())
    onnx.checker.check_model(str(path))


class _quiet:
    """Silence the ONNX exporter's progress prints (it writes to stdout)."""

    def __enter__(self):
        import contextlib

        self._ctx = contextlib.redirect_stdout(io.StringIO())
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def metadata_json(meta: dict) -> str:
    """Canonical JSON for artifact metadata (sorted keys, compact)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))
