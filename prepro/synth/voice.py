"""Vocal stem: a sung melody from a glottal source shaped by moving vowel formants.

Source: a band-limited pulse train (harmonics falling as k^-tilt) following a pitch contour with
glides, scoops, delayed vibrato and drift, plus breath noise. Filter: per STFT frame, a formant
envelope interpolated between vowel targets. On top: consonant noise bursts at syllable starts
and breaths between phrases. Backing vocals in some choruses sing a third above or below.
"""
import numpy as np
from scipy.signal import istft, lfilter, stft

from prepro.synth.dsp import (
    add_at,
    filt,
    harmonic_table,
    midi_to_hz,
    n_harmonics,
    pan_mono,
    table_read,
)
from prepro.synth.song import make_melody

# Formant frequencies F1..F4 (Hz, adult male) and amplitudes (linear) of a few vowels.
VOWELS = {
    "a": ((730, 1090, 2440, 3400), (1.0, 0.5, 0.25, 0.1)),
    "e": ((530, 1840, 2480, 3500), (1.0, 0.4, 0.3, 0.1)),
    "i": ((300, 2290, 3010, 3700), (1.0, 0.25, 0.3, 0.15)),
    "o": ((570, 840, 2410, 3400), (1.0, 0.6, 0.1, 0.05)),
    "u": ((320, 870, 2240, 3300), (1.0, 0.3, 0.05, 0.03)),
    "ae": ((660, 1720, 2410, 3400), (1.0, 0.5, 0.25, 0.1)),
    "er": ((490, 1350, 1690, 3300), (1.0, 0.5, 0.4, 0.1)),
}
_VOWEL_NAMES = list(VOWELS)
_BANDWIDTHS = np.array([80.0, 100.0, 150.0, 250.0])
NPERSEG, HOP = 1024, 512


def _one_pole(x, tau_samples, x0):
    """Smooth x (n,) with a one-pole low-pass of time constant tau (samples), starting at x0."""
    a = np.exp(-1.0 / max(tau_samples, 1.0))
    y, _ = lfilter([1.0 - a], [1.0, -a], x - x0, zi=[0.0])
    return y + x0


def _sing(plan, rng, singer, notes, T):
    """One voice singing `notes` (start_s, dur_s, midi, phrase, level): mono (T,)."""
    sr = plan.sample_rate
    # Work only on the span of the notes (plus room for breaths and tails).
    lo = max(plan.sample_of(min(n[0] for n in notes)) - sr, 0) if notes else 0
    hi = min(plan.sample_of(max(n[0] + n[1] for n in notes)) + sr, T) if notes else 0
    if hi <= lo:
        return np.zeros(T)
    out = np.zeros(T)
    out[lo:hi] = _sing_span(plan, rng, singer, [(t0 - lo / sr,) + tuple(n[1:]) for n in notes
                                                for t0 in (n[0],)], hi - lo)
    return out


