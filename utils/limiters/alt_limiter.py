"""A second, different limiter, for evaluation only: compressor + soft clipper, no look-ahead.

The model is trained on utils.limiters.maximizer (a look-ahead brickwall limiter whose output is the
input times a smooth gain). This one shows how the model does on a limiter it never saw:
  1. drive: the input is boosted by drive_db;
  2. a causal feed-forward compressor: stereo-linked RMS detector (rms_ms), soft-knee gain
     computer (threshold_db, ratio, knee_db) and attack/release smoothing of the gain in dB;
  3. a soft clipper: linear up to clip_knee * ceiling, then a tanh curve that bends smoothly
     (matching slope) toward the ceiling, so peaks are rounded off, not scaled; this changes
     the waveform itself, which no gain curve can express;
  4. a final clamp to the ceiling (the clipper never reaches it; the clamp only absorbs
     float32 rounding).
Guarantee: the output's sample peak never exceeds the ceiling (true peaks may).
"""
import math

import numpy as np
from numba import njit

from utils.errors import DelimitError
from utils.limiters.maximizer import check_audio, check_rate, clamp_to_ceiling, drive_to_loudness


def alt_limit(audio, sample_rate, drive_db, ceiling_db=-0.1, threshold_db=-12.0, ratio=4.0,
              knee_db=6.0, attack_ms=10.0, release_ms=150.0, rms_ms=5.0, clip_knee=0.6):
    """Drive `audio` into a compressor and a soft clipper.

    Args:
        audio: float array (channels, time).
        sample_rate: in Hz.
        drive_db: input gain in dB before the compressor (>= 0 to make louder).
        ceiling_db: output ceiling in dBFS, <= 0.
        threshold_db: compressor threshold in dBFS (RMS, after the drive).
        ratio: compressor ratio (>= 1).
        knee_db: width of the compressor's soft knee in dB (>= 0).
        attack_ms, release_ms: compressor gain smoothing time constants (> 0).
        rms_ms: RMS detector time constant (> 0).
        clip_knee: in [0, 1); the clipper is linear below clip_knee * ceiling.

    Returns:
        limited: float32 (channels, time), every |sample| <= 10 ** (ceiling_db / 20).
    """
    audio = check_audio(audio)
    check_rate(sample_rate)
    if not ceiling_db <= 0.0:
        raise DelimitError(f"alt limiter ceiling_db must be <= 0 dBFS, got {ceiling_db}")
    if not (ratio >= 1.0 and knee_db >= 0.0 and 0.0 <= clip_knee < 1.0):
        raise DelimitError(f"alt limiter needs ratio >= 1, knee_db >= 0, 0 <= clip_knee < 1; "
                           f"got {ratio}, {knee_db}, {clip_knee}")
    if not (attack_ms > 0 and release_ms > 0 and rms_ms > 0):
        raise DelimitError("alt limiter attack_ms, release_ms and rms_ms must be > 0")

    ceiling = 10.0 ** (ceiling_db / 20.0)
    per_ms = sample_rate / 1000.0
    coefs = np.array([1.0 - math.exp(-1.0 / (ms * per_ms)) for ms in (rms_ms, attack_ms,
                                                                       release_ms)])
    x = audio * 10.0 ** (drive_db / 20.0)
    gain_db = _compressor_gain_db(x, threshold_db, ratio, knee_db, coefs)
    y = x * np.power(10.0, gain_db / 20.0)

    # Soft clipper: linear below `knee`, then knee + room * tanh((|y| - knee) / room) < ceiling.
    knee = clip_knee * ceiling
    room = ceiling - knee
    magnitude = np.abs(y)
    over = magnitude > knee
    magnitude[over] = knee + room * np.tanh((magnitude[over] - knee) / room)
    return clamp_to_ceiling(np.copysign(magnitude, y), ceiling)


def alt_maximize_to_loudness(audio, sample_rate, target_lufs, tolerance_lu=0.5,
                             max_drive_db=60.0, max_iterations=12, **kwargs):
    """Find the drive that brings `alt_limit`'s output within tolerance of `target_lufs`.

    Args:
        audio: float array (channels, time).
        sample_rate: in Hz.
        target_lufs: wanted integrated loudness (BS.1770, utils.loudness) of the output.
        tolerance_lu: accepted distance from the target in LU.
        max_drive_db: the most drive tried (the search runs on [0, max_drive_db]).
        max_iterations: limiter runs after the first two at most.
        **kwargs: passed to `alt_limit` (ceiling_db, ratio, ...; not drive_db).

    Returns:
        (limited float32 (channels, time), drive_db). Drive 0 if the undriven output is
        already louder than the target; the closest run if the target is out of reach;
        silent input comes back unchanged with drive 0.
    """
    audio = np.asarray(audio)
    if "drive_db" in kwargs:
        raise DelimitError("alt_maximize_to_loudness sets drive_db itself; do not pass it")
    return drive_to_loudness(lambda drive_db: alt_limit(audio, sample_rate, drive_db, **kwargs),
                             audio, sample_rate, target_lufs, tolerance_lu, max_drive_db,
                             max_iterations)


@njit(cache=True)
def _compressor_gain_db(x, threshold_db, ratio, knee_db, coefs):
    """Compressor gain in dB (<= 0), (time,), for x (channels, time); causal, stereo-linked.

    coefs: one-pole coefficients (rms detector, attack, release).
    """
    n_ch, n_time = x.shape
    rms_coef, attack_coef, release_coef = coefs[0], coefs[1], coefs[2]
    slope = 1.0 / ratio - 1.0
    mean_square = 0.0
    smoothed = 0.0
    out = np.empty(n_time)
    for i in range(n_time):
        power = 0.0
        for c in range(n_ch):
            power += x[c, i] * x[c, i]
        mean_square += rms_coef * (power / n_ch - mean_square)
        level = 10.0 * math.log10(mean_square + 1e-30)
        over = level - threshold_db
        # Soft knee (a quadratic blend of width knee_db around the threshold).
        if 2.0 * over <= -knee_db:
            target = 0.0
        elif 2.0 * over < knee_db:
            target = slope * (over + 0.5 * knee_db) ** 2 / (2.0 * knee_db)
        else:
            target = slope * over
        coef = attack_coef if target < smoothed else release_coef
        smoothed += coef * (target - smoothed)
        out[i] = smoothed
    return out
