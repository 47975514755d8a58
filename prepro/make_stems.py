"""Generate multi-track songs in the musdb18-HQ layout, as stand-in training data.

    python -m prepro.make_stems --output DIR --n_songs N --seconds S --seed K [--workers W]
        [--split train] [--subtype FLOAT|PCM_16] [--mixture]

writes DIR/{split}/gen_s{K}_{i:04d}/{vocals,bass,drums,other}.wav (stereo, 44.1 kHz, float32 wav
by default so the headroom is exact; plus mixture.wav = their sum with --mixture). Song i of a run
with seed K is rendered from `generated_song_seed(K, i)`, so runs are reproducible and
extendable: a song folder that is already complete is skipped, and each song is written into
DIR/.partial first and renamed into place whole, so an interrupted run leaves no half-written
song behind.

Python API: `render_song(seed, seconds, sample_rate=44100) -> {stem: float32 (2, time)}`.
What the songs contain is described in prepro/synth/*.py: a score (tempo, key, chords, sections
of changing density and level), a synthesised drum kit played with fills and human timing, a
bass line, pads/keys/guitars/plucks/lead, and a formant-filtered singing voice with phrases.
"""
import argparse
import os
import shutil
import sys
import tempfile
from multiprocessing import Pool

import numpy as np
import soundfile as sf
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prepro.synth.drums import render_drums
from prepro.synth.dsp import apply_reverb, db_to_gain, reverb_ir
from prepro.synth.song import make_plan
from prepro.synth.tonal import render_bass, render_other
from prepro.synth.voice import render_vocals
from utils.errors import DelimitError
from utils.loudness import integrated_loudness

STEMS = ("vocals", "bass", "drums", "other")
PEAK_LIMIT = 0.9          # the mixture's and every stem's sample peak stay at or under this
LOUDNESS_RANGE = (-20.0, -14.0)  # LUFS of the mixture, drawn per song (lower if the peak says so)


def generated_song_seed(run_seed, index):
    """The seed of song `index` of a run with seed `run_seed` (deterministic, distinct per pair)."""
    return int(np.random.SeedSequence([int(run_seed), int(index)]).generate_state(1)[0])


def song_name(run_seed, index):
    return f"gen_s{int(run_seed)}_{int(index):04d}"


