"""Speed of utils.limiters.maximizer.limit (and the evaluation limiter) on 60 s of stereo 44.1 kHz.

Prints the real-time factor (audio seconds per second of compute; best of --repeats runs) for a
few settings, with and without true-peak detection. Run it on one core:
    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 taskset -c 0 python -m benchmarks.bench_maximizer
"""
import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.limiters.alt_limiter import alt_limit
from utils.limiters.maximizer import limit, maximize_to_loudness

SR = 44100


def synthetic_mix(seconds, seed=0):
    """A dense test mix (2, T) float64: sustained tones, a bass line and drum hits."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    mix = np.zeros((2, n))
    for freq in (110, 220, 330, 440, 660, 880, 1320):
        phase = rng.uniform(0, 2 * np.pi, (2, 1))
        mix += rng.uniform(0.02, 0.08) * np.sin(2 * np.pi * freq * t + phase)
    beat = int(0.25 * SR)
    hits = np.zeros(n)
    for start in range(0, n, beat):
        k = np.arange(min(beat, n - start))
        hits[start:start + len(k)] = np.exp(-k / (0.03 * SR)) * rng.uniform(0.3, 1.0)
    mix += hits * rng.standard_normal((2, n)) * 0.4
    mix += 0.4 * hits * np.sin(2 * np.pi * 55 * t)
    return mix


def best_time(fn, repeats):
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    audio = synthetic_mix(args.seconds)
    settings = [
        ("limit character 0, threshold -6", dict(character=0.0, threshold_db=-6.0)),
        ("limit character 2, threshold -10", dict(character=2.0, threshold_db=-10.0)),
        ("limit character 10, threshold -15", dict(character=10.0, threshold_db=-15.0)),
        ("limit character 2, threshold -10, true peak",
         dict(character=2.0, threshold_db=-10.0, true_peak=True)),
        ("limit character 8, threshold -15, true peak",
         dict(character=8.0, threshold_db=-15.0, true_peak=True)),
    ]
    print(f"{args.seconds:.0f} s stereo at {SR} Hz, best of {args.repeats}")
    for name, kwargs in settings:
        seconds = best_time(lambda: limit(audio, SR, **kwargs), args.repeats)
        print(f"{name:48s} {seconds * 1000:8.1f} ms  {args.seconds / seconds:7.0f}x real time")
    seconds = best_time(lambda: alt_limit(audio, SR, drive_db=10.0), args.repeats)
    print(f"{'alt_limit drive 10 dB':48s} {seconds * 1000:8.1f} ms  "
          f"{args.seconds / seconds:7.0f}x real time")
    segment = audio[:, :4 * SR]
    seconds = best_time(lambda: maximize_to_loudness(segment, SR, -8.0), args.repeats)
    print(f"{'maximize_to_loudness, 4 s segment to -8 LUFS':48s} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
