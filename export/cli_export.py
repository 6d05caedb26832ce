"""``demix-export``: write the mobile artifacts of a model and report on each.

    demix-export --model MODEL --format pte|ptl|onnx|ort|all --quant fp32|int8|all
                 [--chunk-seconds S] [--threads N] -o DIR

``MODEL`` is a model file (``.pt``) or, for testing, a configuration name (``tiny``, ``xumx-rt``:
fresh untrained weights). Writes ``DIR/demix-{config}-{quant}.{kind}`` (``.ort`` with its
``.required_operators.config``), ``DIR/export_report.json`` and ``DIR/export_report.md``, and
prints the table: size, stems SNR and max abs difference vs the eager float32 model on music, ms
per chunk in the artifact's own runtime, the SDR change on held-out synthetic songs, and for
``.pte`` the XNNPACK delegation summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mobile_core.cli.guard import OneLineParser, console_main, say
from mobile_core.errors import DemixError

FORMATS = ("pte", "ptl", "onnx", "ort")


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="demix-export", description=__doc__.split("\n\n")[0].strip("`: "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", "-m", required=True,
                   help="model file (.pt) or configuration name (fresh weights, for testing)")
    p.add_argument("--format", "-f", nargs="+", default=["pte"],
                   help="pte, ptl, onnx, ort or all (several allowed; default pte)")
    p.add_argument("--quant", "-q", nargs="+", default=["fp32"],
                   help="fp32, int8 or all (several allowed; default fp32)")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="chunk length in seconds, rounded to whole slice hops "
                        "(default: the configuration's, see docs/formats.md)")
    p.add_argument("--calib-chunks", type=int, default=8,
                   help="full-length music chunks for int8 calibration (default 8)")
    p.add_argument("--heldout-songs", type=int, default=2,
                   help="synthetic songs with stems for the SDR change (default 2; 0 skips)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per ms-per-chunk median (default 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the eager runs (default 1: exporting is single-threaded "
                        "Python, and an oversubscribed OpenMP pool on a busy machine is 10-100x "
                        "slower); ms per chunk is always measured on one thread")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    out: list[str] = []
    for v in values:
        for item in v.split(","):
            item = item.strip().lower()
            if item == "all":
                out += list(allowed)
            elif item in allowed:
                out.append(item)
            else:
                raise DemixError(f"unknown {what} {item!r}; choose from {', '.join(allowed)} "
                                 "or all")
    return list(dict.fromkeys(out))


def run(args: argparse.Namespace) -> int:
    from export.artifacts import export_artifacts
    from export.models import resolve_model
    from export.report import markdown_table

    kinds = _choices(args.format, FORMATS, "format")
    quants = _choices(args.quant, ("fp32", "int8"), "quantization")
    if args.chunk_seconds is not None:
        from mobile_core.contract.backends import check_chunk_seconds

        check_chunk_seconds(args.chunk_seconds, 44100)
    for name in ("calib_chunks", "repeats", "threads"):
        if getattr(args, name) < 1:
            raise DemixError(f"--{name.replace('_', '-')} must be at least 1")
    if args.heldout_songs < 0:
        raise DemixError("--heldout-songs must be 0 or more")
    if args.out.exists() and not args.out.is_dir():
        raise DemixError(f"output folder {args.out} exists and is not a folder")
    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    import torch

    torch.set_num_threads(args.threads)
    sep = resolve_model(args.model)
    for name, value in {**dict(sep.named_parameters()), **dict(sep.named_buffers())}.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise DemixError(f"--model {args.model}: {name} holds NaN or infinite values; "
                             f"there is nothing sensible to export")
    hops = None
    if args.chunk_seconds is not None:
        hops = max(1, round(args.chunk_seconds * sep.transform.sample_rate / sep.transform.hop))
    reports = export_artifacts(
        sep, args.out, kinds, quants, chunk_hops=hops, calib_chunks=args.calib_chunks,
        heldout=args.heldout_songs, timing_repeats=args.repeats, log=log,
    )
    say(markdown_table(reports).rstrip("\n"), "demix-export")
    say(f"wrote {', '.join(str(args.out / Path(r.file).name) for r in reports)}",
        "demix-export")
    say(f"report: {args.out / 'export_report.json'}, {args.out / 'export_report.md'}",
        "demix-export")
    return 0


@console_main("demix-export", error_status=2)
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``demix-export``: 0 ok, 1 one error line, 2 a bad option, 130 Ctrl-C."""
    args = _parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
