"""Small signal-processing blocks shared by the instrument synthesisers.

Conventions: mono signals are float arrays (time,), stereo ones (2, time); times in seconds,
frequencies in Hz. The per-sample loops (filter with a moving cutoff, plucked string) are
numba-compiled; everything else is vectorised numpy/scipy.
"""
import functools
import math

import numpy as np
from numba import njit
from scipy.signal import butter, fftconvolve, sosfilt

TABLE_SIZE = 2048


def midi_to_hz(midi):
    """Frequency in Hz of a (fractional) MIDI note number; A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def db_to_gain(db):
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 20.0)


# ---------------------------------------------------------------- envelopes and noise

def exp_decay(n, sample_rate, tau):
    """exp(-t / tau) over n samples, shape (n,)."""
    return np.exp(-np.arange(n) / (tau * sample_rate))


def adsr(n, sample_rate, attack, decay, sustain, release, gate):
    """Attack-decay-sustain-release envelope of n samples, shape (n,).

    Args:
        attack, decay, release: times in s (decay and release are exponential time constants).
        sustain: level in [0, 1] the decay falls to.
        gate: note-on length in s; the release starts there.
    """
    a = min(max(int(attack * sample_rate), 1), n)
    env = np.empty(n)
    # Raised-sine attack: no click, but still fast enough to read as an attack.
    env[:a] = np.sin(0.5 * np.pi * np.arange(a) / a) ** 2
    decay_samples = max(decay, 1e-4) * sample_rate
    env[a:] = sustain + (1.0 - sustain) * np.exp(-np.arange(n - a) / decay_samples)
    g = min(int(gate * sample_rate), n)
    if g < n:
        level = env[g - 1] if g > 0 else 0.0
        env[g:] = level * np.exp(-np.arange(n - g) / (max(release, 1e-4) * sample_rate))
    return env


def fade_edges(x, sample_rate, fade_in=0.002, fade_out=0.005):
    """Short linear fades at both ends of x (..., time) so a cut never clicks (in place)."""
    n = x.shape[-1]
    a = min(int(fade_in * sample_rate), n)
    b = min(int(fade_out * sample_rate), n)
    if a > 0:
        x[..., :a] *= np.linspace(0.0, 1.0, a)
    if b > 0:
        x[..., n - b:] *= np.linspace(1.0, 0.0, b)
    return x


@functools.lru_cache(maxsize=512)
def _sos(kind, f1, f2, sample_rate, order):
    nyq = 0.5 * sample_rate
    if kind == "bandpass":
        lo, hi = max(f1, 10.0) / nyq, min(f2, 0.95 * nyq) / nyq
        return butter(order, [lo, max(hi, lo * 1.01)], btype="bandpass", output="sos")
    return butter(order, min(max(f1, 10.0), 0.95 * nyq) / nyq, btype=kind, output="sos")


def filt(x, kind, freq, sample_rate, order=2):
    """Butterworth filter of x (..., time) along the last axis.

    kind: "lowpass", "highpass" (freq a number) or "bandpass" (freq a pair (low, high)).
    Frequencies are rounded to 1 Hz so that the designs can be cached.
    """
    if kind == "bandpass":
        f1, f2 = round(float(freq[0])), round(float(freq[1]))
    else:
        f1, f2 = round(float(freq)), 0
    return sosfilt(_sos(kind, f1, f2, int(sample_rate), order), x, axis=-1)


# ---------------------------------------------------------------- oscillators

def harmonic_table(amps):
    """One period (TABLE_SIZE + 1 samples, last = first) from harmonic amplitudes amps[k-1]."""
    spec = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    k = min(len(amps), TABLE_SIZE // 2 - 1)
    # Sine phases: -1j makes each harmonic a sine, so saw-like tables start at zero.
    spec[1:k + 1] = -1j * np.asarray(amps[:k]) * TABLE_SIZE / 2
    table = np.fft.irfft(spec, TABLE_SIZE)
    return np.append(table, table[0])


def wave_amps(shape, n_harm, tilt=0.0):
    """Harmonic amplitudes of a basic waveform, 1..n_harm.

    shape: "saw" (1/k), "square" (odd 1/k), "triangle" (odd 1/k^2, alternating) or "sine";
    tilt: extra roll-off in dB per octave (negative darkens).
    """
    k = np.arange(1, max(n_harm, 1) + 1, dtype=np.float64)
    if shape == "saw":
        a = 1.0 / k
    elif shape == "square":
        a = np.where(k % 2 == 1, 1.0 / k, 0.0)
    elif shape == "triangle":
        a = np.where(k % 2 == 1, (-1.0) ** ((k - 1) / 2) / k ** 2, 0.0)
    else:
        a = np.where(k == 1, 1.0, 0.0)
    return a * 2.0 ** (tilt * np.log2(k) / 6.0)


def n_harmonics(max_freq, sample_rate, limit=TABLE_SIZE // 2 - 1):
    """How many harmonics of max_freq stay below ~0.45 * sample_rate (at least 1)."""
    return int(max(1, min(limit, 0.45 * sample_rate // max(max_freq, 1.0))))


def phase_from_freq(freq, sample_rate, start=0.0):
    """Running phase in cycles for an instantaneous frequency in Hz (array (n,))."""
    return start + np.cumsum(freq) / sample_rate


def table_read(table, phase):
    """Read a harmonic table at phase (cycles, any real), linear interpolation; shape of phase."""
    pos = (phase - np.floor(phase)) * TABLE_SIZE
    i = pos.astype(np.int64)
    frac = pos - i
    return table[i] * (1.0 - frac) + table[i + 1] * frac


def osc(shape, freq, sample_rate, n=None, tilt=0.0, phase0=0.0):
    """Band-limited oscillator: a waveform shape at freq (Hz, number or array (n,)), shape (n,)."""
    if np.ndim(freq) == 0:
        freq = np.full(n, float(freq))
    table = harmonic_table(wave_amps(shape, n_harmonics(np.max(freq), sample_rate), tilt))
    return table_read(table, phase_from_freq(freq, sample_rate, phase0))


# ---------------------------------------------------------------- compiled loops

@njit(cache=True)
def _svf(x, g, k, mode):
    # Trapezoidal state-variable filter (zero-delay feedback); g = tan(pi fc / fs) per sample.
    y = np.empty_like(x)
    ic1 = 0.0
    ic2 = 0.0
    for n in range(x.shape[0]):
        gn = g[n]
        a1 = 1.0 / (1.0 + gn * (gn + k))
        a2 = gn * a1
        a3 = gn * a2
        v3 = x[n] - ic2
        v1 = a1 * ic1 + a2 * v3
        v2 = ic2 + a2 * ic1 + a3 * v3
        ic1 = 2.0 * v1 - ic1
        ic2 = 2.0 * v2 - ic2
        if mode == 0:
            y[n] = v2
        elif mode == 1:
            y[n] = v1
        else:
            y[n] = x[n] - k * v1 - v2
    return y


def svf(x, cutoff, sample_rate, resonance=0.7, mode="lowpass"):
    """Resonant filter with a cutoff that may move per sample.

    Args:
        x: (n,) signal.
        cutoff: Hz, a number or an array (n,).
        resonance: Q (0.5 flat ... 10 ringing).
        mode: "lowpass", "bandpass" or "highpass".
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    fc = np.clip(np.broadcast_to(np.asarray(cutoff, dtype=np.float64), x.shape), 20.0,
                 0.45 * sample_rate)
    g = np.tan(np.pi * fc / sample_rate)
    return _svf(x, np.ascontiguousarray(g), 1.0 / resonance,
                {"lowpass": 0, "bandpass": 1, "highpass": 2}[mode])


