"""A bus compressor ("glue"), and the mix-bus stage that makes generated mixes sound mixed.

The design is deliberately unlike utils.limiters.alt_limiter's compressor (RMS detector, soft knee,
smoothing of the gain): here a peak envelope follower (instant-ish attack, release on the
detected level), a hard knee, and the gain computed from the smoothed level.
"""
import math

import numpy as np
from numba import njit

from utils.limiters.maximizer import check_audio, check_rate


def compress(audio, sample_rate, threshold_db, ratio=2.0, attack_ms=10.0, release_ms=150.0,
             makeup_db=0.0):
    """Feed-forward stereo-linked compressor.

    Args:
        audio: float array (channels, time).
        sample_rate: in Hz.
        threshold_db: level (dBFS, of the peak envelope) above which the gain falls.
        ratio: >= 1; the output rises 1/ratio dB per dB above the threshold.
        attack_ms, release_ms: time constants of the envelope follower (> 0).
        makeup_db: gain added after compression.
    Returns: float32 (channels, time).
    """
    audio = check_audio(audio)
    check_rate(sample_rate)
    per_ms = sample_rate / 1000.0
    attack = 1.0 - math.exp(-1.0 / max(attack_ms * per_ms, 1e-3))
    release = 1.0 - math.exp(-1.0 / max(release_ms * per_ms, 1e-3))
    gain_db = _compressor_gain_db(audio, threshold_db, max(ratio, 1.0), attack, release)
    return (audio * 10.0 ** ((gain_db + makeup_db) / 20.0)).astype(np.float32)


def random_bus_params(rng):
    """Settings of the mix-bus stage, drawn for one mix: mild glue compression, gentle
    saturation."""
    return {"threshold_below_peak_db": float(rng.uniform(4.0, 12.0)),
            "ratio": float(rng.uniform(1.5, 4.0)),
            "attack_ms": float(np.exp(rng.uniform(np.log(3.0), np.log(30.0)))),
            "release_ms": float(np.exp(rng.uniform(np.log(50.0), np.log(400.0)))),
            "saturation_db": float(rng.uniform(0.0, 9.0))}


def mix_bus(audio, sample_rate, threshold_below_peak_db=8.0, ratio=2.0, attack_ms=10.0,
            release_ms=150.0, saturation_db=3.0):
    """A mixing engineer's bus chain: glue compression with the threshold set below the mix's
    peak, then gentle saturation; the result is brought back to the input's peak level (the
    loudness is set later anyway). (channels, time) -> float32 (channels, time)."""
    audio = np.asarray(audio, np.float32)
    peak = float(np.abs(audio).max())
    if peak == 0.0:
        return audio.copy()
    threshold = 20.0 * math.log10(peak) - threshold_below_peak_db
    out = compress(audio, sample_rate, threshold, ratio, attack_ms, release_ms)
    # tanh(k x) / k, with the peak at k x = 0.5 .. 1.4 (0.7 to 4 dB of peak rounding): the
    # small-signal level is kept, the loudest peaks are softened.
    k = 0.5 * 10.0 ** (saturation_db / 20.0) / max(float(np.abs(out).max()), 1e-12)
    out = np.tanh(out.astype(np.float64) * k) / k
    return (out * (peak / max(float(np.abs(out).max()), 1e-12))).astype(np.float32)


@njit(cache=True)
def _compressor_gain_db(x, threshold_db, ratio, attack, release):
    n_ch, n_time = x.shape
    slope = 1.0 / ratio - 1.0
    env = 0.0
    out = np.empty(n_time)
    for i in range(n_time):
        peak = 0.0
        for c in range(n_ch):
            peak = max(peak, abs(x[c, i]))
        env += (attack if peak > env else release) * (peak - env)
        level = 20.0 * math.log10(env + 1e-12)
        out[i] = slope * (level - threshold_db) if level > threshold_db else 0.0
    return out
