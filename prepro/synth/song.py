"""The score of a generated song: tempo, key, chords, sections and who plays in each.

A `Plan` is drawn once per song from one numpy Generator; the instrument renderers read it.
Time is counted in bars, beats and 16th-note steps (4 steps a beat); `Plan.time_of` turns a
position into seconds, with the song's swing.
"""
from dataclasses import dataclass, field

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Progressions as scale degrees (0 = tonic), one chord per harmonic-rhythm slot.
MAJOR_PROGRESSIONS = [(0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 0),
                      (0, 3, 0, 4), (0, 2, 3, 4), (3, 0, 4, 5), (0, 0, 3, 4), (0, 4, 3, 3)]
MINOR_PROGRESSIONS = [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2),
                      (0, 0, 5, 6), (0, 2, 3, 5), (5, 6, 0, 0)]

# Section kind -> (range of intensity, natural length choices in bars).
SECTION_KINDS = {
    "intro": ((0.25, 0.5), (2, 4, 8)),
    "verse": ((0.45, 0.7), (8, 16)),
    "pre": ((0.6, 0.8), (4,)),
    "chorus": ((0.85, 1.0), (8, 16)),
    "bridge": ((0.4, 0.75), (8,)),
    "breakdown": ((0.15, 0.4), (4, 8)),
    "outro": ((0.3, 0.6), (4, 8)),
}
# Probability that a part plays in a section kind.
PART_PROB = {
    #            drums  bass  vocals
    "intro": (0.5, 0.4, 0.1),
    "verse": (0.9, 0.9, 0.9),
    "pre": (1.0, 0.9, 0.9),
    "chorus": (1.0, 1.0, 1.0),
    "bridge": (0.7, 0.8, 0.5),
    "breakdown": (0.3, 0.3, 0.3),
    "outro": (0.6, 0.6, 0.3),
}
DRUM_FEELS = {
    "intro": ("hats", "sparse", "main"),
    "verse": ("sparse", "main"),
    "pre": ("main", "build"),
    "chorus": ("full",),
    "bridge": ("half", "main", "sparse"),
    "breakdown": ("hats", "kick"),
    "outro": ("sparse", "main", "full"),
}
OTHER_ROLES = ("pad", "keys", "guitar", "pluck", "lead")


@dataclass
class Chord:
    start_beat: float   # from the song's start
    n_beats: float
    root: int           # pitch class 0..11 of the root
    pcs: tuple          # pitch classes, root first (triad or seventh)


@dataclass
class Section:
    kind: str
    start_bar: int
    n_bars: int
    intensity: float    # 0..1: level and density
    drums: str = None   # feel ("hats", "kick", "sparse", "main", "build", "half", "full") or None
    bass: bool = True
    other: tuple = ()   # roles of the "other" stem playing here
    vocals: bool = False
    harmony: bool = False  # backing vocals under the lead
    fill: bool = False  # drum fill in the last bar


