"""The exported artifacts' runtimes behind the runner's :class:`~.backends.Backend` interface.

* ``pte``: ExecuTorch program, method ``forward``;
* ``ptl``: TorchScript-lite module, ``forward``;
* ``onnx`` / ``ort``: onnxruntime session, input ``mix``, output ``stems``.

Each reads its chunk geometry and stem names from the artifact's metadata
(:mod:`.artifacts`), checked here with the refusals a phone app makes too. The ExecuTorch and
onnxruntime packages are imported only when such a file is opened (the ``export`` extra); their
native logs are kept off the terminal and quoted in the one error line when loading fails.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ModelFileError
from .artifacts import (
    INPUT_NAME,
    OUTPUT_NAME,
    ort_session_options,
    read_artifact_metadata,
    spec_from_metadata,
    whole_number,
)
from .native_logs import capture_stderr, last_native_log
from .resample import MAX_RATE, MIN_RATE

_EXPORT_HINT = "install the export extra: pip install 'demix-mobile[export]'"


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def import_quietly(module: str, what: str):
    """Import an optional runtime package, hiding its import-time log noise on stderr."""
    logs: list[str] = []
    try:
        with capture_stderr(logs):
            return importlib.import_module(module)
    except ImportError:
        raise ModelFileError(f"running {what} needs {module.split('.')[0]}: {_EXPORT_HINT}") \
            from None


def check_metadata(meta: dict, path: Path, kind: str) -> None:
    """Reject metadata this runner cannot plan with (one-line ModelFileError): the checks of
    docs/contract.md §2, which an app makes too."""
    declared = meta.get("kind")
    if declared is None:
        raise ModelFileError(f"{path} has malformed metadata (no 'kind')")
    if not (declared == kind or {declared, kind} == {"onnx", "ort"}):
        raise ModelFileError(f"{path} is a .{kind} file but its metadata says kind {declared!r}")
    try:
        spec = spec_from_metadata(meta)
        stems = meta["stems"]
        channels = whole_number(meta, "channels")
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path} has malformed metadata ({first_line(e)})") from None
    problems = []
    if not MIN_RATE <= spec.sample_rate <= MAX_RATE:
        problems.append(f"sample_rate {spec.sample_rate}")
    if spec.hop < 1 or min(spec.chunk, spec.context, spec.lookahead) < 0:
        problems.append("non-positive sizes")
    elif spec.chunk % spec.hop or spec.context % spec.hop or spec.lookahead % spec.hop:
        problems.append("chunk, context and lookahead are not multiples of hop")
    elif spec.step < spec.hop:
        problems.append(f"chunk {spec.chunk} leaves no room after context and lookahead")
    if (not isinstance(stems, list) or not stems or len(set(map(str, stems))) != len(stems)
            or not all(_is_stem_name(s) for s in stems)):
        problems.append(f"stems {stems!r}")
    if channels != 2:
        problems.append(f"channels {channels}")
    n_stems = len(stems) if isinstance(stems, list) else 0
    for key, want in (("input", [1, 2, spec.chunk]), ("output", [1, n_stems, 2, spec.chunk])):
        shape = meta.get(key, {}).get("shape") if isinstance(meta.get(key), dict) else None
        if shape is not None and shape != want:
            problems.append(f"{key} shape {shape} (chunk and stems say {want})")
    if problems:
        raise ModelFileError(f"{path} has inconsistent metadata: {'; '.join(problems)}")


def _is_stem_name(name: object) -> bool:
    """A stem name is a non-empty string usable as a file name: no separators, not . or .."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and "/" not in name and "\\" not in name)


class ArtifactBackend:
    """Common part of the exported-artifact backends: metadata -> spec, output checks."""

    name = "artifact"

    def __init__(self, path: Path, meta: dict) -> None:
        self.path = path
        self.meta = meta
        self.spec = spec_from_metadata(meta)
        self.stems = tuple(str(s) for s in meta["stems"])
        self.model_id = meta.get("model_id")
        self.config = meta.get("config")
        self.quantization = meta.get("quantization", "fp32")

    def _check_input(self, chunk: Tensor) -> Tensor:
        want = (1, 2, self.spec.chunk)
        if tuple(chunk.shape) != want:
            raise ValueError(f"expected a chunk {list(want)}, got {list(chunk.shape)}")
        return chunk.to(torch.float32).contiguous()

    def _check_output(self, out: Tensor) -> Tensor:
        want = (1, len(self.stems), 2, self.spec.chunk)
        if tuple(out.shape) != want:
            raise ModelFileError(
                f"{self.path} returned stems of shape {list(out.shape)}; its metadata "
                f"promises {list(want)}"
            )
        return out.to(torch.float32)

    def run(  # pragma: no cover - overridden
        self, chunk: Tensor, keep: tuple[int, int] | None = None
    ) -> Tensor:
        raise NotImplementedError


