"""Drum stem: a synthesised kit per song, patterns per section feel, fills, humanised playing.

Each kit piece is pre-rendered in a few variants as two parts, a body and a bright transient;
a hit at velocity v adds  v^1.6 * (body + v * transient), so harder hits are louder and brighter.
"""
import numpy as np

from prepro.synth.dsp import add_at, exp_decay, fade_edges, filt, pan_gains, soft_clip

N_VARIANTS = 4
# The 808's six hi-hat square-wave frequencies; scaled per kit for a different metal.
_METAL_HZ = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])


def _kick(rng, sr, p):
    n = int(min(6.0 * p["kick_decay"] + 0.05, 1.5) * sr)  # until ~-50 dB
    t = np.arange(n) / sr
    f = p["kick_f1"] + (p["kick_f0"] - p["kick_f1"]) * np.exp(-t / p["kick_sweep"])
    f = f * rng.uniform(0.98, 1.02)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * exp_decay(n, sr, p["kick_decay"])
    body = soft_clip(body, p["kick_drive"])
    click = filt(rng.standard_normal(n), "bandpass", (p["kick_click_hz"], 9000), sr)
    click *= exp_decay(n, sr, 0.0015) * p["kick_click"]
    return fade_edges(body, sr, 0.0003), fade_edges(click, sr, 0.0002)


def _snare(rng, sr, p):
    n = int(p["snare_len"] * sr)
    t = np.arange(n) / sr
    f0 = p["snare_f0"] * rng.uniform(0.98, 1.02)
    sweep = 1.0 + 0.3 * np.exp(-t / 0.01)
    tone = (np.sin(2 * np.pi * np.cumsum(f0 * sweep) / sr)
            + 0.6 * np.sin(2 * np.pi * np.cumsum(1.6 * f0 * sweep) / sr))
    tone *= exp_decay(n, sr, p["snare_tone_decay"])
    noise = filt(rng.standard_normal(n), "bandpass", (p["snare_noise_lo"], p["snare_noise_hi"]), sr)
    noise *= exp_decay(n, sr, p["snare_noise_decay"])
    if p["clap"]:
        # Hand clap: a few 10 ms bursts before the tail.
        bursts = np.zeros(n)
        for k in range(3):
            a = int(k * 0.011 * sr)
            bursts[a:] += exp_decay(n - a, sr, 0.004)
        noise = noise * 0.5 + filt(rng.standard_normal(n), "bandpass", (900, 6000), sr) * bursts
    body = p["snare_tone"] * tone + noise
    crack = filt(rng.standard_normal(n), "highpass", 3000, sr) * exp_decay(n, sr, 0.004)
    return fade_edges(body, sr, 0.0003), fade_edges(crack * 0.8, sr, 0.0002)


def _metal(rng, sr, n, scale, hp):
    ph = rng.uniform(0, 1, 6)
    t = np.arange(n) / sr
    sq = np.sign(np.sin(2 * np.pi * (np.outer(_METAL_HZ * scale, t) + ph[:, None]))).sum(axis=0)
    return filt(sq, "highpass", hp, sr, 2)


def _cymbal(rng, sr, p, length, decay, hp, metal_mix, stereo=False):
    n = int(length * sr)
    chans = []
    for _ in range(2 if stereo else 1):
        noise = filt(rng.standard_normal(n), "highpass", hp, sr, 2)
        sig = (1 - metal_mix) * noise + metal_mix * 0.25 * _metal(rng, sr, n, p["metal_scale"], hp)
        sig = filt(sig, "lowpass", p["cym_lp"], sr, 1)
        chans.append(sig * exp_decay(n, sr, decay))
    body = np.stack(chans) if stereo else chans[0]
    tick = filt(rng.standard_normal(n), "highpass", 6000, sr) * exp_decay(n, sr, 0.002)
    if stereo:
        tick = np.stack([tick, tick])
    return fade_edges(body, sr, 0.0003), fade_edges(tick, sr, 0.0002)


