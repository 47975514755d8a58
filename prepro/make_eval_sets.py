"""Build the project's evaluation sets from generated songs that training never saw.

    python -m prepro.make_eval_sets --output DIR [--n_songs 10] [--seconds 30] [--seed 9000]

Song i is prepro.make_stems.render_song(generated_song_seed(seed, i)), named song_name(seed, i)
(gen_s9000_0000, ...). Training data is generated with run seeds below EVAL_MIN_SEED (9000; the
configs use seed 1), so the evaluation songs are different songs: this builder refuses seeds
below it. For each song it writes (float32 wav, 44.1 kHz stereo):

    DIR/references/{song}.wav   the unlimited mix normalised to -14 LUFS (as musdb-XL's
                                references: musdb18-HQ mixtures at -14 LUFS)
    DIR/maximizer/{song}.wav    the mix through utils.limiters.maximizer.maximize_to_loudness
    DIR/alt_limiter/{song}.wav  the mix through utils.limiters.alt_limiter.alt_maximize_to_loudness
    DIR/eval_set.csv            per song: the drawn target and character, the limiters'
                                settings and the loudness each output reached

Targets follow musdb-XL: target loudness ~ N(-8, 1) LUFS, character = min(Gamma(2, 1), 10);
both limiters get the same target (the alternative limiter has no character). The draws of
song i come from numpy.random.default_rng([seed, i]), so a set is reproducible song by song.
"""
import argparse
import csv
import os
import sys

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prepro.make_stems import STEMS, generated_song_seed, render_song, song_name
from utils.audio import atomic_path, write_audio
from utils.errors import DelimitError
from utils.limiters.alt_limiter import alt_maximize_to_loudness
from utils.limiters.maximizer import maximize_to_loudness
from utils.loudness import integrated_loudness, normalize_loudness

EVAL_MIN_SEED = 9000  # training songs use run seeds below this
SAMPLE_RATE = 44100
REFERENCE_LUFS = -14.0
TOLERANCE_LU = 0.5
SETS = ("references", "maximizer", "alt_limiter")
CSV_NAME = "eval_set.csv"
CSV_COLUMNS = ("name", "song_seed", "target_lufs", "character", "maximizer_threshold_db",
               "maximizer_lufs", "alt_drive_db", "alt_lufs", "mix_lufs", "reference_lufs")


def draw_params(seed, index):
    """The limiter settings of song `index` of set `seed`: {target_lufs, character}."""
    rng = np.random.default_rng([int(seed), int(index)])
    return {"target_lufs": float(rng.normal(-8.0, 1.0)),
            "character": float(min(rng.gamma(2.0, 1.0), 10.0))}


def make_song(seed, index, seconds, sample_rate=SAMPLE_RATE):
    """Render and limit one evaluation song.

    Args:
        seed: the set's run seed (>= EVAL_MIN_SEED); index: the song's number in the set.
        seconds: song length; sample_rate: in Hz.
    Returns:
        (name, {set name: float32 (2, time)}, CSV row dict with CSV_COLUMNS).
    """
    stems = render_song(generated_song_seed(seed, index), seconds, sample_rate)
    mix = sum(stems[s].astype(np.float64) for s in STEMS)
    params = draw_params(seed, index)
    limited, _, threshold_db = maximize_to_loudness(
        mix, sample_rate, params["target_lufs"], TOLERANCE_LU, character=params["character"])
    alt, drive_db = alt_maximize_to_loudness(mix, sample_rate, params["target_lufs"],
                                             TOLERANCE_LU)
    reference = normalize_loudness(mix, sample_rate, REFERENCE_LUFS).astype(np.float32)
    audio = {"references": reference, "maximizer": limited, "alt_limiter": alt}
    row = {"name": song_name(seed, index), "song_seed": generated_song_seed(seed, index),
           **params,
           "maximizer_threshold_db": threshold_db,
           "maximizer_lufs": integrated_loudness(limited, sample_rate),
           "alt_drive_db": drive_db, "alt_lufs": integrated_loudness(alt, sample_rate),
           "mix_lufs": integrated_loudness(mix, sample_rate),
           "reference_lufs": integrated_loudness(reference, sample_rate)}
    return row["name"], audio, row


def _write_csv(path, rows):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v)
                             for k, v in row.items()})


def make_eval_sets(output, n_songs=10, seconds=30.0, seed=EVAL_MIN_SEED,
                   sample_rate=SAMPLE_RATE, progress=True):
    """Write the evaluation sets under `output` (see the module docstring).

    Returns:
        list of CSV row dicts, one per song, as written to output/eval_set.csv.
    Raises:
        DelimitError: seed below EVAL_MIN_SEED, n_songs < 1, seconds <= 0, bad output path.
    """
    if seed < EVAL_MIN_SEED:
        raise DelimitError(f"--seed {seed}: evaluation seeds must be >= {EVAL_MIN_SEED} "
                           f"(training songs are generated with run seeds below it)")
    if n_songs < 1:
        raise DelimitError(f"--n_songs must be >= 1, got {n_songs}")
    if not seconds > 0:
        raise DelimitError(f"--seconds must be > 0, got {seconds}")
    if os.path.exists(output) and not os.path.isdir(output):
        raise DelimitError(f"{output}: --output exists and is not a folder")
    for name in SETS:
        os.makedirs(os.path.join(output, name), exist_ok=True)
    rows = []
    for index in tqdm(range(n_songs), desc="eval sets", unit="song", disable=not progress):
        name, audio, row = make_song(seed, index, seconds, sample_rate)
        for set_name, signal in audio.items():
            write_audio(os.path.join(output, set_name, f"{name}.wav"), signal, sample_rate,
                        subtype="FLOAT")
        for key in ("maximizer_lufs", "alt_lufs"):
            if abs(row[key] - row["target_lufs"]) > TOLERANCE_LU:
                tqdm.write(f"make_eval_sets: {name}: {key} {row[key]:.2f} misses the target "
                           f"{row['target_lufs']:.2f} LUFS by more than {TOLERANCE_LU} LU",
                           file=sys.stderr)
        rows.append(row)
    _write_csv(os.path.join(output, CSV_NAME), rows)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder for the sets")
    parser.add_argument("--n_songs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=EVAL_MIN_SEED,
                        help=f"run seed, >= {EVAL_MIN_SEED} (training uses seeds below it)")
    args = parser.parse_args(argv)
    try:
        rows = make_eval_sets(args.output, args.n_songs, args.seconds, args.seed)
    except DelimitError as err:
        print(f"make_eval_sets: error: {err}", file=sys.stderr)
        return 1
    print(f"{len(rows)} songs in {args.output}/{{{','.join(SETS)}}}, parameters in "
          f"{os.path.join(args.output, CSV_NAME)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
