"""Bass and "other" stems: a bass line over the chords, and pads, keys, guitars, plucks, a lead.

Every note is rendered on its own (mono, (n,)), scaled by velocity and the section's level,
panned and added into the stem at its (humanised) start.
"""
import numpy as np

from prepro.synth.dsp import (
    add_at,
    adsr,
    exp_decay,
    fade_edges,
    filt,
    harmonic_table,
    midi_to_hz,
    osc,
    pan_mono,
    pluck_string,
    soft_clip,
    svf,
    table_read,
)
from prepro.synth.song import make_melody, smooth_voicing


def _hits(plan, rng, section, mask, legato=0.95):
    """(start_s, gate_s, bar, step) for each 16th step set in `mask` (steps,) of every bar."""
    steps = np.flatnonzero(mask)
    out = []
    end_time = plan.time_of(section.start_bar + section.n_bars)
    for bar in plan.bars_of(section):
        for i, s in enumerate(steps):
            t0 = plan.time_of(bar, s)
            if i + 1 < len(steps):
                t1 = plan.time_of(bar, steps[i + 1])
            else:
                t1 = plan.time_of(bar + 1, steps[0])
            t1 = min(t1, end_time)
            out.append((t0 + rng.normal(0.0, plan.timing_jitter), max((t1 - t0) * legato, 0.05),
                        bar, s))
    return out


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _mask(steps, positions):
    m = np.zeros(steps, dtype=bool)
    m[[p for p in positions if p < steps]] = True
    return m


# ---------------------------------------------------------------- bass

def _bass_note(kind, tone, f, gate, vel, sr, rng):
    release = 0.04
    n = int((gate + release) * sr)
    t = np.arange(n) / sr
    if kind == "synth":
        wave = osc(tone["shape"], f, sr, n)
        cutoff = f * (tone["cut"] + tone["env"] * vel * np.exp(-t / tone["cut_decay"]))
        sig = svf(wave, cutoff, sr, tone["res"]) + tone["sub"] * np.sin(2 * np.pi * f * t)
        env = adsr(n, sr, 0.003, tone["decay"], tone["sustain"], release, gate)
    elif kind == "sub":
        bend = 1.0 + 0.1 * np.exp(-t / 0.03)
        sig = soft_clip(np.sin(2 * np.pi * np.cumsum(f * bend) / sr), tone["drive"])
        env = adsr(n, sr, 0.002, tone["decay"] * 3, 0.3, release, gate)
    else:  # plucked finger / pick bass
        sig = pluck_string(f, n, sr, rng, t60=tone["t60"], bright=tone["bright"], pick=tone["pick"])
        sig = sig / (np.max(np.abs(sig[: int(0.05 * sr)])) + 1e-9)
        sig = sig + tone["sub"] * np.sin(2 * np.pi * f * t) * exp_decay(n, sr, tone["t60"] / 4)
        env = adsr(n, sr, 0.001, 10.0, 1.0, release, gate)
    return fade_edges(sig * env, sr, 0.0005, 0.003)


