"""Channel rules: mono, stereo, 5.1 / 7.1 downmix, other counts, and no clipping."""

from __future__ import annotations

import math

import pytest
import torch

from mobile_core.contract.channels import downmix_matrix, to_stereo

G = 1 / math.sqrt(2)


def _only(channels: int, index: int, n: int = 64) -> torch.Tensor:
    """A [channels, n] signal that is non-zero only on one channel."""
    x = torch.zeros(channels, n)
    x[index] = torch.linspace(-1, 1, n)
    return x


def test_mono_is_duplicated_without_gain_change() -> None:
    x = torch.rand(1, 1000) * 2 - 1
    y = to_stereo(x)
    assert y.shape == (2, 1000)
    assert torch.equal(y[0], x[0]) and torch.equal(y[1], x[0])
    y[0, 0] = 5.0  # the result owns its memory
    assert x[0, 0] != 5.0


def test_stereo_is_unchanged() -> None:
    x = torch.rand(2, 1000) * 2 - 1
    assert torch.equal(to_stereo(x), x)
    assert torch.equal(downmix_matrix(2), torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize(("channels", "norm"), [(6, 1 + 2 * G), (8, 1 + 3 * G)])
def test_centre_lfe_and_fronts(channels: int, norm: float) -> None:
    src = _only(channels, 2)[2]
    centre = to_stereo(_only(channels, 2))
    assert torch.equal(centre[0], centre[1])  # centre equally in both sides
    assert torch.allclose(centre[0], src * (G / norm), atol=1e-7)
    assert to_stereo(_only(channels, 3)).abs().max() == 0  # LFE dropped
    left = to_stereo(_only(channels, 0))
    assert torch.allclose(left[0], src / norm, atol=1e-7) and left[1].abs().max() == 0
    right = to_stereo(_only(channels, 1))
    assert torch.allclose(right[1], src / norm, atol=1e-7) and right[0].abs().max() == 0


@pytest.mark.parametrize(
    ("channels", "left_surrounds", "right_surrounds"),
    [(6, [4], [5]), (8, [4, 6], [5, 7])],  # 5.1: Ls Rs; 7.1: Lb Rb Ls Rs
)
def test_surrounds_go_to_their_side_at_minus_3_db(
    channels: int, left_surrounds: list[int], right_surrounds: list[int]
) -> None:
    m = downmix_matrix(channels)
    front = m[0, 0].item()
    for idx in left_surrounds:
        assert m[0, idx].item() == pytest.approx(front * G, rel=1e-12) and m[1, idx] == 0
    for idx in right_surrounds:
        assert m[1, idx].item() == pytest.approx(front * G, rel=1e-12) and m[0, idx] == 0
    assert m[0, 2].item() == pytest.approx(front * G, rel=1e-12)  # centre at -3 dB
    assert m[0, 2] == m[1, 2] and m[0, 0] == m[1, 1]  # left and right rows mirror each other


def test_printed_5_1_matrix() -> None:
    n = 1 + math.sqrt(2)
    expected = torch.tensor(
        [[1 / n, 0, G / n, 0, G / n, 0], [0, 1 / n, G / n, 0, 0, G / n]], dtype=torch.float64
    )
    assert torch.allclose(downmix_matrix(6), expected, atol=1e-15)


def test_other_counts_follow_the_alternating_rule() -> None:
    # 3: L R C -> centre shared.
    assert torch.allclose(
        downmix_matrix(3), torch.tensor([[0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=torch.float64)
    )
    # 4: alternate L R L R.
    assert torch.allclose(
        downmix_matrix(4), torch.tensor([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]], dtype=torch.float64)
    )
    # 5: L R C Ls Rs -> channel 2 shared, then 3 left, 4 right.
    t = 1 / 3
    assert torch.allclose(
        downmix_matrix(5),
        torch.tensor([[t, 0, t, t, 0], [0, t, t, 0, t]], dtype=torch.float64),
    )
    # 7: channel 2 shared; 0, 3, 5 left; 1, 4, 6 right; each side averages its 4 channels.
    q = 0.25
    assert torch.allclose(
        downmix_matrix(7),
        torch.tensor([[q, 0, q, q, 0, q, 0], [0, q, q, 0, q, 0, q]], dtype=torch.float64),
    )
    # 10: plain alternation, 5 channels per side.
    m = downmix_matrix(10)
    assert torch.allclose(m[0, 0::2], torch.full((5,), 0.2, dtype=torch.float64))
    assert torch.allclose(m[1, 1::2], torch.full((5,), 0.2, dtype=torch.float64))
    assert m[0, 1::2].abs().max() == 0 and m[1, 0::2].abs().max() == 0


@pytest.mark.parametrize("channels", range(1, 13))
def test_no_clipping_possible(channels: int) -> None:
    m = downmix_matrix(channels)
    assert m.shape == (2, channels) and m.dtype == torch.float64
    assert (m >= 0).all()
    assert m.abs().sum(dim=1).max().item() <= 1.0 + 1e-12
    # Worst case: every channel at full scale with the sign of its gain, for each output side.
    worst = torch.sign(m.float()).t().contiguous()  # [C, 2]: column j maximises output j
    y = to_stereo(worst)
    assert y.abs().max().item() <= 1.0 + 1e-6
    noise = torch.rand(channels, 4096) * 2 - 1
    assert to_stereo(noise).abs().max().item() <= 1.0 + 1e-6


def test_downmix_keeps_dtype_and_rejects_bad_shapes() -> None:
    x = torch.rand(6, 100, dtype=torch.float64)
    y = to_stereo(x)
    assert y.dtype == torch.float64
    assert torch.allclose(y, downmix_matrix(6) @ x)
    with pytest.raises(ValueError):
        to_stereo(torch.zeros(100))
    with pytest.raises(ValueError):
        downmix_matrix(0)
