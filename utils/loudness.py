"""Integrated loudness (ITU-R BS.1770-4, via pyloudnorm) on channel-first audio."""
import numpy as np
import pyloudnorm

_METERS = {}


def _meter(sample_rate):
    if sample_rate not in _METERS:
        _METERS[sample_rate] = pyloudnorm.Meter(sample_rate)
    return _METERS[sample_rate]


def integrated_loudness(audio, sample_rate):
    """Loudness in LUFS of `audio` shaped (channels, time); -inf for silence.

    Audio shorter than one 400 ms gating block is measured over the block zero-padded.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[None]
    min_len = int(np.ceil(0.4 * sample_rate)) + 1
    if audio.shape[-1] < min_len:
        audio = np.pad(audio, ((0, 0), (0, min_len - audio.shape[-1])))
    with np.errstate(divide="ignore"):
        return float(_meter(sample_rate).integrated_loudness(audio.T))


def loudness_gain(audio, sample_rate, target_lufs):
    """Linear gain that brings `audio` (channels, time) to `target_lufs`; 1.0 for silence."""
    lufs = integrated_loudness(audio, sample_rate)
    if not np.isfinite(lufs):
        return 1.0
    return float(10.0 ** ((target_lufs - lufs) / 20.0))


def normalize_loudness(audio, sample_rate, target_lufs):
    """`audio` (channels, time) scaled to `target_lufs`; silence is returned unchanged."""
    return audio * loudness_gain(audio, sample_rate, target_lufs)
