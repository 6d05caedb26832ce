"""``demix-golden --out DIR``: golden vectors for the Java bridge's tests, from the reference code.

Layout of ``DIR`` (format version :data:`GOLDEN_VERSION`)::

    manifest.json               what every file is (shape, dtype, rates, sha256) + contract numbers
    resample/<in>_to_<out>.in.bin, .out.bin     resampler input [2, n] and output [2, m]
    channels/<C>ch.in.bin, .out.bin             channel rule input [C, n] and stereo output [2, n]
    chunk_plans.json            chunk plans (start, keep_from, keep_to) for several song lengths
    stitched/mix.bin, stems.bin                 chunked separation by the golden model
    pipeline/mono22050.in.bin, stems.bin        whole pipeline: mono 22.05 kHz in, stems back at
                                                22.05 kHz (channel rule, resampler, chunks,
                                                resampler back, cut to the input length)

Every ``.bin`` is raw little-endian float32 in C order (row-major: channel by channel); its shape
is in the manifest. Two runs write byte-identical files (fixed formulas and seeds, no time
stamps). The golden model is the ``tiny`` configuration with weights drawn from a fixed seed and
randomised BatchNorm statistics (:func:`golden_model`), so that its masks are far from 0.5; its
``model_id`` is in the manifest and ``--with-model`` also writes it as ``golden_model.pt`` (feed
that to ``demix-export`` to get the matching artifact for an on-device test).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..contract import resample as rs
from ..contract.channels import downmix_matrix, to_stereo
from ..contract.chunking import ChunkSpec, chunk_spec, default_chunk_hops, plan_chunks
from ..contract.files import make_folder, remove_empty
from ..model.config import separator_config
from ..model.separator import Separator
from .guard import OneLineParser, console_main, error_line, say

PROG = "demix-golden"
GOLDEN_FORMAT = "demix-mobile-golden"
GOLDEN_VERSION = 1
GOLDEN_SEED = 20240601
GOLDEN_CHUNK_HOPS = 16
"""Chunk length of the golden model's plan (short, so the stitched vectors cover several chunks)."""

COMMON_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 48000, 88200, 96000, 176400, 192000)
"""Every common rate of docs/contract-audio.md: the golden set resamples each to 44.1 kHz and
back."""
_FIRST_PAIRS = ((8000, 44100), (22050, 44100), (48000, 44100), (96000, 44100), (44100, 48000))
RESAMPLE_PAIRS = _FIRST_PAIRS + tuple(
    pair for r in COMMON_RATES for pair in ((r, 44100), (44100, r)) if pair not in _FIRST_PAIRS)
"""The resampler's golden cases (the first five as in the first golden sets: same signals)."""
CHANNEL_COUNTS = (1, 2, 3, 6, 8)


def randomize_batchnorm(module: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm random running statistics and affine weights (in place).

    Freshly built networks have mean 0 / variance 1 statistics, which makes BatchNorm an identity
    and the masks bland; random statistics make the masks vary, so tests can tell right from wrong.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.5 * torch.randn(n, generator=g))
                m.running_var.copy_(0.2 + 2.0 * torch.rand(n, generator=g))
                if m.affine:
                    m.weight.copy_(0.5 + torch.rand(n, generator=g))
                    m.bias.copy_(0.3 * torch.randn(n, generator=g))
    return module


