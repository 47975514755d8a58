"""Look-ahead brickwall limiter modelled on mastering maximizers (the project's "Ozone").

Design, per sample n of the driven signal x = audio * drive (drive = 10 ** (-threshold_db / 20)):
  1. peak p[n]: the largest |x| over all channels (one stereo-linked gain); with true_peak=True,
     the largest |x| of the 4x-oversampled signal on the intervals either side of n;
  2. required gain r[n] = min(1, ceiling / p[n]);
  3. min-hold of r over the next L samples (the look-ahead), so the gain knows a peak L samples
     early;
  4. program-dependent release in dB: the gain falls at once and recovers exponentially, with a
     time constant that is release_ms for sustained gain reduction and down to a quarter of it for
     isolated peaks (judged by a slow average of the gain reduction);
  5. attack: a triangular moving average (two box filters) spanning exactly L past samples.
     Every value it averages is <= r[n] (each min-hold window covering it contains n), so the
     gain ramps down smoothly over L samples and reaches r[n] exactly when the peak arrives;
  6. with true_peak=True, the output's oversampled peak is measured and the detector raised where
     it overshoots, a few times, until the ceiling holds.
The whole signal is processed offline, so the look-ahead costs no latency and the output has the
input's length. The loops are numba-compiled, O(T): about 450x real time on one core for stereo
44.1 kHz, 250x with true_peak=True (benchmarks/bench_maximizer.py).

Guarantees (checked by tests/test_maximizer.py): 0 < gain <= 1; the output's sample peak never
exceeds the ceiling; with true_peak=True its true peak, as `measure_true_peak` measures it
(scipy's resample_poly, 4x), exceeds the ceiling by at most TRUE_PEAK_TOLERANCE_DB; silence in
gives silence out; and, bit for bit,
    limited == (audio.astype(np.float64) * drive * gain).astype(np.float32).
"""
import math

import numpy as np
from numba import njit
from scipy.signal import firwin, resample_poly

from utils.errors import DelimitError
from utils.loudness import integrated_loudness

# How far above the ceiling the 4x true peak may end up with true_peak=True. In practice it ends
# 0.00-0.01 dB under it (the detector aims 0.01 dB low); the check passes stop at 2e-6 under.
TRUE_PEAK_TOLERANCE_DB = 0.01
# The sample-peak target sits this far (relative) under the ceiling so that rounding the gain and
# the output to float32 cannot push a sample over it (float32 rounds within 6e-8).
_SAFETY = 1.0 - 1e-6
_MAX_TRUE_PEAK_PASSES = 8
_TRUE_PEAK_MARGIN = 10.0 ** (0.01 / 20.0)  # detector aims 0.01 dB under the ceiling
_TRUE_PEAK_CHECK = 1.0 - 2e-6


def character_lookahead_ms(character):
    """Default look-ahead (= attack) in ms for `character` in [0, 10]: 1 ms at 0 to 5 ms at 10."""
    return 1.0 * 5.0 ** (character / 10.0)


def character_release_ms(character):
    """Default release in ms for `character` in [0, 10]: 20 ms at 0, 100 ms at 5, 500 ms at 10."""
    return 20.0 * 25.0 ** (character / 10.0)