@dataclass
class Plan:
    sample_rate: int
    n_samples: int
    tempo: float        # BPM
    beats_per_bar: int
    swing: float        # delay of off-beat steps, in fractions of a step (0 = straight)
    swing_unit: int     # 1: swung 16ths, 2: swung 8ths
    key: int            # pitch class of the tonic
    minor: bool
    scale: tuple        # absolute pitch classes of the scale, tonic first
    chords: list        # of Chord, covering the whole song
    sections: list      # of Section, covering the whole song
    level_depth_db: float   # how far (dB) the quietest intensity sits under the loudest
    fade_in: float      # seconds (0 = none)
    fade_out: float
    drum_style: str
    other_roles: tuple  # roles of the "other" stem available in this song
    timing_jitter: float = 0.004  # s, standard deviation of human timing
    extra: dict = field(default_factory=dict)

    @property
    def beat_sec(self):
        return 60.0 / self.tempo

    @property
    def steps_per_bar(self):
        return 4 * self.beats_per_bar

    @property
    def n_bars(self):
        return sum(s.n_bars for s in self.sections)

    def time_of(self, bar, step=0.0):
        """Seconds of a position: bar index and 16th step within the bar (may be fractional)."""
        beat = bar * self.beats_per_bar + step / 4.0
        if self.swing > 0:
            unit_pos = step / self.swing_unit
            if abs(unit_pos - round(unit_pos)) < 1e-6 and int(round(unit_pos)) % 2 == 1:
                beat += self.swing * self.swing_unit / 4.0
        return beat * self.beat_sec

    def sample_of(self, seconds):
        return int(round(seconds * self.sample_rate))

    def level(self, intensity):
        """Linear gain of a section's intensity (1.0 at intensity 1)."""
        return 10.0 ** (-(1.0 - intensity) * self.level_depth_db / 20.0)

    def section_of_bar(self, bar):
        for s in self.sections:
            if s.start_bar <= bar < s.start_bar + s.n_bars:
                return s
        return self.sections[-1]

    def chord_at(self, beat):
        for c in self.chords:
            if c.start_beat <= beat < c.start_beat + c.n_beats:
                return c
        return self.chords[-1]

    def bars_of(self, section):
        return range(section.start_bar, section.start_bar + section.n_bars)


def voice_chord(pcs, low, n_notes=None, inversion=0):
    """MIDI notes of a chord: its pitch classes stacked upward from the first note >= low.

    inversion rotates which pitch class is lowest; n_notes > len(pcs) doubles notes upward.
    """
    n_notes = n_notes or len(pcs)
    k = inversion % len(pcs)
    order = list(pcs[k:]) + list(pcs[:k])
    notes, prev = [], low - 1
    for i in range(n_notes):
        prev = prev + 1 + (order[i % len(order)] - (prev + 1)) % 12
        notes.append(prev)
    return notes


def smooth_voicing(pcs, low, previous, n_notes=None):
    """The inversion of a chord (see voice_chord) that moves least from `previous` notes."""
    best, best_cost = None, None
    for inv in range(len(pcs)):
        notes = voice_chord(pcs, low, n_notes, inv)
        cost = abs(np.mean(notes) - np.mean(previous)) if previous else notes[0] - low
        if best is None or cost < best_cost:
            best, best_cost = notes, cost
    return best


