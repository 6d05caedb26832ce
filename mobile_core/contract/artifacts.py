"""Self-describing artifacts: the metadata every ``.pte``/``.ptl``/``.onnx``/``.ort`` carries.

The metadata is one JSON object (UTF-8, sorted keys)::

    {"format": "demix-mobile-artifact", "format_version": 1, "kind": "pte",
     "sample_rate": 44100, "chunk": L, "context": C, "lookahead": A, "hop": H,
     "stems": ["vocals", "drums", "bass", "other"], "channels": 2,
     "config": "xumx-rt", "model_id": "<16 hex>", "quantization": "fp32" | "int8",
     "input": {"name": "mix", "shape": [1, 2, L]},
     "output": {"name": "stems", "shape": [1, 4, 2, L]}}

Where it is stored:

* ``.pte`` (ExecuTorch): a constant method ``get_metadata`` returning a ``uint8`` tensor of the
  JSON bytes (call it like any method; no inputs);
* ``.onnx`` and ``.ort``: ``metadata_props`` entry ``demix_metadata`` (onnxruntime:
  ``session.get_modelmeta().custom_metadata_map["demix_metadata"]``; ``.ort`` keeps it);
* ``.ptl`` (TorchScript-lite): extra file ``demix_metadata.json``.

``chunk``, ``context``, ``lookahead`` and ``hop`` are the
:class:`~mobile_core.contract.chunking.ChunkSpec`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from ..errors import ModelFileError
from .chunking import ChunkSpec

ARTIFACT_FORMAT = "demix-mobile-artifact"
ARTIFACT_FORMAT_VERSION = 1
KINDS = ("pte", "ptl", "onnx", "ort")
PTE_METADATA_METHOD = "get_metadata"
ONNX_METADATA_KEY = "demix_metadata"
PTL_METADATA_FILE = "demix_metadata.json"
INPUT_NAME = "mix"
OUTPUT_NAME = "stems"


def make_metadata(spec: ChunkSpec, stems: list[str] | tuple[str, ...], config: str,
                  model_id: str, quantization: str, kind: str) -> dict:
    """The metadata dict of an artifact (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    if quantization not in ("fp32", "int8"):
        raise ValueError(f"unknown quantization {quantization!r}")
    return {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "kind": kind,
        **spec.to_dict(),
        "stems": list(stems),
        "channels": 2,
        "config": config,
        "model_id": model_id,
        "quantization": quantization,
        "input": {"name": INPUT_NAME, "shape": [1, 2, spec.chunk]},
        "output": {"name": OUTPUT_NAME, "shape": [1, len(stems), 2, spec.chunk]},
    }


def encode_metadata(meta: dict) -> str:
    """Canonical JSON text of the metadata (sorted keys, compact)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def artifact_kind(path: str | os.PathLike) -> str:
    """``pte``, ``ptl``, ``onnx`` or ``ort`` from the file name; ModelFileError otherwise."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise ModelFileError(
            f"{path} is not an exported artifact (expected .pte, .ptl, .onnx or .ort)"
        )
    return kind


def _raw_metadata(path: Path, kind: str) -> str:
    if kind == "pte":
        try:
            from executorch.runtime import Runtime
        except ImportError:
            raise ModelFileError(
                "reading .pte files needs the ExecuTorch runtime: "
                "pip install 'demix-mobile[export]'"
            ) from None
        try:
            program = Runtime.get().load_program(path)
        except Exception as e:  # the runtime raises plain RuntimeError/ValueError variants
            raise ModelFileError(f"{path} is not a loadable ExecuTorch program ({e})") from None
        if PTE_METADATA_METHOD not in program.method_names:
            raise ModelFileError(f"{path} has no '{PTE_METADATA_METHOD}' method: not ours")
        out = program.load_method(PTE_METADATA_METHOD).execute([])[0]
        return bytes(out.numpy().astype("uint8").tobytes()).decode("utf-8")
    if kind == "ptl":
        # a .ptl is a zip archive; extra files sit at <archive>/extra/<name>
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(f"/extra/{PTL_METADATA_FILE}")]
                if not names:
                    raise ModelFileError(f"{path} has no {PTL_METADATA_FILE}: not ours")
                return z.read(names[0]).decode("utf-8")
        except (zipfile.BadZipFile, OSError) as e:
            raise ModelFileError(
                f"{path} is not a loadable TorchScript-lite file ({type(e).__name__})"
            ) from None
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelFileError(
            "reading ONNX files needs onnxruntime: pip install 'demix-mobile[export]'"
        ) from None
    try:
        sess = ort.InferenceSession(str(path), ort_session_options(ort, kind),
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path} is not a loadable ONNX model ({first[:160]})") from None
    meta = sess.get_modelmeta().custom_metadata_map
    if ONNX_METADATA_KEY not in meta:
        raise ModelFileError(f"{path} has no '{ONNX_METADATA_KEY}' metadata: not ours")
    return meta[ONNX_METADATA_KEY]


def ort_session_options(ort, kind: str):  # noqa: ANN001, ANN201 - ort: onnxruntime itself
    """``SessionOptions`` for an ``onnx``/``ort`` file: onnxruntime picks the format from the
    ``.ort`` extension, so a file recognised as ORT by its content says so explicitly."""
    opts = ort.SessionOptions()
    if kind == "ort":
        opts.add_session_config_entry("session.load_model_format", "ORT")
    return opts


def read_artifact_metadata(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Read and validate the metadata of any exported artifact.

    ``kind`` (pte, ptl, onnx, ort): what the file is, when its name does not say (a file
    recognised by its content); default: from the file name.
    """
    path = Path(path)
    kind = artifact_kind(path) if kind is None else kind
    if not path.is_file():
        raise ModelFileError(f"artifact {path} does not exist" if not path.exists()
                             else f"artifact {path} is not a file")
    try:
        meta = json.loads(_raw_metadata(path, kind))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path} carries unreadable metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
        raise ModelFileError(f"{path} is not a demix-mobile artifact")
    version = meta.get("format_version")
    if isinstance(version, bool) or version != ARTIFACT_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has artifact format version {meta.get('format_version')}; this build reads "
            f"version {ARTIFACT_FORMAT_VERSION}: re-export it with this version's demix-export"
        )
    for key in ("sample_rate", "chunk", "context", "lookahead", "hop", "stems"):
        if key not in meta:
            raise ModelFileError(f"{path} metadata lacks '{key}'")
    return meta


def whole_number(meta: dict, key: str) -> int:
    """``meta[key]`` as an int: a JSON number without a fractional part (``9030.0`` is 9030);
    ValueError for strings, booleans, fractions; KeyError when missing."""
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is not a number: {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{key} is not a whole number: {value!r}")
    return int(value)


def spec_from_metadata(meta: dict) -> ChunkSpec:
    """The chunk geometry an artifact was exported for."""
    return ChunkSpec(*(whole_number(meta, k)
                       for k in ("sample_rate", "chunk", "context", "lookahead", "hop")))
