"""The package-level names the issues and README promise (``mobile_core.Separator`` ...)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import mobile_core


def test_public_names_are_the_real_objects(tmp_path):
    from mobile_core.contract import artifacts
    from mobile_core.model import model_file, separator
    from mobile_core.transform import slicqt

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


LAYERS = ["errors", "transform", "model", "contract", "cli"]


def _imports(path) -> list[str]:
    """The ``mobile_core``/``export`` modules a source file imports (relative ones resolved)."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found += [f"{base}.{a.name}" if not node.module else base for a in node.names]
    return [m for m in found if m.split(".")[0] in ("mobile_core", "export")]


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_imports_only_point_down_the_layers():
    # transform < model < contract < cli; contract uses only the public names of model and
    # transform (their package level); nothing in mobile_core imports export
    bad = []
    for path in sorted((ROOT / "mobile_core").rglob("*.py")):
        rel = path.relative_to(ROOT / "mobile_core").parts
        layer = rel[0].removesuffix(".py") if len(rel) > 1 or rel[0] == "errors.py" else None
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] == "export":
                bad.append(f"{path.name}: {mod}")
                continue
            target = parts[1] if len(parts) > 1 else None
            if layer not in LAYERS or target not in LAYERS:
                continue
            if LAYERS.index(target) > LAYERS.index(layer):
                bad.append(f"{'/'.join(rel)} imports upward: {mod}")
            if layer == "contract" and target in ("model", "transform") and len(parts) > 2:
                bad.append(f"{'/'.join(rel)} imports {target} internals: {mod}")
    assert not bad, bad


def test_no_module_is_over_about_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("mobile_core/**/*.py"),
                                                   *ROOT.glob("export/**/*.py")]
            if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long
