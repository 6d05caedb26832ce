"""``demix-validate``: does a phone (or an exported artifact) produce the reference runner's stems?

Two modes:

* ``--reference DIR --candidate DIR``: compare stem WAV files produced elsewhere (say, by the app
  on a phone) with the reference runner's. Every ``*.wav`` under the reference folder (searched
  recursively, so one folder per track works) must exist under the same relative path in the
  candidate folder.
* ``--artifact FILE --input SONG [--model MODEL]``: run the song through the artifact's own
  runtime and through the eager model it was exported from (``--model``, default: the bundled
  model; its ``model_id`` must match the artifact's), both with the reference runner, and
  compare.

Per stem: sample rate, channel count and length must be equal; then the SNR of the candidate
against the reference, ``10 log10(sum ref^2 / sum (ref - cand)^2)`` over all samples and
channels, and the largest absolute difference. A stem passes when its SNR reaches ``--min-snr``
or its largest difference is at most ``--max-abs`` (this second rule keeps near-silent stems, whose
SNR is dominated by one-LSB rounding flips of 16-bit files, from failing).

Thresholds: ``--min-snr`` defaults to 60 dB, right for fp32 artifacts written as 16-bit WAV
(fp32 runtimes agree to 100 dB and more; 16-bit rounding caps the measurable SNR near 80-90 dB
on music). For int8-quantized artifacts use about 20 dB (``--min-snr 20``); in ``--artifact``
mode that is the default when the artifact's metadata says ``"quantization": "int8"``.

Exit status: 0 all PASS, 1 any FAIL, 2 the comparison could not run (bad option, missing folder,
unreadable model).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..contract.audio import probe, read_blocks
from ..errors import AudioError, DemixError
from .guard import OneLineParser, console_main, error_line, say

PROG = "demix-validate"
DEFAULT_MIN_SNR = 60.0
INT8_MIN_SNR = 20.0
DEFAULT_MAX_ABS = 1e-4
_BLOCK = 1 << 16


@dataclass
class StemReport:
    """Comparison of one stem file."""

    name: str
    passed: bool
    reason: str
    snr_db: float | None = None
    max_abs: float | None = None
    ref_rate: int | None = None
    cand_rate: int | None = None
    ref_frames: int | None = None
    cand_frames: int | None = None
    ref_channels: int | None = None
    cand_channels: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["snr_db"] is not None and not math.isfinite(d["snr_db"]):
            d["snr_db"] = "inf"
        return d


def snr_db(signal_energy: float, noise_energy: float) -> float:
    """``10 log10(signal / noise)``; ``inf`` when the noise is zero."""
    if noise_energy == 0.0:
        return math.inf
    if signal_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_energy / noise_energy)


def compare_files(ref: Path, cand: Path, name: str, min_snr: float, max_abs: float) -> StemReport:
    """Compare two stem files blockwise (memory does not grow with their length)."""
    r = StemReport(name, False, "")
    if not cand.is_file():
        r.reason = "missing in candidate"
        return r
    try:
        ri, ci = probe(ref), probe(cand)
    except AudioError as e:
        r.reason = str(e)
        return r
    r.ref_rate, r.cand_rate = ri.sample_rate, ci.sample_rate
    r.ref_frames, r.cand_frames = ri.frames, ci.frames
    r.ref_channels, r.cand_channels = ri.channels, ci.channels
    problems = []
    if ri.sample_rate != ci.sample_rate:
        problems.append(f"sample rate {ci.sample_rate} != {ri.sample_rate}")
    if ri.channels != ci.channels:
        problems.append(f"channels {ci.channels} != {ri.channels}")
    if ri.frames != ci.frames:
        problems.append(f"length {ci.frames} != {ri.frames} frames")
    if ri.channels == ci.channels:
        try:
            sig, noise, peak = _energies(ref, cand)
        except AudioError as e:
            problems.append(str(e))
        else:
            r.snr_db, r.max_abs = snr_db(sig, noise), peak
            if not (r.snr_db >= min_snr or peak <= max_abs):
                problems.append(f"SNR {r.snr_db:.1f} dB < {min_snr:g} dB and max |diff| "
                                f"{peak:.3g} > {max_abs:g}")
    r.passed = not problems
    r.reason = "; ".join(problems)
    return r


def _energies(ref: Path, cand: Path) -> tuple[float, float, float]:
    """Sum of ref^2, sum of (ref - cand)^2 and max |ref - cand| over the common length."""
    sig = noise = 0.0
    peak = 0.0
    for a, b in zip(read_blocks(ref, _BLOCK), read_blocks(cand, _BLOCK)):
        n = min(a.shape[-1], b.shape[-1])
        x = a[:, :n].numpy().astype(np.float64)
        d = x - b[:, :n].numpy().astype(np.float64)
        sig += float(np.sum(x * x))
        noise += float(np.sum(d * d))
        if d.size:
            peak = max(peak, float(np.max(np.abs(d))))
    return sig, noise, peak


def compare_dirs(reference: Path, candidate: Path, min_snr: float = DEFAULT_MIN_SNR,
                 max_abs: float = DEFAULT_MAX_ABS) -> list[StemReport]:
    """Compare every ``*.wav`` under ``reference`` with the same path under ``candidate``."""
    for d, what in ((reference, "reference"), (candidate, "candidate")):
        if not d.is_dir():
            raise DemixError(f"{what} folder {d} " + ("is not a folder" if d.exists()
                                                      else "does not exist"))
    files = sorted(p.relative_to(reference) for p in reference.rglob("*.wav") if p.is_file())
    if not files:
        raise DemixError(f"reference folder {reference} holds no .wav files")
    return [compare_files(reference / f, candidate / f, str(f), min_snr, max_abs)
            for f in files]


def format_table(reports: Sequence[StemReport]) -> str:
    """A fixed-width table, one stem per line."""
    width = max(12, *(len(r.name) for r in reports))
    lines = [f"{'stem':<{width}}  {'rate':>6}  {'frames':>10}  {'SNR dB':>8}  "
             f"{'max|diff|':>9}  result"]
    for r in reports:
        snr = "-" if r.snr_db is None else ("inf" if math.isinf(r.snr_db) and r.snr_db > 0
                                             else f"{r.snr_db:.1f}")
        peak = "-" if r.max_abs is None else f"{r.max_abs:.2e}"
        line = (f"{r.name:<{width}}  {r.ref_rate or '-':>6}  {r.ref_frames or '-':>10}  "
                f"{snr:>8}  {peak:>9}  {'PASS' if r.passed else 'FAIL'}")
        if r.reason:
            line += f"  ({r.reason})"
        lines.append(line)
    return "\n".join(lines)


def run_artifact(artifact: Path, song: Path, model: Path | None, out: Path,
                 threads: int | None = None) -> tuple[Path, Path, dict]:
    """Separate ``song`` with the artifact and with the eager model it came from.

    Writes float32 stems to ``out/reference/<song>/`` (eager) and ``out/candidate/<song>/``
    (artifact). Returns the two folders and a description of both backends.
    """
    from ..contract.backends import open_backend
    from ..contract.runner import separate_file

    cand = open_backend(artifact, threads=threads)
    if getattr(cand, "name", "") == "eager":
        raise DemixError(f"{artifact} is a model file, not an exported artifact")
    ref = open_backend(model, backend="eager", threads=threads,
                       chunk_hops=cand.spec.chunk // cand.spec.hop)
    if cand.model_id != ref.model_id:
        raise DemixError(
            f"{artifact} was exported from model {cand.model_id}, but "
            f"{model or 'the bundled model'} is model {ref.model_id}: pass the matching model "
            f"file with --model"
        )
    if ref.spec != cand.spec or tuple(ref.stems) != tuple(cand.stems):
        raise DemixError(f"{artifact} and its model disagree on the chunk geometry or stems "
                         f"({cand.spec} vs {ref.spec})")
    ref_dir, cand_dir = out / "reference", out / "candidate"
    separate_file(song, ref_dir / song.stem, ref, fmt="float32")
    separate_file(song, cand_dir / song.stem, cand, fmt="float32")
    info = {"artifact": str(artifact), "model": str(model) if model else "default",
            "model_id": ref.model_id, "backend": cand.name,
            "quantization": getattr(cand, "quantization", None), "input": str(song)}
    return ref_dir, cand_dir, info


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Compare stems with the reference runner's: per stem SNR, max |diff|, "
                    "length and sample rate, PASS/FAIL.",
    )
    p.add_argument("--reference", type=Path, help="folder of reference stems (demix output)")
    p.add_argument("--candidate", type=Path, help="folder of stems to check (same layout)")
    p.add_argument("--artifact", type=Path,
                   help="exported artifact to check (.pte/.ptl/.onnx/.ort)")
    p.add_argument("--input", type=Path, help="song to run through --artifact and its model")
    p.add_argument("--model", type=Path, default=None,
                   help="model file the artifact was exported from (default: the bundled model)")
    p.add_argument("--out", type=Path, default=None,
                   help="with --artifact: keep both sets of stems under OUT/{reference,candidate}")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the runtimes")
    p.add_argument("--min-snr", type=float, default=None,
                   help=f"PASS threshold in dB (default {DEFAULT_MIN_SNR:g}; {INT8_MIN_SNR:g} for "
                        f"int8 artifacts in --artifact mode)")
    p.add_argument("--max-abs", type=float, default=DEFAULT_MAX_ABS,
                   help="a stem whose max |diff| is at most this passes whatever its SNR "
                        f"(default {DEFAULT_MAX_ABS:g}, about 3 LSB of 16-bit audio)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="write the report as JSON to FILE")
    return p


def _write_json(path: Path, report: dict) -> None:
    """Write the report through a hidden temporary file; nothing is left if that fails."""
    if path.is_dir():
        raise IsADirectoryError(21, os.strerror(21), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@console_main(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``demix-validate``; returns 0 (PASS), 1 (FAIL) or 2 (could not compare)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    dir_mode = args.reference is not None or args.candidate is not None
    art_mode = args.artifact is not None or args.input is not None
    if dir_mode == art_mode:
        parser.error("give either --reference and --candidate, or --artifact and --input")
    if dir_mode and (args.reference is None or args.candidate is None):
        parser.error("--reference and --candidate go together")
    if art_mode and (args.artifact is None or args.input is None):
        parser.error("--artifact and --input go together")

    report: dict = {"tool": PROG}
    try:
        if dir_mode:
            min_snr = DEFAULT_MIN_SNR if args.min_snr is None else args.min_snr
            reports = compare_dirs(args.reference, args.candidate, min_snr, args.max_abs)
            report.update(reference=str(args.reference), candidate=str(args.candidate))
        else:
            with tempfile.TemporaryDirectory(prefix="demix-validate-") as tmp:
                out = args.out if args.out is not None else Path(tmp)
                ref_dir, cand_dir, info = run_artifact(args.artifact, args.input, args.model,
                                                       out, args.threads)
                min_snr = args.min_snr
                if min_snr is None:
                    int8 = info.get("quantization") == "int8"
                    min_snr = INT8_MIN_SNR if int8 else DEFAULT_MIN_SNR
                reports = compare_dirs(ref_dir, cand_dir, min_snr, args.max_abs)
                report.update(info)
    except (DemixError, OSError) as e:
        print(error_line(PROG, e), file=sys.stderr)
        return 2
    if args.json is not None and args.json.is_dir():
        print(error_line(PROG, f"cannot write {args.json}: is a folder"), file=sys.stderr)
        return 2
    passed = all(r.passed for r in reports)
    report.update(min_snr=min_snr, max_abs=args.max_abs, passed=passed,
                  stems=[r.to_dict() for r in reports])
    say(format_table(reports), PROG)
    say(f"{'PASS' if passed else 'FAIL'}: {sum(r.passed for r in reports)}/{len(reports)} "
          f"stems within {min_snr:g} dB SNR or {args.max_abs:g} max |diff|")
    if args.json is not None:
        try:
            _write_json(args.json, report)
        except OSError as e:
            print(error_line(PROG, f"cannot write {args.json}: {e.strerror or e}"),
                  file=sys.stderr)
            return 2
    return 0 if passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
