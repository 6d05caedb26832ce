"""Named separator configurations: a transform configuration and the CDAE sizes, as plain data."""

from __future__ import annotations

from dataclasses import dataclass

from ..transform.config import TRANSFORM_CONFIGS, TransformConfig


@dataclass(frozen=True)
class SeparatorConfig:
    """A whole separator: a name, the transform and the CDAE network sizes.

    ``cdae`` is a :class:`mobile_core.model.cdae.CDAEConfig` (kept as ``object`` here to avoid an
    import
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
        # the first bundled model's: tiny transform, CDAE hidden channels 16/16 (704,378
        # parameters, 2.8 MB fp32)
        "tiny-small": SeparatorConfig(
            "tiny-small", TRANSFORM_CONFIGS["tiny"], CDAEConfig(hidden1=16, hidden2=16)
        ),
        # the bundled default model (mobile_core/assets/default_model.pt; see
        # docs/model_card.md): Bark 64 bins from 32.9 Hz, CDAE hidden channels 16/16
        "bark64-small": SeparatorConfig(
            "bark64-small", TRANSFORM_CONFIGS["bark64"], CDAEConfig(hidden1=16, hidden2=16)
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