def limit(audio: np.ndarray, sample_rate: int = 44100, threshold_db: float = 0.0,
          ceiling_db: float = -0.1, character: float = 2.0, lookahead_ms: float | None = None,
          release_ms: float | None = None, true_peak: bool = False,
          oversample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Drive `audio` into a look-ahead brickwall limiter with a stereo-linked gain.

    Args:
        audio: float array (channels, time), any number of channels (1 or 2 in practice).
        sample_rate: in Hz.
        threshold_db: <= 0; the input is boosted by -threshold_db dB before limiting (as in
            Ozone's maximizer: a lower threshold gives a louder result).
        ceiling_db: output ceiling in dBFS, <= 0.
        character: in [0, 10]; sets the default look-ahead and release, from fast and aggressive
            (0: 1 ms, 20 ms) to slow and transparent (10: 5 ms, 500 ms).
        lookahead_ms: overrides the character's look-ahead (attack) in ms; > 0.
        release_ms: overrides the character's release time constant in ms; > 0.
        true_peak: limit the 4x-oversampled (true) peak instead of the sample peak.
        oversample: oversampling factor of the true-peak detector (>= 2).

    Returns:
        limited: float32 (channels, time), equal to
            (audio.astype(np.float64) * drive * gain).astype(np.float32)
            with drive = 10 ** (-threshold_db / 20).
        gain: float32 (time,), in (0, 1], the gain applied after the drive.
    """
    audio = check_audio(audio)
    sample_rate = check_rate(sample_rate)
    if not threshold_db <= 0.0:
        raise DelimitError(f"limiter threshold_db must be <= 0 dB, got {threshold_db}")
    if not ceiling_db <= 0.0:
        raise DelimitError(f"limiter ceiling_db must be <= 0 dBFS, got {ceiling_db}")
    if not 0.0 <= character <= 10.0:
        raise DelimitError(f"limiter character must be in [0, 10], got {character}")
    if lookahead_ms is None:
        lookahead_ms = character_lookahead_ms(character)
    if release_ms is None:
        release_ms = character_release_ms(character)
    if not (lookahead_ms > 0 and release_ms > 0):
        raise DelimitError(f"limiter lookahead_ms and release_ms must be > 0, "
                           f"got {lookahead_ms} and {release_ms}")
    if true_peak and int(oversample) < 2:
        raise DelimitError(f"limiter oversample must be >= 2, got {oversample}")

    drive = 10.0 ** (-threshold_db / 20.0)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    n_time = audio.shape[-1]
    if n_time == 0:
        return audio.astype(np.float32), np.ones(0, np.float32)
    hold = max(1, int(round(lookahead_ms * sample_rate / 1000.0)))
    release = release_ms * sample_rate / 1000.0
    track = 2.0 * release  # time constant of the slow gain-reduction average (release logic)

    peak = _driven_peak(audio, drive)
    if true_peak:
        taps = _interpolator_taps(int(oversample))
        interval = _interval_peaks_to_samples(_interval_peaks(audio * drive, taps))
        # Aim a hair under the ceiling: the gain's movement under the interpolation filter
        # overshoots by a few thousandths of a dB, and every correction pass costs a run.
        peak = np.maximum(peak, interval * _TRUE_PEAK_MARGIN)
    gain = _gain_curve(peak, ceiling * _SAFETY, hold, release, track).astype(np.float32)
    limited = _apply_gain(audio, drive, gain)

    if true_peak:
        # The gain follows the oversampled peaks closely but not exactly (the interpolation
        # filter spans +-10 samples and the gain moves under it): measure and correct.
        for _ in range(_MAX_TRUE_PEAK_PASSES):
            # The float32 measure is within 1e-6 of resample_poly's: stop a little under 1.
            over = _interval_peaks(limited, taps) / (ceiling * _TRUE_PEAK_CHECK)
            if over.max() <= 1.0:
                break
            # Raise the detected peak on both ends of each overshooting interval by the
            # overshoot (plus a little, so that few passes are needed).
            factor = np.maximum(over, 1.0)
            factor = np.where(factor > 1.0, factor * 1.001, 1.0)
            peak = peak * np.maximum(factor, np.concatenate([[1.0], factor[:-1]]))
            gain = _gain_curve(peak, ceiling * _SAFETY, hold, release, track).astype(np.float32)
            limited = _apply_gain(audio, drive, gain)
    return limited, gain


def measure_true_peak(audio, oversample=4):
    """True peak (linear) of `audio` (channels, time): max |x| after scipy's resample_poly by
    `oversample`. This is the measure `limit(..., true_peak=True)` keeps under its ceiling."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.shape[-1] == 0:
        return 0.0
    return float(np.abs(resample_poly(audio, oversample, 1, axis=-1)).max())


def maximize_to_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float,
                         tolerance_lu: float = 0.5, min_threshold_db: float = -40.0,
                         max_iterations: int = 12,
                         **limit_kwargs) -> tuple[np.ndarray, np.ndarray, float]:
    """Find the drive so that the limited `audio` lands within `tolerance_lu` of `target_lufs`.

    The loudness of the output grows with the drive (until the limiter saturates), so the
    threshold is found by false position on [min_threshold_db, 0] dB, started from the plain
    loudness difference (typically 3-5 limiter runs: about 50 ms for 4 s of stereo).

    Args:
        audio: float array (channels, time).
        sample_rate: in Hz.
        target_lufs: wanted integrated loudness (BS.1770, utils.loudness) of the output.
        tolerance_lu: accepted distance from the target in LU.
        min_threshold_db: the most drive tried.
        max_iterations: limiter runs after the first two at most.
        **limit_kwargs: passed to `limit` (ceiling_db, character, ...; not threshold_db).

    Returns:
        (limited float32 (channels, time), gain float32 (time,), threshold_db).
        If even threshold 0 dB is louder than the target, the 0 dB result is returned (the
        limiter adds loudness, it never removes it). The loudness stops growing once the
        limiter saturates (long releases pin the level, e.g. near -10 LUFS for a 250 ms release
        on a dense mix): if the target is out of reach within min_threshold_db, the run
        closest to it is returned. Silent input is returned unchanged with gain 1, threshold 0.
    """
    audio = check_audio(audio)
    if "threshold_db" in limit_kwargs:
        raise DelimitError("maximize_to_loudness sets threshold_db itself; do not pass it")
    if not np.isfinite(integrated_loudness(audio, sample_rate)):
        return audio.astype(np.float32), np.ones(audio.shape[-1], np.float32), 0.0

    def measure(threshold_db):
        limited, gain = limit(audio, sample_rate, threshold_db=threshold_db, **limit_kwargs)
        return integrated_loudness(limited, sample_rate), (limited, gain)

    drive_db, result = solve_drive(measure, lambda t: -t, 0.0, -min_threshold_db,
                                   integrated_loudness(audio, sample_rate), target_lufs,
                                   tolerance_lu, max_iterations)
    return result[0], result[1], -drive_db


def drive_to_loudness(limit_at, audio, sample_rate, target_lufs, tolerance_lu, max_drive_db,
                      max_iterations):
    """The search shared by the limiters that take an input drive in dB (>= 0):
    `limit_at(drive_db) -> float32 (channels, time)`. Returns (limited, drive_db); silent input
    comes back unchanged with drive 0 (see solve_drive for the rest)."""
    audio = np.asarray(audio)
    input_lufs = integrated_loudness(audio, sample_rate)
    if not np.isfinite(input_lufs):
        return np.asarray(audio, np.float32), 0.0

    def measure(drive_db):
        limited = limit_at(drive_db)
        return integrated_loudness(limited, sample_rate), limited

    drive_db, limited = solve_drive(measure, lambda d: d, 0.0, max_drive_db, input_lufs,
                                    target_lufs, tolerance_lu, max_iterations)
    return limited, float(drive_db)


def solve_drive(measure, to_param, lo_db, hi_db, input_lufs, target_lufs, tolerance_lu,
                max_iterations):
    """Find a drive in [lo_db, hi_db] (dB) whose output loudness is within tolerance of target.

    Shared by both limiters. `measure(to_param(drive_db)) -> (lufs, result)` must be
    non-decreasing in drive_db. Returns (drive_db, result) of the closest run: lo_db's if that is
    already louder than the target, hi_db's if even that is too quiet.
    """
    runs = {}

    def run(drive_db):
        if drive_db not in runs:
            runs[drive_db] = measure(to_param(drive_db))
        return runs[drive_db][0]

    def closest():
        best = min(runs, key=lambda d: abs(runs[d][0] - target_lufs))
        return best, runs[best][1]

    # Bracket: quiet end (loudness below target) and loud end (above).
    quiet, loud = lo_db, None
    if run(lo_db) >= target_lufs - tolerance_lu:
        return lo_db, runs[lo_db][1]
    # First guess: the plain loudness difference, which the limiter can only fall short of.
    guess = float(np.clip(target_lufs - input_lufs, lo_db, hi_db))
    if guess > lo_db:
        if abs(run(guess) - target_lufs) <= tolerance_lu:
            return guess, runs[guess][1]
        if runs[guess][0] < target_lufs:
            quiet = guess
        else:
            loud = guess
    if loud is None:
        # Limiting eats part of the drive: step up generously to find a loud end.
        step = max(3.0, target_lufs - runs[quiet][0])
        while loud is None:
            candidate = min(hi_db, quiet + 2.0 * step)
            lufs = run(candidate)
            if abs(lufs - target_lufs) <= tolerance_lu:
                return candidate, runs[candidate][1]
            if lufs > target_lufs:
                loud = candidate
            elif candidate >= hi_db or len(runs) > max_iterations:
                return closest()
            elif lufs < runs[quiet][0] + 0.1:
                # Saturated: with a long release the limiter pins the level, and more drive
                # stops adding loudness. The target is out of reach.
                return closest()
            else:
                quiet, step = candidate, 2.0 * step
    # Illinois false position between the brackets, in (drive_db, lufs).
    f_quiet, f_loud = runs[quiet][0] - target_lufs, runs[loud][0] - target_lufs
    side = 0
    for _ in range(max_iterations):
        drive_db = (quiet * f_loud - loud * f_quiet) / (f_loud - f_quiet)
        if not quiet < drive_db < loud:
            drive_db = 0.5 * (quiet + loud)
        f = run(drive_db) - target_lufs
        if abs(f) <= tolerance_lu:
            return drive_db, runs[drive_db][1]
        if f < 0:
            quiet, f_quiet = drive_db, f
            if side == -1:
                f_loud *= 0.5
            side = -1
        else:
            loud, f_loud = drive_db, f
            if side == 1:
                f_quiet *= 0.5
            side = 1
    return closest()


def random_limiter_params(rng):
    """Draw `limit` keyword arguments from wide distributions, for training variety.

    Distributions (independent):
        character: with probability 1/2 min(Gamma(shape 2, scale 1), 10) (the reference's
            musdb-XL-train choice), else Uniform(0, 10);
        lookahead_ms: with probability 1/2 the character's default (1-5 ms), else log-uniform
            on [0.5, 10] ms;
        release_ms: the character's default (20-500 ms) times 2 ** Uniform(-2, 2) (x0.25 to x4);
        true_peak: True with probability 1/2;
        ceiling_db: Uniform(-1.0, -0.1) dBFS.
    The threshold is not drawn (maximize_to_loudness or the caller sets it).

    Args:
        rng: numpy.random.Generator (or a seed for numpy.random.default_rng).
    Returns:
        dict with keys character, lookahead_ms, release_ms, true_peak, ceiling_db (plain floats
        and a bool).
    """
    rng = np.random.default_rng(rng)
    if rng.random() < 0.5:
        character = min(rng.gamma(2.0, 1.0), 10.0)
    else:
        character = rng.uniform(0.0, 10.0)
    if rng.random() < 0.5:
        lookahead_ms = character_lookahead_ms(character)
    else:
        lookahead_ms = math.exp(rng.uniform(math.log(0.5), math.log(10.0)))
    release_ms = character_release_ms(character) * 2.0 ** rng.uniform(-2.0, 2.0)
    return {
        "character": float(character),
        "lookahead_ms": float(lookahead_ms),
        "release_ms": float(release_ms),
        "true_peak": bool(rng.random() < 0.5),
        "ceiling_db": float(rng.uniform(-1.0, -0.1)),
    }


def check_audio(audio):
    """`audio` as float64 (channels, time); DelimitError if misshapen or not finite."""
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise DelimitError(f"limiter input must be shaped (channels, time), got {audio.shape}")
    audio = audio.astype(np.float64)
    if not np.isfinite(audio).all():
        raise DelimitError("limiter input contains NaN or infinite samples")
    return audio


def clamp_to_ceiling(audio, ceiling):
    """`audio` as float32, clipped to +-(the largest float32 not above `ceiling`, linear), so
    that rounding cannot lift a sample over the ceiling."""
    top = np.float32(ceiling)
    if top > ceiling:
        top = np.nextafter(top, np.float32(0.0))
    return np.clip(np.asarray(audio, np.float32), -top, top)


def check_rate(sample_rate):
    if not sample_rate > 0:
        raise DelimitError(f"limiter sample_rate must be > 0, got {sample_rate}")
    return float(sample_rate)


_TAPS = {}


def _interpolator_taps(oversample):
    """resample_poly's own interpolation filter for (up=oversample, down=1), split into phases.

    Returns (oversample, 2 * 10 + 1) float32: row k holds the taps of output phase k for input
    offsets i = -10 .. 10 (output oversample * n + k = sum_i row[i + 10] * x[n - i]).
    """
    if oversample not in _TAPS:
        half = 10 * oversample
        h = firwin(2 * half + 1, 1.0 / oversample, window=("kaiser", 5.0)) * oversample
        rows = np.zeros((oversample, 21))
        for k in range(oversample):
            for i in range(-10, 11):
                j = oversample * i + k + half
                if 0 <= j < len(h):
                    rows[k, i + 10] = h[j]
        _TAPS[oversample] = rows.astype(np.float32)
    return _TAPS[oversample]


@njit(cache=True, fastmath=True)
def _interval_peaks(x, taps):
    """Largest |value| of the oversampled x (channels, time) on each interval [n, n + 1).

    The numbers of np.abs(resample_poly(x, oversample, 1)) maxed over channels and over the
    `oversample` outputs of each input sample, computed in float32 (within 1e-6 relative).
    taps: float32 (oversample, 21) from _interpolator_taps. Returns (time,) float32.
    """
    n_ch, n_time = x.shape
    n_phase, n_tap = taps.shape
    mid = n_tap // 2
    out = np.zeros(n_time, np.float32)
    padded = np.zeros(n_time + 2 * mid, np.float32)
    flipped = taps[:, ::-1].copy()  # so that each output is a forward dot product
    for c in range(n_ch):
        for j in range(n_time):
            padded[mid + j] = x[c, j]
        for n in range(n_time):
            best = out[n]
            for k in range(n_phase):
                acc = np.float32(0.0)
                for i in range(n_tap):
                    acc += flipped[k, i] * padded[n + i]
                best = max(best, abs(acc))
            out[n] = best
    return out


def _interval_peaks_to_samples(interval_peak):
    # Sample n touches the intervals [n - 1, n) and [n, n + 1).
    interval_peak = interval_peak.astype(np.float64)
    before = np.concatenate([[0.0], interval_peak[:-1]])
    return np.maximum(interval_peak, before)


@njit(cache=True)
def _gain_curve(peak, ceiling, hold, release, track):
    """Smooth gain (time,) float64 with gain[n] * peak[n] <= ceiling for every n.

    Args: peak (time,) >= 0; ceiling (linear); hold = look-ahead in samples (>= 1); release and
    track = time constants in samples.
    """
    n_time = peak.shape[0]
    pad = hold - 1  # leading samples of gain 1 so the attack can start before sample 0
    n = n_time + pad
    required = np.ones(n)
    for i in range(n_time):
        if peak[i] > ceiling:
            required[pad + i] = ceiling / peak[i]

    # 3. min over the next `hold` samples (van Herk / Gil-Werman: block prefix and suffix minima).
    prefix = np.empty(n)
    suffix = np.empty(n)
    for start in range(0, n, hold):
        stop = min(start + hold, n)
        low = 1.0
        for i in range(start, stop):
            low = min(low, required[i])
            prefix[i] = low
        low = 1.0
        for i in range(stop - 1, start - 1, -1):
            low = min(low, required[i])
            suffix[i] = low
    held = prefix  # in place: step i reads prefix[i + hold - 1] only, never an earlier entry
    for i in range(n - hold + 1):
        held[i] = min(suffix[i], prefix[i + hold - 1])
    for i in range(max(0, n - hold + 1), n):
        held[i] = suffix[i]  # the window runs past the end, where the required gain is 1

    # 4. release in dB: instant fall, exponential recovery; slower when the reduction is
    # sustained (the slow average `slow` is as deep as the current reduction).
    db_per_log = 20.0 / math.log(10.0)
    track_coef = 1.0 - math.exp(-1.0 / track)
    level = 0.0
    slow = 0.0
    env = suffix  # reuse the buffer
    for i in range(n):
        target = 0.0 if held[i] >= 1.0 else db_per_log * math.log(held[i])
        if target <= level:
            level = target
        else:
            weight = min(1.0, slow / level) if level < -1e-9 else 0.0
            rate = 1.0 / (release * (0.25 + 0.75 * max(weight, 0.0)))
            # 1 - exp(-rate); the series is exact to 3e-7 relative and much cheaper.
            if rate < 0.02:
                coef = rate * (1.0 - rate * (0.5 - rate / 6.0))
            else:
                coef = 1.0 - math.exp(-rate)
            level += coef * (target - level)
        slow += track_coef * (level - slow)
        env[i] = 1.0 if level == 0.0 else math.exp(level / db_per_log)

    # 5. attack: two running means of lengths len1 + len2 - 1 == hold (a triangle or trapezoid).
    len1 = (hold + 1) // 2
    len2 = hold - len1 + 1
    smooth = prefix
    _running_mean(env, len1, smooth)
    _running_mean(smooth, len2, env)

    gain = np.empty(n_time)
    for i in range(n_time):
        # The means are <= required mathematically; the clamp only absorbs rounding.
        value = min(env[pad + i], required[pad + i])
        gain[i] = value if value > 0.0 else required[pad + i]
    return gain


@njit(cache=True)
def _running_mean(values, length, out):
    """out[i] = mean of values[i - length + 1 .. i] (fewer at the start); out != values."""
    n = values.shape[0]
    total = 0.0
    for i in range(n):
        total += values[i]
        if i >= length:
            total -= values[i - length]
        out[i] = total / min(i + 1, length)


@njit(cache=True)
def _driven_peak(audio, drive):
    """max over channels of |audio * drive|, (time,) float64."""
    n_ch, n_time = audio.shape
    out = np.zeros(n_time)
    for c in range(n_ch):
        for i in range(n_time):
            out[i] = max(out[i], abs(audio[c, i] * drive))
    return out


@njit(cache=True)
def _apply_gain(audio, drive, gain):
    """float32 (audio * drive * gain) with numpy's float64 rounding: audio (C, T) float64, gain
    (T,) float32. Same bits as (audio * drive * gain).astype(np.float32), without temporaries."""
    n_ch, n_time = audio.shape
    out = np.empty((n_ch, n_time), np.float32)
    for c in range(n_ch):
        for i in range(n_time):
            out[c, i] = np.float32(audio[c, i] * drive * np.float64(gain[i]))
    return out
