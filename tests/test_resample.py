"""The contract resampler: accuracy (against soxr VHQ and exact sines), streaming, edge rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
import torch

from mobile_core.contract import resample as rs
from mobile_core.contract.resample import StreamingResampler, filter_taps, output_length, resample
from mobile_core.errors import AudioError

COMMON_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 48000, 88200, 96000, 176400, 192000]
SOXR_PAIRS = [(sr, 44100) for sr in COMMON_RATES] + [(44100, 48000), (44100, 8000)]


def _sines(n_sines: int, fmax: float, seed: int):
    """A random sum of sines below fmax Hz, as a function of time in seconds (float64)."""
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(20.0, fmax, n_sines)
    phases = rng.uniform(0.0, 2 * np.pi, n_sines)
    amps = rng.uniform(0.2, 1.0, n_sines) / n_sines

    def at(t: np.ndarray) -> np.ndarray:
        return (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)

    return at


def _noise(n: int, sr: int, fmax: float, seed: int) -> np.ndarray:
    """Periodic noise with no energy above fmax Hz (FFT-masked), RMS about 0.1."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[np.fft.rfftfreq(n, 1.0 / sr) > fmax] = 0.0
    x = np.fft.irfft(spec, n)
    return 0.1 * x / x.std()


def _snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    err = np.sum((ref - test) ** 2)
    return float("inf") if err == 0 else 10 * math.log10(np.sum(ref**2) / err)


def _trimmed(x: np.ndarray, sr: int, length: int) -> np.ndarray:
    """x[:length] without its first and last 100 ms."""
    edge = sr // 10
    return x[edge : length - edge]


@pytest.mark.parametrize(("sr_in", "sr_out"), SOXR_PAIRS, ids=lambda v: str(v))
def test_matches_soxr_vhq(sr_in: int, sr_out: int) -> None:
    # soxr VHQ itself rolls off slightly towards 0.9 of Nyquist (about -74 dB error there against
    # exact sines, while ours is below -110 dB), so the oracle comparison stays below 0.85.
    fmax = 0.85 * min(sr_in, sr_out) / 2
    n = sr_in  # one second
    x = _sines(24, fmax, seed=sr_in)(np.arange(n) / sr_in) + _noise(n, sr_in, fmax, seed=sr_out)
    x = x.astype(np.float32)
    ours = resample(torch.from_numpy(x), sr_in, sr_out).numpy()
    ref = soxr.resample(x, sr_in, sr_out, quality="VHQ")  # zero delay for whole-signal calls
    m = min(len(ours), len(ref))
    assert abs(len(ours) - len(ref)) <= 1
    snr = _snr_db(_trimmed(ref, sr_out, m), _trimmed(ours, sr_out, m))
    assert snr >= 70.0, f"{sr_in} -> {sr_out} Hz: SNR against soxr VHQ is {snr:.1f} dB (< 70 dB)"


EXACT_PAIRS = SOXR_PAIRS + [(44101, 44100), (44100, 44101), (22255, 44100), (37800, 44100)]


@pytest.mark.parametrize(("sr_in", "sr_out"), EXACT_PAIRS, ids=lambda v: str(v))
def test_matches_exact_sines(sr_in: int, sr_out: int) -> None:
    """Sines sampled at the output instants n / sr_out are the ideal answer (zero phase)."""
    fmax = 0.9 * min(sr_in, sr_out) / 2
    signal = _sines(16, fmax, seed=sr_in + sr_out)
    slow = rs._plan(sr_in, sr_out).groups is None  # the on-the-fly path: keep it short
    n = sr_in * 3 // 10 if slow else sr_in // 2
    x = torch.from_numpy(signal(np.arange(n) / sr_in).astype(np.float32))
    y = resample(x, sr_in, sr_out).numpy()
    assert len(y) == math.ceil(n * sr_out / sr_in)
    truth = signal(np.arange(len(y)) / sr_out)
    snr = _snr_db(_trimmed(truth, sr_out, len(y)), _trimmed(y, sr_out, len(y)))
    assert snr >= 100.0, f"{sr_in} -> {sr_out} Hz: SNR against exact sines is {snr:.1f} dB"


def test_round_trip_44100_48000_44100() -> None:
    fmax = 0.9 * 44100 / 2
    n = 44100
    x = _sines(24, fmax, seed=3)(np.arange(n) / 44100) + _noise(n, 44100, fmax, seed=4)
    x32 = torch.from_numpy(x.astype(np.float32))
    back = resample(resample(x32, 44100, 48000), 48000, 44100).numpy()
    assert len(back) == n
    snr = _snr_db(_trimmed(x, 44100, n), _trimmed(back, 44100, n))
    assert snr >= 60.0, f"round trip SNR {snr:.1f} dB"


@pytest.mark.parametrize(
    ("sr_in", "sr_out", "n"),
    [
        (48000, 44100, 1200),
        (8000, 44100, 500),
        (44100, 8000, 3000),
        (44101, 44100, 1000),
        (22255, 44100, 800),
        (44100, 44100, 500),
    ],
)
def test_streaming_equals_one_shot(sr_in: int, sr_out: int, n: int) -> None:
    gen = torch.Generator().manual_seed(sr_in + n)
    x = torch.rand(2, n, generator=gen) * 2 - 1
    ref = resample(x, sr_in, sr_out)
    rng = np.random.default_rng(n)
    schedules = [[1], [2, 3, 5, 7, 11, 13], list(rng.integers(1, 400, 50)), [n]]
    for sizes in schedules:
        stream = StreamingResampler(sr_in, sr_out, channels=2)
        outs, pos, i = [], 0, 0
        while pos < n:
            size = int(sizes[i % len(sizes)])
            outs.append(stream.process(x[:, pos : pos + size]))
            pos, i = pos + size, i + 1
        outs.append(stream.flush())
        y = torch.cat(outs, dim=-1)
        assert y.shape == ref.shape, f"block sizes {sizes[:6]}: {tuple(y.shape)}"
        diff = (y - ref).abs().max().item()
        assert diff < 1e-6, f"block sizes {sizes[:6]}: max |stream - one-shot| = {diff:.2e}"


