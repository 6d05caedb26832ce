"""``demix-eval``: SDR of a model on a MUSDB18-HQ-layout split, beside the mixture baseline.

::

    demix-eval --data data/synth --model mobile_core/assets/default_model.pt \\
        --split test --json results.json [--museval]

For every track the model separates the whole mixture with the chunked reference runner
(``mobile_core.contract.runner.separate``; any backend: a ``.pt`` model file runs eager, exported
artifacts run in their runtime) and each stem is scored with the MDX SDR of
:mod:`export.metrics` (optionally also museval BSSv4). The *mixture as estimate* baseline scores
the unprocessed mixture as every stem; ``mixture / 4`` (every stem a quarter of the mixture, i.e.
four equal masks) is shown too: a network that has learnt nothing but the mask-sum term reaches
it. Output: a JSON report (per track and median per stem) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import tqdm

from export.data.musdb import SOURCES, Track, find_tracks, read_excerpt
from export.metrics import bss_sdr, museval_available, sdr
from mobile_core.cli.guard import OneLineParser, console_main, say
from mobile_core.cli.outputs import check_json_target
from mobile_core.errors import DemixError

SeparateFn = Callable[[torch.Tensor], torch.Tensor]
"""``mix[2, N]`` float32 -> ``stems[4, 2, N]`` in :data:`SOURCES` order."""


def load_track(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture[2, N], targets[4, 2, N])`` float32; the mixture file if present, else the sum."""
    targets = np.stack([read_excerpt(track.paths[s], 0, track.frames) for s in SOURCES])
    if "mixture" in track.paths:
        mixture = read_excerpt(track.paths["mixture"], 0, track.frames)
    else:
        mixture = targets.sum(axis=0)
    return mixture, targets


def model_separate_fn(model_path: str | Path, backend: str | None = None,
                      threads: int | None = None) -> tuple[SeparateFn, dict]:
    """A :data:`SeparateFn` running a model file (or exported artifact) and its description.

    Uses the chunked reference runner (``mobile_core.contract.runner.separate`` on the backend
    ``mobile_core.contract.backends.open_backend`` opens:
    ``eager`` for ``.pt`` model files, ``pte``,
    ``ptl``, ``onnx``/``ort`` for artifacts; ``None``: from the extension). Without the runner
    (older trees) a ``.pt`` model's ``Separator.forward`` runs on the whole track instead.
    """
    try:
        from mobile_core.contract.backends import open_backend
        from mobile_core.contract.runner import separate as run_chunked
    except ImportError:
        return _whole_track_fn(model_path, backend)
    be = open_backend(model_path, backend, threads=threads)
    if tuple(be.stems) != SOURCES:
        raise ValueError(f"{model_path}: stems {be.stems}, expected {SOURCES}")

    def run(mix: torch.Tensor) -> torch.Tensor:
        return run_chunked(mix, be)

    sep = getattr(be, "separator", None)
    desc = {"model": str(model_path), "model_id": str(getattr(be, "model_id", "") or ""),
            "config": str(getattr(be, "config", "")), "backend": be.name,
            "runner": "mobile_core.contract.runner.separate (chunked)",
            "info": dict(getattr(sep, "info", {}) or {})}
    return run, desc


def _whole_track_fn(model_path: str | Path, backend: str | None) -> tuple[SeparateFn, dict]:
    if backend not in (None, "auto", "eager"):
        raise SystemExit(f"backend {backend!r} needs mobile_core.contract.runner "
                         "(only 'eager' here)")
    from mobile_core.model.model_file import load_model

    sep = load_model(model_path)

    @torch.inference_mode()
    def run(mix: torch.Tensor) -> torch.Tensor:
        return sep(mix[None])[0]

    desc = {"model": str(model_path), "model_id": getattr(sep, "model_id", ""),
            "config": sep.config.name, "backend": "eager", "runner": "Separator.forward",
            "info": dict(getattr(sep, "info", {}))}
    return run, desc


def _median(rows: list[dict], key: str) -> dict[str, float]:
    return {s: float(np.median([r[key][s] for r in rows])) for s in SOURCES}