def _tom(rng, sr, f0):
    n = int(0.6 * sr)
    t = np.arange(n) / sr
    f = f0 * (1.0 + 0.5 * np.exp(-t / 0.03))
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * exp_decay(n, sr, rng.uniform(0.12, 0.3))
    stick = filt(rng.standard_normal(n), "bandpass", (1500, 8000), sr) * exp_decay(n, sr, 0.003)
    return fade_edges(body, sr, 0.0003), fade_edges(0.5 * stick, sr, 0.0002)


def make_kit(rng, sr, boomy=False):
    """A drum kit: name -> list of N_VARIANTS (body, transient) pairs, mono (n,) or stereo (2, n),
    name -> pan and name -> gain. boomy: a long electronic (808-like) kick instead of a tight
    one."""
    p = dict(
        kick_f0=rng.uniform(120, 300), kick_f1=rng.uniform(40, 65),
        kick_sweep=rng.uniform(0.01, 0.05),
        kick_decay=rng.uniform(0.15, 0.35) if boomy else rng.uniform(0.04, 0.12),
        kick_drive=rng.uniform(0.5, 3.0), kick_click=rng.uniform(0.3, 1.2),
        kick_click_hz=rng.uniform(1500, 4000),
        snare_len=rng.uniform(0.25, 0.4), snare_f0=rng.uniform(150, 260),
        snare_tone_decay=rng.uniform(0.03, 0.12), snare_tone=rng.uniform(0.3, 1.0),
        snare_noise_lo=rng.uniform(600, 2000), snare_noise_hi=rng.uniform(6000, 12000),
        snare_noise_decay=rng.uniform(0.04, 0.12), clap=rng.random() < 0.2,
        metal_scale=rng.uniform(0.9, 1.6), cym_lp=rng.uniform(9000, 16000),
        hat_hp=rng.uniform(5000, 9000), hat_closed=rng.uniform(0.012, 0.045),
        hat_open=rng.uniform(0.08, 0.25), hat_metal=rng.uniform(0.2, 0.8),
    )
    tom_base = rng.uniform(70, 110)
    kit = {
        "kick": [_kick(rng, sr, p) for _ in range(N_VARIANTS)],
        "snare": [_snare(rng, sr, p) for _ in range(N_VARIANTS)],
        "hat": [_cymbal(rng, sr, p, 0.25, p["hat_closed"], p["hat_hp"], p["hat_metal"])
                for _ in range(N_VARIANTS)],
        "open": [_cymbal(rng, sr, p, 1.5, p["hat_open"], p["hat_hp"], p["hat_metal"])
                 for _ in range(N_VARIANTS)],
        "crash": [_cymbal(rng, sr, p, 3.0, rng.uniform(0.3, 0.7), rng.uniform(2500, 5000), 0.3,
                          True)
                  for _ in range(2)],
        "ride": [_cymbal(rng, sr, p, 2.0, rng.uniform(0.25, 0.6), rng.uniform(3000, 6000), 0.7)
                 for _ in range(N_VARIANTS)],
    }
    for i, ratio in enumerate((2.0, 1.5, 1.0)):
        kit[f"tom{i}"] = [_tom(rng, sr, tom_base * ratio) for _ in range(2)]
    hat_pan = float(rng.uniform(-0.5, 0.5))
    pans = {"kick": 0.0, "snare": float(rng.uniform(-0.1, 0.1)), "hat": hat_pan, "open": hat_pan,
            "crash": 0.0, "ride": -hat_pan, "tom0": -0.4 * np.sign(hat_pan + 1e-3),
            "tom1": 0.0, "tom2": 0.4 * np.sign(hat_pan + 1e-3)}
    gains = {"kick": 1.0, "snare": rng.uniform(0.35, 0.6), "hat": rng.uniform(0.15, 0.35),
             "open": rng.uniform(0.12, 0.3), "crash": rng.uniform(0.12, 0.25),
             "ride": rng.uniform(0.08, 0.15), "tom0": 0.7, "tom1": 0.7, "tom2": 0.7}
    return kit, pans, gains


