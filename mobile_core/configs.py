"""Named configurations: transform settings (and, later, network settings) as plain data."""

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
}


def transform_config(name: str) -> TransformConfig:
    """Look up a named transform configuration."""
    try:
        return TRANSFORM_CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(TRANSFORM_CONFIGS))
        raise ValueError(f"unknown configuration {name!r}; known: {known}") from None


@dataclass(frozen=True)
class SeparatorConfig:
    """A whole separator: a name, the transform and the CDAE network sizes.

    ``cdae`` is a :class:`mobile_core.cdae.CDAEConfig` (kept as ``object`` here to avoid an import
    cycle in type annotations).
    """

    name: str
    transform: TransformConfig
    cdae: object

    def to_dict(self) -> dict:
        return {"name": self.name, "transform": self.transform.to_dict(),
                "cdae": self.cdae.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> SeparatorConfig:
        from .cdae import CDAEConfig

        cd = dict(d["cdae"])
        for key in ("freq_thresholds", "freq_kernels"):
            cd[key] = tuple(cd[key])
        return cls(str(d["name"]), TransformConfig(**d["transform"]), CDAEConfig(**cd))


def _named_separators() -> dict[str, SeparatorConfig]:
    from .cdae import CDAEConfig

    return {
        # upstream xumx-sliCQ-V2 realtime model (15,010,446 parameters)
        "xumx-rt": SeparatorConfig("xumx-rt", TRANSFORM_CONFIGS["xumx-rt"], CDAEConfig()),
        # tiny transform with upstream's CDAE sizes (as upstream's own tiny_rt model)
        "tiny": SeparatorConfig("tiny", TRANSFORM_CONFIGS["tiny"], CDAEConfig()),
        # the bundled default model (mobile_core/assets/default_model.pt): tiny transform, CDAE
        # hidden channels 16/16 (704,378 parameters, 2.8 MB fp32; see docs/model_card.md)
        "tiny-small": SeparatorConfig(
            "tiny-small", TRANSFORM_CONFIGS["tiny"], CDAEConfig(hidden1=16, hidden2=16)
        ),
    }


def separator_config(name: str) -> SeparatorConfig:
    """Look up a named separator configuration (``xumx-rt``, ``tiny``, ...)."""
    configs = _named_separators()
    try:
        return configs[name]
    except KeyError:
        known = ", ".join(sorted(configs))
        raise ValueError(f"unknown configuration {name!r}; known: {known}") from None
