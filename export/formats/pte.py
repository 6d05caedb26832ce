"""ExecuTorch ``.pte``: ``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK
partitioner -> ``to_executorch``; the metadata as a constant method (:func:`metadata_method`).

Static input shapes delegate far better to XNNPACK than dynamic ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from mobile_core.contract.artifacts import PTE_METADATA_METHOD, encode_metadata

from .common import atomic_write, export_program


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


def metadata_method(meta: dict) -> dict[str, object]:
    """The ``constant_methods`` entry that carries ``meta`` (UTF-8 JSON bytes) in a ``.pte``."""
    data = list(encode_metadata(meta).encode("utf-8"))
    return {PTE_METADATA_METHOD: torch.tensor(data, dtype=torch.uint8)}


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
    atomic_write(Path(path), prog.buffer)
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


__all__ = ["PteReport", "metadata_method", "to_pte"]