class PteBackend(ArtifactBackend):
    """ExecuTorch ``.pte``: ``Runtime.get().load_program(path).load_method("forward")``."""

    name = "pte"

    def __init__(self, path: Path, meta: dict, threads: int | None = None) -> None:
        super().__init__(path, meta)
        runtime = import_quietly("executorch.runtime", ".pte artifacts")

        logs: list[str] = []
        try:
            with capture_stderr(logs):
                if threads:
                    _set_executorch_threads(threads)
                program = runtime.Runtime.get().load_program(path)
                if "forward" not in program.method_names:
                    raise ModelFileError(f"{path} has no 'forward' method")
                self._method = program.load_method("forward")
        except ModelFileError:
            raise
        except Exception as e:  # the runtime raises plain RuntimeError variants
            why = last_native_log(logs) or first_line(e)
            raise ModelFileError(
                f"{path}: the ExecuTorch runtime cannot load method 'forward' ({why})"
            ) from None
        self._program = program

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        x = self._check_input(chunk)
        try:
            out = self._method.execute([x])
        except RuntimeError as e:  # the runtime reports kernel/delegate failures this way
            raise ModelFileError(f"{self.path}: the ExecuTorch runtime failed on a chunk "
                                 f"({first_line(e)})") from None
        return self._check_output(out[0])


def _set_executorch_threads(threads: int) -> None:
    """Size ExecuTorch's thread pool (XNNPACK kernels); silently a no-op where unsupported."""
    try:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    except ImportError:
        return
    with contextlib.suppress(Exception):
        _unsafe_reset_threadpool(int(threads))


class PtlBackend(ArtifactBackend):
    """TorchScript-lite ``.ptl`` via ``torch.jit.mobile._load_for_lite_interpreter``."""

    name = "ptl"

    def __init__(self, path: Path, meta: dict) -> None:
        super().__init__(path, meta)
        from torch.jit.mobile import _load_for_lite_interpreter

        try:
            self._module = _load_for_lite_interpreter(str(path))
        except Exception as e:  # corrupt files raise RuntimeError
            raise ModelFileError(f"{path} is not a loadable TorchScript-lite file "
                                 f"({first_line(e)})") from None

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        with torch.inference_mode():
            out = self._module.forward(self._check_input(chunk))
        return self._check_output(out)


class OnnxBackend(ArtifactBackend):
    """``.onnx`` / ``.ort`` via ``onnxruntime.InferenceSession`` (CPU)."""

    name = "onnx"

    def __init__(self, path: Path, meta: dict, kind: str, threads: int | None = None) -> None:
        super().__init__(path, meta)
        ort = import_quietly("onnxruntime", ".onnx/.ort artifacts")

        self.name = kind
        opts = ort_session_options(ort, kind)
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{path} is not a loadable ONNX model ({first_line(e)})") \
                from None
        self._input = meta.get("input", {}).get("name", INPUT_NAME)
        self._output = meta.get("output", {}).get("name", OUTPUT_NAME)
        names = {i.name for i in self._session.get_inputs()}
        if self._input not in names:
            raise ModelFileError(f"{path} has no input named {self._input!r} ({sorted(names)})")

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        x = self._check_input(chunk).numpy()
        try:
            out = self._session.run([self._output], {self._input: x})[0]
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{self.path}: onnxruntime failed on a chunk "
                                 f"({first_line(e)})") from None
        return self._check_output(torch.from_numpy(out))


def read_metadata(path: Path, kind: str) -> dict:
    """The artifact's metadata; native runtime logs are kept off stderr."""
    if kind == "ptl":  # a zip archive: no runtime, no native logs
        return read_artifact_metadata(path, kind)
    logs: list[str] = []
    try:
        with capture_stderr(logs):
            return read_artifact_metadata(path, kind)
    except ModelFileError as e:
        why = last_native_log(logs)
        if why and kind == "pte" and "loadable" in str(e):
            raise ModelFileError(f"{path} is not a loadable ExecuTorch program ({why})") from None
        raise


def open_artifact(path: Path, kind: str, threads: int | None = None) -> ArtifactBackend:
    """The backend of an exported artifact of ``kind`` (pte, ptl, onnx, ort), its metadata
    checked; ``threads``: the runtime's CPU threads (None: its default)."""
    if kind == "pte":
        import_quietly("executorch.runtime", ".pte artifacts")
    elif kind in ("onnx", "ort"):
        import_quietly("onnxruntime", ".onnx/.ort artifacts")
    meta = read_metadata(path, kind)
    check_metadata(meta, path, kind)
    if kind == "pte":
        return PteBackend(path, meta, threads=threads)
    if kind == "ptl":
        if threads:
            torch.set_num_threads(int(threads))
        return PtlBackend(path, meta)
    return OnnxBackend(path, meta, kind, threads=threads)


__all__ = ["ArtifactBackend", "OnnxBackend", "PtlBackend", "PteBackend", "check_metadata",
           "first_line", "import_quietly", "open_artifact", "read_metadata"]
