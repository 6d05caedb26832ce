"""Whether a graph is being recorded: the eager fast paths step aside while it is."""

from __future__ import annotations

import torch


def exporting() -> bool:
    """True while ``torch.export`` (also under ONNX) or ``torch.jit.trace`` records the graph.

    The transform's eager-only paths check it (its eager engine, :mod:`.engine`; the compact
    inverse gather, pair gathers and in-place overlap-add), so that exported graphs hold only ops
    every target runtime has, and no state derived outside the module's own tensors. (The model's
    eager form is never recorded: it is built on purpose by ``Separator.for_inference()``.)
    """
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


__all__ = ["exporting"]
