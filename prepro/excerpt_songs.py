"""A small copy of a song folder: the middle of each song, re-encoded as Opus.

    python -m prepro.excerpt_songs --input data/real_music/train --output data/real_excerpts \
        --seconds 35

For moving training music where only a few tens of MB can go (a rented GPU machine, say):
13 h of songs become about 1.7 h at about 64 kb/s. Each song under INPUT (recursively) gives
OUTPUT/<same relative path, extension .opus> holding its middle SECONDS (the whole song when
shorter), at 48 kHz, the rate Opus needs; the song cache resamples it to 44.1 kHz. The
train/validation split hashes the path without its extension, so the copy splits like the
original. Songs shorter than 4 s are left out, as training leaves them out.
"""
import argparse
import os
import sys

import numpy as np
import soundfile as sf
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataloader.songs import MIN_SONG_SECONDS  # noqa: E402
from utils.audio import AudioReader, atomic_path, find_audio_files, resample, to_stereo  # noqa: E402
from utils.errors import DelimitError  # noqa: E402

OPUS_RATE = 48000
# soundfile's compression_level for Opus: 0.9 measured about 63 kb/s on stereo music.
OPUS_LEVEL = 0.9


def middle_excerpt(path, seconds):
    """float32 (2, n) of the song's middle `seconds` (all of it when shorter) and its rate, or
    None for a file shorter than MIN_SONG_SECONDS. Reads block by block, keeping the excerpt."""
    with AudioReader(path) as reader:
        rate, total = reader.sample_rate, reader.declared_frames
        if total < MIN_SONG_SECONDS * rate:
            return None
        length = min(total, int(round(seconds * rate)))
        start = (total - length) // 2
        kept, position = [], 0
        for block in reader.blocks():
            lo, hi = max(start - position, 0), min(start + length - position, block.shape[1])
            if hi > lo:
                kept.append(to_stereo(block[:, lo:hi]))
            position += block.shape[1]
            if position >= start + length:
                break
    return np.concatenate(kept, axis=1), rate


def excerpt_folder(input_root, output_root, seconds):
    """Write the excerpts; returns (written seconds, output bytes, failures)."""
    songs = find_audio_files(input_root, recursive=True)
    if not songs:
        raise DelimitError(f"{input_root}: no songs (wav, flac, ogg, opus, mp3, aiff)")
    total_seconds, total_bytes, failures = 0.0, 0, 0
    written = {}  # output path -> the song it came from
    for path in tqdm(songs, desc="excerpts", unit="song"):
        relative = os.path.splitext(os.path.relpath(path, input_root))[0] + ".opus"
        out = os.path.join(output_root, relative)
        if out in written:  # a.ogg beside a.mp3: one name once the extension is gone
            tqdm.write(f"error: {path}: same name as {written[out]} without the extension; "
                       "left out")
            failures += 1
            continue
        written[out] = path
        try:
            excerpt = middle_excerpt(path, seconds)
            if excerpt is None:
                continue
            audio, rate = excerpt
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with atomic_path(out) as tmp:
                sf.write(tmp, resample(audio, rate, OPUS_RATE).T, OPUS_RATE, format="OGG",
                         subtype="OPUS", compression_level=OPUS_LEVEL)
        except (DelimitError, OSError, sf.LibsndfileError) as err:
            tqdm.write(f"error: {err}")
            failures += 1
            continue
        total_seconds += audio.shape[1] / rate
        total_bytes += os.path.getsize(out)
    return total_seconds, total_bytes, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="folder of songs (searched recursively)")
    parser.add_argument("--output", required=True, help="folder for the .opus excerpts")
    parser.add_argument("--seconds", type=float, default=35.0, help="excerpt length (35)")
    args = parser.parse_args(argv)
    if args.seconds < MIN_SONG_SECONDS:
        parser.error(f"--seconds must be at least {MIN_SONG_SECONDS:g}")
    if os.path.abspath(args.output) == os.path.abspath(args.input):
        parser.error("--output must not be --input (inputs are never overwritten)")
    try:
        seconds, size, failures = excerpt_folder(args.input, args.output, args.seconds)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.output}: {seconds / 3600:.2f} h of music in {size / 2**20:.1f} MiB"
          + (f"; {failures} file(s) failed" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
