"""``demix-train``'s refusals before any work: options, the data folder, the output folder, resume.

Every refusal is a :class:`~mobile_core.errors.DemixError` with one line naming the value at
fault; the console script prints it (:mod:`mobile_core.cli.guard`). Nothing here writes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import soundfile as sf
import torch

from export.data.musdb import MUSDBDataset
from mobile_core.errors import DemixError
from mobile_core.model.config import SeparatorConfig

from .checkpoint import CHECKPOINT, RUN_FILES, load_checkpoint
from .steps import load_config

DEFAULT_CONFIG = "xumx-rt"


def check_options(args: argparse.Namespace) -> None:
    """Refuse numbers no training can use (zero epochs, a NaN excerpt length, ...)."""
    positive_ints = {"--epochs": args.epochs, "--batch-size": args.batch_size,
                     "--samples-per-track": args.samples_per_track,
                     "--valid-samples-per-track": args.valid_samples_per_track}
    if args.threads is not None:
        positive_ints["--threads"] = args.threads
    if args.max_steps is not None:
        positive_ints["--max-steps"] = args.max_steps
    for name, value in positive_ints.items():
        if value < 1:
            raise DemixError(f"{name} must be at least 1, got {value}")
    if args.workers < 0:
        raise DemixError(f"--workers must be 0 or more, got {args.workers}")
    positive = {"--seq-dur": args.seq_dur, "--lr": args.lr,
                "--lr-decay-gamma": args.lr_decay_gamma}
    if args.valid_seq_dur is not None:
        positive["--valid-seq-dur"] = args.valid_seq_dur
    for name, value in positive.items():
        if not (math.isfinite(value) and value > 0):
            raise DemixError(f"{name} must be a positive finite number, got {value}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise DemixError(f"--weight-decay must be 0 or a positive number, got "
                         f"{args.weight_decay}")
    if args.lr > 1.0:
        raise DemixError(f"--lr {args.lr:g} is far too high (the loss diverges to NaN); "
                         f"use at most 1")
    check_device(args.device)


def check_device(name: str) -> None:
    """Refuse a device name torch does not know, or CUDA where there is none."""
    if name == "auto":
        return
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise DemixError(f"--device {name!r} is not a device; use auto, cpu, cuda or "
                         f"cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise DemixError(f"--device {name!r}: training runs on cpu or cuda only")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DemixError(f"--device {name}: CUDA is not available on this machine")


def check_data(root: Path) -> None:
    """Refuse a data folder that is missing or not a folder."""
    if not root.exists():
        raise DemixError(f"--data {root}: no such folder")
    if not root.is_dir():
        raise DemixError(f"--data {root}: not a folder")
    if not (root / "train").is_dir():
        raise DemixError(f"--data {root}: no train/ folder (expected MUSDB18-HQ layout: "
                         f"train/<track>/{{mixture,vocals,drums,bass,other}}.wav)")


def open_dataset(root: Path, split: str, **kwargs: object) -> MUSDBDataset:
    """:class:`MUSDBDataset` with its refusals (a 48 kHz or 6-channel stem) as DemixError."""
    try:
        return MUSDBDataset(root, split, **kwargs)
    except (ValueError, FileNotFoundError, sf.LibsndfileError, RuntimeError) as e:
        raise DemixError(f"--data: {e}") from None


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """An ``--out`` holding a run needs ``--resume`` or ``--overwrite``; it must be a folder."""
    if out.exists() and not out.is_dir():
        raise DemixError(f"--out {out}: exists and is not a folder")
    if resume and overwrite:
        raise DemixError("--resume and --overwrite contradict each other; choose one")
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise DemixError(f"--resume: no {out / CHECKPOINT}")
        return
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held and not overwrite:
        raise DemixError(f"--out {out} already holds a run ({', '.join(held)}); continue it "
                         f"with --resume, replace it with --overwrite, or choose another --out")


def clear_run(out: Path) -> None:
    """Remove a previous run's files from ``out`` (``--overwrite``)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def resolve_config(args: argparse.Namespace) -> tuple[SeparatorConfig, dict | None]:
    """The configuration to train and, with ``--resume``, the checkpoint it comes from.

    A ``--config`` given with ``--resume`` must be the checkpoint's own.
    """
    if args.resume:
        ck = load_checkpoint(args.out / CHECKPOINT)
        try:
            config = SeparatorConfig.from_dict(ck["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise DemixError(f"--resume: {args.out / CHECKPOINT} has an invalid config: "
                             f"{e}") from None
        if args.config is not None and named_config(args.config).to_dict() != config.to_dict():
            raise DemixError(f"--resume: --config {args.config} differs from the run's own "
                             f"configuration {config.name!r}; leave --config out to continue "
                             f"the run, or start a new one in another --out")
        return config, ck
    return named_config(args.config or DEFAULT_CONFIG), None


def named_config(name: str) -> SeparatorConfig:
    """``load_config`` with its failures as one-line DemixErrors."""
    try:
        return load_config(name)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        raise DemixError(f"--config {name}: {e}") from None
    except OSError as e:
        raise DemixError(f"--config {name}: {e.strerror or e}") from None
