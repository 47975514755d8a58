"""Build a musdb-XL-train-style dataset with the project's maximizer.

    python -m prepro.make_musdb_XL_train --root STEMS --output OUT --n_segments N --seed K
        [--workers W] [--rows_per_csv 20000] [--seq_dur 4.0] [--no_fixed] [--n_valid 14]

writes, as the reference's dataset (REFERENCE.md, "Data"):
    OUT/ozone_train_random_{i}.csv    rows_per_csv rows each (the last may be partial), columns
                                      utils.data.mixing.RANDOM_COLUMNS, song_name = ozone_seg_{N}
    OUT/ozone_train_fixed.csv         song_name, max_threshold, max_character
    OUT/np_ratio/ozone_train_random/ozone_seg_{N}.npy   float16 (2, seq_dur * 44100)
    OUT/np_ratio/ozone_train_fixed/{song}.npy           float16 (2, song length)

Segment N: each of the 4 stems from a random training song at a random start, gain
U(0.25, 1.25), channel swap p=0.5 (silent mixes redrawn); target loudness ~ N(-8, 1) LUFS;
character = min(Gamma(2, 1), 10); utils.limiters.maximizer.maximize_to_loudness finds the drive that
lands within 0.5 LU of the target (measured on the stored form, mix * float16 ratio).
Loud targets with slow characters can be out of reach (the limiter saturates: more drive stops
adding loudness), so a miss is retried with the character stepped down towards 0 (x0.5, x0.25,
then 0: faster releases reach higher loudness). If even character 0 misses, or the mix is
already louder than the target at 0 dB drive, the whole mix is redrawn (as silent mixes are),
and a fixed song gets a new (target, character) draw. So every item lands within 0.5 LU, and
max_threshold / max_character record the drive and the character actually used: re-limiting
the row's mix with them (utils.limiters.maximizer.limit) gives the stored ratio bit for bit. On
generated stems (prepro.make_stems) about 1 segment in 30 needs a faster character, 1 in 600 a
redraw.
Fixed songs: every training song whole, limited the same way (a silent song is kept unlimited,
ratio 0). Validation songs (utils.data.mixing.split_songs) are used for neither.
The result depends only on (stems, seed, arguments), whatever the number of workers: segment
N's random generator is seeded by (seed, N), a fixed song's by (seed, its name).
"""
import argparse
import csv
import multiprocessing
import os
import sys

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.audio import atomic_path
from utils.data.mixing import (
    FIXED_COLUMNS,
    MAX_REDRAWS,
    RANDOM_COLUMNS,
    apply_ratio,
    draw_row,
    make_ratio,
    mix_from_row,
    mix_song,
    random_csv_paths,
    song_name_hash,
    split_songs,
    stem_frames,
)
from utils.errors import DelimitError
from utils.limiters.maximizer import maximize_to_loudness
from utils.loudness import integrated_loudness

SAMPLE_RATE = 44100
TOLERANCE_LU = 0.5
TARGET_LUFS_MEAN, TARGET_LUFS_STD = -8.0, 1.0
# A target the drawn character cannot reach is retried with character * factor, in turn.
RETRY_CHARACTER_FACTORS = (0.5, 0.25, 0.0)


def draw_limiting(rng):
    """(target_lufs, character) as musdb-XL-train draws them."""
    target_lufs = float(rng.normal(TARGET_LUFS_MEAN, TARGET_LUFS_STD))
    character = float(min(rng.gamma(2.0, 1.0), 10.0))
    return target_lufs, character


def limit_mix(mix, target_lufs, character, sample_rate=SAMPLE_RATE):
    """Limit `mix` (2, time) to `target_lufs`: (limited float32 (2, time), threshold_db)."""
    limited, _, threshold_db = maximize_to_loudness(mix, sample_rate, target_lufs, TOLERANCE_LU,
                                                    character=character)
    return limited, float(threshold_db)


def limit_to_target(mix, target_lufs, character, sample_rate=SAMPLE_RATE):
    """Limit `mix` (2, time) to within TOLERANCE_LU of `target_lufs`, stepping the character down
    (RETRY_CHARACTER_FACTORS) while the target is out of reach.

    Returns:
        (ratio float16 (2, time), threshold_db, character used, lufs of mix * ratio, tries =
        limiter solves made), or None if no character lands (the caller redraws).
    """
    tried = []
    for factor in (1.0,) + RETRY_CHARACTER_FACTORS:
        used = character * factor
        if used in tried:
            continue  # character 0 drawn: nothing faster to try
        tried.append(used)
        tries = len(tried)
        limited, threshold_db = limit_mix(mix, target_lufs, used, sample_rate)
        ratio = make_ratio(limited, mix)
        # Judge what users read back (the float16 ratio moves the loudness by ~0.001 LU).
        lufs = integrated_loudness(apply_ratio(mix, ratio), sample_rate)
        if abs(lufs - target_lufs) <= TOLERANCE_LU:
            return ratio, threshold_db, used, lufs, tries
        if lufs > target_lufs and threshold_db == 0.0:
            return None  # louder than the target undriven: no character makes it quieter
    return None


