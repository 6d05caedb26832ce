"""Backends: one thing that turns a fixed-length chunk into stems, whatever runs it.

A backend has a chunk geometry ``spec`` (:class:`~mobile_core.chunking.ChunkSpec`), the names of
the stems it returns, a ``name`` and ``run(chunk[1, 2, L]) -> stems[1, S, 2, L]`` (float32).
The runner only talks to this interface, so the eager model and every exported artifact go
through the very same chunk loop.

* ``eager``: a :class:`~mobile_core.separator.Separator` from a ``.pt`` model file; its chunk
  length is the configuration's default (or ``chunk_hops`` slice hops).
* ``pte``: ExecuTorch program, method ``forward``.
* ``ptl``: TorchScript-lite module, ``forward``.
* ``onnx`` / ``ort``: onnxruntime session, input ``mix``, output ``stems``.

An artifact's chunk geometry and stem names come from its metadata (see
:mod:`mobile_core.artifacts`), never from constants here. The ExecuTorch and onnxruntime
packages are imported only when such a file is opened (the ``export`` extra).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from .artifacts import (
    INPUT_NAME,
    OUTPUT_NAME,
    artifact_kind,
    read_artifact_metadata,
    spec_from_metadata,
)
from .chunking import ChunkSpec, chunk_spec, default_chunk_hops
from .errors import DemixError, ModelFileError
from .resample import MAX_RATE, MIN_RATE
from .separator import Separator

__all__ = [
    "BACKENDS",
    "ArtifactBackend",
    "Backend",
    "EagerBackend",
    "backend_for_path",
    "open_backend",
]

BACKENDS = ("eager", "pte", "ptl", "onnx", "ort")
"""Backend names accepted by :func:`open_backend` (plus ``auto``)."""

_MODEL_SUFFIX = ".pt"
_EXPORT_HINT = "install the export extra: pip install 'demix-mobile[export]'"


@runtime_checkable
class Backend(Protocol):
    """What the runner needs from a model, whatever runs it."""

    name: str
    spec: ChunkSpec
    stems: tuple[str, ...]
    model_id: str | None

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        """``chunk[1, 2, L]`` float32 at ``spec.sample_rate`` -> ``stems[1, S, 2, L]`` float32.

        ``keep``: the chunk samples ``[a, b)`` the caller keeps; a backend may leave the others
        inexact (the eager one skips the inverse slices that reach only them).
        """
        ...


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


@contextlib.contextmanager
def _native_stderr(sink: list[str]) -> Iterator[None]:
    """Capture stderr, both file descriptor 2 and ``sys.stderr``, into ``sink`` (lines).

    The ExecuTorch runtime logs CPU probing and load failures (some through its Python bindings'
    ``sys.stderr``, some straight to fd 2), and importing it logs optional-library warnings; the
    command line promises one error line, so those logs are captured and, on failure, the most
    telling one is quoted in the error.
    """
    text = io.StringIO()
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: only the Python stream to redirect
        with contextlib.redirect_stderr(text):
            yield
        sink.extend(text.getvalue().splitlines())
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            with contextlib.redirect_stderr(text):
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.extend(tmp.read().decode("utf-8", "replace").splitlines())
            sink.extend(text.getvalue().splitlines())


_NATIVE_LOG = re.compile(r"^\[[\w.]+:\d+\]")


def _last_log(lines: list[str]) -> str:
    """The most telling captured native log line (``[file.cpp:123] ...``), or ''.

    Prefers the last line that reports a failure or an error.
    """
    native = [ln.strip() for ln in lines if _NATIVE_LOG.match(ln.strip())]
    for line in reversed(native):
        if "fail" in line.lower() or "error" in line.lower():
            return line[:200]
    return native[-1][:200] if native else ""


def _import_quietly(module: str, what: str):
    """Import an optional runtime package, hiding its import-time log noise on stderr."""
    logs: list[str] = []
    try:
        with _native_stderr(logs):
            return importlib.import_module(module)
    except ImportError:
        raise ModelFileError(f"running {what} needs {module.split('.')[0]}: {_EXPORT_HINT}") \
            from None


class EagerBackend:
    """The PyTorch separator itself, run chunk by chunk.

    Args:
        separator: the model (put in eval mode here).
        chunk_hops: chunk length in slice hops; default: the configuration's
            (:func:`~mobile_core.chunking.default_chunk_hops`).
        workers: threads that run each chunk's independent parts as tasks
            (:meth:`~mobile_core.separator.Separator.separate`); 1: all in the calling thread.
            The intra-op thread count is left as it is (see :func:`open_backend`).
    """

    name = "eager"

    def __init__(self, separator: Separator, chunk_hops: int | None = None,
                 workers: int = 1) -> None:
        if workers < 1:
            raise DemixError(f"need at least one worker, got {workers}")
        self.workers = int(workers)
        self._pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="demix")
                      if self.workers > 1 else None)
        self.separator = separator.eval()
        cfg = separator.config
        hops = chunk_hops if chunk_hops is not None else default_chunk_hops(
            cfg.name, separator.transform
        )
        try:
            self.spec = chunk_spec(separator.transform, cfg.cdae, hops)
        except ValueError as e:
            raise DemixError(f"chunk length too short: {e}") from None
        self.stems = tuple(separator.stems)
        self.model_id = getattr(separator, "model_id", None)
        self.config = cfg.name
        self.quantization = "fp32"

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        """``chunk[1, 2, L]`` -> ``stems[1, 4, 2, L]`` (exact on ``keep``, zeros outside it)."""
        with torch.inference_mode():
            return self.separator.separate(chunk, self._pool, keep)


def _check_metadata(meta: dict, path: Path, kind: str) -> None:
    """Reject metadata this runner cannot plan with (one-line ModelFileError)."""
    declared = meta.get("kind")
    same = declared == kind or {declared, kind} == {"onnx", "ort"}
    if declared is not None and not same:
        raise ModelFileError(f"{path} is a .{kind} file but its metadata says kind {declared!r}")
    try:
        spec = spec_from_metadata(meta)
        stems = tuple(str(s) for s in meta["stems"])
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path} has malformed metadata ({_first_line(e)})") from None
    problems = []
    if not MIN_RATE <= spec.sample_rate <= MAX_RATE:
        problems.append(f"sample_rate {spec.sample_rate}")
    if spec.hop < 1 or min(spec.chunk, spec.context, spec.lookahead) < 0:
        problems.append("non-positive sizes")
    elif spec.chunk % spec.hop or spec.context % spec.hop or spec.lookahead % spec.hop:
        problems.append("chunk, context and lookahead are not multiples of hop")
    elif spec.step < spec.hop:
        problems.append(f"chunk {spec.chunk} leaves no room after context and lookahead")
    if not stems or len(set(stems)) != len(stems):
        problems.append(f"stems {list(stems)}")
    if int(meta.get("channels", 2)) != 2:
        problems.append(f"channels {meta.get('channels')}")
    if problems:
        raise ModelFileError(f"{path} has inconsistent metadata: {'; '.join(problems)}")


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
        runtime = _import_quietly("executorch.runtime", ".pte artifacts")

        logs: list[str] = []
        try:
            with _native_stderr(logs):
                if threads:
                    _set_executorch_threads(threads)
                program = runtime.Runtime.get().load_program(path)
                if "forward" not in program.method_names:
                    raise ModelFileError(f"{path} has no 'forward' method")
                self._method = program.load_method("forward")
        except ModelFileError:
            raise
        except Exception as e:  # the runtime raises plain RuntimeError variants
            why = _last_log(logs) or _first_line(e)
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
                                 f"({_first_line(e)})") from None
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
                                 f"({_first_line(e)})") from None

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        with torch.inference_mode():
            out = self._module.forward(self._check_input(chunk))
        return self._check_output(out)


class OnnxBackend(ArtifactBackend):
    """``.onnx`` / ``.ort`` via ``onnxruntime.InferenceSession`` (CPU)."""

    name = "onnx"

    def __init__(self, path: Path, meta: dict, kind: str, threads: int | None = None) -> None:
        super().__init__(path, meta)
        ort = _import_quietly("onnxruntime", ".onnx/.ort artifacts")

        self.name = kind
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{path} is not a loadable ONNX model ({_first_line(e)})") \
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
                                 f"({_first_line(e)})") from None
        return self._check_output(torch.from_numpy(out))


def backend_for_path(path: str | os.PathLike) -> str:
    """The backend a file needs, from its extension: ``eager`` for ``.pt``, else the kind."""
    if Path(path).suffix.lower() == _MODEL_SUFFIX:
        return "eager"
    try:
        return artifact_kind(path)
    except ModelFileError:
        raise ModelFileError(
            f"{path}: unknown model file type (expected a .pt model file or a .pte, .ptl, .onnx "
            f"or .ort artifact)"
        ) from None


def _compatible(backend: str, kind: str) -> bool:
    return backend == kind or {backend, kind} == {"onnx", "ort"}


def _load_model_file(path: Path) -> Separator:
    """``load_model`` with every way a foreign file can fail to unpickle as ModelFileError."""
    from .model_file import load_model

    try:
        return load_model(path)
    except (KeyError, IndexError, AttributeError, TypeError, UnicodeDecodeError,
            pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path} is not a readable model file ({type(e).__name__}: "
                             f"{_first_line(e)})") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the model file: {e.strerror or e}") from None


def _ptl_metadata(path: Path) -> dict:
    """Metadata of a ``.ptl`` (read from its zip archive, no runtime needed)."""
    return read_artifact_metadata(path)


def _read_metadata(path: Path, kind: str) -> dict:
    """The artifact's metadata; native runtime logs are kept off stderr."""
    if kind == "ptl":
        return _ptl_metadata(path)
    logs: list[str] = []
    try:
        with _native_stderr(logs):
            return read_artifact_metadata(path)
    except ModelFileError as e:
        why = _last_log(logs)
        if why and kind == "pte" and "loadable" in str(e):
            raise ModelFileError(f"{path} is not a loadable ExecuTorch program ({why})") from None
        raise