def _sing_span(plan, rng, singer, notes, T):
    sr = plan.sample_rate
    starts, start_pitch = [], []  # pitch (MIDI) is held from each note's start to the next
    amp = np.zeros(T)
    vib_depth = np.zeros(T)
    n_frames = T // HOP + 2
    frame_vowel = np.full(n_frames, -1, dtype=np.int64)
    bursts = []               # (sample, kind) consonant onsets
    phrases = {}
    for t0, dur, midi, ph, level in notes:
        a = plan.sample_of(t0)
        b = min(plan.sample_of(t0 + dur), T)
        if a >= T or b <= max(a, 0):
            continue
        a = max(a, 0)
        n = b - a
        starts.append(a)
        start_pitch.append(midi)
        t = np.arange(n) / sr
        attack = singer["attack"]
        env = np.clip(t / attack, 0.0, 1.0) * np.clip((n - np.arange(n)) / (0.06 * sr), 0.0, 1.0)
        # Syllables of one phrase run together; a small dip marks each new one.
        amp[a:b] = np.maximum(amp[a:b], level * env * (1.0 + 0.04 * (midi - singer["low"])))
        vib_depth[a:b] = np.clip((t - singer["vib_delay"]) / 0.3, 0.0, 1.0)
        vowel = int(rng.integers(len(_VOWEL_NAMES)))
        fa, fb = a // HOP, b // HOP + 1
        frame_vowel[fa:fb] = vowel
        if dur > 0.5 and rng.random() < 0.3:  # diphthong
            frame_vowel[(a + int(0.6 * n)) // HOP:fb] = int(rng.integers(len(_VOWEL_NAMES)))
        if rng.random() < singer["consonants"]:
            bursts.append((a, str(rng.choice(["s", "t", "k", "sh", "f"]))))
        phrases.setdefault(ph, [a, b])
        phrases[ph][1] = b

    # Pitch: glides via smoothing, a scoop into each phrase, vibrato and slow drift.
    if not starts:
        return np.zeros(T)
    held = np.zeros(T, dtype=np.int64)
    held[starts] = np.arange(1, len(starts) + 1)
    held = np.maximum.accumulate(held)
    first = start_pitch[0]
    pitch = np.concatenate([[first], start_pitch])[held]
    pitch = _one_pole(pitch, singer["glide"] * sr, first - 1.5)
    for a, _ in phrases.values():
        m = min(int(0.12 * sr), T - a)
        pitch[a:a + m] -= singer["scoop"] * np.linspace(1.0, 0.0, m) ** 2
    t = np.arange(T) / sr
    rate = singer["vib_rate"] * (1.0 + 0.05 * np.sin(2 * np.pi * 0.3 * t))
    pitch += singer["vib_semi"] * vib_depth * np.sin(2 * np.pi * np.cumsum(rate) / sr)
    drift = _one_pole(rng.standard_normal(T), 0.1 * sr, 0.0)
    pitch += 0.15 * drift / (np.std(drift) + 1e-9)
    f0 = midi_to_hz(pitch)

    # Source: glottal pulses (the spectrum falls with k^-tilt) plus pitch-synchronous breath.
    tilt = singer["tilt"]
    k = np.arange(1, n_harmonics(f0.max(), sr) + 1)
    phase = np.cumsum(f0) / sr
    source = table_read(harmonic_table(k ** -tilt), phase)
    breath = filt(rng.standard_normal(T), "highpass", 1500, sr, 1)
    source += singer["breathy"] * breath * (0.6 + 0.4 * np.cos(2 * np.pi * phase))
    source *= _one_pole(amp, 0.01 * sr, 0.0)

    voiced = _formants(source, frame_vowel, singer, sr)
    voiced += _consonants(rng, bursts, amp, T, sr)
    for a, _ in phrases.values():  # an in-breath before each phrase, now and then
        if rng.random() < singer["breaths"]:
            m = int(rng.uniform(0.15, 0.35) * sr)
            start = a - m - int(0.05 * sr)
            if start >= 0:
                noise = filt(rng.standard_normal(m), "bandpass", (800, 5000), sr)
                add_at(voiced[None], (noise * np.hanning(m))[None], start,
                       0.008 * amp[min(a + m, T - 1)])
    return voiced


def _formants(source, frame_vowel, singer, sr):
    """Filter `source` (T,) with per-frame vowel formant envelopes (frame_vowel < 0: unvoiced)."""
    T = source.shape[0]
    _, _, spec = stft(source.astype(np.float32), nperseg=NPERSEG, noverlap=NPERSEG - HOP,
                      boundary="even", padded=True)
    n_frames = spec.shape[1]
    fv = np.resize(frame_vowel, n_frames) if len(frame_vowel) < n_frames else frame_vowel[:n_frames]
    # Hold the last vowel through gaps, then glide between vowel targets (~40 ms).
    idx = np.where(fv >= 0, np.arange(n_frames), 0)
    idx = np.maximum.accumulate(idx)
    fv = np.where(fv[idx] >= 0, fv[idx], 0)
    freqs = (np.array([VOWELS[v][0] for v in _VOWEL_NAMES], dtype=np.float32)[fv]
             * singer["formant_scale"])
    gains = np.array([VOWELS[v][1] for v in _VOWEL_NAMES], dtype=np.float32)[fv]
    tau = 0.04 * sr / HOP
    freqs = np.stack([_one_pole(freqs[:, i], tau, freqs[0, i]) for i in range(4)], axis=1)
    gains = np.stack([_one_pole(gains[:, i], tau, gains[0, i]) for i in range(4)], axis=1)
    bins = np.fft.rfftfreq(NPERSEG, 1.0 / sr).astype(np.float32)[:, None]
    # Sum of resonance peaks, only in frames with sound (freq bins, frames).
    live = np.flatnonzero(np.abs(spec).max(axis=0) > 1e-6)
    env = np.full((len(bins), len(live)), 0.01, dtype=np.float32)
    for i in range(4):
        env += gains[live, i] / (1.0 + ((bins - freqs[live, i]) / (0.5 * _BANDWIDTHS[i])) ** 2)
    spec[:, live] *= env
    spec[:, np.setdiff1d(np.arange(n_frames), live)] = 0.0
    _, out = istft(spec, nperseg=NPERSEG, noverlap=NPERSEG - HOP, boundary=True)
    return out[:T] if len(out) >= T else np.pad(out, (0, T - len(out)))


def _consonants(rng, bursts, amp, T, sr):
    out = np.zeros(T)
    for a, kind in bursts:
        if kind in ("s", "sh", "f"):
            n = int(rng.uniform(0.05, 0.12) * sr)
            band = {"s": (4500, 11000), "sh": (2000, 6000), "f": (1500, 9000)}[kind]
            env = np.hanning(n)
            start = a - int(0.7 * n)
            level = 0.04
        else:  # plosive: a short burst of noise, then the vowel
            n = int(rng.uniform(0.01, 0.03) * sr)
            band = (1500, 7000) if kind == "t" else (800, 4000)
            env = np.exp(-np.arange(n) / (0.004 * sr))
            start = a - n // 2
            level = 0.08
        noise = filt(rng.standard_normal(n), "bandpass", band, sr)
        ref = amp[min(a + int(0.05 * sr), T - 1)]
        add_at(out[None], (noise * env)[None], start, level * max(ref, 0.3))
    return out


def _section_at(plan, seconds):
    return plan.section_of_bar(int(seconds / (plan.beat_sec * plan.beats_per_bar) + 1e-6))


def render_vocals(plan, rng):
    """The vocal stem, float64 (2, plan.n_samples), before mixing levels."""
    T = plan.n_samples
    female = rng.random() < 0.5
    low = int(rng.integers(55, 60)) if female else int(rng.integers(45, 50))
    singer = dict(
        low=low, high=low + int(rng.integers(14, 20)),
        formant_scale=(1.15 if female else 1.0) * rng.uniform(0.95, 1.05),
        attack=rng.uniform(0.02, 0.06), glide=rng.uniform(0.015, 0.05), scoop=rng.uniform(0.0, 2.0),
        vib_rate=rng.uniform(4.8, 6.5), vib_semi=rng.uniform(0.15, 0.6),
        vib_delay=rng.uniform(0.15, 0.35), tilt=rng.uniform(1.2, 1.8),
        breathy=rng.uniform(0.003, 0.03), consonants=rng.uniform(0.3, 0.7),
        breaths=rng.uniform(0.3, 0.9),
    )
    sections = [s for s in plan.sections if s.vocals]
    notes = make_melody(plan, rng, sections, singer["low"], singer["high"],
                        density=float(rng.uniform(0.45, 0.8)))
    # Louder sections are sung harder: each note carries its section's level.
    notes = [(t0, d, m, ph, plan.level(_section_at(plan, t0).intensity)) for t0, d, m, ph in notes]
    track = pan_mono(_sing(plan, rng, singer, notes, T), 0.0)

    harmony_sections = [s for s in sections if s.harmony]
    if harmony_sections:
        shift = int(rng.choice([2, -2, 4]))  # a third up/down or a fifth, in scale steps
        scale = np.array(plan.scale)
        back = []
        for t0, dur, midi, ph, level in notes:
            if not _section_at(plan, t0).harmony:
                continue
            pcs = list(scale)
            pc = int(round(midi)) % 12
            deg = pcs.index(pc) if pc in pcs else 0
            new_pc = pcs[(deg + shift) % 7]
            interval = (new_pc - pc) % 12 if shift > 0 else -((pc - new_pc) % 12)
            back.append((t0 + rng.normal(0, 0.01), dur, midi + interval, ph, level))
        for pan in (-0.5, 0.5):
            other = dict(singer, breaths=0.0, consonants=0.1,
                         formant_scale=singer["formant_scale"] * 1.03)
            track += pan_mono(_sing(plan, rng, other, back, T), pan, 0.35)
    return track