def make_segment(root, songs, lengths, seed, number, seq_dur=4.0, sample_rate=SAMPLE_RATE):
    """Random segment `number`.

    Args:
        root: stem folder (musdb18-HQ layout).
        songs: training song names to draw from; lengths: utils.data.mixing.stem_frames of them.
        seed, number: the segment's generator is seeded by (seed, number).
    Returns:
        (row: dict of RANDOM_COLUMNS (channelswap as a bool), ratio float16 (2, T),
         info: dict target_lufs, lufs (of mix * ratio), drawn_character, tries (limiter solves
         on the kept mix, see limit_to_target), redraws (mixes dropped as out of reach)).
    """
    rng = np.random.default_rng([seed, 0, number])
    n_samples = int(round(seq_dur * sample_rate))
    redraws = 0
    for _ in range(MAX_REDRAWS):
        stems = draw_row(rng, songs, lengths, n_samples, sample_rate)
        mix = mix_from_row(root, stems, seq_dur, sample_rate)
        if not np.isfinite(integrated_loudness(mix, sample_rate)):
            continue  # silent: draw another mix
        target_lufs, character = draw_limiting(rng)
        result = limit_to_target(mix, target_lufs, character, sample_rate)
        if result is not None:
            break
        redraws += 1  # no character reaches the target on this mix: draw another mix
    else:
        raise DelimitError(f"{root}: {MAX_REDRAWS} mixes in a row silent or out of the "
                           f"limiter's reach; are the stems silent or very loud?")
    ratio, threshold_db, used, lufs, tries = result
    row = {"song_name": f"ozone_seg_{number}", "max_threshold": threshold_db,
           "max_character": used, **stems}
    info = {"target_lufs": target_lufs, "lufs": lufs, "drawn_character": character,
            "tries": tries, "redraws": redraws}
    return row, ratio, info


def make_fixed(root, song, seed, sample_rate=SAMPLE_RATE):
    """One whole training song limited as the segments are: (row, ratio float16 (2, T), info).

    The song cannot be redrawn, so a target out of reach of every character gets a new
    (target, character) draw instead. A silent song is kept unlimited (threshold 0, ratio 0,
    info lufs -inf). info as make_segment's, redraws counting dropped targets.
    """
    rng = np.random.default_rng([seed, 2, song_name_hash(song)])
    mix = mix_song(root, song, 0.0, None, sample_rate)
    silent = not np.isfinite(integrated_loudness(mix, sample_rate))
    for redraws in range(MAX_REDRAWS):
        target_lufs, character = draw_limiting(rng)
        if silent:
            result = (make_ratio(mix, mix), 0.0, character, -np.inf, 0)
            break
        result = limit_to_target(mix, target_lufs, character, sample_rate)
        if result is not None:
            break
    else:
        raise DelimitError(f"{os.path.join(root, 'train', song)}: none of {MAX_REDRAWS} drawn "
                           f"targets of N({TARGET_LUFS_MEAN}, {TARGET_LUFS_STD}) LUFS is within "
                           f"the limiter's reach")
    ratio, threshold_db, used, lufs, tries = result
    row = {"song_name": song, "max_threshold": threshold_db, "max_character": used}
    info = {"target_lufs": target_lufs, "lufs": lufs, "drawn_character": character,
            "tries": tries, "redraws": redraws}
    return row, ratio, info


def save_npy(path, array):
    """np.save, atomically (temporary file in the same folder, then os.replace)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_csv(path, columns, rows):
    """Write rows (dicts) atomically; bools become the text True/False."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([str(row[c]) for c in columns])  # str(float) reads back exactly


# Worker state, set once per process (the song tables are too big to send with every task).
_JOB = {}


def _init(job):
    _JOB.clear()
    _JOB.update(job)


def _segment_task(number):
    job = _JOB
    row, ratio, info = make_segment(job["root"], job["songs"], job["lengths"], job["seed"],
                                    number, job["seq_dur"], job["sample_rate"])
    save_npy(os.path.join(job["output"], "np_ratio", "ozone_train_random",
                          f"{row['song_name']}.npy"), ratio)
    return row, info


def _fixed_task(song):
    job = _JOB
    row, ratio, info = make_fixed(job["root"], song, job["seed"], job["sample_rate"])
    save_npy(os.path.join(job["output"], "np_ratio", "ozone_train_fixed", f"{song}.npy"), ratio)
    return row, info


