"""int8 quantization of the mask network, with each ecosystem's own tool; the transform stays fp32.

Only the CDAE convolutions (the masknet) are quantized. The sliCQT (DFTs, gathers, overlap-add),
the magnitude, the mask application and the inverse stay float32, and every recipe checks that.

* ``.pte`` (:func:`quantize_pt2e`): PT2E with ExecuTorch's ``XNNPACKQuantizer``, per-channel
  symmetric int8 weights and per-tensor int8 activations (histogram observers), annotating only
  nodes under the ``masknet`` module (``set_module_name``); ``torchao``'s ``prepare_pt2e`` /
  ``convert_pt2e``. The q/dq pairs are then folded into XNNPACK's int8 convolutions at lowering.
* ``.ptl`` (:func:`quantize_fx_qnnpack`): FX graph mode (``torch.ao.quantization.quantize_fx``)
  with the ``qnnpack`` engine's default qconfig mapping, one :class:`BlockMasker` at a time.
* ``.onnx``/``.ort`` (:func:`quantize_onnx`): ``onnxruntime.quantization.quantize_static``, QDQ
  format, ``Conv``/``ConvTranspose`` only (per-channel int8 weights, uint8 activations), fed by a
  ``CalibrationDataReader`` of real chunks.

Calibration data is music: the chunks of :func:`export.songs.calibration_chunks`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = [
    "quantize_fx_qnnpack",
    "quantize_onnx",
    "quantize_pt2e",
    "transform_fp32_report",
]


# ------------------------------------------------------------------------------- PT2E (.pte)


def _is_qdq(node: torch.fx.Node) -> bool:
    name = str(node.target)
    return node.op == "call_function" and ("quantize_per" in name or "dequantize_per" in name)


def _module_path(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    paths = [p for p, _ in stack.values()]
    return paths[-1].removeprefix("L['self'].") if paths else ""


@dataclass
class Fp32Check:
    """Which ops were quantized: int8 convs in the masknet and transform ops touching q/dq."""

    quantized_convs: int
    float_convs: int
    transform_ops: int
    transform_ops_quantized: list[str]

    @property
    def ok(self) -> bool:
        return not self.transform_ops_quantized and self.quantized_convs > 0


def transform_fp32_report(gm: torch.fx.GraphModule) -> Fp32Check:
    """Check a converted PT2E graph: count convs reading dequantized int8 weights, and list the
    ops of the transform (nodes under the ``transform`` module) that read a (de)quantized value.

    A transform op may *feed* a quantize node (its float output is the masknet's input, which the
    masknet quantizes); it must never compute on int8-rounded values.
    """
    qconv = fconv = tops = 0
    bad: list[str] = []
    for node in gm.graph.nodes:
        if node.op != "call_function" or _is_qdq(node):
            continue
        name = str(node.target)
        if "conv" in name:
            w = node.args[1] if len(node.args) > 1 else None
            if isinstance(w, torch.fx.Node) and _is_qdq(w):
                qconv += 1
            else:
                fconv += 1
        if _module_path(node).startswith("transform"):
            tops += 1
            if any(_is_qdq(a) for a in node.all_input_nodes):
                bad.append(f"{node.name} ({name})")
    return Fp32Check(qconv, fconv, tops, bad)


def _masknet_inputs(graph: nn.Module, chunks: Sequence[Tensor]) -> list[list[Tensor]]:
    """The masknet's inputs (block magnitudes) for each calibration chunk, computed by the
    graph's own float transform."""
    with torch.no_grad():
        return [graph.masknet_inputs(x) for x in chunks]


