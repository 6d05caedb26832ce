"""Named transform configurations: the sliCQT filterbank's settings as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TransformConfig:
    """Settings of the sliCQT filterbank.

    ``scale`` is one of bark, mel, cqlog, vqlog, linear; ``gamma`` (Hz) only matters for vqlog.
    """

    scale: str = "bark"
    bins: int = 262
    fmin: float = 32.9
    fmax: float = 22050.0
    sample_rate: float = 44100.0
    gamma: float = 15.0

    def to_dict(self) -> dict:
        return asdict(self)


TRANSFORM_CONFIGS: dict[str, TransformConfig] = {
    # upstream xumx-sliCQ-V2 (offline and realtime): Bark, 262 bins, 32.9-22050 Hz
    "xumx-rt": TransformConfig("bark", 262, 32.9, 22050.0),
    # low-latency configuration: Mel, 32 bins, 115.5-22050 Hz (slice length 2016 samples)
    "tiny": TransformConfig("mel", 32, 115.5, 22050.0),
    # the bundled model's transform: Bark, 64 bins from upstream's 32.9 Hz (slice length 4360)
    "bark64": TransformConfig("bark", 64, 32.9, 22050.0),
}


def transform_config(name: str) -> TransformConfig:
    """Look up a named transform configuration."""
    try:
        return TRANSFORM_CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(TRANSFORM_CONFIGS))
        raise ValueError(f"unknown configuration {name!r}; known: {known}") from None


__all__ = ["TRANSFORM_CONFIGS", "TransformConfig", "transform_config"]
