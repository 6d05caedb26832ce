"""The sliCQT as the ``.pte`` runs it: the transform-only chunk graph, lowered and profiled.

    python bench/bench_transform_graph.py [--config xumx-rt] [--hops 48]
                                          [--inverse-slices 16] [--dense-max N] [--unsequenced]
                                          [--keep F.pte]

Builds the export's chunk graph (:class:`export.graph.ChunkGraph`) for a configuration with
fresh weights, replaces its masknet by four sigmoids of the magnitudes (a stand-in that costs
~2 ms, so what is timed is the transform: forward, masks applied in the inverse, inverse,
overlap-add), lowers it to a float32 XNNPACK ``.pte`` exactly as ``demix-export`` does
(:func:`export.formats.pte.to_pte`), and prints: the lowering time, the program's planned
memory, the file size, the kernels outside XNNPACK, the ETDump profile of one chunk on one
thread grouped by operator (the last of three runs), and the SNR of the ``.pte``
against the same graph in eager PyTorch. This is the loop the transform's exported form was
tuned with (docs/formats.md, "The transform in the .pte"); each run takes a few minutes, most
of it lowering.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import etdump_by_operator, split_line  # noqa: E402


class SigmoidMasks(nn.Module):
    """Stand-in masknet: ``[1, C, F, S, T]`` magnitudes -> ``[1, 4, C, F, S, T]`` masks."""

    def forward(self, mags: list[Tensor]) -> list[Tensor]:
        return [torch.stack([torch.sigmoid(m * (0.5 + i)) for i in range(4)], dim=1)
                for m in mags]


def build(config: str, hops: int, inverse_slices: int, dense_max: int | None):
    """The transform-only chunk graph and its chunk length in samples."""
    from export.graph import ChunkGraph
    from export.models import fresh_separator
    from mobile_core.contract.chunking import chunk_spec

    sep = fresh_separator(config)
    spec = chunk_spec(sep.transform, sep.config.cdae, hops)
    graph = ChunkGraph(sep, spec.chunk, inverse_slices=inverse_slices or None,
                       dense_max=dense_max)
    graph.masknet = SigmoidMasks()
    return graph.eval(), spec.chunk


def profile(path: Path, x: Tensor, repeats: int = 3) -> tuple[Tensor, float, list]:
    """ETDump of ``repeats`` runs on one thread: output, ms of the last (warm) run, ``(op, ms,
    calls)`` rows."""
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    _unsafe_reset_threadpool(1)
    prog = Runtime.get().load_program(str(path), enable_etdump=True, debug_buffer_size=0)
    method = prog.load_method("forward")
    for _ in range(repeats):
        out = method.execute([x])[0]
    with tempfile.TemporaryDirectory() as tmp:
        etdp = Path(tmp) / "run.etdp"
        prog.write_etdump_result_to_file(str(etdp), str(Path(tmp) / "debug.bin"))
        total, rows = etdump_by_operator(etdp)
    return out, total, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="xumx-rt", help="transform configuration (xumx-rt)")
    p.add_argument("--hops", type=int, default=48, help="chunk length in slice hops (48)")
    p.add_argument("--inverse-slices", type=int, default=16,
                   help="slices per inverse pass (16; 0: one pass)")
    p.add_argument("--dense-max", type=int, default=None,
                   help="longest dense block DFT (default: the export's)")
    p.add_argument("--unsequenced", action="store_true",
                   help="let the inverse passes overlap (no pass waits for the previous one)")
    p.add_argument("--keep", type=Path, default=None, help="write the .pte here (kept)")
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    from export.formats.pte import to_pte

    graph, length = build(args.config, args.hops, args.inverse_slices, args.dense_max)
    graph.transform.sequence_passes = not args.unsequenced
    x = (torch.rand(1, 2, length, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.3
    with torch.no_grad():
        want = graph(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "transform.pte"
        t0 = time.perf_counter()
        report = to_pte(graph, (x,), path)
        lower_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20
        got, total, rows = profile(path, x)
    snr = 10 * torch.log10(want.pow(2).sum() / (got - want).pow(2).sum()).item()
    dense = [m.n for m in graph.transform.modules() if getattr(m, "dense", False)]
    print(f"{args.config}, {args.hops} hops ({length} samples), inverse passes of "
          f"{graph.inverse_slices} slices ({'not ' * args.unsequenced}sequenced), dense block "
          f"DFTs up to {max(dense, default=0)}")
    print(f"lowering {lower_s:.0f} s, planned memory {report.planned_bytes / 2**20:.1f} MB, "
          f"file {size_mb:.1f} MB, SNR vs eager graph {snr:.1f} dB")
    print(f"kernels outside XNNPACK: {', '.join(report.kernel_ops)}")
    print(f"\nETDump, one chunk, one thread: {total:.1f} ms in Method::execute\n")
    print("| operator (where it runs) | ms | calls | share |\n| --- | ---: | ---: | ---: |")
    for op, ms, calls in rows[:16]:
        print(f"| {op} | {ms:.1f} | {calls} | {100 * ms / total:.1f} % |")
    print("\n" + split_line(rows, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
