"""How peaky is the training music? Crest factor and peak-to-loudness ratio (PLR) of 10 s
windows of real songs (as they are, and mastered loud as data_params.premaster_prob does) and
of generated mixes, with and without the mix-bus stage.

    python benchmarks/measure_dynamics.py [--songs data/real_music/train]
        [--stems data/stems_train] [--windows 60] [--seconds 10]

Generated mixes much peakier than records make a model expand everything; the README's table
of this comes from here. Real songs are read from their decoded cache (dataloader.songs), the
generated songs as the plain sum of their stems (coherent windows, as the datasets draw with
use_fixed) and the same through utils.limiters.compressor.mix_bus with random settings. The
mastered songs are the same real windows through utils.limiters.training.premaster (the five
designs of configs/delimit_real_premaster, to U(-13, -7) LUFS).
Windows quieter than -40 LUFS are skipped.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataloader import SongCache, build_song_cache, song_cache_dir  # noqa: E402
from utils.data.mixing import list_songs, mix_song, stem_frames  # noqa: E402
from utils.evaluation.metrics import crest_factor, peak_to_loudness_ratio  # noqa: E402
from utils.limiters.compressor import mix_bus, random_bus_params  # noqa: E402
from utils.limiters.training import premaster  # noqa: E402
from utils.loudness import integrated_loudness  # noqa: E402

RATE = 44100
PREMASTER_DESIGNS = ("maximizer", "compressor_maximizer", "clipper_maximizer",
                     "saturator_maximizer", "two_band_maximizer")


def real_windows(song_root, n, seconds, rng):
    cache_root = song_cache_dir({"song_root": song_root, "song_cache": None})
    cache = SongCache(cache_root, build_song_cache(song_root, cache_root))
    songs = [s for s in sorted(cache.frames) if cache.frames[s] > seconds * RATE]
    length = int(seconds * RATE)
    for _ in range(n):
        song = songs[int(rng.integers(len(songs)))]
        yield cache.window(song, int(rng.integers(cache.frames[song] - length)), length)


def generated_windows(stem_root, n, seconds, rng):
    songs = list_songs(stem_root)
    frames = stem_frames(stem_root, songs)
    length = int(seconds * RATE)
    for _ in range(n):
        song = songs[int(rng.integers(len(songs)))]
        start = int(rng.integers(max(1, min(frames[song].values()) - length)))
        yield mix_song(stem_root, song, start / RATE, length)


def describe(windows):
    crest, plr = [], []
    for audio in windows:
        if integrated_loudness(audio, RATE) > -40.0:
            crest.append(crest_factor(audio))
            plr.append(peak_to_loudness_ratio(audio, RATE))
    return (f"{len(crest):4d} | {np.mean(crest):6.2f} | {np.median(crest):6.2f} | "
            f"{np.mean(plr):6.2f} | {np.median(plr):6.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", default="data/real_music/train")
    parser.add_argument("--stems", default="data/stems_train")
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print("| music | windows | crest mean (dB) | crest median | PLR mean (dB) | PLR median |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("real songs (training packages)",
             real_windows(args.songs, args.windows, args.seconds, np.random.default_rng(0))),
            ("real songs mastered loud (premaster)",
             (premaster(w, RATE, np.random.default_rng(i), PREMASTER_DESIGNS)[0]
              for i, w in enumerate(real_windows(args.songs, args.windows, args.seconds,
                                                 np.random.default_rng(0))))),
            ("generated mixes, plain sum of stems",
             generated_windows(args.stems, args.windows, args.seconds, np.random.default_rng(1))),
            ("generated mixes through the mix-bus stage",
             (mix_bus(w, RATE, **random_bus_params(np.random.default_rng(i)))
              for i, w in enumerate(generated_windows(args.stems, args.windows, args.seconds,
                                                      np.random.default_rng(1)))))]
    for name, windows in rows:
        print(f"| {name} | {describe(windows)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
