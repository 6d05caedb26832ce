"""The package-level names the issues and README promise (``mobile_core.Separator`` ...)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import mobile_core


def test_public_names_are_the_real_objects(tmp_path):
    from mobile_core import artifacts, model_file, separator, slicqt

    assert mobile_core.SliCQT is slicqt.SliCQT
    assert mobile_core.Separator is separator.Separator
    assert mobile_core.read_artifact_metadata is artifacts.read_artifact_metadata
    sep = mobile_core.Separator.from_config("tiny")
    mobile_core.save_model(sep, tmp_path / "m.pt")
    back = mobile_core.load_model(tmp_path / "m.pt")
    assert isinstance(back, mobile_core.Separator) and not back.training
    assert model_file.model_id(back.masknet.state_dict()) == model_file.model_id(
        sep.masknet.state_dict())
    for a, b in zip(sep.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(mobile_core.ModelFileError):
        mobile_core.load_model(tmp_path / "missing.pt")
    with pytest.raises(AttributeError):
        mobile_core.NoSuchThing  # noqa: B018


def test_every_public_name_resolves_and_import_stays_light():
    for name in mobile_core.__all__:
        assert getattr(mobile_core, name) is not None
    code = "import sys, mobile_core; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
