"""Milliseconds per training item of the song dataset: the memory-mapped window read alone,
and the whole item (window, augmentation, live limiting by a training design).

    python benchmarks/bench_song_loader.py [--songs data/real_music/train] [--items 100]
        [--seq_dur 2.0]

Run it on an idle machine with one thread (NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1) to see
what one data-loading process delivers; a training step of the CPU configs takes 1.5-2.5 s
for 8 items.
"""
import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataloader import SongCache, SongDataset, build_song_cache, song_cache_dir  # noqa: E402
from utils.limiters.training import TRAINING_DESIGNS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", default="data/real_music/train")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--seq_dur", type=float, default=2.0)
    args = parser.parse_args(argv)
    cache_root = song_cache_dir({"song_root": args.songs, "song_cache": None})
    cache = SongCache(cache_root, build_song_cache(args.songs, cache_root))
    n = int(args.seq_dur * 44100)
    rng = np.random.default_rng(0)
    songs = [s for s in sorted(cache.frames) if cache.frames[s] > n]
    started = time.perf_counter()
    for _ in range(args.items):
        song = songs[int(rng.integers(len(songs)))]
        cache.window(song, int(rng.integers(cache.frames[song] - n)), n)
    read_ms = (time.perf_counter() - started) / args.items * 1000
    print(f"{len(songs)} songs, {sum(cache.frames.values()) / 44100 / 3600:.2f} h, "
          f"{args.seq_dur} s items")
    print(f"window read (memory map, int16 -> float32): {read_ms:7.2f} ms per item")
    for designs, unlimited in (((d,), 0.0) for d in TRAINING_DESIGNS):
        dataset = SongDataset(cache, songs, seq_dur=args.seq_dur, designs=designs,
                              unlimited_prob=unlimited)
        dataset[0]  # compile the limiters (numba) outside the timing
        times = []
        for index in range(1, args.items + 1):
            started = time.perf_counter()
            dataset[index]
            times.append((time.perf_counter() - started) * 1000)
        print(f"whole item, {designs[0]:21s}: median {np.median(times):6.1f} ms, "
              f"mean {np.mean(times):6.1f} ms, 95th percentile {np.percentile(times, 95):6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
