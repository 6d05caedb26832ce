"""``demix-train``: train the realtime xumx-sliCQ-V2 separator on a MUSDB18-HQ-layout folder.

One process on CPU or one GPU::

    demix-train --data /data/musdb18hq --config xumx-rt --out runs/xumx-rt

Several GPUs / nodes (DistributedDataParallel, one process per GPU; gloo on CPU)::

    torchrun --nproc_per_node 8 -m export.train --data ... --config xumx-rt --out ...

Loss (as upstream): complex MSE of the mix-phase estimates over the 14 target combinations +
MSE of the summed masks toward 1 (:mod:`export.losses`). AdamW, ReduceLROnPlateau on the
validation loss, early stopping. Every epoch ``OUT/checkpoint.pt`` holds everything needed to
``--resume`` (network, optimizer, scheduler, epoch, batch, step, best loss, RNG states); the best
network (lowest validation loss) is ``OUT/model.pt`` in the project's model file format
(:func:`mobile_core.model.model_file.save_model`); ``OUT/log.csv`` has one row per epoch.

Performance on CUDA: the transform runs in float32, the CDAE under bf16 autocast; TF32 and cuDNN
autotuning on; the mask network in channels_last; pinned host memory and non-blocking copies;
losses are summed on the device and read back once per epoch (no per-step host syncs unless
``--step-log``).
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import tqdm
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from mobile_core.cli.guard import OneLineParser, console_main
from mobile_core.errors import DemixError
from mobile_core.model.model_file import save_model
from mobile_core.model.separator import Separator

from .checkpoint import (
    BEST_MODEL,
    CHECKPOINT,
    LOG_CSV,
    LOG_FIELDS,
    STEP_CSV,
    Progress,
    atomic_save,
    rng_state,
    set_rng_state,
)
from .checks import (
    check_data,
    check_options,
    check_out,
    clear_run,
    open_dataset,
    resolve_config,
)
from .device import Runtime, all_reduce_sum, setup, teardown
from .steps import (
    SkipSampler,
    compute_loss,
    corpus_valid_tracks,
    input_statistics,
    set_input_statistics,
    validate,
)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="demix-train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="MUSDB18-HQ-layout root")
    p.add_argument("--config", default=None,
                   help="named config (xumx-rt, tiny, tiny-small, bark64-small, ...) or a "
                        "config .json (default xumx-rt; with --resume: the run's own)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--seq-dur", type=float, default=2.0, help="training excerpt seconds")
    p.add_argument("--samples-per-track", type=int, default=64, help="excerpts/track/epoch")
    p.add_argument("--valid-seq-dur", type=float, default=None,
                   help="validation excerpt seconds (default: whole tracks, batch 1)")
    p.add_argument("--valid-samples-per-track", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--patience", type=int, default=1000, help="early-stopping epochs")
    p.add_argument("--lr-decay-patience", type=int, default=80)
    p.add_argument("--lr-decay-gamma", type=float, default=0.3)
    p.add_argument("--lr-decay-cooldown", type=int, default=10)
    p.add_argument("--no-combinations", action="store_true",
                   help="complex MSE on the 4 single targets only (upstream: 14 combinations)")
    p.add_argument("--stats-tracks", type=int, default=None,
                   help="tracks for the input mean/std init (default all; 0: skip)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", action="store_true", help=f"continue from OUT/{CHECKPOINT}")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in OUT (without it such an OUT is refused)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many optimizer steps in total (checkpoint, then exit)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--step-log", action="store_true",
                   help=f"write every step's loss to OUT/{STEP_CSV} (one host sync per step)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no start line")
    return p


def _write_csv_row(path: Path, row: dict, fields: tuple[str, ...]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow(row)


def _tensorboard(out: Path):  # noqa: ANN202 - optional dependency
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def train(args: argparse.Namespace) -> Progress:  # noqa: C901 - the training loop, in one place
    """Run the training described by parsed ``args``; returns the final :class:`Progress`."""
    check_options(args)
    check_data(args.data)
    check_out(args.out, args.resume, args.overwrite)
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = setup(args.device)
    created = not args.out.exists()
    try:
        return _train(args, rt)
    except BaseException:
        # nothing resumable written yet (a refusal, a failure or Ctrl-C before the first
        # checkpoint): leave no output folder behind
        if created and rt.is_main and not (args.out / CHECKPOINT).exists():
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    finally:
        teardown(rt)


def _check_finite(total: torch.Tensor, mix: torch.Tensor, targets: torch.Tensor,
                  prog: Progress, lr: float) -> None:
    """Stop with one line when the loss is NaN or Inf, naming the likely cause."""
    if bool(torch.isfinite(total.detach()).all()):
        return
    if not (bool(torch.isfinite(mix).all()) and bool(torch.isfinite(targets).all())):
        cause = "the training data holds NaN or Inf samples (check the stems' files)"
    else:
        cause = f"training diverged (--lr {lr:g} may be too high)"
    raise DemixError(f"the loss is not finite at step {prog.step + 1} (epoch {prog.epoch}): "
                     f"{cause}; stopped, the last checkpoint is kept")


def _train(args: argparse.Namespace, rt: Runtime) -> Progress:  # noqa: C901
    out: Path = args.out
    config, checkpoint = resolve_config(args)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    valid_names = corpus_valid_tracks(args.data)
    train_ds = open_dataset(args.data, "train", seq_dur=args.seq_dur,
                            samples_per_track=args.samples_per_track, seed=args.seed,
                            valid_tracks=valid_names)
    valid_ds = open_dataset(args.data, "valid", seq_dur=args.valid_seq_dur,
                            samples_per_track=args.valid_samples_per_track, random=False,
                            valid_tracks=valid_names)
    if not train_ds.tracks or not valid_ds.tracks:
        raise DemixError(f"--data {args.data}: need train and valid tracks, found "
                         f"{len(train_ds.tracks)} and {len(valid_ds.tracks)}")
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if args.overwrite:
            clear_run(out)
    ckpt_path = out / CHECKPOINT

    sep = Separator(config).to(rt.device)
    if rt.cuda:
        sep.masknet.to(memory_format=torch.channels_last)
    if checkpoint is None and args.stats_tracks != 0 and rt.is_main:
        stats_ds = open_dataset(args.data, "train", seq_dur=None, random=False,
                                valid_tracks=valid_names)
        set_input_statistics(sep, input_statistics(sep.transform, stats_ds, rt.device,
                                                   args.stats_tracks))
    masknet: nn.Module = sep.masknet
    if rt.distributed:
        masknet = DistributedDataParallel(
            sep.masknet, device_ids=[rt.device.index] if rt.cuda else None
        )

    optimizer = torch.optim.AdamW(sep.masknet.parameters(), lr=args.lr,
                                  weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=args.lr_decay_gamma, patience=args.lr_decay_patience,
        cooldown=args.lr_decay_cooldown,
    )
    prog = Progress()
    if checkpoint is not None:
        sep.masknet.load_state_dict(checkpoint["masknet"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        prog = Progress(**checkpoint["progress"])
        set_rng_state(checkpoint["rng"])

    loader_kw: dict = {"num_workers": args.workers, "pin_memory": rt.cuda}
    if args.workers > 0:
        loader_kw["prefetch_factor"] = 2
    sampler = SkipSampler(DistributedSampler(train_ds, num_replicas=rt.world_size,
                                             rank=rt.rank, shuffle=True, seed=args.seed,
                                             drop_last=True))
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, sampler=sampler,
                              drop_last=True, **loader_kw)
    valid_sampler = DistributedSampler(valid_ds, num_replicas=rt.world_size, rank=rt.rank,
                                       shuffle=False)
    valid_loader = DataLoader(valid_ds, batch_size=1 if args.valid_seq_dur is None else
                              args.batch_size, sampler=valid_sampler, **loader_kw)
    steps_per_epoch = len(sampler.sampler) // args.batch_size
    if steps_per_epoch == 0:
        raise DemixError("fewer training items than --batch-size; lower it or raise "
                         "--samples-per-track")

    combos = not args.no_combinations
    tb = _tensorboard(out) if rt.is_main else None
    if rt.is_main and not args.quiet:
        print(f"demix-train: {config.name}, {sep.n_parameters():,} parameters, "
              f"{len(train_ds.tracks)} train / {len(valid_ds.tracks)} valid tracks, "
              f"{steps_per_epoch} steps/epoch x {rt.world_size} process(es) on {rt.device}",
              file=sys.stderr, flush=True)

    stop = False
    while prog.epoch < args.epochs and not stop:
        epoch = prog.epoch
        if args.max_steps is not None and prog.step >= args.max_steps:
            break
        train_ds.set_epoch(epoch)
        sampler.set_epoch(epoch, skip=prog.batch * args.batch_size)
        sep.masknet.train()
        acc = torch.zeros(3, dtype=torch.float64, device=rt.device)
        n_batches = 0
        partial = False
        t0 = time.perf_counter()
        bar = tqdm.tqdm(train_loader, total=len(train_loader), desc=f"epoch {epoch}",
                        disable=args.quiet or not rt.is_main, leave=False, file=sys.stderr)
        for mix, targets in bar:
            mix = mix.to(rt.device, non_blocking=True)
            targets = targets.to(rt.device, non_blocking=True)
            total, mse, msum = compute_loss(sep, masknet, mix, targets, rt, combos)
            if not rt.cuda or prog.step % 50 == 0:  # on CUDA: no host sync every step
                _check_finite(total, mix, targets, prog, args.lr)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            prog.step += 1
            prog.batch += 1
            n_batches += 1
            acc += torch.stack([total.detach(), mse.detach(), msum.detach()]).double()
            if args.step_log and rt.is_main:
                _write_csv_row(out / STEP_CSV, {"step": prog.step, "loss": float(total.detach())},
                               ("step", "loss"))
            if not rt.cuda and not args.quiet and rt.is_main and prog.step % 10 == 0:
                bar.set_postfix(loss=f"{float(acc[0]) / n_batches:.4g}")
            if args.max_steps is not None and prog.step >= args.max_steps:
                partial = prog.batch < steps_per_epoch
                break
        bar.close()
        all_reduce_sum(acc, rt)
        train_means = (acc / max(1, n_batches * rt.world_size)).tolist()  # one sync per epoch
        valid_loss = validate(sep, masknet, valid_loader, rt, combos)
        if not all(np.isfinite([*train_means, valid_loss])):
            raise DemixError(f"the loss is not finite in epoch {epoch} (train "
                             f"{train_means[0]:.4g}, valid {valid_loss:.4g}): the data holds "
                             f"NaN or Inf samples or training diverged; stopped, the last "
                             f"checkpoint is kept")
        if not partial:
            scheduler.step(valid_loss)
        improved = valid_loss < prog.best_loss
        if improved:
            prog.best_loss, prog.best_epoch, prog.bad_epochs = valid_loss, epoch, 0
        elif not partial:
            prog.bad_epochs += 1
        row = {"epoch": epoch, "step": prog.step, "train_loss": train_means[0],
               "train_mse": train_means[1], "train_mask": train_means[2],
               "valid_loss": valid_loss, "lr": optimizer.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - t0, 2), "best_valid": prog.best_loss,
               "partial": int(partial)}
        prog.history.append(row)
        if not partial:
            prog.epoch, prog.batch = epoch + 1, 0
        stop = prog.bad_epochs > args.patience
        if rt.is_main:
            if improved:
                save_model(sep, out / BEST_MODEL, info={
                    "data": str(args.data), "config": config.name, "epoch": epoch,
                    "steps": prog.step, "valid_loss": f"{valid_loss:.6g}",
                    "train_loss": f"{train_means[0]:.6g}", "seq_dur": args.seq_dur,
                    "batch_size": args.batch_size * rt.world_size, "lr": args.lr,
                    "trainer": "demix-train"})
            atomic_save({
                "config": config.to_dict(),
                "masknet": sep.masknet.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "progress": vars(prog),
                "rng": rng_state(),
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "world_size": rt.world_size,
            }, ckpt_path)
            _write_csv_row(out / LOG_CSV, row, LOG_FIELDS)
            if tb is not None:
                tb.add_scalar("loss/train", train_means[0], prog.step)
                tb.add_scalar("loss/valid", valid_loss, prog.step)
                tb.add_scalar("lr", optimizer.param_groups[0]["lr"], prog.step)
            print(f"epoch {epoch} step {prog.step}: train {train_means[0]:.5g} "
                  f"(mse {train_means[1]:.5g}, mask {train_means[2]:.5g}) valid "
                  f"{valid_loss:.5g} best {prog.best_loss:.5g} lr "
                  f"{optimizer.param_groups[0]['lr']:.3g} {row['seconds']:.0f} s"
                  + (" [partial]" if partial else ""), file=sys.stderr, flush=True)
        if partial:
            break
    if stop and rt.is_main:
        print(f"early stop: {prog.bad_epochs} epochs without improvement", file=sys.stderr)
    if tb is not None:
        tb.close()
    return prog


@console_main("demix-train")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``demix-train``: 0 when training ends, 1 with one line on an error."""
    args = _parser().parse_args(argv)
    train(args)
    return 0