def _section_kinds(rng, n_bars_needed, scale):
    # A familiar song form, entered at a random point so songs don't all start with an intro.
    form = ["intro", "verse", "chorus", "verse", "chorus",
            str(rng.choice(["bridge", "breakdown"])), "chorus", "outro"]
    if rng.random() < 0.4:
        form.insert(2, "pre")
        form.insert(5, "pre")
    # Short songs rarely start with an intro: they would be all intro.
    start = int(rng.choice([0, 0, 0, 1, 2] if n_bars_needed >= 12 else [0, 1, 1, 2]))
    kinds, lengths, i = [], [], start
    while sum(lengths) < n_bars_needed:
        kind = form[i % len(form)] if i < len(form) else form[1 + (i - len(form)) % (len(form) - 2)]
        n = int(rng.choice(SECTION_KINDS[kind][1]))
        kinds.append(kind)
        lengths.append(max(1, n // scale))
        i += 1
    return kinds, lengths


def make_plan(rng, seconds, sample_rate=44100):
    """Draw the score of one song lasting `seconds` (the last section is cut there)."""
    n_samples = int(round(seconds * sample_rate))
    tempo = float(rng.uniform(70.0, 180.0))
    beats_per_bar = 3 if rng.random() < 0.1 else 4
    swing = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.15, 0.33)]))
    swing_unit = int(rng.choice([1, 2]))
    if tempo > 140 and swing_unit == 1:
        swing = 0.0
    minor = bool(rng.random() < 0.5)
    key = int(rng.integers(12))
    scale = tuple((key + s) % 12 for s in (MINOR if minor else MAJOR))

    bar_sec = beats_per_bar * 60.0 / tempo
    n_bars_needed = int(np.ceil(seconds / bar_sec)) + 1
    # Short songs get proportionally short sections so they still change along the way.
    shrink = 4 if n_bars_needed < 12 else (2 if n_bars_needed < 30 else 1)
    kinds, lengths = _section_kinds(rng, n_bars_needed, shrink)

    drum_style = str(rng.choice(["rock", "rock", "four", "funk", "half", "hiphop", "trap"]))
    if beats_per_bar == 3:
        drum_style = "waltz"
    n_roles = int(rng.integers(2, 5))
    other_roles = tuple(str(r) for r in rng.choice(OTHER_ROLES, size=n_roles, replace=False,
                                                   p=[0.25, 0.25, 0.25, 0.15, 0.10]))

    sections, bar = [], 0
    for kind, n in zip(kinds, lengths):
        lo, hi = SECTION_KINDS[kind][0]
        p_drums, p_bass, p_vocals = PART_PROB[kind]
        s = Section(kind=kind, start_bar=bar, n_bars=n, intensity=float(rng.uniform(lo, hi)))
        s.drums = str(rng.choice(DRUM_FEELS[kind])) if rng.random() < p_drums else None
        s.bass = bool(rng.random() < p_bass)
        s.vocals = bool(rng.random() < p_vocals)
        s.harmony = s.vocals and kind == "chorus" and rng.random() < 0.5
        s.fill = s.drums is not None and rng.random() < 0.6
        if kind in ("chorus",):
            s.other = other_roles
        else:
            k = int(rng.integers(1, max(2, len(other_roles))))
            calm = [r for r in other_roles if r != "lead"] or list(other_roles)
            s.other = tuple(str(r) for r in rng.choice(calm, size=min(k, len(calm)), replace=False))
        sections.append(s)
        bar += n
    # Every stem plays somewhere in the song: if one would stay silent, the most intense
    # section that starts before the end gets it.
    heard = [s for s in sections if s.start_bar * bar_sec < seconds - 0.5 * bar_sec] or sections[:1]
    top = max(heard, key=lambda s: s.intensity)
    if not any(s.drums for s in heard):
        top.drums = "full" if top.kind == "chorus" else "main"
    if not any(s.vocals for s in heard):
        top.vocals = True
    if not any(s.bass for s in heard):
        top.bass = True

    chords = _make_chords(rng, sections, beats_per_bar, scale, minor, tempo)
    total_sec = n_samples / sample_rate
    fade_in = float(min(rng.uniform(1.0, 6.0), 0.25 * total_sec)) if rng.random() < 0.2 else 0.0
    fade_out = float(min(rng.uniform(2.0, 10.0), 0.3 * total_sec)) if rng.random() < 0.3 else 0.0
    return Plan(sample_rate=sample_rate, n_samples=n_samples, tempo=tempo,
                beats_per_bar=beats_per_bar, swing=swing, swing_unit=swing_unit, key=key,
                minor=minor, scale=scale, chords=chords, sections=sections,
                level_depth_db=float(rng.uniform(6.0, 16.0)), fade_in=fade_in, fade_out=fade_out,
                drum_style=drum_style, other_roles=other_roles,
                timing_jitter=float(rng.uniform(0.002, 0.008)))


