"""Tests for utils/evaluation/metrics.py on signals whose answers can be worked out by hand."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from utils.evaluation import metrics

SR = 44100


def _noise(seconds, channels=2, seed=0, sr=SR):
    return np.random.default_rng(seed).standard_normal((channels, int(seconds * sr)))


def _at_snr(reference, snr_db, seed=1):
    """reference + white noise whose energy is snr_db below the reference's, per channel."""
    noise = np.random.default_rng(seed).standard_normal(reference.shape)
    noise -= noise.mean(-1, keepdims=True)
    # Remove the noise's projection on the reference so the SNR is exactly the SI-SDR.
    noise -= ((noise * reference).sum(-1, keepdims=True)
              / (reference ** 2).sum(-1, keepdims=True)) * reference
    scale = np.sqrt((reference ** 2).sum(-1, keepdims=True) / (noise ** 2).sum(-1, keepdims=True))
    return reference + noise * scale * 10 ** (-snr_db / 20)


def test_si_sdr_of_identical_signals_is_huge():
    x = _noise(0.5)
    assert metrics.si_sdr(x, x) > 100.0


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_si_sdr_equals_known_snr(snr_db):
    x = _noise(0.5)
    x -= x.mean(-1, keepdims=True)
    assert metrics.si_sdr(_at_snr(x, snr_db), x) == pytest.approx(snr_db, abs=1e-6)


def test_si_sdr_is_scale_and_offset_invariant():
    x = _noise(0.5)
    y = x + 0.3 * _noise(0.5, seed=5)
    base = metrics.si_sdr(y, x)
    assert metrics.si_sdr(7.0 * y, x) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(y, 0.01 * x) == pytest.approx(base, abs=1e-6)
    assert metrics.si_sdr(y + 0.5, x - 0.2) == pytest.approx(base, abs=1e-9)  # zero-mean
    # The optimal scale may be negative: a polarity-inverted estimate scores the same.
    assert metrics.si_sdr(-y, x) == pytest.approx(base, abs=1e-9)


def test_si_sdr_averages_channels_in_db():
    x = _noise(0.5)
    x -= x.mean(-1, keepdims=True)
    y = np.stack([_at_snr(x[:1], 10.0)[0], _at_snr(x[1:], 30.0)[0]])
    # The mean of the per-channel dB values, not the SDR of the pooled energies (~14.6 dB).
    assert metrics.si_sdr(y, x) == pytest.approx(20.0, abs=1e-6)


def test_si_sdr_rejects_shape_mismatch():
    with pytest.raises(ValueError):
        metrics.si_sdr(np.zeros((2, 10)), np.zeros((2, 11)))


def test_multi_mse_is_zero_for_identical_and_grows_with_square_of_error():
    x = _noise(0.3)
    assert metrics.multi_resolution_mse(x, x) == 0.0
    one = metrics.multi_resolution_mse(np.zeros_like(x), x)
    assert metrics.multi_resolution_mse(np.zeros_like(x), 3.0 * x) == pytest.approx(9 * one)


def test_multi_mse_of_white_noise_against_silence_is_window_energy():
    # E|X(f)|^2 = sigma^2 * sum(hann^2) = sigma^2 * 3 n_fft / 8 for white noise: magnitude
    # spectrograms, no normalisation, summed over n_fft 2048 + 1024 + 512 -> 1344 sigma^2.
    sigma = 0.1
    x = sigma * _noise(3.0, channels=1, seed=3)
    value = metrics.multi_resolution_mse(np.zeros_like(x), x)
    assert value == pytest.approx(1344 * sigma ** 2, rel=0.02)


def test_multi_mse_frames_like_librosa_centered_stft():
    # One impulse in the middle: with centred frames (hop 128 divides the position) one frame
    # of each resolution is centred on it, where the Hann window is 1: |X(f)| = 1 for all f.
    n = 4096
    x = np.zeros((1, n))
    x[0, n // 2] = 1.0
    value = metrics.multi_resolution_mse(np.zeros_like(x), x, n_ffts=(512,), hops=(128,))
    window = np.hanning(513)[:512] ** 2  # periodic Hann, squared
    frames = 1 + n // 128
    # Each frame k sees the impulse at window position n/2 - 128 k + 256 (when inside).
    positions = n // 2 - 128 * np.arange(frames) + 256
    inside = positions[(positions >= 0) & (positions < 512)]
    expected = window[inside].sum() * 257 / (frames * 257)
    assert value == pytest.approx(expected, rel=1e-9)


def test_crest_factor_of_sine_and_square():
    t = np.arange(SR) / SR
    assert metrics.crest_factor(np.sin(2 * np.pi * 1000 * t)) == pytest.approx(3.0103, abs=0.01)
    assert metrics.crest_factor(np.sign(np.sin(2 * np.pi * 100 * t + 0.1))) == pytest.approx(0.0,
                                                                                          abs=1e-9)
    assert np.isnan(metrics.crest_factor(np.zeros((2, 100))))


def test_true_peak_finds_intersample_peak_and_blocks_agree():
    # fs/4 at 45 degrees: every sample is 0.707 of the true peak of 1.0.
    x = np.sin(np.pi / 2 * np.arange(20000) + np.pi / 4)[None] * np.ones((2, 1))
    assert 20 * np.log10(metrics.sample_peak(x)) == pytest.approx(-3.01, abs=0.01)
    assert metrics.true_peak(x) == pytest.approx(0.0, abs=0.2)  # resample_poly's ripple: 0.12
    y = _noise(0.2)
    whole = 20 * np.log10(np.abs(resample_poly(y, 4, 1, axis=-1)).max())
    assert metrics.true_peak(y, block=777) == pytest.approx(whole, abs=1e-12)
    assert metrics.true_peak(np.zeros((1, 10))) == -np.inf


def test_plr_of_full_scale_sine():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS; its true peak is 0 dBTP.
    t = np.arange(2 * SR) / SR
    x = np.sin(2 * np.pi * 997 * t)[None]
    assert metrics.peak_to_loudness_ratio(x, SR) == pytest.approx(3.01, abs=0.05)
    assert np.isnan(metrics.peak_to_loudness_ratio(np.zeros((1, SR)), SR))


def test_lra_of_constant_noise_is_about_zero():
    assert metrics.loudness_range(0.1 * _noise(12.0, channels=1), SR) < 0.3


def test_lra_of_two_levels_is_their_difference():
    x = 0.1 * _noise(24.0, channels=1)
    x[:, 12 * SR:] *= 10 ** (-6 / 20)
    assert metrics.loudness_range(x, SR) == pytest.approx(6.0, abs=0.3)


def test_lra_relative_gate_drops_passages_30_lu_down():
    # 40 s loud, 8 s 30 LU down: the quiet part is below the -20 LU relative gate, so the
    # LRA is about 0 (30 LU without the gate); the 3 s windows across the step are < 10 %.
    x = 0.1 * _noise(48.0, channels=1)
    x[:, 40 * SR:] *= 10 ** (-30 / 20)
    assert metrics.loudness_range(x, SR) < 0.5


def test_lra_is_nan_for_short_or_silent_audio():
    assert np.isnan(metrics.loudness_range(_noise(2.5), SR))
    assert np.isnan(metrics.loudness_range(np.zeros((2, 4 * SR)), SR))