def render_bass(plan, rng):
    """The bass stem, float64 (2, plan.n_samples)."""
    sr, steps = plan.sample_rate, plan.steps_per_bar
    kind = str(rng.choice(["synth", "finger", "finger", "pick", "sub"]))
    tone = dict(shape=str(rng.choice(["saw", "square"])), cut=rng.uniform(1.5, 4.0),
                env=rng.uniform(2.0, 12.0), cut_decay=rng.uniform(0.05, 0.3),
                res=rng.uniform(0.7, 3.0), sub=rng.uniform(0.0, 0.8), decay=rng.uniform(0.1, 0.5),
                sustain=rng.uniform(0.4, 0.9), drive=rng.uniform(1.0, 4.0),
                t60=rng.uniform(0.8, 3.0), bright=rng.uniform(0.5, 0.75) if kind == "finger"
                else rng.uniform(0.7, 0.9), pick=rng.uniform(0.1, 0.3))
    style = str(rng.choice(["roots", "eighths", "octaves", "walk", "kick", "kick", "syncopated"]))
    sync = _mask(steps, [0] + list(rng.choice(np.arange(2, steps), size=3, replace=False)))
    low = 28 + int(rng.integers(0, 8))  # E1 .. B1 as the lowest root
    track = np.zeros((2, plan.n_samples))
    for section in plan.sections:
        if not section.bass:
            continue
        st = style if section.intensity > 0.45 else "roots"
        if st == "kick" and "kick_steps" in plan.extra:
            mask = _mask(steps, plan.extra["kick_steps"])
        elif st in ("eighths", "octaves"):
            mask = _mask(steps, range(0, steps, 2))
        elif st == "syncopated":
            mask = sync
        elif st == "walk":
            mask = _mask(steps, range(0, steps, 4))
        else:
            mask = _mask(steps, [0] if rng.random() < 0.5 else range(0, steps, 8))
        level = plan.level(section.intensity)
        hits = _hits(plan, rng, section, mask, rng.uniform(0.6, 0.97))
        for i, (t0, gate, bar, step) in enumerate(hits):
            beat = bar * plan.beats_per_bar + step / 4.0
            chord = plan.chord_at(beat)
            root = low + (chord.root - low) % 12
            midi = root
            if st == "octaves" and (step // 2) % 2 == 1:
                midi = root + 12
            elif st == "walk" and step // 4 % 2 == 1:
                midi = root + (7 if rng.random() < 0.6 else 12)
            nxt = plan.chord_at(beat + 1.0)
            if nxt is not chord and step >= steps - 4 and rng.random() < 0.3:
                midi = low + (nxt.root - low) % 12 + int(rng.choice([-1, 1, 2, -2]))  # approach
            vel = float(np.clip(rng.normal(0.85, 0.08) + (0.15 if step == 0 else 0.0), 0.3, 1.1))
            note = _bass_note(kind, tone, float(midi_to_hz(midi)), gate, vel, sr, rng)
            add_at(track, pan_mono(note, 0.0), plan.sample_of(t0), 0.3 * vel * level)
    return track


# ---------------------------------------------------------------- other

def _pad_note(tone, f, gate, sr, rng):
    n = int((gate + tone["release"] * 3) * sr)
    sig = np.zeros(n)
    for d in tone["detune"]:
        sig += osc("saw", f * 2 ** (d / 1200.0), sr, n, tilt=-2.0, phase0=rng.random())
    lfo = 1.0 + 0.3 * np.sin(2 * np.pi * tone["lfo"] * np.arange(n) / sr + rng.uniform(0, 6.3))
    sig = svf(sig, tone["cut"] * lfo, sr, 0.8) / len(tone["detune"])
    return sig * adsr(n, sr, tone["attack"], 1.0, 0.8, tone["release"], gate)


def _keys_note(tone, f, gate, sr, rng):
    n = int((gate + 0.15) * sr)
    t = np.arange(n) / sr
    if tone["kind"] == "epiano":
        # Two-operator FM: the modulation index decays, so the attack is bright and bell-like.
        index = tone["index"] * np.exp(-t / 0.3) + 0.3
        sig = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * tone["ratio"] * t))
        env = adsr(n, sr, 0.002, tone["decay"], 0.0, 0.08, gate)
    elif tone["kind"] == "organ":
        # Drawbars: harmonics 1, 2, 4, 6, 8 of the sub-octave.
        sig = table_read(tone["organ_table"], f / 2 * t) * (1.0 + 0.2 * np.sin(2 * np.pi * 6.0 * t))
        env = adsr(n, sr, 0.005, 1.0, 1.0, 0.05, gate)
    else:  # "piano": a bright plucked string with a felt-hammer thump
        sig = pluck_string(f, n, sr, rng, t60=tone["decay"] * 4, bright=0.85, pick=0.12,
                           excite_ms=1.5)
        sig = sig / (np.max(np.abs(sig[: int(0.05 * sr)])) + 1e-9)
        env = adsr(n, sr, 0.001, 10.0, 1.0, 0.1, gate)
    return fade_edges(sig * env, sr, 0.0005, 0.005)


def _synth_pluck(tone, f, gate, sr):
    n = int((gate + 0.1) * sr)
    t = np.arange(n) / sr
    wave = osc(tone["shape"], f, sr, n)
    sig = svf(wave, f * (1.0 + tone["env"] * np.exp(-t / tone["cut_decay"])), sr, tone["res"])
    return fade_edges(sig * adsr(n, sr, 0.002, tone["decay"], 0.0, 0.05, gate), sr, 0.0005, 0.005)


