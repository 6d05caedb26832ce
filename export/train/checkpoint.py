"""What a run keeps on disk: the checkpoint, the best model, the logs, and the loop position."""

from __future__ import annotations

import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"
BEST_MODEL = "model.pt"
LOG_CSV = "log.csv"
STEP_CSV = "steps.csv"
LOG_FIELDS = ("epoch", "step", "train_loss", "train_mse", "train_mask", "valid_loss", "lr",
              "seconds", "best_valid", "partial")


# -- checkpoints -----------------------------------------------------------------------------


def atomic_save(obj: object, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Progress:
    """Loop position and early-stopping state (saved in every checkpoint)."""

    epoch: int = 0  # epoch in progress (or next to start)
    batch: int = 0  # batches of ``epoch`` already done (non-zero after a --max-steps stop)
    step: int = 0  # optimizer steps so far
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)


