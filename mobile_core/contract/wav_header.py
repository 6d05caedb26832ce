"""A WAV file's declared length, read from its RIFF chunk headers (to refuse truncated files)."""

from __future__ import annotations

import os
from pathlib import Path


def wav_frames(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` whole frames of a RIFF/WAVE file's data chunk, or None when the
    file is not a plain RIFF WAVE or its header does not state a size (0 or 0xFFFFFFFF).

    libsndfile quietly decodes what a truncated file holds; the contract refuses it
    (docs/contract-audio.md, Decoding), so the sizes are read here from the chunk headers.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(f.fileno()).st_size
            align = 0
            for _ in range(64):  # chunks before the data: fmt, fact, LIST, ...
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, n = hdr[:4], int.from_bytes(hdr[4:], "little")
                if cid == b"fmt ":
                    fmt = f.read(min(n, 16))
                    align = int.from_bytes(fmt[12:14], "little") if len(fmt) >= 14 else 0
                    f.seek(n - len(fmt) + (n & 1), os.SEEK_CUR)
                elif cid == b"data":
                    if align <= 0 or n in (0, 0xFFFFFFFF):
                        return None
                    return n // align, max(0, size - f.tell()) // align
                else:
                    f.seek(n + (n & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


__all__ = ["wav_frames"]
