"""Whether a graph is being recorded: the eager fast paths step aside while it is."""

from __future__ import annotations

import torch


def exporting() -> bool:
    """True while ``torch.export`` (also under ONNX) or ``torch.jit.trace`` records the graph.

    The eager-only paths check it (the transform's compact inverse gather, pair gathers and
    in-place overlap-add, the separator's use of :mod:`.eager_engine`, :mod:`.folded`'s folded
    block maskers), so that exported graphs hold only ops every target runtime has, and no state
    derived outside the module's own tensors.
    """
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


__all__ = ["exporting"]
