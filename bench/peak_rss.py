"""Peak resident memory of this process, correct in worker subprocesses.

``getrusage(RUSAGE_SELF).ru_maxrss`` is wrong for a fresh worker on Linux: the kernel carries
the high-water mark of the forked copy of the parent across ``exec``, so a worker started by a
parent that held 1.2 GB reports at least 1.2 GB. ``VmHWM`` in ``/proc/self/status`` belongs to
the current address space and starts afresh at ``exec``.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