def evaluate_tracks(tracks: list[Track], separate: SeparateFn, use_museval: bool = False,
                    progress: bool = True) -> dict:
    """Score ``separate`` on ``tracks``; returns ``{"tracks": [...], "median": {...}}``.

    Every track row: ``name``, ``seconds``, ``sdr``, ``baseline`` (the mixture as every stem)
    and ``quarter`` (a quarter of the mixture as every stem: what four equal masks summing to 1
    give), MDX SDR per stem in dB, and, with ``use_museval``, ``bss_sdr`` and
    ``bss_baseline``. ``median`` holds the per-stem medians of each, plus ``mean`` (the mean
    of the four stem medians).
    """
    rows = []
    for track in tqdm.tqdm(tracks, desc="eval", disable=not progress, file=sys.stderr):
        try:
            mixture, targets = load_track(track)
        except (ValueError, sf.SoundFileError) as e:
            raise DemixError(f"{track.name}: cannot read its audio: {e}") from None
        if not (np.isfinite(mixture).all() and np.isfinite(targets).all()):
            raise DemixError(f"{track.name}: its audio holds NaN or Inf samples; the SDR of "
                             f"such a track is meaningless")
        est = separate(torch.from_numpy(mixture)).numpy()
        if not np.isfinite(est).all():
            raise DemixError(f"{track.name}: the model's stems hold NaN or Inf")
        if est.shape != targets.shape:
            raise ValueError(f"{track.name}: estimate {est.shape}, expected {targets.shape}")
        base = np.broadcast_to(mixture, targets.shape)
        row = {"name": track.name, "seconds": track.frames / 44100.0,
               "sdr": dict(zip(SOURCES, sdr(targets, est).tolist())),
               "baseline": dict(zip(SOURCES, sdr(targets, base).tolist())),
               "quarter": dict(zip(SOURCES, sdr(targets, 0.25 * base).tolist()))}
        if use_museval:
            row["bss_sdr"] = dict(zip(SOURCES, bss_sdr(targets, est).tolist()))
            row["bss_baseline"] = dict(zip(SOURCES, bss_sdr(targets, base).tolist()))
        rows.append(row)
    keys = ["sdr", "baseline", "quarter"] + (["bss_sdr", "bss_baseline"] if use_museval else [])
    median = {k: _median(rows, k) for k in keys} if rows else {}
    for k in median:
        median[k]["mean"] = float(np.mean([median[k][s] for s in SOURCES]))
    return {"tracks": rows, "median": median}


def markdown_table(result: dict) -> str:
    """Median SDR per stem: model, mixture baseline, their difference, mixture/4 (dB)."""
    med = result["median"]
    bss = "bss_sdr" in med
    head = "| stem | model SDR | mixture baseline | gain | mixture / 4 |"
    sep = "| --- | ---: | ---: | ---: | ---: |"
    if bss:
        head += " model SDR (BSSv4) | baseline (BSSv4) |"
        sep += " ---: | ---: |"
    lines = [head, sep]
    for s in (*SOURCES, "mean"):
        m, b = med["sdr"][s], med["baseline"][s]
        name = "**mean**" if s == "mean" else s
        line = f"| {name} | {m:.2f} | {b:.2f} | {m - b:+.2f} | {med['quarter'][s]:.2f} |"
        if bss:
            line += f" {med['bss_sdr'][s]:.2f} | {med['bss_baseline'][s]:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="demix-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="MUSDB18-HQ-layout root")
    p.add_argument("--model", type=Path, default=None,
                   help="model file (default: the bundled default model)")
    p.add_argument("--backend", default=None,
                   help="eager (.pt), pte, ptl, onnx, ort; default: from the file extension")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--tracks", type=int, default=None, help="only the first N tracks")
    p.add_argument("--json", type=Path, default=None, help="write the full report here")
    p.add_argument("--museval", action="store_true",
                   help="also museval BSSv4 SDR (needs the optional museval package)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    return p


@console_main("demix-eval", error_status=2)
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``demix-eval``: 0 ok, 2 one error line, 130 Ctrl-C."""
    args = _parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        raise DemixError(f"--threads must be at least 1, got {args.threads}")
    if args.tracks is not None and args.tracks < 1:
        raise DemixError(f"--tracks must be at least 1, got {args.tracks}")
    if args.json is not None:
        check_json_target(args.json, [], [])
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.museval and not museval_available():
        print("demix-eval: --museval needs the 'museval' package (pip install museval)",
              file=sys.stderr)
        return 2
    if args.model is None:
        from mobile_core.assets import DEFAULT_MODEL

        args.model = Path(DEFAULT_MODEL)
    valid = None
    meta = args.data / "corpus.json"
    if meta.is_file():
        valid = json.loads(meta.read_text()).get("valid_tracks") or None
    try:
        tracks = find_tracks(args.data, args.split, valid)[: args.tracks]
    except (ValueError, FileNotFoundError, sf.SoundFileError) as e:
        raise DemixError(f"--data {args.data}: {e}") from None
    if not tracks:
        print(f"demix-eval: no {args.split} tracks under {args.data}", file=sys.stderr)
        return 2
    try:
        separate, desc = model_separate_fn(args.model, args.backend, args.threads)
    except (DemixError, ValueError) as e:
        print(f"demix-eval: {e}", file=sys.stderr)
        return 2
    result = evaluate_tracks(tracks, separate, args.museval, progress=not args.quiet)
    report = {**desc, "data": str(args.data), "split": args.split, "n_tracks": len(tracks),
              "metric": "MDX SDR, dB (10 log10 sum s^2 / sum (s - s_hat)^2, eps 1e-7)",
              **result}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.partial")
        try:
            tmp.write_text(json.dumps(report, indent=1) + "\n")
            os.replace(tmp, args.json)
        finally:
            tmp.unlink(missing_ok=True)
    say(f"{desc['model']} ({desc['config']}, id {desc['model_id']}) on {len(tracks)} "
        f"{args.split} tracks of {args.data}; median SDR in dB:\n", "demix-eval")
    say(markdown_table(result), "demix-eval")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
