"""Layer 2, the model: the realtime CDAE maskers and the waveform-to-stems separator.

Holds the CDAE (:mod:`.cdae`, the training and export form), the separator module
(:mod:`.separator`), its one eager inference form (:mod:`.inference`, built on :mod:`.folded`
and :mod:`.grouped`, derived once by ``Separator.for_inference()``), the named configurations
(:mod:`.config`) and the ``.pt`` model file (:mod:`.model_file`).

May import: torch, numpy, :mod:`mobile_core.errors` and :mod:`mobile_core.transform`. Nothing
from ``contract``, ``cli`` or ``export``.
"""

from .cdae import STEMS, CDAEConfig, MaskNet, receptive_field
from .config import SeparatorConfig, separator_config
from .inference import InferenceSeparator
from .model_file import load_model, model_id, save_model
from .separator import Separator

__all__ = ["STEMS", "CDAEConfig", "InferenceSeparator", "MaskNet", "Separator",
           "SeparatorConfig", "load_model", "model_id", "receptive_field", "save_model",
           "separator_config"]
