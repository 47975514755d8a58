"""A three-band limiter, kept out of training: one of the two designs the real-music
evaluation limits with (the other is utils.limiters.alt_limiter).

  1. drive: the input is boosted by drive_db;
  2. split: low = 4th-order Linkwitz-Riley low-pass at low_hz, high = LR4 high-pass at high_hz,
     mid = the rest (so the bands sum back to the input exactly);
  3. each band gets its own stereo-linked gain: down at once to keep the band's peak under
     band_threshold x ceiling, recovering with the band's release (slower for the lows);
  4. the bands are summed and clamped to the ceiling (a brickwall, i.e. a clipper, catches what
     the bands' sum still overshoots).
The spectral balance changes with the programme, which no single gain curve can undo.
"""
import math

import numpy as np
from numba import njit
from scipy.signal import butter, sosfilt

from utils.limiters.maximizer import check_audio, check_rate, clamp_to_ceiling, drive_to_loudness


def multiband_limit(audio, sample_rate, drive_db, ceiling_db=-0.1, low_hz=200.0,
                    high_hz=3000.0, band_threshold=0.8, release_ms=(60.0, 30.0, 15.0)):
    """Drive `audio` (channels, time) into the three-band limiter.

    Returns float32 (channels, time) with every |sample| <= 10 ** (ceiling_db / 20).
    """
    audio = check_audio(audio)
    sample_rate = check_rate(sample_rate)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    x = audio * 10.0 ** (drive_db / 20.0)
    low = linkwitz_riley(x, low_hz, sample_rate, "lowpass")
    high = linkwitz_riley(x, high_hz, sample_rate, "highpass")
    bands = (low, x - low - high, high)
    out = np.zeros_like(x)
    for band, ms in zip(bands, release_ms):
        coef = 1.0 - math.exp(-1000.0 / (ms * sample_rate))
        out += band * _band_gain(np.abs(band).max(axis=0), band_threshold * ceiling, coef)
    return clamp_to_ceiling(out, ceiling)


def multiband_maximize_to_loudness(audio, sample_rate, target_lufs, tolerance_lu=0.5,
                                   max_drive_db=40.0, max_iterations=12, **kwargs):
    """Find the drive that brings `multiband_limit`'s output within tolerance of target_lufs.

    Returns (limited float32 (channels, time), drive_db), as utils.limiters.alt_limiter's search.
    """
    def limit_at(drive_db):
        return multiband_limit(audio, sample_rate, drive_db, **kwargs)

    return drive_to_loudness(limit_at, audio, sample_rate, target_lufs, tolerance_lu, max_drive_db,
                             max_iterations)


def linkwitz_riley(x, cutoff_hz, sample_rate, kind):
    """A 4th-order Linkwitz-Riley filter ("lowpass" or "highpass") along the last axis."""
    sos = butter(2, cutoff_hz, btype=kind, fs=sample_rate, output="sos")
    return sosfilt(np.concatenate([sos, sos]), x, axis=-1)  # two Butterworths in series


@njit(cache=True)
def _band_gain(peak, threshold, release_coef):
    """Gain (time,) with gain * peak <= threshold: instant fall, exponential recovery (in dB)."""
    out = np.empty(peak.shape[0])
    level = 0.0  # dB, <= 0
    for i in range(peak.shape[0]):
        need = 20.0 * math.log10(threshold / peak[i]) if peak[i] > threshold else 0.0
        level = need if need < level else level + release_coef * (need - level)
        out[i] = 10.0 ** (level / 20.0)
    return out
