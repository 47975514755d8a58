"""How much could a gain-only model win? The model outputs input x g(t), one gain for both
channels; this finds, for each evaluation excerpt, the best gain that is constant over frames
of N samples (least squares against the reference, stereo-linked, >= 0) and scores it like
run_eval does (ΔSI-SDR over the input). Short frames say what any gain curve could reach; long
ones what a smooth one could. A model far under the bound lacks the skill, not the means.

With --bands LOW HIGH, the same bound for three gains instead of one: the input split at LOW and
HIGH Hz (Linkwitz-Riley, the bands sum back to it) and one least-squares gain per band and
frame. What a model that outputs a gain per band could reach, against one gain for all: a
multiband limiter changes the spectral balance, which one gain cannot undo. (The held-out
multiband design splits at 200 and 3,000 Hz; the default, 250 and 4,000, does not peek.)

With --model, more columns: that model's own gain as inference computes it; the same gain
raised to the power (its dB scaled) that suits each excerpt best, chosen with hindsight from
--powers; and its output times the best gain constant over each second (the 44,100-sample
bound, fitted on top of the model). The second says how much a perfect per-song strength knob
could add (if little, what the model lacks is the gain's shape, not its size); the third how
much the model misses of the slow level changes, over seconds.

    python benchmarks/gain_bound.py [--eval_root ./eval_data] [--real_root ./eval_data/real]
        [--frames 64 512 4096] [--bands 250 4000] [--model weight] [--powers 0 0.25 ... 4]

Sets as in run_eval: maximizer, alt_limiter (generated), real_alt_limiter, real_multiband. A file
that cannot be read is named on stderr and left out; the exit code is then 1.
"""
import argparse
import os
import sys

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.design_severity import load_one_gain_model  # noqa: E402
from benchmarks.run_eval import GENERATED_SETS, REAL_SETS, set_folders  # noqa: E402
from utils.audio import find_audio_files, read_audio  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.evaluation.metrics import si_sdr  # noqa: E402
from utils.inference.delimit import delimit  # noqa: E402
from utils.limiters.multiband import linkwitz_riley  # noqa: E402

SECOND = 44100  # samples: the frame of the slow correction on top of a model


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
    return limited * per_sample(gain, starts, limited.shape[-1])


def per_sample(per_frame, starts, length):
    """Values per frame (frames first) held over each frame's samples, the frames starting at
    `starts` and the last one ending at `length`."""
    return np.repeat(per_frame, np.diff(np.append(starts, length)), axis=0)


def best_banded_gain(limited, reference, frame, crossovers, sample_rate=44100):
    """As best_framed_gain, with one gain per band: `limited` split at the two `crossovers` (Hz)
    into low, mid and high bands that sum back to it, and per frame the least-squares gains of
    the three (solved jointly; a negative gain set to 0). -> float64 (channels, time)."""
    limited = np.asarray(limited, np.float64)
    reference = np.asarray(reference, np.float64)
    low = linkwitz_riley(limited, crossovers[0], sample_rate, "lowpass")
    high = linkwitz_riley(limited, crossovers[1], sample_rate, "highpass")
    bands = np.stack([low, limited - low - high, high])  # (3, channels, time)
    starts = np.arange(0, limited.shape[-1], frame)
    gram = np.stack([np.stack([np.add.reduceat((bands[i] * bands[j]).sum(0), starts)
                               for j in range(3)], -1) for i in range(3)], -2)  # (frames, 3, 3)
    cross = np.stack([np.add.reduceat((band * reference).sum(0), starts) for band in bands], -1)
    # a tiny ridge: a band silent over a frame leaves the system singular
    ridge = 1e-9 * np.trace(gram, axis1=-2, axis2=-1)[:, None, None] * np.eye(3) + 1e-20 * np.eye(3)
    gains = np.clip(np.linalg.solve(gram + ridge, cross[..., None])[..., 0], 0.0, None)
    gains = per_sample(gains, starts, limited.shape[-1])  # (time, 3)
    return np.einsum("bct,tb->ct", bands, gains)


def best_power(limited, reference, gain, powers):
    """(power, SI-SDR of limited x gain ** power against reference) for the best of `powers`;
    limited, reference (channels, time), gain (time,) in (0, 1]."""
    gain = np.maximum(np.asarray(gain, np.float64), 1e-6)
    scores = [si_sdr(limited * gain ** p, reference) for p in powers]
    best = int(np.argmax(scores))
    return powers[best], scores[best]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval_root", default="./eval_data")
    parser.add_argument("--real_root", default="./eval_data/real")
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--bands", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="also the bound of a gain per band, split at these two Hz")
    parser.add_argument("--model", help="weight folder: add its gain as is, at the best power "
                        "per excerpt, and corrected per second")
    parser.add_argument("--powers", type=float, nargs="+",
                        default=[p / 4 for p in range(17)], help="powers tried per excerpt")
    args = parser.parse_args(argv)
    if args.bands and not 0 < args.bands[0] < args.bands[1] < 22050:
        parser.error(f"--bands: expected 0 < LOW < HIGH < 22050 Hz, got {args.bands}")
    model = load_one_gain_model(args.model) if args.model else None
    if args.model and model is None:
        return 2
    columns = [f"bound, {n}-sample frames" for n in args.frames]
    if args.bands:
        columns += [f"3-band bound, {n}-sample frames" for n in args.frames]
    if model is not None:
        columns += ["model", "model, best power per excerpt", "model + best gain per second",
                    "its powers (median)"]
    print("| set | files | input SI-SDR | " + " | ".join(columns) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    failed = False
    for name in (*GENERATED_SETS, *REAL_SETS):
        inputs, references = set_folders(name, args.eval_root, args.real_root)
        if not os.path.isdir(inputs):
            print(f"| {name} | missing: {inputs} |")
            continue
        base, gains, powers = [], [], []
        # a model takes minutes per set: show it; the bounds alone take seconds
        for path in tqdm(find_audio_files(inputs), desc=name, unit="file", leave=False,
                         disable=model is None):
            try:
                limited, rate = read_audio(path)
                reference, _ = read_audio(os.path.join(references, os.path.basename(path)))
            except DelimitError as err:  # one bad file: say which, score the rest
                print(f"error: {err}", file=sys.stderr)
                failed = True
                continue
            base.append(si_sdr(limited, reference))
            scores = [si_sdr(best_framed_gain(limited, reference, n), reference)
                      for n in args.frames]
            if args.bands:
                scores += [si_sdr(best_banded_gain(limited, reference, n, args.bands, rate),
                                  reference) for n in args.frames]
            if model is not None:
                gain = delimit(model, limited, rate)[1][0]
                power, best = best_power(limited, reference, gain, args.powers)
                output = limited * gain
                scores += [si_sdr(output, reference), best,
                           si_sdr(best_framed_gain(output, reference, SECOND), reference)]
                powers.append(power)
            gains.append(np.array(scores) - base[-1])
        if not base:
            continue
        cells = " | ".join(f"{g:+.2f}" for g in np.mean(gains, axis=0))
        if model is not None:
            cells += f" | {np.median(powers):g}"
        print(f"| {name} | {len(base)} | {np.mean(base):.2f} | {cells} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
