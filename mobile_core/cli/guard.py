"""How every console script ends: one line per error, the conventional status, nothing half-done.

Every ``main`` of the package's console scripts (``demix``, ``demix-validate``, ``demix-golden``,
``demix-spectrogram`` and the ``export`` tools) is wrapped in :func:`console_main`, which

* turns a user error (:class:`~mobile_core.errors.DemixError`, ``SystemExit("message")``, an
  ``OSError`` with its OS reason) into one line ``<prog>: error: <reason>`` on stderr, status 1;
* turns ``SIGINT`` (Ctrl-C), ``SIGTERM`` and ``SIGHUP`` into an exception that unwinds the work
  (so every ``except BaseException`` / ``finally`` cleanup runs: partial files are removed), then
  one line and the conventional status ``128 + signal number`` (130, 143, 129); a second signal
  while the first unwinds is ignored, so cleanup is not cut short;
* keeps a closed or full stdout from stopping the work: :func:`say` drops output once stdout is
  gone (``demix a b c | head -n 1`` still separates every track) and no traceback appears;
* prints anything else (a bug) as one line too, naming the exception type; ``DEMIX_DEBUG=1`` in
  the environment re-raises it with its traceback.

Signal handlers are installed only for the duration of the call and restored afterwards, so
calling a ``main`` from Python changes nothing in the caller's process. :class:`OneLineParser`
is ``argparse.ArgumentParser`` whose usage errors are one line too (status 2).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from ..errors import DemixError

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "OneLineParser",
    "Terminated",
    "console_main",
    "error_line",
    "one_line",
    "os_reason",
    "say",
    "warn",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
_HANDLED = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
                 if s is not None)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


class Terminated(BaseException):
    """Raised in the main thread by ``SIGTERM`` / ``SIGHUP`` (like ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``SIGTERM``."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def one_line(text: object) -> str:
    """``text`` as one line: control characters escaped (``\\n``), other spacing kept.

    Paths are printed as they are (repeated spaces included), so a message that quotes a path
    still starts with the same text as the path printed through this function.
    """
    s = str(text).strip()
    for ch, rep in _ESCAPES.items():
        s = s.replace(ch, rep)
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in s)


def os_reason(err: OSError) -> str:
    """The OS's own words for an ``OSError``, with the file it concerns if known."""
    reason = err.strerror or (os.strerror(err.errno) if err.errno else "") or str(err)
    if err.filename is not None:
        return f"{os.fsdecode(err.filename)}: {reason}"
    return reason


def error_line(prog: str, message: object, subject: object | None = None) -> str:
    """``<prog>: error: [<subject>: ]<message>`` on one line; the subject is not repeated when the
    message already starts with it."""
    msg = os_reason(message) if isinstance(message, OSError) else message
    msg = one_line(msg)
    if subject is not None:
        subj = one_line(subject)
        if not msg.startswith(subj):
            msg = f"{subj}: {msg}"
    return f"{prog}: error: {msg}"


def _stderr_write(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr itself is gone: nothing left to tell
        pass


def warn(prog: str, message: object) -> None:
    """One line ``<prog>: warning: <message>`` on stderr."""
    _stderr_write(f"{prog}: warning: {one_line(message)}")


class _Stdout:
    """State of stdout: once writing fails it is replaced by ``/dev/null`` for good."""

    closed = False
    lock = threading.Lock()


def _silence_stdout() -> None:
    """Point file descriptor 1 (and ``sys.stdout``) at ``/dev/null``: later writes and the
    interpreter's final flush then succeed quietly."""
    _Stdout.closed = True
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError, AttributeError):
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def say(text: str = "", prog: str | None = None) -> bool:
    """Print a line of progress or results to stdout; never let a closed or full stdout stop
    the work.

    A closed pipe (``| head``) silences stdout from then on, without a word (the usual
    convention); any other write error (a full disk) does the same after one warning line on
    stderr naming the OS reason. Returns whether the text was written.
    """
    if _Stdout.closed:
        return False
    try:
        print(text, flush=True)
        return True
    except BrokenPipeError:
        _silence_stdout()
    except OSError as e:
        _silence_stdout()
        if prog is not None:
            warn(prog, f"stdout: {os_reason(e)}; further output is dropped")
    return False


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into exceptions in the main thread for the block's duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if fired:  # already unwinding: let the cleanup finish
            return
        fired.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    saved = {}
    for s in _HANDLED:
        try:
            current = signal.getsignal(s)
            if current is signal.SIG_IGN:  # e.g. nohup: the user asked to ignore it
                continue
            saved[s] = current
            signal.signal(s, handler)
        except (OSError, ValueError):
            continue
    try:
        yield
    finally:
        for s, h in saved.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(s, h)


def _exit_status(prog: str, exc: BaseException, error_status: int = EXIT_ERROR) -> int:
    """Report ``exc`` as one line; return the exit status it stands for."""
    if isinstance(exc, KeyboardInterrupt):
        _stderr_write(f"{prog}: interrupted")
        return 128 + signal.SIGINT
    if isinstance(exc, Terminated):
        _stderr_write(f"{prog}: terminated by {exc.name}")
        return 128 + exc.signum
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return 128 + getattr(signal, "SIGPIPE", 13)
    if isinstance(exc, DemixError | OSError):
        _stderr_write(error_line(prog, exc))
        return error_status
    if isinstance(exc, MemoryError):
        _stderr_write(error_line(prog, "out of memory (try shorter inputs or smaller options)"))
        return EXIT_ERROR
    if os.environ.get("DEMIX_DEBUG"):
        raise exc
    _stderr_write(error_line(prog, f"internal error ({type(exc).__name__}: {exc}); set "
                                   f"DEMIX_DEBUG=1 for the traceback"))
    return EXIT_ERROR


def _run(prog: str, fn: Callable[[Sequence[str] | None], int],
         argv: Sequence[str] | None, error_status: int = EXIT_ERROR) -> int:
    try:
        with _signals():
            try:
                rc = fn(argv)
            finally:
                if not _Stdout.closed:
                    try:
                        sys.stdout.flush()
                    except BrokenPipeError:
                        _silence_stdout()
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return int(e.code or 0)
        _stderr_write(error_line(prog, e.code))
        return error_status
    except BaseException as e:  # noqa: BLE001 - every way out becomes one line and a status
        return _exit_status(prog, e, error_status)
    return int(rc or 0)


def console_main(prog: str, error_status: int = EXIT_ERROR
                 ) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorator for a console script's ``main(argv=None) -> int``: see the module docstring.

    ``error_status``: the status of a user error (1; tools whose documented status for a
    refusal is 2 pass 2)."""

    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(fn)
        def main(argv: Sequence[str] | None = None) -> int:
            return _run(prog, fn, argv, error_status)

        return main

    return wrap


class OneLineParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose usage errors are one line ``<prog>: error: <message>``, status 2
    (``--help`` still prints the full usage)."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit with status 2."""
        _stderr_write(f"{self.prog}: error: {one_line(message)} (see --help)")
        raise SystemExit(EXIT_USAGE)