def test_streaming_holds_bounded_input() -> None:
    stream = StreamingResampler(48000, 44100, channels=1)
    for _ in range(50):
        stream.process(torch.rand(1, 1000))
    held = stream._buf.shape[-1]
    assert held <= 2 * rs.ZERO_CROSSINGS * 48000 / 44100 + 1000 + 4


def test_streaming_rejects_wrong_channels_and_use_after_flush() -> None:
    stream = StreamingResampler(48000, 44100, channels=2)
    with pytest.raises(ValueError):
        stream.process(torch.zeros(1, 10))
    stream.flush()
    with pytest.raises(RuntimeError):
        stream.process(torch.zeros(2, 10))


def test_direct_path_equals_table_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The on-the-fly path (used for huge up-factors) evaluates the same filter as the table."""
    x = torch.rand(2, 1500, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for sr_in, sr_out in [(48000, 44100), (8000, 44100), (44100, 8000)]:
        table = rs._Plan(sr_out // math.gcd(sr_in, sr_out), sr_in // math.gcd(sr_in, sr_out))
        monkeypatch.setattr(rs, "_TABLE_BUDGET", 0)
        direct = rs._Plan(table.up, table.down)
        monkeypatch.undo()
        assert table.groups is not None and direct.groups is None
        n_out = output_length(1500, sr_in, sr_out)
        a = table.compute(x, 0, 0, n_out)
        b = direct.compute(x, 0, 0, n_out)
        assert (a - b).abs().max().item() < 1e-6


def test_odd_ratio_uses_bounded_direct_path() -> None:
    plan = rs._plan(44101, 44100)
    assert plan.groups is None and plan.up == 44100 and plan.down == 44101


def test_output_length_and_identity() -> None:
    for n in [0, 1, 2, 147, 160, 1001]:
        x = torch.rand(2, n)
        assert resample(x, 48000, 44100).shape == (2, math.ceil(n * 44100 / 48000))
        assert resample(x, 44100, 48000).shape == (2, math.ceil(n * 48000 / 44100))
        assert output_length(n, 8000, 44100) == math.ceil(n * 44100 / 8000)
    x = torch.rand(2, 100)
    assert resample(x, 32000, 32000) is x
    stream = StreamingResampler(32000, 32000, 2)
    assert torch.equal(torch.cat([stream.process(x[:, :30]), stream.process(x[:, 30:])], -1), x)


def test_leading_dims_and_float64() -> None:
    x = torch.rand(3, 2, 500, dtype=torch.float64) * 2 - 1
    y = resample(x, 44100, 48000)
    assert y.shape == (3, 2, output_length(500, 44100, 48000)) and y.dtype == torch.float64
    for i in range(3):
        assert torch.allclose(y[i], resample(x[i], 44100, 48000), atol=1e-12)
    y32 = resample(x.float(), 44100, 48000)
    assert y32.dtype == torch.float32
    assert (y32.double() - y).abs().max().item() < 1e-5


def test_zero_phase_impulse_response() -> None:
    """An impulse at input sample k lands centred on output time k / sr_in: symmetric response."""
    x = torch.zeros(2001, dtype=torch.float64)
    x[1000] = 1.0
    y = resample(x, 88200, 44100)  # output 500 sits exactly on input 1000
    assert torch.allclose(y[500 - 40 : 500], y[501:541].flip(0), atol=1e-15)
    assert y.argmax().item() == 500


def test_filter_taps_properties() -> None:
    up, down = 147, 160  # 48 kHz -> 44.1 kHz
    reach = rs.ZERO_CROSSINGS * max(up, down)
    d = torch.arange(-reach - 5, reach + 6)
    h = filter_taps(d, up, down)
    assert torch.equal(h, h.flip(0))  # symmetric
    assert h[d.abs() > reach].abs().max() == 0  # finite support
    assert h[d.abs() == reach].abs().min() > 0  # the edge tap is kept
    assert h[d == 0].item() == pytest.approx(rs.CUTOFF * up / down, rel=1e-15)
    # Each output phase sums to unit DC gain (taps d = num - j * up for all j).
    for num in [0, 1, 73, 146]:
        taps = filter_taps(num - torch.arange(-200, 201) * up, up, down)
        assert taps.sum().item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("bad", [7999, 192001, 1, 10_000_000, 0, -44100, 44100.5, "44100", None])
def test_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(AudioError) as info:
        resample(torch.zeros(10), bad, 44100)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    with pytest.raises(AudioError):
        StreamingResampler(44100, bad, 2)  # type: ignore[arg-type]


def test_rate_message_and_integral_float() -> None:
    with pytest.raises(AudioError, match="10000000 Hz is outside the supported range 8000–192000"):
        resample(torch.zeros(10), 10_000_000, 44100)
    assert resample(torch.zeros(480), 48000.0, 44100).shape == (441,)
