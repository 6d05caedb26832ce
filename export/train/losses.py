"""Training losses of xumx-sliCQ-V2: complex MSE on mix-phase estimates + mask-sum MSE.

Both work on the ragged per-block lists the separator produces (see
:class:`mobile_core.model.separator.SeparatorOutput`), targets on axis 1:

* :func:`complex_mse_loss`: for every block, the mean squared error between the estimated and
  the true sliCQT coefficients (real and imaginary parts), summed over the 14 target
  *combinations* (4 single targets, 6 pairs, 4 triples; "4C1 + 4C2 + 4C3", as upstream) and
  divided by 14; then averaged over blocks. With ``combinations=False`` only the 4 single
  targets count (divided by 4).
* :func:`mask_sum_loss`: for every block, the mean squared error between the sum of the four
  masks and 1; averaged over blocks.

Upstream adds the two with weight 1 (its optional SDR loss is off by default and not used here).
"""

from __future__ import annotations

from itertools import combinations as _combinations

from torch import Tensor

__all__ = ["TARGET_COMBINATIONS", "complex_mse_loss", "mask_sum_loss", "separation_loss"]


def _target_combinations(n: int = 4) -> tuple[tuple[int, ...], ...]:
    return tuple(c for k in range(1, n) for c in _combinations(range(n), k))


#: The 14 index sets of upstream's loss for 4 targets: singles, pairs, triples.
TARGET_COMBINATIONS: tuple[tuple[int, ...], ...] = _target_combinations(4)


def _combination_weights(n_targets: int, combinations: bool) -> tuple[float, float]:
    """``(a, b)`` with ``mean_k MSE(sum_{j in k} e_j) = a * sum_j MSE(e_j) + b * MSE(sum_j e_j)``.

    Expanding the square, a set ``k`` contributes ``sum_{i,j in k} <e_i, e_j>``; over all sets
    each diagonal term ``<e_i, e_i>`` appears ``c_d`` times and each cross term ``c_o`` times, so
    the average is ``((c_d - c_o) sum_i <e_i, e_i> + c_o <sum_i e_i, sum_i e_i>) / K``. For 4
    targets and the 14 sets: ``c_d = 7``, ``c_o = 3``, ``K = 14``. This needs two reductions
    instead of 14 (the explicit sum is checked against it in the tests).
    """
    if not combinations:
        return 1.0 / n_targets, 0.0
    sets = _target_combinations(n_targets)
    c_d = sum(1 for s in sets if 0 in s)
    c_o = sum(1 for s in sets if 0 in s and 1 in s) if n_targets > 1 else 0
    return (c_d - c_o) / len(sets), c_o / len(sets)


def complex_mse_loss(
    estimates: list[Tensor], targets: list[Tensor], combinations: bool = True
) -> Tensor:
    """Complex MSE of the estimates, averaged over target combinations and blocks.

    Args:
        estimates: per block ``[B, 4, C, F_b, S, T_b, 2]`` (real, imaginary).
        targets: per block, same shapes: the true stems' coefficients.
        combinations: also score the sums of 2 and 3 targets (upstream), else singles only.

    Returns:
        scalar ``mean_b( mean_k( mean((sum_{j in k} (est_j - tgt_j))^2) ) )`` over the target
        sets ``k`` of :data:`TARGET_COMBINATIONS` (or the singles).
    """
    if len(estimates) != len(targets) or not estimates:
        raise ValueError(f"need equal, non-empty block lists, got {len(estimates)} and "
                         f"{len(targets)}")
    a, b = _combination_weights(estimates[0].shape[1], combinations)
    total = estimates[0].new_zeros(())
    for est, tgt in zip(estimates, targets, strict=True):
        if est.shape != tgt.shape:
            raise ValueError(f"estimate {tuple(est.shape)} vs target {tuple(tgt.shape)}")
        err = est - tgt  # [B, n_targets, C, F, S, T, 2]
        singles = err.square().mean() * err.shape[1]  # sum_j mean(e_j^2)
        block = a * singles
        if b:
            block = block + b * err.sum(dim=1).square().mean()
        total = total + block
    return total / len(estimates)


def mask_sum_loss(masks: list[Tensor]) -> Tensor:
    """Mean squared distance of the summed target masks from 1, averaged over blocks.

    Args:
        masks: per block ``[B, 4, C, F_b, S, T_b]``.
    """
    if not masks:
        raise ValueError("need a non-empty block list")
    total = masks[0].new_zeros(())
    for m in masks:
        total = total + (m.sum(dim=1) - 1.0).square().mean()
    return total / len(masks)


def separation_loss(
    estimates: list[Tensor],
    targets: list[Tensor],
    masks: list[Tensor],
    mask_weight: float = 1.0,
    combinations: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(total, complex_mse, mask_sum)`` with ``total = complex_mse + mask_weight * mask_sum``."""
    mse = complex_mse_loss(estimates, targets, combinations)
    msum = mask_sum_loss(masks)
    return mse + mask_weight * msum, mse, msum
