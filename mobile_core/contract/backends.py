"""Backends: one thing that turns a fixed-length chunk into stems, whatever runs it.

A backend has a chunk geometry ``spec`` (:class:`~mobile_core.contract.chunking.ChunkSpec`),
the names of the stems it returns, a ``name`` and ``run(chunk[1, 2, L]) -> stems[1, S, 2, L]``
(float32). The runner only talks to this interface, so the eager model and every exported
artifact go through the very same chunk loop.

* ``eager``: the inference form of a :class:`~mobile_core.model.separator.Separator` from a
  ``.pt`` model file (:meth:`~mobile_core.model.separator.Separator.for_inference`); its chunk
  length is the configuration's default (or ``chunk_hops`` slice hops). This is the one place
  the contract layer touches the model; a phone app runs an artifact instead.
* ``pte``, ``ptl``, ``onnx``, ``ort``: exported artifacts (:mod:`.runtimes`); their chunk
  geometry and stem names come from their metadata, never from constants here.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from ..errors import DemixError, ModelFileError
from ..model import InferenceSeparator, Separator, load_model
from .artifacts import artifact_kind
from .chunking import ChunkSpec, chunk_spec, default_chunk_hops
from .runtimes import first_line, open_artifact

__all__ = [
    "BACKENDS",
    "Backend",
    "EagerBackend",
    "available_cores",
    "backend_for_path",
    "check_chunk_seconds",
    "open_backend",
    "sniff_kind",
]

BACKENDS = ("eager", "pte", "ptl", "onnx", "ort")
"""Backend names accepted by :func:`open_backend` (plus ``auto``)."""

_MODEL_SUFFIX = ".pt"


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


class EagerBackend:
    """The PyTorch separator's inference form, run chunk by chunk.

    Args:
        separator: the model; its inference form is derived here, once
            (:meth:`~mobile_core.model.separator.Separator.for_inference`), or passed derived.
        chunk_hops: chunk length in slice hops; default: the configuration's
            (:func:`~mobile_core.contract.chunking.default_chunk_hops`).
        workers: threads that run each chunk's independent parts as tasks
            (:meth:`~mobile_core.model.inference.InferenceSeparator.separate`); 1: all in the
            calling thread. The intra-op thread count is left as it is (see
            :func:`open_backend`).
    """

    name = "eager"

    def __init__(self, separator: Separator | InferenceSeparator, chunk_hops: int | None = None,
                 workers: int = 1) -> None:
        if workers < 1:
            raise DemixError(f"need at least one worker, got {workers}")
        self.workers = int(workers)
        self._pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="demix")
                      if self.workers > 1 else None)
        if isinstance(separator, Separator):
            separator = separator.for_inference()
        self.separator = separator
        cfg = separator.config
        hops = chunk_hops if chunk_hops is not None else default_chunk_hops(
            cfg.name, separator.transform
        )
        try:
            self.spec = chunk_spec(separator.transform, cfg.cdae, hops)
        except ValueError as e:
            raise DemixError(f"chunk length too short: {e}") from None
        self.stems = tuple(separator.stems)
        self.model_id = separator.model_id
        self.config = cfg.name
        self.quantization = "fp32"

    def run(self, chunk: Tensor, keep: tuple[int, int] | None = None) -> Tensor:
        """``chunk[1, 2, L]`` -> ``stems[1, 4, 2, L]`` (exact on ``keep``, zeros outside it)."""
        with torch.inference_mode():
            return self.separator.separate(chunk, self._pool, keep)


def sniff_kind(path: str | os.PathLike) -> str | None:
    """The backend a file needs, from its first bytes; ``None`` if they say nothing.

    A zip archive is a ``torch.save`` model file (``eager``) or, holding ``bytecode.pkl``, a
    TorchScript-lite module (``ptl``); a FlatBuffer with identifier ``ET..`` is an ExecuTorch
    program (``pte``), with ``ORTM`` an onnxruntime model (``ort``); a protobuf starting with
    the ``ir_version`` field is ONNX.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if any(n.endswith("/bytecode.pkl") or n == "bytecode.pkl" for n in names):
            return "ptl"
        if any(n.endswith("data.pkl") for n in names):
            return "eager"
        return None
    if len(head) >= 8 and head[4:6] == b"ET" and head[6:8].isdigit():
        return "pte"
    if len(head) >= 8 and head[4:8] == b"ORTM":
        return "ort"
    if len(head) >= 2 and head[0] == 0x08 and 3 <= head[1] <= 32:  # field 1, ir_version 3..32
        return "onnx"
    return None