def make_dataset(root, output, n_segments, seed, workers=1, rows_per_csv=20000, seq_dur=4.0,
                 fixed=True, n_valid=14, sample_rate=SAMPLE_RATE):
    """Write the dataset (see the module docstring). Returns a summary dict: n_segments,
    n_fixed, n_csv, retried (items limited with a faster character than drawn), redrawn (mixes,
    or fixed songs' targets, dropped as out of reach), off_target (items more than 0.5 LU from
    their target: only silent fixed songs, kept unlimited), train_songs, valid_songs."""
    if n_segments < 0 or rows_per_csv < 1 or workers < 1 or seq_dur <= 0:
        raise DelimitError("n_segments must be >= 0, rows_per_csv and workers >= 1, seq_dur > 0")
    train, valid = split_songs(root, n_valid)
    lengths = stem_frames(root, train, sample_rate)
    for sub in ("ozone_train_random", "ozone_train_fixed"):
        os.makedirs(os.path.join(output, "np_ratio", sub), exist_ok=True)
    job = dict(root=root, songs=train, lengths=lengths, seed=seed, seq_dur=seq_dur,
               sample_rate=sample_rate, output=output)
    summary = dict(n_segments=n_segments, n_fixed=0, n_csv=0, retried=0, redrawn=0,
                   off_target=0, train_songs=train, valid_songs=valid)

    def run(pool, task, items, desc):
        if pool is None:
            results = map(task, items)
        else:
            results = pool.imap(task, items, chunksize=8 if task is _segment_task else 1)
        for row, info in tqdm(results, total=len(items), desc=desc, unit="item"):
            if abs(info["lufs"] - info["target_lufs"]) > TOLERANCE_LU:
                summary["off_target"] += 1
            summary["retried"] += info["tries"] > 1
            summary["redrawn"] += info["redraws"]
            yield row

    pool = None
    if workers > 1:
        pool = multiprocessing.get_context("fork").Pool(workers, _init, (job,))
    else:
        _init(job)
    try:
        if fixed:
            rows = list(run(pool, _fixed_task, train, "fixed songs"))
            write_csv(os.path.join(output, "ozone_train_fixed.csv"), FIXED_COLUMNS, rows)
            summary["n_fixed"] = len(rows)
        rows = []
        for row in run(pool, _segment_task, range(n_segments), "segments"):
            rows.append(row)
            if len(rows) == rows_per_csv:
                _write_random_csv(output, summary, rows)
                rows = []
        if rows:
            _write_random_csv(output, summary, rows)
    finally:
        if pool is not None:
            pool.terminate()
    # The folder must describe this run only: loaders read every CSV they find.
    for path in random_csv_paths(output)[summary["n_csv"]:]:
        os.remove(path)
    if not fixed and os.path.exists(os.path.join(output, "ozone_train_fixed.csv")):
        os.remove(os.path.join(output, "ozone_train_fixed.csv"))
    return summary


def _write_random_csv(output, summary, rows):
    path = os.path.join(output, f"ozone_train_random_{summary['n_csv']}.csv")
    write_csv(path, RANDOM_COLUMNS, rows)
    summary["n_csv"] += 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="stems: ROOT/train/{song}/{stem}.wav")
    parser.add_argument("--output", required=True, help="dataset folder to write")
    parser.add_argument("--n_segments", type=int, required=True, help="random segments")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rows_per_csv", type=int, default=20000)
    parser.add_argument("--seq_dur", type=float, default=4.0, help="segment seconds")
    parser.add_argument("--no_fixed", action="store_true", help="skip the whole fixed songs")
    parser.add_argument("--n_valid", type=int, default=14,
                        help="songs held out where ROOT has none of musdb's validation songs")
    args = parser.parse_args(argv)
    try:
        summary = make_dataset(args.root, args.output, args.n_segments, args.seed, args.workers,
                               args.rows_per_csv, args.seq_dur, not args.no_fixed, args.n_valid)
    except DelimitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    total = summary["n_segments"] + summary["n_fixed"]
    print(f"wrote {summary['n_segments']} segments in {summary['n_csv']} CSV(s) and "
          f"{summary['n_fixed']} fixed songs to {args.output} "
          f"({len(summary['train_songs'])} training songs; held out: "
          f"{len(summary['valid_songs'])}); {total - summary['off_target']} of {total} within "
          f"{TOLERANCE_LU} LU of their target ({summary['retried']} with a faster character "
          f"than drawn, {summary['redrawn']} out-of-reach draw(s) redrawn"
          + (f", {summary['off_target']} silent fixed song(s) left unlimited"
             if summary["off_target"] else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
