"""Files shipped inside the package (example song, default model)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
EXAMPLE_SONG = ASSETS / "example.flac"
DEFAULT_MODEL = ASSETS / "default_model.pt"
