"""The separator's input contract, checked at its entry (the module and its inference form)."""

from __future__ import annotations

import torch
from torch import Tensor


def check_mix(mix: Tensor, dtype: torch.dtype) -> Tensor:
    """``mix[B, 2, N]`` floating point, converted where the contract converts.

    A float tensor of another precision becomes the model's ``dtype`` (as the runner converts
    decoded audio to float32), and mono ``[B, 1, N]`` is copied to both channels (the contract's
    channel rule for mono). Anything else raises ``TypeError``/``ValueError`` saying what is
    expected; more than two channels are the runner's job (``contract.channels.to_stereo``, a
    stated downmix), not the model's.
    """
    if not isinstance(mix, Tensor):
        raise TypeError(f"expected a tensor mix[B, 2, N], got {type(mix).__name__}")
    if mix.dim() != 3 or mix.shape[1] not in (1, 2) or mix.shape[-1] < 1:
        raise ValueError(f"expected a stereo batch mix[B, 2, N] ({dtype}), got shape "
                         f"{tuple(mix.shape)}; add the batch dimension with mix[None], and "
                         f"downmix more than two channels first "
                         f"(mobile_core.contract.channels.to_stereo)")
    if not mix.is_floating_point():
        raise ValueError(f"expected floating-point audio ({dtype}), got {mix.dtype}")
    if mix.shape[1] == 1:
        mix = mix.expand(-1, 2, -1)
    return mix if mix.dtype == dtype else mix.to(dtype)


__all__ = ["check_mix"]
