"""The project's model file: config + weights + stem names + format version, in one ``.pt`` file.

Layout (a plain dict saved with ``torch.save``, read with ``torch.load(weights_only=True)``)::

    {"format": "demix-mobile-model", "format_version": 1,
     "config": SeparatorConfig.to_dict(), "stems": ["vocals", "drums", "bass", "other"],
     "state_dict": {name: tensor}, "model_id": "<sha256 of the weights, 16 hex>",
     "info": {free-form strings: training data, steps, ...}}

Only the network's weights are stored: the transform's filterbank is rebuilt from the config.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from ..errors import ModelFileError
from .config import SeparatorConfig
from .separator import Separator

FORMAT = "demix-mobile-model"
FORMAT_VERSION = 1


def model_id(state_dict: dict[str, torch.Tensor]) -> str:
    """Short content hash of the weights (names, shapes, values), stable across saves."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def save_model(separator: Separator, path: str | os.PathLike, info: dict | None = None) -> str:
    """Write ``separator`` to ``path`` atomically; returns its model id."""
    sd = {k: v.detach().cpu().clone() for k, v in separator.masknet.state_dict().items()}
    mid = model_id(sd)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": separator.config.to_dict(),
        "stems": list(separator.stems),
        "state_dict": sd,
        "model_id": mid,
        "info": {str(k): str(v) for k, v in (info or {}).items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return mid


def read_model_file(path: str | os.PathLike) -> dict:
    """Load and validate the raw payload of a model file (no model is built)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if path.is_dir():
        raise ModelFileError(f"model file {path} is a directory")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - weights_only: any failure means "not readable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path} is not a readable model file ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a demix-mobile model file")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version}; this build reads version {FORMAT_VERSION}"
        )
    for key in ("config", "stems", "state_dict"):
        if key not in payload:
            raise ModelFileError(f"{path} lacks its '{key}' entry")
    return payload


def load_model(path: str | os.PathLike, dft: str = "fft") -> Separator:
    """Build the separator a model file describes, load its weights, eval mode.

    Its tensors are normal ones (not inference tensors) even when loaded under
    ``torch.inference_mode()``, so the model can also be trained or differentiated later.
    """
    with torch.inference_mode(False):
        return _load_model(path, dft)


def _load_model(path: str | os.PathLike, dft: str) -> Separator:
    payload = read_model_file(path)
    try:
        config = SeparatorConfig.from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has an invalid config: {e}") from None
    sep = Separator(config, dft=dft)
    if tuple(payload["stems"]) != tuple(sep.stems):
        raise ModelFileError(f"{path} has stems {payload['stems']}, expected {list(sep.stems)}")
    try:
        sep.masknet.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ModelFileError(f"{path} weights do not fit its config: {first[:160]}") from None
    sep.model_id = payload.get("model_id") or model_id(payload["state_dict"])
    sep.info = dict(payload.get("info", {}))
    return sep.eval()
