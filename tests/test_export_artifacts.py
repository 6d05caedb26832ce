"""Exported artifacts run in their real runtimes and match the eager model (export/artifacts.py).

``demix-export`` itself exports, once per session, in three processes, two at a time (lowering is
single-threaded Python; CI has two cores): the ``tiny`` configuration (fresh weights,
randomized BatchNorm statistics) to ``.pte``, and to ``.ptl`` + ``.onnx`` + ``.ort``, fp32 and
int8, at a short chunk (15 slice hops, 0.34 s); and the big ``xumx-rt`` graph (70 blocks) to an
fp32 ``.pte`` at its shortest chunk (9 hops). Each artifact is then loaded by its own runtime
(``executorch.runtime``, ``torch.jit.mobile._load_for_lite_interpreter``,
``onnxruntime.InferenceSession``) and run on music (the bundled example song).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from export import songs as q
from export.graph import ChunkGraph, deploy_masknet
from export.graph.deploy import OverlapAddDeconv
from export.models import fresh_separator
from export.report import snr_db
from mobile_core.contract.artifacts import make_metadata, read_artifact_metadata
from mobile_core.contract.chunking import chunk_spec

ROOT = Path(__file__).resolve().parents[1]
TINY_HOPS = 15  # 16 slices: the inverse runs in one pass (smallest graph), 0.34 s
XUMX_HOPS = 9  # the shortest chunk xumx-rt allows (context 5 + look-ahead 3 + 1 hops), 1.84 s
KINDS = ("pte", "ptl", "onnx", "ort")


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Eager runs on one thread: a 2-thread OpenMP pool on a busy 2-core machine is 10-100x
    slower (measured), and the exports run beside these tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny():
    """The fresh ``tiny`` separator the CLI builds (same seed) and its chunk geometry."""
    sep = fresh_separator("tiny")
    return sep, chunk_spec(sep.transform, sep.config.cdae, TINY_HOPS)


@pytest.fixture(scope="session")
def music(tiny):
    """A music chunk (the example song, second chunk: not the one export checked itself on)."""
    _, spec = tiny
    return q.song_chunks(q.example_song().mix, spec)[1]


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict:
    """Run ``demix-export`` for every format and both quantizations (two processes at once)."""
    out = tmp_path_factory.mktemp("artifacts")
    tiny = ["--model", "tiny", "--quant", "fp32", "int8", "--chunk-seconds",
            f"{TINY_HOPS * 1008 / 44100}", "--calib-chunks", "2", "--heldout-songs", "1"]
    jobs = {
        "xumx": ["--model", "xumx-rt", "--format", "pte", "--quant", "fp32", "--chunk-seconds",
                 f"{XUMX_HOPS * 9030 / 44100}", "--heldout-songs", "0"],
        "pte": [*tiny, "--format", "pte"],
        "other": [*tiny, "--format", "ptl", "onnx", "ort"],
    }
    t0 = time.perf_counter()
    procs: dict[str, subprocess.Popen] = {}
    done: set[str] = set()
    pending = list(jobs)
    # at most two at a time: CI has two cores, and an xumx-rt lowering alone peaks at ~4.4 GB
    while pending or len(done) < len(procs):
        if pending and len(procs) - len(done) < 2:
            name = pending.pop(0)
            with open(out / f"{name}.stdout", "w") as o, open(out / f"{name}.stderr", "w") as e:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "export.cli_export", *jobs[name], "--repeats", "1",
                     "--quiet", "-o", str(out / name)], cwd=ROOT, stdout=o, stderr=e)
            continue
        for name, p in procs.items():
            if name not in done and p.poll() is not None:
                done.add(name)
                print(f"\ndemix-export ({name}): done after {time.perf_counter() - t0:.0f} s")
        time.sleep(0.5)
    logs = {n: ((out / f"{n}.stdout").read_text(), (out / f"{n}.stderr").read_text())
            for n in jobs}
    for name, p in procs.items():
        assert p.returncode == 0, f"demix-export ({name}) failed:\n{logs[name][1][-3000:]}"
    reports = {}
    for name in jobs:
        for r in json.loads((out / name / "export_report.json").read_text())["artifacts"]:
            reports[(r["config"] if "config" in r else r["metadata"]["config"], r["kind"],
                     r["quantization"])] = r
    return {"reports": reports, "out": out, "stdout": {k: v[0] for k, v in logs.items()}}


def _report(exported: dict, kind: str, quant: str, config: str = "tiny") -> dict:
    return exported["reports"][(config, kind, quant)]


def _path(exported: dict, kind: str, quant: str, config: str = "tiny") -> Path:
    return Path(_report(exported, kind, quant, config)["file"])


def _run(path: Path, x: torch.Tensor) -> torch.Tensor:
    """One chunk through the artifact's own runtime."""
    kind = path.suffix.lstrip(".")
    if kind == "pte":
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(path).load_method("forward")
        return method.execute([x])[0]
    if kind == "ptl":
        from torch.jit.mobile import _load_for_lite_interpreter

        torch.backends.quantized.engine = "qnnpack"
        return _load_for_lite_interpreter(str(path))(x)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(sess.run(["stems"], {"mix": x.numpy()})[0])


