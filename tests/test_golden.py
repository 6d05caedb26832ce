"""``demix-golden``: deterministic, self-describing, and consistent with the reference code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobile_core.cli.golden import GOLDEN_VERSION, golden_model, main
from mobile_core.contract.backends import EagerBackend
from mobile_core.contract.channels import to_stereo
from mobile_core.contract.resample import resample
from mobile_core.contract.runner import separate_file
from mobile_core.model.model_file import model_id

from .conftest import read_stem, snr_db, write_audio

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "g"
    assert main(["--out", str(out), "--configs", "tiny"]) == 0
    return out


def _load(root: Path, manifest: dict, rel: str) -> torch.Tensor:
    entry = manifest["files"][rel]
    data = np.frombuffer((root / rel).read_bytes(), dtype="<f4").reshape(entry["shape"])
    return torch.from_numpy(data.copy())


def test_two_runs_are_byte_identical(golden, tmp_path) -> None:
    again = tmp_path / "g2"
    assert main(["--out", str(again), "--configs", "tiny"]) == 0
    a = {p.relative_to(golden): p.read_bytes() for p in golden.rglob("*") if p.is_file()}
    b = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert a.keys() == b.keys() and len(a) > 20
    assert all(a[k] == b[k] for k in a)


def test_manifest_describes_every_file(golden) -> None:
    manifest = json.loads((golden / "manifest.json").read_text())
    assert manifest["version"] == GOLDEN_VERSION and manifest["format"] == "demix-mobile-golden"
    on_disk = {str(p.relative_to(golden)) for p in golden.rglob("*") if p.is_file()}
    assert on_disk == set(manifest["files"]) | {"manifest.json"}
    for rel, entry in manifest["files"].items():
        raw = (golden / rel).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        if entry["dtype"] == "float32":
            assert len(raw) == 4 * int(np.prod(entry["shape"]))
    pairs = {(c["sr_in"], c["sr_out"]) for c in manifest["resample"]}
    common = (8000, 11025, 16000, 22050, 24000, 32000, 48000, 88200, 96000, 176400, 192000)
    assert {(r, 44100) for r in common} | {(44100, r) for r in common} <= pairs
    assert {c["channels"] for c in manifest["channels"]} >= {1, 3, 6, 8}


def test_vectors_match_the_reference_code(golden) -> None:
    manifest = json.loads((golden / "manifest.json").read_text())
    for case in manifest["resample"]:
        x = _load(golden, manifest, case["input"])
        y = _load(golden, manifest, case["output"])
        assert y.shape[-1] == case["n_out"]
        assert torch.equal(resample(x, case["sr_in"], case["sr_out"]), y)
    for case in manifest["channels"]:
        x = _load(golden, manifest, case["input"])
        assert torch.equal(to_stereo(x), _load(golden, manifest, case["output"]))
        assert np.allclose(np.array(case["matrix"]).sum(), 2.0)
    plans = json.loads((golden / "chunk_plans.json").read_text())
    for entry in plans:
        for plan in entry["plans"]:
            chunks = plan["chunks"]
            assert chunks[0][1] == 0 and chunks[-1][2] == plan["n_samples"]
            assert all(a[2] == b[1] for a, b in zip(chunks, chunks[1:]))


def test_pipeline_vector_equals_the_file_runner(golden, tmp_path) -> None:
    """The bridge's end-to-end vector is what ``demix --keep-rate`` writes for that input."""
    manifest = json.loads((golden / "manifest.json").read_text())
    case = manifest["pipeline"]
    x = _load(golden, manifest, case["input"])
    want = _load(golden, manifest, case["output"])
    src = write_audio(tmp_path / "in.wav", x, sr=case["input_rate"])
    model = golden_model()
    assert model_id(model.masknet.state_dict()) == manifest["golden_model"]["model_id"]
    backend = EagerBackend(model, chunk_hops=manifest["golden_model"]["chunk_hops"])
    r = separate_file(src, tmp_path / "out", backend, fmt="float32", keep_rate=True)
    for i, stem in enumerate(case["stems"]):
        y, sr = read_stem(r.outputs[stem])
        assert sr == case["input_rate"] and y.shape == want[i].shape
        assert snr_db(want[i], y) > 120
