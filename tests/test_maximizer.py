"""Tests for utils/limiters/maximizer.py: the limiter's guarantees on many small random signals."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from utils.errors import DelimitError
from utils.limiters.maximizer import (
    TRUE_PEAK_TOLERANCE_DB,
    _interpolator_taps,
    _interval_peaks,
    character_lookahead_ms,
    limit,
    maximize_to_loudness,
    measure_true_peak,
    random_limiter_params,
)
from utils.loudness import integrated_loudness

SR = 44100


def _signal(kind, channels, n, rng):
    """A small test signal (channels, n) float64 of a given kind."""
    t = np.arange(n) / SR
    if kind == "silence":
        return np.zeros((channels, n))
    if kind == "noise_bursts":
        gate = (np.sin(2 * np.pi * 7 * t) > 0.3).astype(float)
        return rng.standard_normal((channels, n)) * gate * rng.uniform(0.1, 2.0)
    if kind == "sine":
        freq = rng.uniform(40, 15000)
        phase = rng.uniform(0, 6.3, (channels, 1))
        return rng.uniform(0.1, 3.0) * np.sin(2 * np.pi * freq * t + phase)
    if kind == "intersample":
        # fs/4 at 45 degrees: every sample is at 0.707 of the true peak (+3 dB between samples).
        wave = np.sin(np.pi / 2 * np.arange(n) + np.pi / 4)
        return rng.uniform(0.5, 2.0) * wave * np.ones((channels, 1))
    if kind == "drums":
        out = np.zeros((channels, n))
        for start in rng.integers(0, max(n, 1), 6):
            k = np.arange(n - start)
            hit = np.exp(-k / rng.uniform(50, 3000)) * rng.uniform(0.2, 4.0)
            out[:, start:] += hit * (rng.standard_normal((channels, len(k))) + np.sin(k / 20.0))
        return out
    raise ValueError(kind)


KINDS = ["silence", "noise_bursts", "sine", "intersample", "drums"]


def _cases(seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        channels = 1 + (i // len(KINDS)) % 2
        n = int(rng.choice([3, 50, 700, 4000]))
        params = random_limiter_params(rng)
        params["threshold_db"] = float(rng.uniform(-20, 0))
        yield _signal(kind, channels, n, rng), params


def _check_common(audio, params, limited, gain):
    drive = 10 ** (-params["threshold_db"] / 20.0)
    assert limited.shape == audio.shape and limited.dtype == np.float32
    assert gain.shape == audio.shape[-1:] and gain.dtype == np.float32
    assert np.isfinite(limited).all() and np.isfinite(gain).all()
    assert (gain > 0).all() and (gain <= 1).all()
    # The documented identity holds bit for bit.
    expected = (audio.astype(np.float64) * drive * gain).astype(np.float32)
    np.testing.assert_array_equal(limited, expected)
    ceiling = 10 ** (params["ceiling_db"] / 20.0)
    assert np.abs(limited).max(initial=0.0) <= ceiling


@pytest.mark.parametrize("true_peak", [False, True])
def test_guarantees_on_random_signals(true_peak):
    for audio, params in _cases(seed=1 + true_peak, count=40):
        params["true_peak"] = true_peak
        limited, gain = limit(audio, SR, **params)
        _check_common(audio, params, limited, gain)
        if true_peak:
            tolerance = 10 ** ((params["ceiling_db"] + TRUE_PEAK_TOLERANCE_DB) / 20.0)
            assert measure_true_peak(limited) <= tolerance
        if not audio.any():
            assert not limited.any() and (gain == 1).all()


def test_true_peak_mode_catches_intersample_peaks():
    audio = np.sin(np.pi / 2 * np.arange(4000) + np.pi / 4)[None] * np.ones((2, 1))
    plain, _ = limit(audio, SR, threshold_db=-6.0, ceiling_db=-1.0)
    tp, _ = limit(audio, SR, threshold_db=-6.0, ceiling_db=-1.0, true_peak=True)
    ceiling = 10 ** (-1.0 / 20)
    assert measure_true_peak(plain[:, 200:-200]) > 1.3 * ceiling  # sample-peak mode misses them
    assert measure_true_peak(tp) <= ceiling * 10 ** (TRUE_PEAK_TOLERANCE_DB / 20)
    assert measure_true_peak(tp[:, 200:-200]) > 0.99 * ceiling  # and does not over-limit


def test_interval_peaks_match_resample_poly():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 301))
    expected = np.abs(resample_poly(x, 4, 1, axis=-1)).max(axis=0).reshape(-1, 4).max(axis=1)
    np.testing.assert_allclose(_interval_peaks(x, _interpolator_taps(4)), expected, rtol=2e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 5])
@pytest.mark.parametrize("channels", [1, 2])
def test_tiny_inputs(n, channels):
    audio = np.full((channels, n), 3.0)
    for true_peak in (False, True):
        limited, gain = limit(audio, SR, true_peak=true_peak)
        assert limited.shape == (channels, n) and gain.shape == (n,)
        assert np.abs(limited).max(initial=0.0) <= 10 ** (-0.1 / 20)
        assert (gain > 0).all()


def test_quiet_audio_passes_unchanged():
    audio = 0.5 * np.sin(np.linspace(0, 300, 5000))[None].repeat(2, 0)
    limited, gain = limit(audio, SR, threshold_db=0.0)
    assert (gain == 1).all()
    np.testing.assert_array_equal(limited, audio.astype(np.float32))


def test_gain_is_smooth_and_reaches_the_peak_on_time():
    n, at = 24000, 3000
    audio = np.zeros((2, n))
    audio[:, :] = 0.01
    audio[0, at] = 10.0  # one 20 dB spike on the left only
    lookahead_ms = 2.0
    hold = round(lookahead_ms * SR / 1000)
    limited, gain = limit(audio, SR, ceiling_db=-0.1, lookahead_ms=lookahead_ms, release_ms=50.0)
    ceiling = 10 ** (-0.1 / 20)
    # The spike lands on the ceiling (not lower) and the quiet right channel is ducked too.
    assert abs(limited[0, at] - ceiling) < 1e-4
    assert gain[at] < 0.1 and limited[1, at] == np.float32(0.01 * gain[at])
    # Attack: the gain starts falling exactly `hold` samples early, as a ramp, not a step.
    assert gain[at - hold] == 1.0 and gain[at - hold + 1] < 1.0
    depth = 1.0 - gain[at]
    assert np.abs(np.diff(gain)).max() <= 2.5 * depth / hold
    # Release: fast at first (an isolated peak), back to within 0.1 dB after 8 time constants.
    assert gain[at + int(0.025 * SR)] > 10 ** (-8 / 20)
    assert gain[at + int(0.4 * SR)] > 10 ** (-0.1 / 20)


def test_character_sets_release_speed():
    audio = np.zeros((2, 20000))
    audio[:, 1000:1100] = 5.0
    recovered = []
    for character in (0.0, 5.0, 10.0):
        _, gain = limit(audio, SR, character=character)
        recovered.append(gain[1100 + int(0.03 * SR)])  # 30 ms after the burst
    assert recovered[0] > recovered[1] > recovered[2]
    assert character_lookahead_ms(0.0) < character_lookahead_ms(10.0)


@pytest.mark.parametrize("kwargs", [{"threshold_db": 3.0}, {"character": 11.0},
                                    {"ceiling_db": 0.5}, {"lookahead_ms": 0.0},
                                    {"true_peak": True, "oversample": 1}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(DelimitError):
        limit(np.zeros((2, 100)), SR, **kwargs)


def test_bad_audio_raises():
    with pytest.raises(DelimitError):
        limit(np.zeros((1, 2, 100)), SR)
    with pytest.raises(DelimitError):
        limit(np.array([[0.0, np.nan, 0.0]]), SR)


def _song(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    return 0.1 * _signal("drums", 2, n, rng) + 0.05 * _signal("sine", 2, n, rng)


@pytest.mark.parametrize("target", [-14.0, -9.0, -6.0])
def test_maximize_to_loudness_reaches_target(target):
    audio = _song()
    limited, gain, threshold_db = maximize_to_loudness(audio, SR, target, tolerance_lu=0.5,
                                                       character=1.0)
    assert abs(integrated_loudness(limited, SR) - target) <= 0.5
    assert threshold_db <= 0.0
    drive = 10 ** (-threshold_db / 20.0)
    np.testing.assert_array_equal(limited, (audio * drive * gain).astype(np.float32))


def test_maximize_to_loudness_edges():
    audio = _song()
    # Already louder than the target: no drive, just the ceiling.
    _, _, threshold_db = maximize_to_loudness(audio, SR, integrated_loudness(audio, SR) - 10)
    assert threshold_db == 0.0
    # Unreachable: the closest (loudest) run is returned, no crash.
    limited, _, threshold_db = maximize_to_loudness(audio, SR, 5.0, min_threshold_db=-20.0)
    assert -20.0 <= threshold_db < -10.0 and np.abs(limited).max() <= 10 ** (-0.1 / 20)
    plain, _ = limit(audio, SR, threshold_db=-10.0)
    assert integrated_loudness(limited, SR) > integrated_loudness(plain, SR)
    # Silence: unchanged, threshold 0.
    silent = np.zeros((2, 1000))
    limited, gain, threshold_db = maximize_to_loudness(silent, SR, -8.0)
    assert threshold_db == 0.0 and not limited.any() and (gain == 1).all()


def test_random_limiter_params_are_wide_and_reproducible():
    rng = np.random.default_rng(0)
    draws = [random_limiter_params(rng) for _ in range(2000)]
    character = np.array([d["character"] for d in draws])
    lookahead = np.array([d["lookahead_ms"] for d in draws])
    release = np.array([d["release_ms"] for d in draws])
    ceiling = np.array([d["ceiling_db"] for d in draws])
    assert 0 <= character.min() and character.max() <= 10 and (character > 8).mean() > 0.05
    assert np.median(character) < 5  # the Gamma(2, 1) half pulls it low
    assert 0.5 <= lookahead.min() < 0.7 and 9 < lookahead.max() <= 10
    assert release.min() < 10 and release.max() > 1000
    assert -1.0 <= ceiling.min() < -0.9 and -0.2 < ceiling.max() <= -0.1
    assert 0.4 < np.mean([d["true_peak"] for d in draws]) < 0.6
    again = [random_limiter_params(np.random.default_rng(5)) for _ in range(2)]
    assert again[0] == again[1]
