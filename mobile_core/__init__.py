"""Runtime maths for on-device demixing: sliCQT, separator graph, reference runner, CLI.

Depends only on torch, numpy and soundfile. The public names below load on first use (PEP 562),
so ``import mobile_core`` stays cheap for the command-line tools:

* :class:`SliCQT` (``mobile_core.transform.slicqt``),
  :class:`Separator` (``mobile_core.model.separator``),
  :data:`STEMS`;
* :func:`load_model`, :func:`save_model` (``mobile_core.model.model_file``);
* :func:`open_backend` (``mobile_core.contract.backends``), :func:`separate`, :func:`separate_file`
  (``mobile_core.contract.runner``);
* :func:`read_artifact_metadata` (``mobile_core.contract.artifacts``);
* :class:`DemixError`, :class:`AudioError`, :class:`ModelFileError` (``mobile_core.errors``).
"""

from __future__ import annotations

import importlib

_PUBLIC: dict[str, str] = {
    "SliCQT": "transform.slicqt",
    "Separator": "model.separator",
    "STEMS": "model.cdae",
    "load_model": "model.model_file",
    "save_model": "model.model_file",
    "open_backend": "contract.backends",
    "separate": "contract.runner",
    "separate_file": "contract.runner",
    "read_artifact_metadata": "contract.artifacts",
    "DemixError": "errors",
    "AudioError": "errors",
    "ModelFileError": "errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