def _guitar_chord(tone, notes, gate, down, sr, rng, muted):
    """A strum: strings (notes) a few ms apart, down or up, shape (n,)."""
    spread = tone["strum"] / max(len(notes) - 1, 1)
    order = notes if down else notes[::-1]
    length = gate + 0.05
    n = int((length + spread * len(notes)) * sr)
    sig = np.zeros(n)
    t60 = 0.15 if muted else tone["t60"]
    for i, m in enumerate(order):
        s = pluck_string(float(midi_to_hz(m)), int(length * sr), sr, rng, t60=t60,
                         bright=tone["bright"], pick=tone["pick"])
        add_at(sig[None], s[None], int(i * spread * sr), rng.uniform(0.7, 1.0))
    sig *= adsr(n, sr, 0.001, 10.0, 1.0, 0.03, n / sr - 0.03)
    if tone["drive"] > 1.0:
        sig = soft_clip(sig * tone["drive"] / 3.0, 1.0)
        sig = filt(sig, "lowpass", tone["cab"], sr, 2)  # a speaker cabinet's top end
    return fade_edges(sig, sr, 0.0005, 0.005)


def render_other(plan, rng):
    """The "other" stem, float64 (2, plan.n_samples): whichever roles the plan gives it."""
    sr, steps = plan.sample_rate, plan.steps_per_bar
    T = plan.n_samples
    track = np.zeros((2, T))
    tones = {
        "pad": dict(detune=rng.uniform(-15, 15, int(rng.integers(2, 4))),
                    cut=rng.uniform(700, 3000), lfo=rng.uniform(0.1, 0.5),
                    attack=rng.uniform(0.1, 0.8), release=rng.uniform(0.2, 0.8),
                    gain=rng.uniform(0.1, 0.2)),
        "keys": dict(kind=str(rng.choice(["epiano", "organ", "piano", "piano"])),
                     index=rng.uniform(1.0, 4.0), ratio=float(rng.choice([1.0, 2.0, 3.0, 14.0])),
                     decay=rng.uniform(0.3, 1.2), bars=rng.uniform(0.0, 1.0, 5),
                     gain=rng.uniform(0.12, 0.25)),
        "guitar": dict(style=str(rng.choice(["strum", "arp", "power"])),
                       strum=rng.uniform(0.01, 0.04), t60=rng.uniform(1.0, 4.0),
                       bright=rng.uniform(0.6, 0.9), pick=rng.uniform(0.08, 0.3), drive=1.0,
                       cab=rng.uniform(3000, 6000), gain=rng.uniform(0.15, 0.3)),
        "pluck": dict(shape=str(rng.choice(["saw", "square"])), env=rng.uniform(4, 20),
                      cut_decay=rng.uniform(0.05, 0.3), res=rng.uniform(0.7, 4.0),
                      decay=rng.uniform(0.1, 0.4), gain=rng.uniform(0.1, 0.2)),
        "lead": dict(shape=str(rng.choice(["saw", "square"])), cut=rng.uniform(2.0, 6.0),
                     vib=rng.uniform(4.5, 6.5), gain=rng.uniform(0.1, 0.2)),
    }
    bars = np.zeros(8)
    bars[[0, 1, 3, 5, 7]] = tones["keys"]["bars"]
    tones["keys"]["organ_table"] = harmonic_table(bars)
    if tones["guitar"]["style"] == "power":
        tones["guitar"]["drive"] = rng.uniform(8.0, 30.0)
    pans = {"pad": 0.0, "keys": rng.uniform(-0.5, 0.5), "guitar": rng.uniform(-0.7, 0.7),
            "pluck": rng.uniform(-0.6, 0.6), "lead": rng.uniform(-0.2, 0.2)}
    # Comping rhythms per song (16th steps of a bar).
    keys_mask = _mask(steps, _pick(rng, [[0], [0, 8], [0, 6, 10], [2, 6, 10, 14], [0, 4, 8, 12]]))
    strum_mask = _mask(steps, _pick(rng, [range(0, 16, 2), [0, 4, 6, 10, 12, 14],
                                          [0, 3, 6, 8, 12]]))
    prev = {}

    for section in plan.sections:
        level = plan.level(section.intensity)
        for role in section.other:
            tone, gain = tones[role], tones[role]["gain"] * level
            if role == "pad":
                first_beat = section.start_bar * plan.beats_per_bar
                end_beat = (section.start_bar + section.n_bars) * plan.beats_per_bar
                for c in [c for c in plan.chords if first_beat <= c.start_beat < end_beat]:
                    notes = smooth_voicing(c.pcs, 52, prev.get("pad"), 4)
                    prev["pad"] = notes
                    gate = c.n_beats * plan.beat_sec
                    t0 = plan.sample_of(c.start_beat * plan.beat_sec)
                    for j, m in enumerate(notes):
                        note = _pad_note(tone, float(midi_to_hz(m)), gate, sr, rng)
                        add_at(track, pan_mono(note, (-0.6, 0.6)[j % 2]), t0, gain)
            elif role in ("keys", "pluck"):
                arp = _mask(steps, range(0, steps, 2 if plan.tempo > 110 else 1))
                mask = keys_mask if role == "keys" else arp
                legato = rng.uniform(0.4, 0.95) if role == "keys" else 0.5
                for i, (t0, gate, bar, step) in enumerate(_hits(plan, rng, section, mask, legato)):
                    c = plan.chord_at(bar * plan.beats_per_bar + step / 4.0)
                    notes = smooth_voicing(c.pcs, 55, prev.get(role), 4 if role == "keys" else 3)
                    prev[role] = notes
                    accent = 0.15 if step % 8 == 0 else 0
                    vel = float(np.clip(rng.normal(0.8, 0.1) + accent, 0.3, 1.1))
                    if role == "pluck":  # arpeggio: one chord tone a step, an octave up
                        m = notes[i % len(notes)] + 12
                        note = _synth_pluck(tone, float(midi_to_hz(m)), gate, sr)
                    else:
                        note = sum(_keys_note(tone, float(midi_to_hz(m)), gate, sr, rng)
                                   for m in notes)
                    add_at(track, pan_mono(note, pans[role]), plan.sample_of(t0), gain * vel)
            elif role == "guitar":
                _render_guitar(plan, rng, section, tone, strum_mask, pans["guitar"], gain, track)
            elif role == "lead":
                _render_lead(plan, rng, section, tone, pans["lead"], gain, track)
    return track


