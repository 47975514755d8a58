"""Evaluation metrics on numpy audio shaped (channels, time), as the project reports them.

Reconstruction (estimate against the unlimited reference):
  - `si_sdr`: scale-invariant SDR in dB, per channel (zero-mean signals, eps 1e-8, the
    definition of the reference's evaluation and of utils.training.losses), averaged over channels.
  - `multi_resolution_mse`: mean squared difference of STFT *magnitudes* (not power, not dB),
    n_fft 2048/1024/512 with hops 512/256/128, summed over the three resolutions (the
    reference's "multi-resolution spectrogram MSE"; its librosa STFT settings: periodic Hann
    window of n_fft samples, centred frames with zero padding, no scaling).
Dynamics (one signal):
  - `integrated_loudness` (BS.1770-4 LUFS, from utils.loudness), re-exported here;
  - `loudness_range`: EBU R128 LRA in LU (EBU Tech 3342);
  - `crest_factor`: sample peak over RMS in dB, over all channels together;
  - `true_peak` (4x oversampled, dBTP) and `peak_to_loudness_ratio` (PLR = true peak dBTP
    minus integrated LUFS).
"""
import numpy as np
import pyloudnorm
import scipy.signal

from utils.loudness import integrated_loudness

__all__ = ["si_sdr", "multi_resolution_mse", "integrated_loudness", "loudness_range",
           "crest_factor", "true_peak", "sample_peak", "peak_to_loudness_ratio"]

EPS = 1e-8
MRS_N_FFT = (2048, 1024, 512)
MRS_HOPS = (512, 256, 128)


def _as_2d(audio):
    audio = np.asarray(audio, dtype=np.float64)
    return audio[None] if audio.ndim == 1 else audio


def _check_pair(estimate, reference):
    estimate, reference = _as_2d(estimate), _as_2d(reference)
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate {estimate.shape} and reference {reference.shape} differ")
    return estimate, reference


def si_sdr(estimate, reference, eps=EPS):
    """Scale-invariant SDR in dB, per channel, averaged over channels.

    Per channel: both signals made zero-mean, the estimate projected on the reference
    (alpha = <e, r> / (<r, r> + eps)), SI-SDR = 10 log10(|alpha r|^2 / (|e - alpha r|^2 + eps)
    + eps). An exact copy therefore scores about 10 log10(energy / 1e-8), not infinity.

    Args:
        estimate, reference: float arrays (channels, time) (or (time,)), same shape.
    Returns:
        float, dB.
    """
    estimate, reference = _check_pair(estimate, reference)
    estimate = estimate - estimate.mean(axis=-1, keepdims=True)
    reference = reference - reference.mean(axis=-1, keepdims=True)
    alpha = (estimate * reference).sum(-1, keepdims=True) / (
        (reference ** 2).sum(-1, keepdims=True) + eps)
    projection = alpha * reference
    noise = estimate - projection
    ratio = (projection ** 2).sum(-1) / ((noise ** 2).sum(-1) + eps)
    return float(np.mean(10.0 * np.log10(ratio + eps)))


def _stft_magnitude_frames(audio, n_fft, hop, block=2048):
    """Yield |STFT| blocks (channels, frames<=block, n_fft // 2 + 1) of `audio` (channels, time).

    Frames are centred (frame k covers samples k*hop - n_fft/2 ...), zero padding at the edges,
    periodic Hann window, 1 + time // hop frames in all, like librosa.stft's defaults.
    Yielding blocks keeps memory small for whole songs.
    """
    padded = np.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)))
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    for start in range(0, frames.shape[1], block):
        yield np.abs(np.fft.rfft(frames[:, start:start + block] * window, axis=-1))


def multi_resolution_mse(estimate, reference, n_ffts=MRS_N_FFT, hops=MRS_HOPS):
    """Multi-resolution spectrogram MSE: sum over resolutions of mean((|S_ref| - |S_est|)^2).

    |S| is the STFT magnitude (linear amplitude); the mean runs over channels, frequency
    bins and frames. Not scale invariant: compare signals at the same loudness (-14 LUFS).

    Args:
        estimate, reference: float arrays (channels, time) (or (time,)), same shape.
        n_ffts, hops: the resolutions (default the reference's 2048/1024/512, 512/256/128).
    Returns:
        float (0 for identical signals).
    """
    estimate, reference = _check_pair(estimate, reference)
    total = 0.0
    for n_fft, hop in zip(n_ffts, hops):
        squared, count = 0.0, 0
        for est, ref in zip(_stft_magnitude_frames(estimate, n_fft, hop),
                            _stft_magnitude_frames(reference, n_fft, hop)):
            squared += float(((ref - est) ** 2).sum())
            count += ref.size
        total += squared / count
    return total


