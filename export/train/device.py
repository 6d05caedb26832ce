"""Device and process-group setup for training: CPU or CUDA, single process or ``torchrun``.

Under ``torchrun`` the environment holds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``; :func:`setup` then initialises the default process group
(``nccl`` on CUDA, ``gloo`` on CPU) and pins each process to GPU ``LOCAL_RANK``.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its device and its place in the process group."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    return dev


def configure_cuda() -> None:
    """Fast CUDA defaults: cuDNN autotuning and TF32 matmuls/convolutions."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")


def setup(device: str = "auto") -> Runtime:
    """Initialise the process group when launched by ``torchrun`` and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        configure_cuda()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
    return Runtime(dev, rank, world, local_rank)


def teardown(rt: Runtime) -> None:
    """Destroy the process group (if this module created one)."""
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def autocast(rt: Runtime) -> AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU (CPU bf16 convolutions are slow and lossy)."""
    if rt.cuda:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def all_reduce_sum(t: torch.Tensor, rt: Runtime) -> torch.Tensor:
    """Sum ``t`` over ranks (in place; a no-op in a single process)."""
    if rt.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
