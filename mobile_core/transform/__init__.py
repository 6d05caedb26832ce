"""Layer 1, the transform: the sliced Constant-Q transform (sliCQT) as real tensor ops.

Holds the frequency scales (:mod:`.scales`), the filterbank design in float64 (:mod:`.design`),
the DFT forms every runtime can run (:mod:`.dft`), the index maps (:mod:`.gather`) and the inverse
map in its eager and exported forms (:mod:`.inverse_map`), the
``SliCQT`` module (:mod:`.slicqt`), its eager inference engine (:mod:`.engine`), the named
transform configurations (:mod:`.config`) and :func:`~.tracing.exporting`, the switch between
eager-only and exportable paths.

May import: torch, numpy, and :mod:`mobile_core.errors`. Nothing from ``model``, ``contract``,
``cli`` or ``export``.
"""

from .config import TRANSFORM_CONFIGS, TransformConfig, transform_config
from .slicqt import SliCQT, apply_mask, magnitude, n_slices

__all__ = ["TRANSFORM_CONFIGS", "SliCQT", "TransformConfig", "apply_mask", "magnitude",
           "n_slices", "transform_config"]