def _k_weighted(audio, sample_rate):
    """BS.1770 K-weighted audio (channels, time), with pyloudnorm's filters (as its meter)."""
    for args in ((4.0, 1.0 / np.sqrt(2.0), 1500.0, sample_rate, "high_shelf"),
                 (0.0, 0.5, 38.0, sample_rate, "high_pass")):
        stage = pyloudnorm.IIRfilter(*args)
        audio = stage.passband_gain * scipy.signal.lfilter(stage.b, stage.a, audio, axis=-1)
    return audio


def short_term_loudness(audio, sample_rate, window_s=3.0, hop_s=0.1):
    """EBU short-term loudness (LUFS) of 3 s windows every 100 ms, (windows,).

    K-weighted mean square per channel, summed over channels (weight 1 for mono, L and R),
    -0.691 + 10 log10; -inf for silent windows. Empty when the audio is shorter than a window.
    """
    audio = _as_2d(audio)
    window, hop = int(round(window_s * sample_rate)), int(round(hop_s * sample_rate))
    if audio.shape[-1] < window:
        return np.zeros(0)
    power = (_k_weighted(audio, sample_rate) ** 2).sum(axis=0)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(0, audio.shape[-1] - window + 1, hop)
    mean_square = np.maximum(cumulative[starts + window] - cumulative[starts], 0.0) / window
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_square)


def loudness_range(audio, sample_rate):
    """Loudness range (LRA) in LU, EBU R128 / EBU Tech 3342.

    Short-term loudness (3 s windows, 100 ms hop); absolute gate -70 LUFS; relative gate
    20 LU below the power mean of the absolutely gated windows; LRA = 95th minus 10th
    percentile (numpy's linear interpolation) of the windows that pass both gates.

    Args:
        audio: float array (channels, time) (or (time,)).
        sample_rate: in Hz.
    Returns:
        float LU; nan when the audio is shorter than 3 s or silent.
    """
    loudness = short_term_loudness(audio, sample_rate)
    loudness = loudness[loudness > -70.0]
    if loudness.size == 0:
        return float("nan")
    relative_gate = 10.0 * np.log10(np.mean(10.0 ** (loudness / 10.0))) - 20.0
    loudness = loudness[loudness > relative_gate]
    return float(np.percentile(loudness, 95) - np.percentile(loudness, 10))


def sample_peak(audio):
    """Largest |sample| over all channels (linear); 0 for empty audio."""
    audio = _as_2d(audio)
    return float(np.abs(audio).max()) if audio.size else 0.0


def crest_factor(audio):
    """Crest factor in dB: 20 log10(sample peak / RMS), over all channels and samples
    together (3.01 dB for a sine). nan for silence."""
    audio = _as_2d(audio)
    rms = np.sqrt(np.mean(audio ** 2)) if audio.size else 0.0
    if rms == 0.0:
        return float("nan")
    return float(20.0 * np.log10(sample_peak(audio) / rms))


def true_peak(audio, oversample=4, block=1 << 18):
    """True peak in dBTP: max |x| of the signal oversampled `oversample` times with scipy's
    resample_poly (as utils.limiters.maximizer.measure_true_peak), computed in blocks with margins
    so that a whole song needs little memory. -inf for silence.

    Args:
        audio: float array (channels, time) (or (time,)).
    """
    audio = _as_2d(audio)
    margin = 64  # input samples; resample_poly's filter reaches 10 input samples either side
    peak = 0.0
    for start in range(0, audio.shape[-1], block):
        lo, hi = max(0, start - margin), min(audio.shape[-1], start + block + margin)
        up = scipy.signal.resample_poly(audio[:, lo:hi], oversample, 1, axis=-1)
        keep = up[:, (start - lo) * oversample:(min(start + block, hi) - lo) * oversample]
        peak = max(peak, float(np.abs(keep).max()))
    with np.errstate(divide="ignore"):
        return float(20.0 * np.log10(peak))


def peak_to_loudness_ratio(audio, sample_rate, oversample=4):
    """PLR in dB: true peak (dBTP, `true_peak`) minus integrated loudness (LUFS); nan for
    silence."""
    loudness = integrated_loudness(audio, sample_rate)
    if not np.isfinite(loudness):
        return float("nan")
    return true_peak(audio, oversample) - loudness