def _make_chords(rng, sections, beats_per_bar, scale, minor, tempo):
    """Chords for every section: a progression per section kind, repeated to fill it."""
    pool = MINOR_PROGRESSIONS if minor else MAJOR_PROGRESSIONS
    by_kind = {}
    # Harmonic rhythm: a chord per bar, two per bar when slow, one per two bars when fast.
    slot = float(rng.choice([1.0, 1.0, 0.5 if tempo < 110 else 1.0, 2.0 if tempo > 120 else 1.0]))
    sevenths = rng.random() < 0.3
    chords = []
    for s in sections:
        if s.kind not in by_kind:
            by_kind[s.kind] = pool[int(rng.integers(len(pool)))]
        prog = by_kind[s.kind]
        n_slots = int(np.ceil(s.n_bars / slot))
        for i in range(n_slots):
            degree = prog[i % len(prog)]
            pcs = tuple(scale[(degree + j) % 7] for j in ((0, 2, 4, 6) if sevenths else (0, 2, 4)))
            start = (s.start_bar + i * slot) * beats_per_bar
            length = min(slot * beats_per_bar, (s.start_bar + s.n_bars) * beats_per_bar - start)
            chords.append(Chord(start_beat=start, n_beats=length, root=pcs[0], pcs=pcs))
    return chords


def make_melody(plan, rng, sections, low, high, density=0.6, phrase_bars=None):
    """A sung (or played) line over the chords of `sections`.

    Returns a list of notes (start_sec, dur_sec, midi, phrase_index); phrases are separated by
    rests of at least half a beat (breaths).
    Args:
        low, high: MIDI range of the line.
        density: probability of a note on each eighth inside a phrase.
    """
    notes, phrase = [], 0
    center = (low + high) / 2.0
    pitch = center
    scale = plan.scale
    for s in sections:
        plen = phrase_bars or (int(rng.choice([1, 2, 2])) if s.n_bars >= 2 else 1)
        # One rhythm per section, reused by each phrase: melodies repeat themselves.
        n_eighths = plen * plan.beats_per_bar * 2
        rest_eighths = int(rng.integers(2, 6))
        motif = rng.random(n_eighths) < density
        motif[0] = rng.random() < 0.7
        motif[max(n_eighths - rest_eighths, 1):] = False
        for start_bar in range(s.start_bar, s.start_bar + s.n_bars, plen):
            rhythm = motif.copy()
            flip = rng.random(n_eighths) < 0.1
            rhythm[:max(n_eighths - rest_eighths, 1)] ^= flip[:max(n_eighths - rest_eighths, 1)]
            onsets = np.flatnonzero(rhythm)
            if len(onsets) == 0:
                continue
            end_limit = min(start_bar + plen, s.start_bar + s.n_bars)
            phrase_notes = []
            for j, e in enumerate(onsets):
                bar = start_bar + e // (plan.beats_per_bar * 2)
                if bar >= end_limit:
                    break
                step = (e % (plan.beats_per_bar * 2)) * 2
                beat = bar * plan.beats_per_bar + step / 4.0
                chord = plan.chord_at(beat)
                strong = step % 4 == 0
                # Chord tones on strong beats, scale steps between; drift back to the centre.
                cands = chord.pcs if strong else scale
                options = np.arange(int(pitch) - 7, int(pitch) + 8)
                options = options[np.isin(options % 12, cands)
                                  & (options >= low) & (options <= high)]
                if len(options) == 0:
                    options = np.array([int(np.clip(pitch, low, high))])
                dist = np.abs(options - pitch) + 0.3 * np.abs(options - center) / 6.0
                weights = np.exp(-dist / 2.0)
                weights[options == int(pitch)] *= 0.6
                pitch = float(rng.choice(options, p=weights / weights.sum()))
                t0 = plan.time_of(bar, step)
                nxt = onsets[j + 1] if j + 1 < len(onsets) else n_eighths - rest_eighths
                nxt_bar = start_bar + nxt // (plan.beats_per_bar * 2)
                t1 = plan.time_of(nxt_bar, (nxt % (plan.beats_per_bar * 2)) * 2)
                dur = max(t1 - t0, 0.08)
                if rng.random() < 0.15:
                    dur *= 0.6  # detached note
                phrase_notes.append((t0, dur, pitch, phrase))
            notes.extend(phrase_notes)
            phrase += 1
    return notes
