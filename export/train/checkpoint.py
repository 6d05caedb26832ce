"""What a run keeps on disk: the checkpoint, the best model, the logs, and the loop position.

Everything in a checkpoint is a tensor, a number, a string, or a list / tuple / dict of them
(the random generators' states too), so :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)``: a crafted checkpoint cannot run code on ``--resume``.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mobile_core.errors import DemixError

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


RUN_FILES = (CHECKPOINT, BEST_MODEL, LOG_CSV, STEP_CSV)
"""The files that make a folder a training run's (``--out``)."""


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint with ``weights_only=True``; DemixError if it is not a readable one
    (a pickled callable, i.e. code, is refused without being run)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unpickling failed"
        raise DemixError(f"--resume: {path} is refused: it holds something other than tensors "
                         f"and plain data, which is never loaded ({first[:160]})") from None
    except Exception as e:  # noqa: BLE001 - weights_only: any other failure is "unreadable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DemixError(f"--resume: {path} is not a readable checkpoint ({first[:160]})"
                         ) from None
    keys = ("config", "masknet", "optimizer", "scheduler", "progress", "rng")
    if not isinstance(ck, dict) or any(k not in ck for k in keys):
        raise DemixError(f"--resume: {path} is not a demix-train checkpoint")
    return ck


def rng_state() -> dict:
    """The random generators' states as tensors and plain data (``weights_only`` loads them)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
             "python": {"version": int(version), "internal": torch.tensor(internal,
                                                                          dtype=torch.int64),
                        "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()),
                     p["gauss_next"]))
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