def golden_model(config: str = "tiny", seed: int = GOLDEN_SEED) -> Separator:
    """The deterministic test model: fixed-seed weights, randomised BatchNorm, eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sep = Separator(config)
    return randomize_batchnorm(sep, seed + 1).eval()


def music_signal(n: int, sample_rate: int, channels: int = 2, seed: int = 0) -> Tensor:
    """Music-like float32 ``[channels, n]``: enveloped harmonic tones, noise bursts, a click.

    Built in float64 from closed formulas and a seeded PCG64 generator (deterministic).
    """
    t = np.arange(n, dtype=np.float64) / sample_rate
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.zeros((channels, n))
    for c in range(channels):
        f0 = 110.0 * 2 ** ((3 * c + seed % 5) / 12)
        for k, amp in enumerate((0.25, 0.12, 0.08, 0.05), start=1):
            env = 0.5 + 0.5 * np.sin(2 * np.pi * (1.3 + 0.2 * k) * t + c)
            out[c] += amp * env * np.sin(2 * np.pi * f0 * k * t + 0.7 * k * c)
        bursts = (np.sin(2 * np.pi * 3.1 * t + c) > 0.8).astype(np.float64)
        out[c] += 0.08 * bursts * rng.standard_normal(n)
    if n > 10:
        out[:, n // 3] += 0.5
    return torch.from_numpy(out.astype(np.float32))


class _Writer:
    """Writes ``.bin``/JSON files under a folder and records them for the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict] = {}

    def array(self, rel: str, x: Tensor, **info) -> str:
        data = np.ascontiguousarray(x.detach().cpu().numpy().astype("<f4"))
        raw = data.tobytes()
        self._write(rel, raw)
        self.files[rel] = {"dtype": "float32", "byte_order": "little", "shape": list(data.shape),
                           "sha256": hashlib.sha256(raw).hexdigest(), **info}
        return rel

    def json(self, rel: str, obj: object) -> str:
        raw = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()
        self._write(rel, raw)
        self.files[rel] = {"dtype": "json", "sha256": hashlib.sha256(raw).hexdigest()}
        return rel

    def _write(self, rel: str, raw: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(raw)
        os.replace(tmp, path)


def _resampler_cases(w: _Writer) -> list[dict]:
    cases = []
    for i, (sr_in, sr_out) in enumerate(RESAMPLE_PAIRS):
        n_in = sr_in // 20 + 7 + i  # 50 ms and an odd remainder
        x = music_signal(n_in, sr_in, 2, seed=i)
        y = rs.resample(x, sr_in, sr_out)
        stem = f"resample/{sr_in}_to_{sr_out}"
        cases.append({
            "sr_in": sr_in, "sr_out": sr_out, "n_in": n_in, "n_out": int(y.shape[-1]),
            "input": w.array(f"{stem}.in.bin", x), "output": w.array(f"{stem}.out.bin", y),
        })
    return cases


def _channel_cases(w: _Writer) -> list[dict]:
    cases = []
    for c in CHANNEL_COUNTS:
        x = music_signal(1000 + c, 44100, c, seed=10 + c)
        y = to_stereo(x)
        cases.append({
            "channels": c, "matrix": downmix_matrix(c).tolist(),
            "input": w.array(f"channels/{c}ch.in.bin", x),
            "output": w.array(f"channels/{c}ch.out.bin", y),
        })
    return cases


def _plan_lengths(spec: ChunkSpec) -> list[int]:
    h, n = spec.hop, spec.chunk
    lengths = {1, h - 1, h, h + 1, n - 1, n, n + 1, 2 * n + 3, 5 * n + 12345}
    if spec.step >= spec.sample_rate:  # a 10-minute song, where chunks are long enough
        lengths.add(spec.sample_rate * 600 + 17)
    return sorted(x for x in lengths if x >= 1)


def _plans(configs: Sequence[str]) -> list[dict]:
    out = []
    specs: list[tuple[str, int, ChunkSpec]] = []
    for name in configs:
        cfg = separator_config(name)
        from ..transform.slicqt import SliCQT

        t = SliCQT.from_config(cfg.transform)
        hops = default_chunk_hops(name, t)
        specs.append((name, hops, chunk_spec(t, cfg.cdae, hops)))
        if name == "tiny":
            specs.append((name, GOLDEN_CHUNK_HOPS, chunk_spec(t, cfg.cdae, GOLDEN_CHUNK_HOPS)))
    for name, hops, spec in specs:
        out.append({
            "config": name, "chunk_hops": hops, "spec": spec.to_dict(), "step": spec.step,
            "plans": [{"n_samples": n,
                       "chunks": [[c.start, c.keep_from, c.keep_to] for c in plan_chunks(n, spec)]}
                      for n in _plan_lengths(spec)],
        })
    return out


def _stitched(w: _Writer, model: Separator) -> dict:
    from ..contract.backends import EagerBackend
    from ..contract.runner import separate

    backend = EagerBackend(model, chunk_hops=GOLDEN_CHUNK_HOPS)
    n = 2 * backend.spec.chunk + 7777
    x = music_signal(n, backend.spec.sample_rate, 2, seed=99)
    y = separate(x, backend)
    return {
        "spec": backend.spec.to_dict(), "n_samples": n, "stems": list(backend.stems),
        "chunks": [[c.start, c.keep_from, c.keep_to] for c in plan_chunks(n, backend.spec)],
        "mix": w.array("stitched/mix.bin", x), "output": w.array("stitched/stems.bin", y),
    }


def _pipeline(w: _Writer, model: Separator) -> dict:
    from ..contract.backends import EagerBackend
    from ..contract.runner import separate

    backend = EagerBackend(model, chunk_hops=GOLDEN_CHUNK_HOPS)
    rate, sr = backend.spec.sample_rate, 22050
    n = sr + 1234
    x = music_signal(n, sr, 1, seed=7)
    stereo = to_stereo(x)
    mix = rs.resample(stereo, sr, rate)
    stems = separate(mix, backend)
    back = rs.resample(stems, rate, sr)[..., :n]
    return {
        "input_rate": sr, "input_channels": 1, "n_in": n, "model_rate": rate,
        "n_model": int(mix.shape[-1]), "stems": list(backend.stems),
        "steps": ["to_stereo", f"resample {sr}->{rate}", "chunked separate",
                  f"resample {rate}->{sr}", f"cut to {n} samples"],
        "input": w.array("pipeline/mono22050.in.bin", x),
        "output": w.array("pipeline/stems.bin", back),
    }


def write_golden(out: Path, configs: Sequence[str] = ("tiny", "xumx-rt"),
                 with_model: bool = False) -> dict:
    """Write all golden vectors and ``manifest.json`` under ``out``; returns the manifest.

    Everything is written into a hidden folder beside ``out`` first and moved into ``out`` only
    when complete (the manifest last): a run that fails or is stopped leaves nothing.
    """
    out = Path(out)
    created = make_folder(out.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reduction order on every run and machine
    try:
        manifest = _write_golden(stage, configs, with_model)
        _publish(stage, out)
        return manifest
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        remove_empty(out.parent, created)
        raise
    finally:
        torch.set_num_threads(threads)


def _publish(stage: Path, out: Path) -> None:
    """Move the finished files from ``stage`` into ``out``, ``manifest.json`` last."""
    if not out.exists():
        os.rename(stage, out)
        return
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "manifest.json")
    for src in files:
        dst = out / src.relative_to(stage)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    shutil.rmtree(stage, ignore_errors=True)


def _write_golden(out: Path, configs: Sequence[str], with_model: bool) -> dict:
    w = _Writer(out)
    model = golden_model()
    manifest = {
        "format": GOLDEN_FORMAT,
        "version": GOLDEN_VERSION,
        "generator": PROG,
        "layout": "raw little-endian float32, C order, shape in 'files'",
        "contract": {
            "resampler": {"ZERO_CROSSINGS": rs.ZERO_CROSSINGS, "CUTOFF": rs.CUTOFF,
                          "KAISER_BETA": rs.KAISER_BETA, "I0_TERMS": rs.I0_TERMS,
                          "MIN_RATE": rs.MIN_RATE, "MAX_RATE": rs.MAX_RATE},
        },
        "golden_model": {"config": "tiny", "seed": GOLDEN_SEED,
                         "model_id": _model_id(model), "chunk_hops": GOLDEN_CHUNK_HOPS},
        "tolerances": {"resample_abs": 1e-5, "channels_abs": 1e-6, "stitched_snr_db": 80.0},
        "resample": _resampler_cases(w),
        "channels": _channel_cases(w),
        "chunk_plans": w.json("chunk_plans.json", _plans(configs)),
        "stitched": _stitched(w, model),
        "pipeline": _pipeline(w, model),
    }
    if with_model:
        from ..model.model_file import save_model

        save_model(model, out / "golden_model.pt", info={"purpose": "golden vectors"})
        manifest["golden_model"]["file"] = "golden_model.pt"
    manifest["files"] = dict(sorted(w.files.items()))
    w.json("manifest.json", manifest)
    return manifest


def _model_id(model: Separator) -> str:
    from ..model.model_file import model_id

    return model_id({k: v for k, v in model.masknet.state_dict().items()})


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Write versioned golden vectors "
                                "(resampler, channel rules, chunk plans, stitched output).")
    p.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    p.add_argument("--configs", default="tiny,xumx-rt",
                   help="configurations whose default chunk plans to include (default: "
                        "tiny,xumx-rt)")
    p.add_argument("--with-model", action="store_true",
                   help="also write the golden model file golden_model.pt (about 14 MB)")
    return p


@console_main(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``demix-golden``."""
    args = build_parser().parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    try:
        for c in configs:
            separator_config(c)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        manifest = write_golden(args.out, configs, args.with_model)
    except OSError as e:
        print(error_line(PROG, f"cannot write {args.out}: {e.strerror or e}"), file=sys.stderr)
        return 1
    say(f"wrote {len(manifest['files']) + 1} files to {args.out} "
          f"(golden format {GOLDEN_VERSION}, model {manifest['golden_model']['model_id']})")
    return 0


__all__ = ["golden_model", "main", "randomize_batchnorm", "music_signal", "write_golden",
           "GOLDEN_VERSION"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
