"""``demix-train``: training of the separator (CUDA, DDP or CPU).

:mod:`.loop` (the command and its epoch loop), :mod:`.steps` (data sampling, input statistics,
the loss of one batch, validation), :mod:`.losses` (upstream's complex MSE and mask-sum loss),
:mod:`.checkpoint` (what a run keeps on disk, for ``--resume``) and :mod:`.device` (CPU/CUDA,
DDP, autocast). Run it as ``demix-train`` or ``python -m export.train``.
"""

from .checkpoint import BEST_MODEL, CHECKPOINT, LOG_CSV, STEP_CSV
from .loop import main, train
from .steps import compute_loss

__all__ = ["BEST_MODEL", "CHECKPOINT", "LOG_CSV", "STEP_CSV", "compute_loss", "main", "train"]