def backend_for_path(path: str | os.PathLike) -> str:
    """The backend a file needs: from its content (:func:`sniff_kind`), else its extension
    (``eager`` for ``.pt``, else the artifact kind)."""
    kind = sniff_kind(path)
    if kind is not None:
        return kind
    if Path(path).suffix.lower() == _MODEL_SUFFIX:
        return "eager"
    try:
        return artifact_kind(path)
    except ModelFileError:
        raise ModelFileError(
            f"{path}: unknown model file type (neither a model file nor a .pte, .ptl, .onnx "
            f"or .ort artifact, by its content or its name)"
        ) from None


def _compatible(backend: str, kind: str) -> bool:
    return backend == kind or {backend, kind} == {"onnx", "ort"}


def _load_model_file(path: Path) -> Separator:
    """``load_model`` with every way a foreign file can fail to unpickle as ModelFileError."""

    try:
        return load_model(path)
    except (KeyError, IndexError, AttributeError, TypeError, UnicodeDecodeError,
            pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path} is not a readable model file ({type(e).__name__}: "
                             f"{first_line(e)})") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the model file: {e.strerror or e}") from None


MAX_CHUNK_SECONDS = 600.0
"""Longest chunk accepted by ``--chunk-seconds`` (ten minutes; the machine may allow less)."""

_WORKING_SET = 64
"""Rough bytes of working memory per byte of a chunk's stereo float32 input in the eager model
(transform coefficients, masks, four stems); used only to refuse chunks no machine here holds."""


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_chunk_seconds(seconds: float, sample_rate: int) -> float:
    """``seconds`` if it is a chunk length this machine can run; DemixError otherwise."""
    if not math.isfinite(seconds) or not seconds > 0:
        raise DemixError(f"the chunk length must be a positive number of seconds, got {seconds}")
    limit = MAX_CHUNK_SECONDS
    memory = _memory_bytes()
    if memory is not None:
        limit = min(limit, memory / (sample_rate * 2 * 4 * _WORKING_SET))
    if seconds > limit:
        raise DemixError(f"--chunk-seconds {seconds:g} is too long: at most {limit:.0f} s "
                         f"(a chunk is held in memory whole; songs of any length run in chunks)")
    return seconds


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
        threads: CPU threads for the runtime (ExecuTorch's pool, onnxruntime intra-op), at most
            the cores this process may use (more are capped: they only slow it down); for the
            eager separator :func:`eager_threads` splits them into task workers and torch
            intra-op threads (default: torch's thread count, i.e. the cores).
        chunk_hops: eager only: chunk length in slice hops (artifacts have a fixed length).
        chunk_seconds: eager only: chunk length in seconds, rounded to whole slice hops.

    Raises ModelFileError (missing, corrupt, wrong kind or version) or DemixError (options).
    """
    if path is None:
        from ..assets import DEFAULT_MODEL

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
    if threads is not None:  # more threads than cores only adds switching (100x slower)
        threads = min(int(threads), available_cores())
    if kind == "eager":
        workers, intra = eager_threads(threads or torch.get_num_threads())
        torch.set_num_threads(intra)
        sep = _load_model_file(path)
        if chunk_seconds is not None:
            check_chunk_seconds(chunk_seconds, sep.transform.sample_rate)
            chunk_hops = max(1, round(chunk_seconds * sep.transform.sample_rate
                                      / sep.transform.hop))
        return EagerBackend(sep, chunk_hops=chunk_hops, workers=workers)
    if chunk_hops is not None or chunk_seconds is not None:
        raise DemixError(
            f"{path}: the chunk length of an exported artifact is fixed by its export; "
            f"--chunk-seconds applies to .pt model files only"
        )
    return open_artifact(path, kind, threads)