@njit(cache=True)
def _string(excite, n_out, period, decay, bright):
    # Karplus-Strong: a delay line of `period` samples (linear interpolation for the fraction)
    # through a two-tap low-pass (`bright` = weight of the newer tap) and a loss `decay`.
    y = np.zeros(n_out)
    delay = period - (1.0 - bright)  # the two-tap average delays by (1 - bright) samples
    d_int = int(delay)
    frac = delay - d_int
    n_ex = excite.shape[0]
    for n in range(n_out):
        acc = excite[n] if n < n_ex else 0.0
        j = n - d_int
        if j - 2 >= 0:
            a = y[j] * (1.0 - frac) + y[j - 1] * frac
            b = y[j - 1] * (1.0 - frac) + y[j - 2] * frac
            acc += decay * (bright * a + (1.0 - bright) * b)
        y[n] = acc
    return y


def pluck_string(freq, n, sample_rate, rng, t60=2.0, bright=0.5, pick=0.2, excite_ms=None):
    """Plucked string (Karplus-Strong) of n samples, shape (n,).

    Args:
        t60: seconds for the string to fall by 60 dB.
        bright: 0.5 (dark, fast loss of highs) ... 0.95 (bright, ringing highs).
        pick: position of the pluck along the string in (0, 0.5): a comb notch, thinner near 0.
    """
    period = sample_rate / freq
    n_ex = max(int(excite_ms * 1e-3 * sample_rate) if excite_ms else int(period), 2)
    excite = rng.uniform(-1.0, 1.0, n_ex)
    excite -= excite.mean()
    lag = max(int(pick * period), 1)
    excite[lag:] -= excite[:-lag]  # pick-position comb
    decay = 10.0 ** (-3.0 * period / (t60 * sample_rate))
    return _string(excite, n, float(period), float(decay), float(bright))