MAX_WORKERS = 4
"""Task workers of the eager separator at most: a chunk's widest stage, the inverse, has 4 tasks."""


def eager_threads(threads: int) -> tuple[int, int]:
    """``threads`` CPU threads -> ``(task workers, torch intra-op threads per worker)``.

    Workers first: on this project's 2-core dev machine two task workers with one intra-op
    thread each beat one worker with two intra-op threads (``bench/bench_separator.py``). Past
    :data:`MAX_WORKERS` the rest goes to intra-op threads (not measured: no such machine here).
    """
    workers = max(1, min(int(threads), MAX_WORKERS))
    return workers, max(1, int(threads) // workers)


def open_backend(
    path: str | os.PathLike | None,
    backend: str | None = None,
    threads: int | None = None,
    chunk_hops: int | None = None,
    chunk_seconds: float | None = None,
) -> Backend:
    """Open a model file or exported artifact as a :class:`Backend`.

    Args:
        path: a ``.pt`` model file or a ``.pte``/``.ptl``/``.onnx``/``.ort`` artifact;
            ``None``: the bundled default model.
        backend: ``None``/``"auto"`` (from the extension) or one of :data:`BACKENDS`; it must
            match the file (``onnx`` and ``ort`` are interchangeable).
        threads: CPU threads for the runtime (ExecuTorch's pool, onnxruntime intra-op); for the
            eager separator :func:`eager_threads` splits them into task workers and torch
            intra-op threads (default: torch's thread count, i.e. the cores).
        chunk_hops: eager only: chunk length in slice hops (artifacts have a fixed length).
        chunk_seconds: eager only: chunk length in seconds, rounded to whole slice hops.

    Raises ModelFileError (missing, corrupt, wrong kind or version) or DemixError (options).
    """
    if path is None:
        from .assets import DEFAULT_MODEL

        if not DEFAULT_MODEL.is_file():
            raise ModelFileError(
                f"the bundled default model {DEFAULT_MODEL} is missing; "
                f"pass a model file or artifact with -m/--model"
            )
        path = DEFAULT_MODEL
    path = Path(path)
    kind = backend_for_path(path)
    if backend not in (None, "auto"):
        if backend not in BACKENDS:
            raise DemixError(f"unknown backend {backend!r}; choose auto or one of "
                             f"{', '.join(BACKENDS)}")
        if not _compatible(backend, kind):
            raise DemixError(f"backend {backend} cannot run {path} (a {kind} file)")
        kind = backend
    if threads is not None and threads < 1:
        raise DemixError(f"--threads must be at least 1, got {threads}")
    if kind == "eager":
        workers, intra = eager_threads(threads or torch.get_num_threads())
        torch.set_num_threads(intra)
        sep = _load_model_file(path)
        if chunk_seconds is not None:
            if not chunk_seconds > 0:
                raise DemixError(f"the chunk length must be positive, got {chunk_seconds} s")
            chunk_hops = max(1, round(chunk_seconds * sep.transform.sample_rate
                                      / sep.transform.hop))
        return EagerBackend(sep, chunk_hops=chunk_hops, workers=workers)
    if chunk_hops is not None or chunk_seconds is not None:
        raise DemixError(
            f"{path}: the chunk length of an exported artifact is fixed by its export; "
            f"--chunk-seconds applies to .pt model files only"
        )
    if kind == "pte":
        _import_quietly("executorch.runtime", ".pte artifacts")
    elif kind in ("onnx", "ort"):
        _import_quietly("onnxruntime", ".onnx/.ort artifacts")
    meta = _read_metadata(path, kind)
    _check_metadata(meta, path, kind)
    if kind == "pte":
        return PteBackend(path, meta, threads=threads)
    if kind == "ptl":
        if threads:
            torch.set_num_threads(int(threads))
        return PtlBackend(path, meta)
    return OnnxBackend(path, meta, kind, threads=threads)
