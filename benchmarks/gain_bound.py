"""How much could a gain-only model win? The model outputs input x g(t), one gain for both
channels; this finds, for each evaluation excerpt, the best gain that is constant over frames
of N samples (least squares against the reference, stereo-linked, >= 0) and scores it like
run_eval does (ΔSI-SDR over the input). Short frames say what any gain curve could reach; long
ones what a smooth one could. A model far under the bound lacks the skill, not the means.

    python benchmarks/gain_bound.py [--eval_root ./eval_data] [--real_root ./eval_data/real]
        [--frames 64 512 4096]

Sets as in run_eval: maximizer, alt_limiter (generated), real_alt_limiter, real_multiband. A file
that cannot be read is named on stderr and left out; the exit code is then 1.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.run_eval import GENERATED_SETS, REAL_SETS, set_folders  # noqa: E402
from utils.audio import find_audio_files, read_audio  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.evaluation.metrics import si_sdr  # noqa: E402


def best_framed_gain(limited, reference, frame):
    """limited x g, with g constant over each frame of `frame` samples (the last, shorter frame
    too) and the least-squares fit to `reference` there, over both channels, clipped at 0.
    (channels, time) arrays -> float64 (channels, time)."""
    limited = np.asarray(limited, np.float64)
    reference = np.asarray(reference, np.float64)
    starts = np.arange(0, limited.shape[-1], frame)
    cross = np.add.reduceat((limited * reference).sum(0), starts)
    energy = np.add.reduceat((limited ** 2).sum(0), starts)
    gain = np.clip(cross / np.maximum(energy, 1e-20), 0.0, None)
    return limited * np.repeat(gain, np.diff(np.append(starts, limited.shape[-1])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval_root", default="./eval_data")
    parser.add_argument("--real_root", default="./eval_data/real")
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 512, 4096])
    args = parser.parse_args(argv)
    header = "| set | files | input SI-SDR | " + " | ".join(
        f"bound, {n}-sample frames" for n in args.frames) + " |"
    print(header)
    print("|---|---:|---:|" + "---:|" * len(args.frames))
    failed = False
    for name in (*GENERATED_SETS, *REAL_SETS):
        inputs, references = set_folders(name, args.eval_root, args.real_root)
        if not os.path.isdir(inputs):
            print(f"| {name} | missing: {inputs} |")
            continue
        base, gains = [], []
        for path in find_audio_files(inputs):
            try:
                limited, _ = read_audio(path)
                reference, _ = read_audio(os.path.join(references, os.path.basename(path)))
            except DelimitError as err:  # one bad file: say which, score the rest
                print(f"error: {err}", file=sys.stderr)
                failed = True
                continue
            base.append(si_sdr(limited, reference))
            gains.append([si_sdr(best_framed_gain(limited, reference, n), reference) - base[-1]
                          for n in args.frames])
        if not base:
            continue
        cells = " | ".join(f"+{g:.2f}" for g in np.mean(gains, axis=0))
        print(f"| {name} | {len(base)} | {np.mean(base):.2f} | {cells} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