# ---------------------------------------------------------------- placement and space

def pan_gains(pan):
    """Constant-power gains (left, right) for pan in [-1 (left), 1 (right)]."""
    theta = (float(pan) + 1.0) * np.pi / 4.0
    return math.cos(theta), math.sin(theta)


def add_at(track, sig, start, gain=1.0):
    """Add sig ((n,) or (C, n)) into track (C, T) from sample `start` (clipped to the track)."""
    total = track.shape[-1]
    n = sig.shape[-1]
    a, b = max(start, 0), min(start + n, total)
    if b <= a:
        return
    track[..., a:b] += gain * sig[..., a - start:b - start]


def pan_mono(sig, pan, gain=1.0):
    """Mono (n,) -> stereo (2, n) at pan position."""
    gl, gr = pan_gains(pan)
    return np.stack([sig * (gain * gl), sig * (gain * gr)])


def reverb_ir(rng, sample_rate, rt60=1.5, predelay=0.02, damping_hz=6000.0, echoes=()):
    """Stereo impulse response (2, n): decorrelated decaying noise plus optional echo taps.

    Args:
        rt60: seconds to decay by 60 dB (the IR lasts min(rt60, 3) s).
        predelay: s before the diffuse tail starts.
        damping_hz: low-pass on the tail; it also closes further as the tail decays.
        echoes: pairs (delay_s, gain) of discrete echoes (e.g. tempo-synced delays), ping-ponged.
    """
    n = int(min(rt60, 3.0) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal((2, n)) * np.exp(-6.91 * t / rt60)
    # Highs decay faster than lows: split bands and give the top a shorter decay.
    low = filt(tail, "lowpass", damping_hz, sample_rate, 2)
    high = (tail - low) * np.exp(-6.91 * t / (0.4 * rt60))
    tail = filt(low + 0.5 * high, "highpass", 120.0, sample_rate, 1)
    tail *= np.clip(t / 0.01, 0.0, 1.0)  # soft onset
    pre = int(predelay * sample_rate)
    ir = np.zeros((2, n + pre))
    ir[:, pre:] = tail / np.sqrt(np.sum(tail ** 2) / 2.0)
    for i, (delay, gain) in enumerate(echoes):
        d = int(delay * sample_rate)
        if d < ir.shape[1]:
            ir[i % 2, d] += gain * 4.0  # the tail's energy is normalised; taps need more weight
    return ir


def apply_reverb(stereo, ir, wet):
    """stereo (2, T) plus wet * (stereo convolved with ir (2, n)), cut to T samples."""
    if wet <= 0:
        return stereo
    mono_in = stereo.mean(axis=0, keepdims=True).astype(np.float32)
    tail = fftconvolve(mono_in, ir.astype(np.float32), axes=-1)[:, :stereo.shape[-1]]
    return stereo + wet * tail


def soft_clip(x, drive):
    """tanh saturation by `drive` (> 0), scaled so that a full-scale input (1.0) stays at 1.0."""
    return np.tanh(drive * x) / np.tanh(drive)
