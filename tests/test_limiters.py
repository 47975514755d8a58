"""The project's newer limiter designs (utils.limiters) and how training items are limited."""
import numpy as np
import pytest

from utils.errors import DelimitError
from utils.limiters.compressor import compress, mix_bus, random_bus_params
from utils.limiters.maximizer import maximize_to_loudness, random_limiter_params
from utils.limiters.multiband import multiband_limit, multiband_maximize_to_loudness
from utils.limiters.training import (
    TRAINING_DESIGNS,
    check_designs,
    fast_limit,
    limit_for_training,
    split_bands,
)
from utils.loudness import integrated_loudness

SR = 44100


def bursts(seconds=2.0, seed=0):
    """Stereo noise in bursts of varying level, peak 0.5: something to limit."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    levels = np.repeat(rng.uniform(0.05, 1.0, int(seconds * 10)), n // int(seconds * 10) + 1)[:n]
    x = rng.standard_normal((2, n)) * levels
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def test_compressor_reduces_a_steady_tone_by_the_ratio():
    t = np.arange(SR) / SR
    tone = np.stack([0.5 * np.sin(2 * np.pi * 200 * t)] * 2)  # peak -6 dBFS
    out = compress(tone, SR, threshold_db=-18.0, ratio=4.0, attack_ms=0.5, release_ms=1000.0)
    # 12 dB over the threshold at ratio 4 comes out 3 dB over: peak -15 dBFS once settled
    peak_db = 20 * np.log10(np.abs(out[:, SR // 2:]).max())
    assert peak_db == pytest.approx(-15.0, abs=0.1)
    quiet = compress(tone * 0.01, SR, threshold_db=-18.0, ratio=4.0)
    np.testing.assert_allclose(quiet, tone * 0.01, atol=1e-7)  # below threshold: untouched


def test_mix_bus_keeps_the_peak_and_lowers_the_crest_factor():
    x = bursts()
    out = mix_bus(x, SR, **random_bus_params(np.random.default_rng(1)))
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.abs(out).max() == pytest.approx(np.abs(x).max(), rel=1e-5)
    rms = lambda a: np.sqrt(np.mean(a.astype(np.float64) ** 2))  # noqa: E731
    assert rms(out) > rms(x) * 1.05  # same peak, more energy: glued
    assert np.array_equal(mix_bus(np.zeros((2, 100)), SR), np.zeros((2, 100)))


def test_multiband_bands_sum_back_to_the_input_when_nothing_is_limited():
    x = bursts() * 0.1  # far below the band thresholds
    out = multiband_limit(x, SR, drive_db=0.0)
    np.testing.assert_allclose(out, x, atol=1e-6)


def test_multiband_output_stays_under_the_ceiling_and_reaches_a_target():
    x = bursts(3.0)
    out = multiband_limit(x, SR, drive_db=20.0, ceiling_db=-1.0)
    assert np.abs(out).max() <= 10 ** (-1.0 / 20)
    limited, drive = multiband_maximize_to_loudness(x, SR, -9.0)
    assert drive > 0 and abs(integrated_loudness(limited, SR) - -9.0) <= 0.5
    silent, drive = multiband_maximize_to_loudness(np.zeros((2, SR)), SR, -9.0)
    assert drive == 0.0 and not silent.any()


@pytest.mark.parametrize("design", TRAINING_DESIGNS)
def test_each_training_design_reaches_the_target_loudness(design):
    x = bursts(seed=3)
    limited = limit_for_training(x, SR, np.random.default_rng(4), -9.0, (design,))
    assert limited.shape == x.shape and np.abs(limited).max() <= 1.0
    assert abs(integrated_loudness(limited, SR) - -9.0) <= 0.5


@pytest.mark.parametrize("design", TRAINING_DESIGNS)
def test_each_training_design_takes_an_empty_window(design):
    out = limit_for_training(np.zeros((2, 0)), SR, np.random.default_rng(4), -9.0, (design,))
    assert out.shape == (2, 0) and out.dtype == np.float32


def test_split_bands_sum_back_to_the_input_and_separate_low_from_high():
    x = bursts(seed=10)
    bands = split_bands(x, SR, [2000.0, 150.0, 800.0])  # any order: sorted inside
    assert len(bands) == 4
    np.testing.assert_allclose(sum(bands), x, atol=1e-6)
    t = np.arange(SR) / SR
    bass, air = np.sin(2 * np.pi * 50 * t), np.sin(2 * np.pi * 10000 * t)
    low, *_, top = split_bands(np.stack([bass + air] * 2), SR, [150.0, 800.0, 2000.0])
    rms = lambda a: np.sqrt(np.mean(a[SR // 2:] ** 2))  # noqa: E731  (past the edges)
    assert rms(low[0]) == pytest.approx(rms(bass), rel=0.03)
    assert rms(top[0]) == pytest.approx(rms(air), rel=0.03)


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_multiband_maximizer_takes_inputs_shorter_than_its_filters(n):
    x = bursts(seed=11)[:, :n]
    bands = split_bands(x, SR, [200.0, 3000.0])
    np.testing.assert_allclose(sum(bands), x, atol=1e-6)
    out = limit_for_training(x, SR, np.random.default_rng(12), -9.0, ("multiband_maximizer",))
    assert out.shape == x.shape and np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


def test_multiband_maximizer_changes_the_spectral_balance_and_the_maximizer_does_not():
    """Loud bass bursts under a quiet 12 kHz tone: the multiband design squeezes the bass in its
    own band, so the bass-to-treble level ratio falls; the broadband maximizer scales both alike
    and keeps it."""
    t = np.arange(2 * SR) / SR
    gate = np.sin(2 * np.pi * 2 * t) > 0.5  # bursts of 1/6 s
    x = np.stack([0.16 * np.sin(2 * np.pi * 60 * t) * gate  # -20 LUFS: 11 dB to drive
                  + 0.01 * np.sin(2 * np.pi * 12000 * t)] * 2).astype(np.float32)

    def bass_over_treble_db(audio):  # RMS within the bursts, past their onsets
        low, high = split_bands(audio, SR, [1000.0])
        settled = gate & (np.sin(2 * np.pi * 2 * t) > 0.7)
        return 10 * np.log10(np.mean(low[0, settled] ** 2) / np.mean(high[0, settled] ** 2))

    before = bass_over_treble_db(x)  # 24 dB
    squeezed = []
    for seed in range(8):  # how much depends on the drawn thresholds: 0.3 to 12.7 dB here
        multiband = limit_for_training(x, SR, np.random.default_rng(seed), -9.0,
                                       ("multiband_maximizer",))
        maximizer = limit_for_training(x, SR, np.random.default_rng(seed), -9.0, ("maximizer",))
        assert abs(before - bass_over_treble_db(maximizer)) < 0.1
        squeezed.append(before - bass_over_treble_db(multiband))
    assert min(squeezed) > 0.2 and np.mean(squeezed) > 4.0


def test_fast_limiter_has_no_look_ahead_and_clips_the_onset():
    """Nothing moves before a loud onset (no look-ahead); the onset itself is clamped at the
    ceiling, and once the attack has acted the gain holds the level under it."""
    t = np.arange(SR) / SR
    quiet, loud = SR // 2, SR // 2
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    x = np.stack([np.concatenate([0.05 * tone[:quiet], 0.5 * tone[:loud]])] * 2)
    out = fast_limit(x, SR, drive_db=12.0, ceiling_db=-1.0, attack_ms=1.0, release_ms=50.0)
    top = 10 ** (-1 / 20)
    np.testing.assert_allclose(out[:, :quiet], x[:, :quiet] * 10 ** (12 / 20), rtol=1e-5)
    onset = np.abs(out[0, quiet:quiet + SR // 1000])  # the first millisecond
    assert np.isclose(onset.max(), top, rtol=1e-6)
    assert np.abs(out).max() <= top
    # settled: 6.98 dB over the threshold at ratio 50 -> a gain of about -6.84 dB (the peak
    # follower's release ripples it by under 1 dB within a cycle)
    driven = x[0, quiet + SR // 10:] * 10 ** (12 / 20)
    mid = np.abs(driven) > 0.1
    gain_db = 20 * np.log10(out[0, quiet + SR // 10:][mid] / driven[mid])
    assert -7.0 < gain_db.min() and gain_db.max() < -6.0


def test_unlimited_items_are_the_input_times_a_gain_with_peak_at_most_one():
    x = bursts(seed=5) * 1.9  # peak 0.95
    for seed in range(10):
        out = limit_for_training(x, SR, np.random.default_rng(seed), -8.0, unlimited_prob=1.0)
        gain = float(np.dot(out.ravel(), x.ravel()) / np.dot(x.ravel(), x.ravel()))
        np.testing.assert_allclose(out, x * gain, atol=1e-6)
        assert np.abs(out).max() <= 1.0 + 1e-6
        assert 10 ** (-6 / 20) - 1e-6 <= gain <= 10 ** (6 / 20) + 1e-6


def test_defaults_draw_exactly_what_the_maximizer_alone_drew():
    """Datasets made before the new designs give the same items."""
    x = bursts(seed=6)
    ours = limit_for_training(x, SR, np.random.default_rng(7), -8.0)
    rng = np.random.default_rng(7)
    theirs, _, _ = maximize_to_loudness(x, SR, -8.0, **random_limiter_params(rng))
    np.testing.assert_array_equal(ours, theirs)


def test_unknown_designs_are_refused():
    with pytest.raises(DelimitError, match="choose from"):
        check_designs(["maximizer", "ozone"])
    with pytest.raises(DelimitError):
        check_designs([])


@pytest.mark.parametrize("design, gain_only", [("maximizer", True), ("compressor_maximizer", True),
                                               ("saturator_maximizer", False),
                                               ("two_band_maximizer", False),
                                               ("multiband_maximizer", False),
                                               ("fast_limiter", False),
                                               ("compressor_clipper", False),
                                               ("multiband_clipper", False)])
def test_which_designs_a_stereo_linked_gain_curve_can_undo(design, gain_only):
    """A gain-only design scales both channels by the same g(t); the saturator bends the
    waveform and the two-band compressor treats lows and highs apart, so the ratio output/input
    differs between the channels."""
    x = bursts(seed=8)
    out = limit_for_training(x, SR, np.random.default_rng(9), -9.0, (design,))
    loud = np.all(np.abs(x) > 0.05, axis=0)  # where both ratios are well defined
    ratio = out[:, loud] / x[:, loud]
    spread = np.max(np.abs(ratio[0] - ratio[1]) / np.abs(ratio).max(axis=0))
    assert (spread < 1e-4) == gain_only


@pytest.mark.parametrize("seed", range(4))
def test_compressor_clipper_has_no_look_ahead_and_releases_slowly(seed):
    """A quiet tone, a loud one, the quiet one again. Before the onset the gain is the drive
    alone (nothing looks ahead); after the loud part the gain comes back over tens of
    milliseconds (release >= 50 ms); the fast limiter and the maximizer are back within 5 ms
    on this signal."""
    t = np.arange(SR // 2) / SR
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    x = np.stack([np.concatenate([0.01 * tone, 0.5 * tone, 0.01 * tone])] * 2)
    out = limit_for_training(x, SR, np.random.default_rng(seed), -9.0, ("compressor_clipper",))
    assert abs(integrated_loudness(out, SR) - -9.0) <= 0.5

    def gain_db(start_ms, stop_ms):  # RMS gain over a span of the signal
        span = slice(int(start_ms * SR / 1000), int(stop_ms * SR / 1000))
        return 10 * np.log10(np.mean(out[0, span] ** 2) / np.mean(x[0, span] ** 2))

    before = [gain_db(ms, ms + 50) for ms in range(0, 450, 50)]
    assert max(before) - min(before) < 0.01
    just_after, settled = gain_db(1000, 1005), gain_db(1450, 1500)
    assert settled - just_after > 1.5


@pytest.mark.parametrize("seed", range(4))
def test_multiband_clipper_has_no_look_ahead_and_ends_in_a_clip(seed):
    """A quiet chord, a loud one, the quiet one again: before the onset the gain is the drive
    alone (nothing looks ahead); in the loud part the clamp flattens the peaks that the bands'
    limiters let through, which the maximizer at the end of multiband_maximizer rounds off."""
    t = np.arange(SR // 2) / SR
    chord = (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 3100 * t)).astype(np.float32)
    x = np.stack([np.concatenate([0.005 * chord, 0.1 * chord, 0.005 * chord])] * 2)
    out = limit_for_training(x, SR, np.random.default_rng(seed), -4.0, ("multiband_clipper",))
    maximized = limit_for_training(x, SR, np.random.default_rng(seed), -4.0,
                                   ("multiband_maximizer",))
    flat_tops = np.sum(np.abs(out) == np.abs(out).max())  # samples held at the ceiling
    assert flat_tops > 20 and np.sum(np.abs(maximized) == np.abs(maximized).max()) < flat_tops

    def gain_db(start_ms, stop_ms):
        span = slice(int(start_ms * SR / 1000), int(stop_ms * SR / 1000))
        return 10 * np.log10(np.mean(out[0, span] ** 2) / np.mean(x[0, span] ** 2))

    before = [gain_db(ms, ms + 50) for ms in range(0, 450, 50)]
    assert max(before) - min(before) < 0.05