def render_song(seed, seconds, sample_rate=44100):
    """Render one generated song.

    Args:
        seed: non-negative int; the same seed gives the same song, bit for bit.
        seconds: length in seconds (> 0); the arrangement is planned for it.
        sample_rate: in Hz.
    Returns:
        dict "vocals", "bass", "drums", "other" -> float32 (2, round(seconds * sample_rate)),
        summing to an unclipped, unlimited mixture of LOUDNESS_RANGE loudness (or quieter, so
        that no peak exceeds PEAK_LIMIT).
    """
    if seconds <= 0:
        raise DelimitError(f"render_song: seconds must be > 0, got {seconds}")
    # One independent stream per part, so a change in one part's code leaves the others as they
    # were.
    plan_rng, drum_rng, bass_rng, other_rng, vocal_rng, mix_rng = [
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    plan = make_plan(plan_rng, seconds, sample_rate)
    stems = {"drums": render_drums(plan, drum_rng)}  # first: the bass may follow its kick
    stems["bass"] = render_bass(plan, bass_rng)
    stems["other"] = render_other(plan, other_rng)
    stems["vocals"] = render_vocals(plan, vocal_rng)
    return _mix(plan, stems, mix_rng)


def _mix(plan, stems, rng):
    """Space, relative levels, fades and the overall level; returns float32 stems."""
    sr = plan.sample_rate
    beat = plan.beat_sec
    echoes = ()
    if rng.random() < 0.5:  # tempo-synced echoes on the voice
        d = beat * float(rng.choice([0.5, 0.75, 1.0]))
        echoes = tuple((d * (k + 1), 0.5 ** (k + 1)) for k in range(3) if d * (k + 1) < 2.5)
    space = {  # stem -> (rt60 s, wet gain, echo taps)
        "drums": (rng.uniform(0.3, 1.0), rng.uniform(0.03, 0.15), ()),
        "bass": (0.3, rng.uniform(0.0, 0.05), ()),
        "other": (rng.uniform(0.8, 2.5), rng.uniform(0.05, 0.25), ()),
        "vocals": (rng.uniform(0.8, 2.5), rng.uniform(0.05, 0.2), echoes),
    }
    offsets_db = {"vocals": rng.uniform(-1.0, 2.0), "drums": rng.uniform(-2.0, 2.0),
                  "bass": rng.uniform(-4.0, 0.0), "other": rng.uniform(-3.0, 1.0)}
    fade = np.ones(plan.n_samples)
    t = np.arange(plan.n_samples) / sr
    if plan.fade_in > 0:
        fade *= np.clip(t / plan.fade_in, 0.0, 1.0) ** 2
    if plan.fade_out > 0:
        fade *= np.clip((t[-1] - t) / plan.fade_out, 0.0, 1.0) ** 2
    out = {}
    for name in STEMS:
        rt60, wet, taps = space[name]
        ir = reverb_ir(rng, sr, rt60=rt60, predelay=rng.uniform(0.0, 0.04),
                       damping_hz=rng.uniform(3000, 9000), echoes=taps)
        audio = apply_reverb(stems[name], ir, wet) * fade
        lufs = integrated_loudness(audio, sr)
        if np.isfinite(lufs):
            audio = audio * db_to_gain(-20.0 + offsets_db[name] - lufs)
        out[name] = audio
    mix = sum(out.values())
    target = rng.uniform(*LOUDNESS_RANGE)
    gain = 1.0
    for _ in range(2):  # twice: the -70 LUFS gate lets quiet blocks in or out as the gain moves
        lufs = integrated_loudness(mix * gain, sr)
        if np.isfinite(lufs):
            gain *= db_to_gain(target - lufs)
    peak = max(float(np.max(np.abs(a))) for a in list(out.values()) + [mix]) * gain
    if peak > PEAK_LIMIT:
        gain *= PEAK_LIMIT / peak
    return {name: (out[name] * gain).astype(np.float32) for name in STEMS}


# ---------------------------------------------------------------- files

def _is_complete(folder, n_frames, sample_rate, names):
    for name in names:
        path = os.path.join(folder, f"{name}.wav")
        try:
            info = sf.info(path)
        except (OSError, RuntimeError, sf.LibsndfileError):
            return False
        if info.frames != n_frames or info.channels != 2 or info.samplerate != sample_rate:
            return False
    return True


def _write_song(job):
    """Render song `index` and move it into place whole; returns its folder name."""
    out_dir, split, run_seed, index, seconds, sample_rate, subtype, mixture = job
    name = song_name(run_seed, index)
    stems = render_song(generated_song_seed(run_seed, index), seconds, sample_rate)
    if mixture:
        stems["mixture"] = sum(stems[s] for s in STEMS)
    partial = os.path.join(out_dir, ".partial")
    os.makedirs(partial, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=name + ".", dir=partial)
    try:
        for stem, audio in stems.items():
            sf.write(os.path.join(tmp, f"{stem}.wav"), audio.T, sample_rate, subtype=subtype)
        final = os.path.join(out_dir, split, name)
        if os.path.isdir(final):
            shutil.rmtree(final)  # an incomplete earlier attempt of this very song
        os.replace(tmp, final)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return name


def make_stems(output, n_songs, seconds, seed=0, workers=1, split="train", subtype="FLOAT",
               mixture=False, sample_rate=44100, progress=True):
    """Write n_songs songs under output/split (see the module docstring).

    Returns (written, skipped)."""
    if n_songs < 1:
        raise DelimitError(f"--n_songs must be >= 1, got {n_songs}")
    if seconds <= 0:
        raise DelimitError(f"--seconds must be > 0, got {seconds}")
    if workers < 1:
        raise DelimitError(f"--workers must be >= 1, got {workers}")
    if subtype not in ("FLOAT", "PCM_16", "PCM_24"):
        raise DelimitError(f"--subtype must be FLOAT, PCM_16 or PCM_24, got {subtype}")
    if os.path.exists(output) and not os.path.isdir(output):
        raise DelimitError(f"{output}: --output exists and is not a folder")
    split_dir = os.path.join(output, split)
    try:
        os.makedirs(split_dir, exist_ok=True)
    except OSError as e:
        raise DelimitError(f"{split_dir}: cannot create the output folder ({e.strerror})")
    n_frames = int(round(seconds * sample_rate))
    names = STEMS + (("mixture",) if mixture else ())
    jobs, skipped = [], 0
    for i in range(n_songs):
        if _is_complete(os.path.join(split_dir, song_name(seed, i)), n_frames, sample_rate, names):
            skipped += 1
        else:
            jobs.append((output, split, seed, i, seconds, sample_rate, subtype, mixture))
    bar = tqdm(total=n_songs, initial=skipped, unit="song", desc="make_stems", disable=not progress)
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            _write_song(job)
            bar.update(1)
    else:
        with Pool(min(workers, len(jobs))) as pool:
            for _ in pool.imap_unordered(_write_song, jobs):
                bar.update(1)
    bar.close()
    try:
        os.rmdir(os.path.join(output, ".partial"))
    except OSError:
        pass  # absent, or another run is still using it
    return len(jobs), skipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="dataset root (musdb18-HQ layout)")
    parser.add_argument("--n_songs", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=0,
                        help="run seed; song i uses generated_song_seed(seed, i)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering in parallel")
    parser.add_argument("--split", default="train", help="sub-folder, e.g. train or test")
    parser.add_argument("--subtype", default="FLOAT",
                        help="wav sample format: FLOAT, PCM_16, PCM_24")
    parser.add_argument("--mixture", action="store_true",
                        help="also write mixture.wav (sum of stems)")
    args = parser.parse_args(argv)
    try:
        written, skipped = make_stems(args.output, args.n_songs, args.seconds, args.seed,
                                      args.workers, args.split, args.subtype, args.mixture)
    except DelimitError as e:
        print(f"make_stems: error: {e}", file=sys.stderr)
        return 1
    folder = os.path.join(args.output, args.split)
    print(f"{written} songs written, {skipped} already complete, in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