def base_pattern(rng, style, steps):
    """One bar of a drum style: name -> velocities per 16th step, shape (steps,)."""
    kick, snare, hat, open_hat = (np.zeros(steps) for _ in range(4))
    eighths = np.arange(0, steps, 2)
    if style == "waltz":
        kick[0] = 1.0
        snare[[4, 8]] = 0.8
        hat[eighths] = 0.7
    elif style == "four":
        kick[::4] = 1.0
        snare[[4, 12]] = 0.9
        hat[np.arange(steps)] = 0.5
        hat[2::4] = 0.0
        open_hat[2::4] = 0.8
    elif style in ("half", "trap"):
        kick[0] = 1.0
        kick[rng.choice([6, 7, 10, 11], size=int(rng.integers(1, 3)), replace=False)] = 0.85
        snare[8] = 1.0
        hat[np.arange(steps) if style == "trap" or rng.random() < 0.5 else eighths] = 0.6
    else:  # rock, funk, hiphop
        kick[[0, 8]] = 1.0
        extra = {"rock": [10, 6, 14], "funk": [3, 6, 7, 10, 14], "hiphop": [3, 7, 10, 11]}[style]
        for s in extra:
            if rng.random() < 0.35:
                kick[s] = 0.8
        if style == "hiphop":
            kick[8] = 0.0 if rng.random() < 0.5 else 1.0
        snare[[4, 12]] = 1.0
        hat[np.arange(steps) if style == "funk" else eighths] = 0.6
    # Accents: on-beat hats louder than off-beats.
    hat[::4] *= 1.3
    return {"kick": kick, "snare": snare, "hat": hat, "open": open_hat}


