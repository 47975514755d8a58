"""Rebuild musdb-XL-train's limited audio from its CSVs, gain ratios and musdb18-HQ's stems.

    python -m prepro.save_musdb_XL_train_wave --root MUSDB18HQ --musdb_XL_train_npy_root NPY_ROOT
        --output OUT [--workers W]

For each row of NPY_ROOT/ozone_train_random_*.csv writes OUT/ozone_train_random/ozone_seg_N.wav,
for each song of NPY_ROOT/ozone_train_fixed.csv OUT/ozone_train_fixed/{song}.wav: the unlimited
mix (utils.data.mixing.mix_from_row / mix_song; a segment is as long as its ratio) times the ratio
(utils.data.mixing.apply_ratio, which never gives NaN or inf), PCM_16 stereo 44.1 kHz. Files are
written atomically, so files already there are complete and are skipped: an interrupted run
resumes where it stopped. Per-file problems (a missing stem or ratio file, ...) are reported one
line each and the exit code is 1.
"""
import argparse
import multiprocessing
import os
import sys

from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.audio import write_audio
from utils.data.mixing import (
    FIXED_COLUMNS,
    RANDOM_COLUMNS,
    apply_ratio,
    load_ratio,
    mix_from_row,
    mix_song,
    random_csv_paths,
    read_csv_rows,
)
from utils.errors import DelimitError

SAMPLE_RATE = 44100


def write_wav(path, audio, sample_rate=SAMPLE_RATE):
    """Write (channels, time) float audio as PCM_16 wav atomically (utils.audio.to_pcm's rule:
    rounded to the nearest 16-bit step, clipped)."""
    write_audio(path, audio, sample_rate, subtype="PCM_16")


def limited_segment(root, npy_root, row, sample_rate=SAMPLE_RATE):
    """The limited audio of one random-segment row: float32 (2, time), as long as its ratio."""
    path = os.path.join(npy_root, "np_ratio", "ozone_train_random", f"{row['song_name']}.npy")
    ratio = load_ratio(path)
    mix = mix_from_row(root, row, ratio.shape[1] / sample_rate, sample_rate)
    return _apply(mix, ratio, path)


def limited_song(root, npy_root, song, sample_rate=SAMPLE_RATE):
    """The limited audio of one whole fixed song: float32 (2, time)."""
    path = os.path.join(npy_root, "np_ratio", "ozone_train_fixed", f"{song}.npy")
    ratio = load_ratio(path)
    mix = mix_song(root, song, 0.0, None, sample_rate)
    return _apply(mix, ratio, path)


def _apply(mix, ratio, ratio_path):
    if ratio.shape != mix.shape:
        raise DelimitError(f"{ratio_path}: ratio shape {ratio.shape} does not match the "
                           f"stems' mix {mix.shape}")
    return apply_ratio(mix, ratio)


def list_tasks(npy_root):
    """[(kind, row)] for the fixed songs then every random row; checks every CSV's columns
    first (a DelimitError names the CSV and the missing column)."""
    tasks = []
    fixed_csv = os.path.join(npy_root, "ozone_train_fixed.csv")
    if os.path.exists(fixed_csv):
        tasks += [("fixed", {"song_name": r["song_name"]})
                  for r in read_csv_rows(fixed_csv, FIXED_COLUMNS)]
    paths = random_csv_paths(npy_root)
    if not paths and not tasks:
        raise DelimitError(f"{npy_root}: no ozone_train_random_*.csv nor ozone_train_fixed.csv")
    for path in paths:
        # Keep only the needed columns as a tuple: 300,000 full dicts would cost gigabytes.
        tasks += [("random", tuple(r[c] for c in RANDOM_COLUMNS))
                  for r in read_csv_rows(path, RANDOM_COLUMNS)]
    return tasks


_JOB = {}


def _init(job):
    _JOB.clear()
    _JOB.update(job)


def _task(task):
    """Rebuild one file: ("written" | "skipped" | "failed", message)."""
    kind, row = task
    job = _JOB
    if kind == "random":
        row = dict(zip(RANDOM_COLUMNS, row))
    name = row["song_name"]
    path = os.path.join(job["output"], f"ozone_train_{kind}", f"{name}.wav")
    if os.path.exists(path):
        return "skipped", path
    try:
        if kind == "random":
            audio = limited_segment(job["root"], job["npy_root"], row)
        else:
            audio = limited_song(job["root"], job["npy_root"], name)
        write_wav(path, audio)
    except DelimitError as error:
        return "failed", f"{name}: {error}"
    except OSError as error:
        return "failed", f"{path}: cannot write ({error.strerror or error})"
    return "written", path


def rebuild(root, npy_root, output, workers=1):
    """Rebuild every file; returns counts {"written", "skipped", "failed"} and prints each
    failure as one line."""
    if not os.path.isdir(npy_root):
        raise DelimitError(f"{npy_root}: no such folder (musdb-XL-train root)")
    tasks = list_tasks(npy_root)
    for kind in ("random", "fixed"):
        os.makedirs(os.path.join(output, f"ozone_train_{kind}"), exist_ok=True)
    job = dict(root=root, npy_root=npy_root, output=output)
    counts = {"written": 0, "skipped": 0, "failed": 0}
    pool = None
    if workers > 1:
        pool = multiprocessing.get_context("fork").Pool(workers, _init, (job,))
        results = pool.imap(_task, tasks, chunksize=16)
    else:
        _init(job)
        results = map(_task, tasks)
    try:
        for status, message in tqdm(results, total=len(tasks), desc="rebuild", unit="file"):
            counts[status] += 1
            if status == "failed":
                tqdm.write(f"error: {message}", file=sys.stderr)
    finally:
        if pool is not None:
            pool.terminate()
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="musdb18-HQ: ROOT/train/{song}/{stem}.wav")
    parser.add_argument("--musdb_XL_train_npy_root", required=True,
                        help="musdb-XL-train: CSVs and np_ratio/")
    parser.add_argument("--output", required=True, help="folder for the wav files")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        counts = rebuild(args.root, args.musdb_XL_train_npy_root, args.output, args.workers)
    except DelimitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{counts['written']} written, {counts['skipped']} already there, "
          f"{counts['failed']} failed: {args.output}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
