"""onnxruntime ``.ort`` (what ``onnxruntime-android`` loads): converted from the ``.onnx``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def convert_to_ort(onnx_path: Path, path: Path) -> list[str]:
    """``python -m onnxruntime.tools.convert_onnx_models_to_ort`` (Fixed style, ARM target).

    Its ``required_operators.config`` (for a reduced onnxruntime-android build) is kept next to
    the artifact as ``<name>.required_operators.config``; returns that path.
    """
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src = Path(tmp) / "src" / f"{path.stem}.onnx"
        src.parent.mkdir()
        shutil.copyfile(onnx_path, src)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(src),
               "--output_dir", str(out), "--optimization_style", "Fixed",
               "--target_platform", "arm"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        ort_files = sorted(out.glob("*.ort"))
        if res.returncode != 0 or not ort_files:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"convert_onnx_models_to_ort failed: {tail[0]}")
        os.replace(ort_files[0], path)
        extra = []
        for cfg_file in sorted(out.glob("*.config"))[:1]:
            cfg = path.with_name(f"{path.stem}.required_operators.config")
            os.replace(cfg_file, cfg)
            extra.append(str(cfg))
    return extra


__all__ = ["convert_to_ort"]