def quantize_pt2e(
    graph: nn.Module, example: Tensor, chunks: Sequence[Tensor],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.export.ExportedProgram, Fp32Check]:
    """PT2E int8 of ``graph.masknet`` for XNNPACK; returns the exported whole quantized graph.

    ``graph`` is a chunk graph ``[1, 2, L] -> [1, 4, 2, L]`` with a ``masknet`` submodule
    (BatchNorm folded) and ``masknet_inputs(mix)``. The masknet sub-graph alone is exported,
    annotated by ``XNNPACKQuantizer`` (global per-channel symmetric config), calibrated on the
    magnitudes of ``chunks`` (full-length music) and converted; it is then put back into a copy of
    the graph, which is exported whole: q/dq nodes exist only inside the masknet.

    Why not ``set_module_name("masknet")`` on the whole graph: in ExecuTorch 1.5.1 that filter
    also tests the conv's weight node, which carries no module stack, so no conv gets annotated;
    and the ``cat`` annotator ignores filters, so the transform's concatenations would be.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from export.formats.common import export_program

    mags = _masknet_inputs(graph, chunks)
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = export_program(graph.masknet, (mags[0],)).module()
        prepared = prepare_pt2e(sub, quantizer)
        with torch.no_grad():
            for i, m in enumerate(mags):
                prepared(m)
                if progress:
                    progress(i + 1, len(mags))
        converted = allow_exported_model_train_eval(convert_pt2e(prepared))
    qgraph = copy.copy(graph)  # shallow: shares the transform, gets its own module dict
    qgraph._modules = dict(graph._modules)
    qgraph.masknet = converted
    qep = export_program(qgraph, (example,))
    return qep, transform_fp32_report(qep.graph_module)


# --------------------------------------------------------------------- FX + qnnpack (.ptl)


def quantize_fx_qnnpack(
    graph: nn.Module, chunks: Sequence[Tensor],
    progress: Callable[[int, int], None] | None = None,
) -> nn.Module:
    """FX graph mode int8 (qnnpack) of every block of ``graph.masknet``; returns a copy of
    ``graph`` whose blocks are quantized ``GraphModule`` s (transform untouched, float32).

    Calibration feeds each block the magnitudes the graph's float transform computes for
    ``chunks``. The result runs with ``torch.backends.quantized.engine = "qnnpack"``.
    """
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "qnnpack"
    qgraph = copy.deepcopy(graph).eval()
    qmap = get_default_qconfig_mapping("qnnpack")
    mags = _masknet_inputs(qgraph, chunks)
    blocks = qgraph.masknet.blocks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b, blk in enumerate(blocks):
            prepared = prepare_fx(blk, qmap, (mags[0][b],))
            with torch.no_grad():
                for m in mags:
                    prepared(m[b])
            blocks[b] = convert_fx(prepared)
            if progress:
                progress(b + 1, len(blocks))
    return qgraph


# ------------------------------------------------------------------- onnxruntime (.onnx)


def quantize_onnx(
    src: str | os.PathLike, dst: str | os.PathLike, chunks: Iterable[Tensor],
    input_name: str = "mix",
) -> None:
    """``quantize_static`` (QDQ) of the masknet's ``Conv``/``ConvTranspose`` (+ ``Relu``) nodes.

    Weights int8 per channel (symmetric), activations uint8 per tensor (onnxruntime's U8S8, the
    recommended pairing for ARM), MinMax calibration on ``chunks``. ``Relu`` is listed so that the
    quantizer folds each ReLU into the preceding convolution's output range instead of leaving a
    float ReLU between two q/dq pairs. Nodes outside the masknet (by the exporter's module scope
    metadata) are excluded explicitly, so the transform stays float32 whatever its op types.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, data: Iterable[Tensor]) -> None:
            self._it = iter(data)

        def get_next(self) -> dict | None:
            x = next(self._it, None)
            return None if x is None else {input_name: x.numpy()}

    ops = ["Conv", "ConvTranspose", "Relu"]
    model = onnx.load(str(src), load_external_data=False)
    exclude = [n.name for n in model.graph.node if n.op_type in ops and not _onnx_in_masknet(n)]
    del model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(
            str(src), str(dst), Reader(chunks), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=ops, nodes_to_exclude=exclude,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )


def _onnx_scopes(node) -> list[str]:
    """Module scopes of an ONNX node from the dynamo exporter's ``name_scopes`` metadata."""
    import ast

    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                return [str(s) for s in ast.literal_eval(p.value)]
            except (ValueError, SyntaxError):
                return []
    return []


def _onnx_in_masknet(node) -> bool:
    """Whether an ONNX node comes from the ``masknet`` module.

    Without scope metadata only Conv/ConvTranspose count as masknet (the transform has none).
    """
    scopes = _onnx_scopes(node)
    if not scopes:
        return node.op_type in ("Conv", "ConvTranspose")
    return any(s == "masknet" or s.startswith("masknet.") for s in scopes)


def onnx_fp32_report(path: str | os.PathLike, float_model: str | os.PathLike) -> Fp32Check:
    """Check a QDQ model against its float source: count convs reading a DequantizeLinear weight,
    and list nodes outside the masknet (scopes from ``float_model``, since the quantizer drops
    node metadata) that read a dequantized tensor."""
    import onnx

    src = onnx.load(str(float_model), load_external_data=False)
    masknet = {n.name for n in src.graph.node if _onnx_in_masknet(n)}
    model = onnx.load(str(path), load_external_data=False)
    producer = {o: n for n in model.graph.node for o in n.output}
    qconv = fconv = other = 0
    bad: list[str] = []
    qdq = ("QuantizeLinear", "DequantizeLinear")
    for n in model.graph.node:
        if n.op_type in qdq:
            continue
        if n.op_type in ("Conv", "ConvTranspose"):
            w = producer.get(n.input[1]) if len(n.input) > 1 else None
            if w is not None and w.op_type == "DequantizeLinear":
                qconv += 1
            else:
                fconv += 1
        if n.name in masknet:
            continue
        other += 1
        if any(i in producer and producer[i].op_type == "DequantizeLinear" for i in n.input):
            bad.append(f"{n.name} ({n.op_type})")
    return Fp32Check(qconv, fconv, other, bad)


def file_size(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size
