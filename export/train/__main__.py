"""``python -m export.train``: the same as ``demix-train`` (e.g. under ``torchrun``)."""

import sys

from .loop import main

sys.exit(main())