def _bar_events(rng, plan, section, bar, pattern, ghost_prob):
    """Hits of one bar: list of (step, name, velocity)."""
    feel, steps = section.drums, plan.steps_per_bar
    events = []
    last_bar = bar == section.start_bar + section.n_bars - 1
    fill_from = steps
    if section.fill and last_bar:
        fill_from = steps - 4 * int(rng.choice([1, 1, 2]))
    if feel == "build" and last_bar:
        fill_from = 0
    for name, vel in pattern.items():
        for s in np.flatnonzero(vel):
            v = vel[s]
            if s >= fill_from:
                continue
            if feel == "kick" and name != "kick":
                continue
            if feel == "hats" and name not in ("hat", "open"):
                continue
            if feel == "sparse" and name in ("open",):
                continue
            if feel == "sparse" and name == "kick" and s not in (0, steps // 2):
                continue
            if feel == "half" and name == "snare":
                continue
            if feel == "full" and name == "hat" and plan.extra.get("ride_in_chorus"):
                name, v = "ride", v * 1.1
            events.append((s, name, v))
    if feel == "half":
        events.append((steps // 2, "snare", 1.0))
    if feel in ("main", "full", "half") and ghost_prob > 0:
        for s in range(1, steps, 2):
            if rng.random() < ghost_prob and s < fill_from:
                events.append((s, "snare", rng.uniform(0.12, 0.3)))
    if feel == "full" and bar == section.start_bar:
        events.append((0, "crash", 1.0))
    if feel == "full" and rng.random() < 0.15 and not last_bar:
        events.append((0, "crash", 0.8))
    if fill_from < steps:
        # Fill: snare and toms in 16ths (8ths for slow fills) with a crescendo, then the crash
        # that the next section's downbeat brings.
        stride = 1 if plan.tempo < 150 or rng.random() < 0.3 else 2
        names = ["snare", "tom0", "tom1", "tom2"] if feel != "build" else ["snare"]
        span = steps - fill_from
        for i, s in enumerate(range(fill_from, steps, stride)):
            if feel == "build":
                # Snare build-up: quarters, then eighths, then sixteenths.
                if (s < steps // 2 and s % 4) or (s < 3 * steps // 4 and s % 2):
                    continue
                name = "snare"
            else:
                name = names[min(int(len(names) * i * stride / span), len(names) - 1)]
                if rng.random() < 0.15:
                    continue
            vel = 0.55 + 0.45 * (s - fill_from) / max(span, 1)
            events.append((s, name, vel))
        events.append((fill_from, "kick", 0.9))
    return events


def render_drums(plan, rng):
    """The drum stem, float64 (2, plan.n_samples), before mixing levels."""
    sr, T = plan.sample_rate, plan.n_samples
    boomy = plan.drum_style in ("trap", "hiphop") and rng.random() < 0.6
    kit, pans, gains = make_kit(rng, sr, boomy)
    plan.extra["ride_in_chorus"] = rng.random() < 0.3
    ghost_prob = 0.0
    if plan.drum_style in ("funk", "hiphop", "rock"):
        ghost_prob = float(rng.choice([0.0, 0.0, 0.1, 0.25]))
    pattern_a = base_pattern(rng, plan.drum_style, plan.steps_per_bar)
    plan.extra["kick_steps"] = np.flatnonzero(pattern_a["kick"])  # the bass may lock to these
    pattern_b = {k: v.copy() for k, v in pattern_a.items()}
    s = int(rng.integers(plan.steps_per_bar // 2, plan.steps_per_bar))
    pattern_b["kick"][s] = 0.8 if pattern_b["kick"][s] == 0 else 0.0  # the B bar varies a kick
    laid_back = {"snare": rng.uniform(0.0, 0.01), "hat": rng.uniform(-0.004, 0.004)}
    vel_spread = rng.uniform(0.04, 0.12)

    events = []  # (sample, name, velocity, section level)
    for section in plan.sections:
        if section.drums is None:
            continue
        level = plan.level(section.intensity)
        for bar in plan.bars_of(section):
            pattern = pattern_a if (bar - section.start_bar) % 2 == 0 else pattern_b
            for step, name, vel in _bar_events(rng, plan, section, bar, pattern, ghost_prob):
                t = plan.time_of(bar, step) + rng.normal(0.0, plan.timing_jitter)
                t += laid_back.get(name, 0.0)
                v = float(np.clip(vel * (1.0 + rng.normal(0.0, vel_spread)), 0.05, 1.2))
                events.append((max(plan.sample_of(t), 0), name, v, level))
        # A crash (with kick) on the downbeat after a fill, if the next section has drums.
        nxt = section.start_bar + section.n_bars
        if (section.fill and nxt < plan.n_bars
                and plan.section_of_bar(nxt).drums not in (None, "full")):
            t0 = plan.sample_of(plan.time_of(nxt))
            events.append((t0, "crash", 1.0, plan.level(plan.section_of_bar(nxt).intensity)))
    events.sort(key=lambda e: e[0])

    track = np.zeros((2, T))
    hat_times = np.array([e[0] for e in events if e[1] in ("hat", "open")], dtype=np.int64)
    for start, name, vel, level in events:
        body, trans = kit[name][int(rng.integers(len(kit[name])))]
        hit = body + vel * trans
        if name == "open":
            # A closed hat chokes the open one.
            later = hat_times[hat_times > start]
            if len(later):
                hit = hit[..., :max(later[0] - start, 16)].copy()
                fade_edges(hit, sr, 0.0, 0.01)
        gain = gains[name] * level * vel ** 1.6
        if hit.ndim == 1:
            gl, gr = pan_gains(pans[name])
            add_at(track[0:1], hit[None], start, gain * gl)
            add_at(track[1:2], hit[None], start, gain * gr)
        else:
            add_at(track, hit, start, gain)
    return track