def _render_guitar(plan, rng, section, tone, strum_mask, pan, gain, track):
    sr, steps = plan.sample_rate, plan.steps_per_bar
    style = tone["style"]
    if style == "arp":
        mask = _mask(steps, range(0, steps, 2))
    elif style == "power":
        mask = _mask(steps, range(0, steps, 2)) if section.intensity < 0.8 else strum_mask
    else:
        mask = strum_mask
    for i, (t0, gate, bar, step) in enumerate(_hits(plan, rng, section, mask, 1.0)):
        c = plan.chord_at(bar * plan.beats_per_bar + step / 4.0)
        vel = float(np.clip(rng.normal(0.75, 0.1) + (0.2 if step % 4 == 0 else 0), 0.3, 1.1))
        if style == "arp":
            notes = smooth_voicing(c.pcs, 52, None, 4)
            m = notes[[0, 2, 1, 3, 2, 1][i % 6] % len(notes)]
            sig = pluck_string(float(midi_to_hz(m)), int((gate * 2 + 0.3) * sr), sr, rng,
                               t60=tone["t60"], bright=tone["bright"], pick=tone["pick"])
            add_at(track, pan_mono(fade_edges(sig, sr), pan), plan.sample_of(t0), gain * vel * 0.5)
        elif style == "power":
            root = 40 + (c.root - 40) % 12
            muted = section.intensity < 0.8
            for side in (-1.0, 1.0):  # double-tracked: two takes panned apart
                sig = _guitar_chord(tone, [root, root + 7, root + 12], gate, True, sr, rng, muted)
                add_at(track, pan_mono(sig, 0.8 * side), plan.sample_of(t0 + rng.normal(0, 0.006)),
                       gain * vel * 0.6)
        else:
            notes = smooth_voicing(c.pcs, 45, None, 6)
            down = step % 4 == 0 or rng.random() < 0.5
            sig = _guitar_chord(tone, notes, gate, down, sr, rng, False)
            add_at(track, pan_mono(sig, pan), plan.sample_of(t0),
                   gain * vel * (1.0 if down else 0.7) * 0.4)


def _render_lead(plan, rng, section, tone, pan, gain, track):
    sr = plan.sample_rate
    for t0, dur, midi, _ in make_melody(plan, rng, [section], 64, 84, density=0.5):
        n = int((dur + 0.05) * sr)
        t = np.arange(n) / sr
        vib = 1.0 + 0.006 * np.sin(2 * np.pi * tone["vib"] * t) * np.clip(t / 0.3, 0, 1)
        f = float(midi_to_hz(midi)) * vib
        wave = osc(tone["shape"], f, sr)
        sig = svf(wave, f * tone["cut"], sr, 1.0) * adsr(n, sr, 0.01, 0.3, 0.7, 0.05, dur)
        add_at(track, pan_mono(fade_edges(sig, sr), pan), plan.sample_of(t0), gain)
