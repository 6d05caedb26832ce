"""Evaluation: MDX SDR by hand, oracle estimates, the mixture baseline, the demix-eval CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export import evaluate as eval_mod
from export.data.musdb import SOURCES, find_tracks
from export.metrics import sdr
from mobile_core.model.model_file import save_model
from mobile_core.model.separator import Separator
from tests.test_train import MICRO, make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("eval") / "data", n_train=1, n_test=2,
                       seconds=2.0)


def test_sdr_by_hand() -> None:
    ref = np.ones((2, 2, 4))
    assert sdr(ref, 0.5 * ref) == pytest.approx([10 * np.log10(4.0)] * 2)  # 8 / 2
    assert sdr(ref, np.zeros_like(ref)) == pytest.approx([0.0, 0.0])
    assert sdr(ref, ref)[0] == pytest.approx(10 * np.log10((8 + 1e-7) / 1e-7))
    with pytest.raises(ValueError):
        sdr(ref, ref[..., :3])


def _hand_baseline(track_dir: Path) -> dict[str, float]:
    import soundfile as sf

    mix = sf.read(track_dir / "mixture.wav", dtype="float64")[0]
    out = {}
    for s in SOURCES:
        ref = sf.read(track_dir / f"{s}.wav", dtype="float64")[0]
        out[s] = 10 * np.log10(np.sum(ref**2) / np.sum((ref - mix) ** 2))
    return out


def test_oracle_and_mixture_baseline(corpus: Path) -> None:
    tracks = find_tracks(corpus, "test")
    truth = iter([eval_mod.load_track(t)[1] for t in tracks])
    result = eval_mod.evaluate_tracks(tracks, lambda mix: torch.from_numpy(next(truth)),
                                      progress=False)
    assert [r["name"] for r in result["tracks"]] == ["test00", "test01"]
    for row, track in zip(result["tracks"], tracks):
        assert min(row["sdr"].values()) > 80.0  # true stems: only eps limits it
        hand = _hand_baseline(corpus / "test" / track.name)
        for s in SOURCES:
            assert row["baseline"][s] == pytest.approx(hand[s], abs=1e-6)
    for s in SOURCES:
        assert result["median"]["baseline"][s] == pytest.approx(
            np.median([r["baseline"][s] for r in result["tracks"]]))
    table = eval_mod.markdown_table(result)
    assert table.count("\n") == 6 and "| vocals |" in table


def test_cli_on_a_model_file(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    model = tmp_path / "micro.pt"
    save_model(Separator(MICRO), model, info={"note": "untrained"})
    out = tmp_path / "report.json"
    assert eval_mod.main(["--data", str(corpus), "--model", str(model), "--json", str(out),
                          "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["config"] == "micro" and report["n_tracks"] == 2
    assert set(report["median"]) == {"sdr", "baseline", "quarter"}
    hand = _hand_baseline(corpus / "test" / "test00")
    assert report["tracks"][0]["baseline"]["bass"] == pytest.approx(hand["bass"], abs=1e-6)
    # an untrained network's masks are ~0.5: every stem estimate is about half the mixture
    assert all(np.isfinite(v) for v in report["median"]["sdr"].values())
    assert "| **mean** |" in capsys.readouterr().out
    # the chunked runner scores as the whole-track forward pass does
    whole, _ = eval_mod._whole_track_fn(model, None)
    ref = eval_mod.evaluate_tracks(find_tracks(corpus, "test"), whole, progress=False)
    for s in SOURCES:
        assert report["median"]["sdr"][s] == pytest.approx(ref["median"]["sdr"][s], abs=1e-3)
