"""Build the real-music evaluation sets: excerpts of real records limited by the two designs
kept out of training, and the same excerpts unlimited (the do-no-harm set).

    python -m prepro.debian_music --set eval --output data/real_music      # the songs
    python -m prepro.make_real_eval_sets --songs data/real_music/eval --output eval_data/real

Excerpts: one excerpt of --seconds from each track (sorted by path) at each of --positions,
fractions of its length (default 1/3 and 2/3; moved on by a few seconds where that part is near
silent). For excerpt i, numpy.random.default_rng([seed, i]) draws the target loudness N(-8, 1)
LUFS. Each excerpt, at the level it has on the record, is limited to that target by
utils.limiters.alt_limiter (compressor + soft clipper) and by utils.limiters.multiband (three-band
limiter); neither design is used in training. A confirmation set, to check a pick on excerpts
that no selection has looked at, takes other positions and another seed into another folder:

    python -m prepro.make_real_eval_sets --output eval_data/real_confirm \
        --positions 0.15 0.5 0.85 --seed 9200

Written, float32 44.1 kHz stereo wav:

    OUT/references/{name}.wav   the excerpt at -14 LUFS: the target, and the do-no-harm input
    OUT/alt_limiter/{name}.wav  limited by the alt limiter
    OUT/multiband/{name}.wav    limited by the multiband limiter
    OUT/real_eval_set.csv       per excerpt: track, start, loudness on the record, target,
                                each limiter's drive and the loudness it reached
"""
import argparse
import csv
import os
import re
import sys
from fractions import Fraction

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.audio import (  # noqa: E402
    MODEL_RATE,
    atomic_path,
    find_audio_files,
    read_audio,
    resample,
    to_stereo,
    write_audio,
)
from utils.errors import DelimitError  # noqa: E402
from utils.limiters.alt_limiter import alt_maximize_to_loudness  # noqa: E402
from utils.limiters.multiband import multiband_maximize_to_loudness  # noqa: E402
from utils.loudness import integrated_loudness, normalize_loudness  # noqa: E402

DEFAULT_POSITIONS = (1 / 3, 2 / 3)
REFERENCE_LUFS = -14.0
TOLERANCE_LU = 0.5
LIMITED_SETS = ("alt_limiter", "multiband")
CSV_NAME = "real_eval_set.csv"


def excerpt_name(relative, k):
    """A file name from a track's relative path: letters, digits, '-' and '_' only."""
    stem = os.path.splitext(relative)[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") + f"_{k}"


def excerpts(audio, n, positions=DEFAULT_POSITIONS):
    """[(start, excerpt (2, n))] of a track (2, time) at 44.1 kHz, one starting at each of
    `positions` (fractions of the track), stepped on by 2 s while the excerpt is below -40
    LUFS."""
    length = audio.shape[1]
    found = []
    for position in positions:
        # as an exact fraction, so that 1/3 given as a float starts where length // 3 does
        fraction = Fraction(position).limit_denominator(1000)
        start = max(0, min(length * fraction.numerator // fraction.denominator, length - n))
        while start + n < length and integrated_loudness(audio[:, start:start + n],
                                                         MODEL_RATE) < -40.0:
            start += 2 * MODEL_RATE
        found.append((start, audio[:, start:start + n]))
    return found


def make_real_eval_sets(songs, output, seconds=10.0, seed=9100, progress=True,
                        positions=DEFAULT_POSITIONS):
    """Write the sets under `output` (see the module docstring).

    Returns (CSV rows, problems): a track that cannot be read is reported in one line, left
    out, and listed in problems; the others are still used.
    """
    if not positions or not all(0.0 <= p < 1.0 for p in positions):
        raise DelimitError(f"excerpt positions must be fractions in [0, 1), got {positions}")
    tracks = find_audio_files(songs, recursive=True)
    if not tracks:
        raise DelimitError(f"{songs}: no songs")
    n = int(round(seconds * MODEL_RATE))
    for name in ("references", *LIMITED_SETS):
        os.makedirs(os.path.join(output, name), exist_ok=True)
    rows, problems = [], []
    for path in tqdm(tracks, desc="real eval sets", unit="track", disable=not progress):
        try:
            audio, rate = read_audio(path)
        except DelimitError as err:
            tqdm.write(f"error: {err}", file=sys.stderr)
            problems.append(str(err))
            continue
        audio = to_stereo(resample(audio, rate, MODEL_RATE))
        if audio.shape[1] < n:
            print(f"skipped {path}: shorter than {seconds} s", file=sys.stderr)
            continue
        for k, (start, excerpt) in enumerate(excerpts(audio, n, positions)):
            rng = np.random.default_rng([seed, len(rows)])
            target = float(rng.normal(-8.0, 1.0))
            name = excerpt_name(os.path.relpath(path, songs), k)
            alt, alt_drive = alt_maximize_to_loudness(excerpt, MODEL_RATE, target, TOLERANCE_LU)
            multi, multi_drive = multiband_maximize_to_loudness(excerpt, MODEL_RATE, target,
                                                                TOLERANCE_LU)
            signals = {"references": normalize_loudness(excerpt, MODEL_RATE, REFERENCE_LUFS),
                       "alt_limiter": alt, "multiband": multi}
            for set_name, signal in signals.items():
                write_audio(os.path.join(output, set_name, f"{name}.wav"), signal, MODEL_RATE,
                            subtype="FLOAT")
            rows.append({"name": name, "track": os.path.relpath(path, songs),
                         "start_s": round(start / MODEL_RATE, 3),
                         "record_lufs": round(integrated_loudness(excerpt, MODEL_RATE), 2),
                         "target_lufs": round(target, 2),
                         "alt_drive_db": round(alt_drive, 2),
                         "alt_lufs": round(integrated_loudness(alt, MODEL_RATE), 2),
                         "multiband_drive_db": round(multi_drive, 2),
                         "multiband_lufs": round(integrated_loudness(multi, MODEL_RATE), 2)})
    with atomic_path(os.path.join(output, CSV_NAME)) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", default="data/real_music/eval",
                        help="folder of evaluation songs (prepro.debian_music --set eval)")
    parser.add_argument("--output", default="eval_data/real", help="folder for the sets")
    parser.add_argument("--seconds", type=float, default=10.0, help="excerpt length")
    parser.add_argument("--seed", type=int, default=9100)
    parser.add_argument("--positions", type=float, nargs="+", default=list(DEFAULT_POSITIONS),
                        help="where the excerpts start, as fractions of each track")
    args = parser.parse_args(argv)
    try:
        rows, problems = make_real_eval_sets(args.songs, args.output, args.seconds, args.seed,
                                             positions=args.positions)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(rows)} excerpts in {args.output}/{{references,{','.join(LIMITED_SETS)}}}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
