"""Tests for utils/limiters/alt_limiter.py: the evaluation-only compressor + soft clipper."""
import numpy as np
import pytest

from utils.errors import DelimitError
from utils.limiters.alt_limiter import alt_limit, alt_maximize_to_loudness
from utils.limiters.maximizer import limit
from utils.loudness import integrated_loudness

SR = 44100


def _mix(seconds, seed):
    """Tones plus decaying noise hits, (2, T) float64."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    mix = 0.05 * np.sin(2 * np.pi * 220 * t + rng.uniform(0, 6, (2, 1)))
    for start in range(0, n, SR // 5):
        k = np.arange(n - start)
        hit = np.exp(-k / 900.0) * rng.uniform(0.2, 1)
        mix[:, start:] += hit * rng.standard_normal((2, len(k)))
    return mix


@pytest.mark.parametrize("seed", range(6))
def test_peak_never_exceeds_ceiling(seed):
    rng = np.random.default_rng(seed)
    channels = 1 + seed % 2
    audio = rng.standard_normal((channels, 3000)) * rng.uniform(0.01, 5.0)
    ceiling_db = float(rng.uniform(-3.0, 0.0))
    out = alt_limit(audio, SR, drive_db=float(rng.uniform(0, 40)), ceiling_db=ceiling_db,
                    clip_knee=float(rng.uniform(0, 0.9)))
    assert out.shape == audio.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.abs(out).max() <= 10 ** (ceiling_db / 20)


@pytest.mark.parametrize("target", [-12.0, -8.0, -6.0])
def test_reaches_target_loudness(target):
    audio = _mix(1.0, seed=1)
    out, drive_db = alt_maximize_to_loudness(audio, SR, target, tolerance_lu=0.5)
    assert abs(integrated_loudness(out, SR) - target) <= 0.5
    assert 0.0 <= drive_db <= 60.0
    np.testing.assert_array_equal(out, alt_limit(audio, SR, drive_db))


def test_silence_and_tiny_inputs():
    silent = np.zeros((2, 2000))
    assert not alt_limit(silent, SR, 20.0).any()
    out, drive_db = alt_maximize_to_loudness(silent, SR, -8.0)
    assert drive_db == 0.0 and not out.any()
    for n in (0, 1, 3):
        assert alt_limit(np.ones((2, n)), SR, 10.0).shape == (2, n)


def test_differs_from_the_maximizer():
    # Causal (no look-ahead): a burst does not change the output before it arrives, while the
    # maximizer ducks ahead of it.
    audio = _mix(0.5, seed=2)
    audio[:, 10000:10100] *= 20.0
    out = alt_limit(audio, SR, 12.0)
    np.testing.assert_array_equal(out[:, :10000], alt_limit(audio[:, :10000], SR, 12.0))
    limited, _ = limit(audio, SR, threshold_db=-12.0)
    short, _ = limit(audio[:, :10000], SR, threshold_db=-12.0)
    assert not np.array_equal(limited[:, :10000], short)
    # The soft clipper reshapes the waveform: out / input is not one gain shared by the channels.
    drive = 10 ** (12.0 / 20)
    ratio = out[:, 10000:10100] / (audio[:, 10000:10100] * drive)
    assert np.abs(ratio[0] - ratio[1]).max() > 0.05


def test_bad_arguments_raise():
    with pytest.raises(DelimitError):
        alt_limit(np.zeros(100), SR, 0.0)
    with pytest.raises(DelimitError):
        alt_limit(np.zeros((2, 100)), SR, 0.0, ratio=0.5)
    with pytest.raises(DelimitError):
        alt_limit(np.zeros((2, 100)), SR, 0.0, ceiling_db=1.0)
