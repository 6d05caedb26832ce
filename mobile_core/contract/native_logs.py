"""Native libraries' stderr kept off the user's terminal, and the telling line picked from it."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def capture_stderr(sink: list[str]) -> Iterator[None]:
    """Capture stderr, both file descriptor 2 and ``sys.stderr``, into ``sink`` (lines).

    The ExecuTorch runtime logs CPU probing and load failures (some through its Python bindings'
    ``sys.stderr``, some straight to fd 2), importing it logs optional-library warnings, and
    libsndfile's MP3 decoder writes notes to fd 2; the command line promises one error line, so
    those logs are captured and, on failure, the most telling one is quoted in the error.
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


NATIVE_LOG = re.compile(r"^\[[\w.]+:\d+\]")


def last_native_log(lines: list[str]) -> str:
    """The most telling captured native log line (``[file.cpp:123] ...``), or ''.

    Prefers the last line that reports a failure or an error.
    """
    native = [ln.strip() for ln in lines if NATIVE_LOG.match(ln.strip())]
    for line in reversed(native):
        if "fail" in line.lower() or "error" in line.lower():
            return line[:200]
    return native[-1][:200] if native else ""


__all__ = ["NATIVE_LOG", "capture_stderr", "last_native_log"]