def _stems_vs_eager(exported: dict, tiny, music: torch.Tensor, kind: str,
                    quant: str) -> tuple[torch.Tensor, float]:
    """One music chunk through the artifact's runtime; its stems and their SNR vs eager fp32."""
    sep, _ = tiny
    with torch.no_grad():
        ref = sep(music)
    out = _run(_path(exported, kind, quant), music)
    snr = snr_db(out, ref)
    print(f"{kind} {quant} vs eager fp32: {snr:.1f} dB SNR")
    return out, snr


# ------------------------------------------------------------------------------ eager rewrites


def test_overlap_add_deconv_equals_the_strided_transposed_conv():
    torch.manual_seed(0)
    for kf, t, f in ((1, 16, 1), (3, 20, 14), (5, 8, 9)):
        deconv = torch.nn.ConvTranspose2d(6, 2, (kf, t), stride=(1, t // 2))
        h = torch.randn(1, 6, f - kf + 1, 7)
        with torch.no_grad():
            want, got = deconv(h), OverlapAddDeconv(deconv)(h)
        assert got.shape == want.shape
        assert float((got - want).abs().max()) < 1e-5


def test_deploy_masknet_and_chunk_graph_match_the_separator(tiny, music):
    sep, spec = tiny
    graph = ChunkGraph(sep, spec.chunk)
    with torch.no_grad():
        mags = graph.masknet_inputs(music)
        for a, b in zip(sep.masknet(mags), deploy_masknet(sep.masknet)(mags)):
            assert float((a - b).abs().max()) < 1e-5
        assert snr_db(graph(music), sep(music)) >= 100.0
    # BatchNorm is folded away and no strided transposed conv is left
    kinds = {type(m).__name__ for m in graph.masknet.modules()}
    assert "BatchNorm2d" not in kinds and "ConvTranspose2d" in kinds  # layer 3 (stride 1) stays
    for m in graph.masknet.modules():
        if isinstance(m, torch.nn.ConvTranspose2d):
            assert m.stride == (1, 1)


# ------------------------------------------------------------------------------ real runtimes


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_fp32_artifact_matches_eager(exported, tiny, music, kind):
    out, snr = _stems_vs_eager(exported, tiny, music, kind, "fp32")
    assert out.shape == (1, 4, 2, music.shape[-1])
    assert snr >= 60.0, f"{kind} fp32 stems vs eager: {snr:.1f} dB SNR (need >= 60)"


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_int8_artifact_is_close_to_fp32(exported, tiny, music, kind):
    _, snr = _stems_vs_eager(exported, tiny, music, kind, "int8")
    assert snr >= 20.0, f"{kind} int8 stems vs fp32: measured {snr:.1f} dB SNR (need >= 20)"
    rep = _report(exported, kind, "int8")
    if kind != "ptl":  # PT2E and onnxruntime reports count quantized convs (transform checked)
        assert rep["quantized_convs"] > 0 and rep["float_convs"] == 0, rep
    fp32 = _report(exported, kind, "fp32")
    assert rep["size_bytes"] < 0.75 * fp32["size_bytes"], (rep["size_bytes"], fp32["size_bytes"])


@pytest.mark.slow
@pytest.mark.parametrize("quant", ("fp32", "int8"))
@pytest.mark.parametrize("kind", KINDS)
def test_metadata_reads_back(exported, tiny, kind, quant):
    sep, spec = tiny
    path = _path(exported, kind, quant)
    want = make_metadata(spec, sep.stems, "tiny", sep.model_id, quant, kind)
    assert read_artifact_metadata(path) == want


@pytest.mark.slow
def test_pte_kernels_exist_in_the_runtime(exported):
    from executorch.runtime import Runtime

    registered = Runtime.get().operator_registry.operator_names
    for config, quant in (("tiny", "fp32"), ("tiny", "int8"), ("xumx-rt", "fp32")):
        rep = _report(exported, "pte", quant, config)
        assert rep["delegated_nodes"] > 0
        missing = [op for op in rep["kernel_ops"] if op not in registered]
        assert not missing, f"{quant} .pte calls kernels this runtime lacks: {missing}"
        # the report lists every op left outside XNNPACK
        assert all(n > 0 for n in rep["non_delegated_ops"].values())


@pytest.mark.slow
def test_ort_ships_its_required_operators(exported):
    for quant in ("fp32", "int8"):
        rep = _report(exported, "ort", quant)
        cfg = Path(rep["extra_files"][0])
        assert cfg.name == f"demix-tiny-{quant}.required_operators.config"
        text = cfg.read_text()
        assert "ai.onnx;" in text and "Conv" in text
        if quant == "int8":
            assert "QuantizeLinear" in text or "QLinearConv" in text


@pytest.mark.slow
def test_report_files(exported):
    for name in ("xumx", "pte", "other"):
        folder = exported["out"] / name
        data = json.loads((folder / "export_report.json").read_text())
        assert data["artifacts"] and "machine" in data
        md = (folder / "export_report.md").read_text()
        for r in data["artifacts"]:
            assert Path(r["file"]).name in md
            assert (r["sdr_change_db"] is not None) == (name != "xumx")
        assert md in exported["stdout"][name]


# ------------------------------------------------------------------------------ xumx-rt


@pytest.mark.slow
def test_xumx_rt_pte_runs_in_executorch(exported):
    """The big graph (70 blocks) lowers to XNNPACK and runs: fp32, shortest chunk."""
    rep = _report(exported, "pte", "fp32", "xumx-rt")
    print(f"\nxumx-rt fp32 .pte: export {rep['export_s']:.0f} s, {rep['size_bytes'] / 1e6:.1f} MB, "
          f"{rep['delegated_nodes']} XNNPACK delegates, non-delegated {rep['non_delegated_ops']}")
    sep = fresh_separator("xumx-rt")
    assert rep["metadata"]["model_id"] == sep.model_id
    spec = chunk_spec(sep.transform, sep.config.cdae, XUMX_HOPS)
    x = q.song_chunks(q.example_song().mix, spec)[1]
    with torch.no_grad():
        ref = sep(x)
    out = _run(Path(rep["file"]), x)
    assert snr_db(out, ref) >= 60.0, f"xumx-rt .pte vs eager: {snr_db(out, ref):.1f} dB"
    got = read_artifact_metadata(rep["file"])
    assert got == make_metadata(spec, sep.stems, "xumx-rt", sep.model_id, "fp32", "pte")


# ------------------------------------------------------------------------------ command line


@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "no such model file"),
    (["--model", "tiny", "--format", "tflite"], "unknown format 'tflite'"),
    (["--model", "tiny", "--quant", "int4"], "unknown quantization 'int4'"),
    (["--model", "tiny", "--chunk-seconds", "0"], "must be a positive number of seconds"),
    (["--model", "tiny", "--chunk-seconds", "0.1"], "chunk length too short"),
])
def test_cli_bad_input_is_one_line_error(tmp_path, capsys, argv, message):
    from export.cli_export import main

    rc = main([*argv, "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and err.startswith("demix-export: error:"), err
    assert message in err


def test_cli_rejects_a_corrupt_model_file(tmp_path, capsys):
    from export.cli_export import main

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a model")
    rc = main(["--model", str(bad), "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "model.pt" in err, err


def test_cli_exports_a_model_file(tmp_path, capsys):
    """A real model file (not a configuration name): its id and config reach the metadata."""
    from export.cli_export import main
    from mobile_core.model.model_file import save_model

    sep = fresh_separator("tiny", seed=3)
    mid = save_model(sep, tmp_path / "m.pt", {"weights": "test"})
    rc = main(["--model", str(tmp_path / "m.pt"), "--format", "ptl", "--chunk-seconds", "0.35",
               "--heldout-songs", "0", "--repeats", "1", "--quiet", "-o", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "demix-tiny-fp32.ptl" in out
    data = json.loads((tmp_path / "o" / "export_report.json").read_text())
    meta = data["artifacts"][0]["metadata"]
    assert meta["model_id"] == mid and meta["config"] == "tiny" and meta["kind"] == "ptl"
    assert data["artifacts"][0]["snr_db"] >= 60.0
