"""How hard does each limiter design hit real music? Input SI-SDR (the limited window against
the window itself) and crest factor, over the same 10 s windows of the training songs, each
limited to one loudness by every design.

    python benchmarks/design_severity.py [--songs data/real_music/train] [--windows 20]
        [--seconds 10] [--lufs -8] [--model weight]

Rows: the training designs (utils.limiters.training), then the two designs kept out of
training (alt_limiter, multiband), for information only: they never choose training data or a
model. A design whose inputs are far milder than a record's limiting leaves the model nothing
to learn from for that kind of record. The README's table of this comes from here.

With --model, three columns more: the model's mean and median ΔSI-SDR on each design's windows
(the median because a window that a design barely touched, or one channel of it, 60 dB and more
of input SI-SDR, can lose tens of dB to the smallest gain movement and sway the mean), and the
spread of its gain there (95th minus 5th percentile of 20 log10 g over the window, dB), which
says how much it moves the level at all; and a last row, the windows unlimited (the spread
only).
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.measure_dynamics import RATE, real_windows  # noqa: E402
from models import load_pretrained, require_one_gain  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.evaluation.metrics import crest_factor, si_sdr  # noqa: E402
from utils.inference.delimit import delimit  # noqa: E402
from utils.limiters.alt_limiter import alt_maximize_to_loudness  # noqa: E402
from utils.limiters.multiband import multiband_maximize_to_loudness  # noqa: E402
from utils.limiters.training import TRAINING_DESIGNS, limit_for_training  # noqa: E402
from utils.loudness import integrated_loudness  # noqa: E402

HELD_OUT = {"alt_limiter (held out)": alt_maximize_to_loudness,
            "multiband (held out)": multiband_maximize_to_loudness}


def limiters():
    """(name, function(window, seed, lufs) -> limited) for every design."""
    for design in TRAINING_DESIGNS:
        yield design, lambda w, seed, lufs, d=design: limit_for_training(
            w, RATE, np.random.default_rng(seed), lufs, (d,))
    for name, search in HELD_OUT.items():
        yield name, lambda w, seed, lufs, search=search: search(w, RATE, lufs)[0]


def severity_rows(windows, lufs, model=None):
    """[(design, input SI-SDR per window, crest factor per window, model responses)]: the
    responses are None without a model, else float (windows, 2) of model_response."""
    rows = []
    for name, limit_window in limiters():
        scores, crests, responses = [], [], []
        for seed, window in enumerate(windows):
            limited = limit_window(window, seed, lufs)
            scores.append(float(np.mean(si_sdr(limited, window))))
            crests.append(crest_factor(limited))
            if model is not None:
                responses.append(model_response(model, limited, window))
        rows.append((name, np.array(scores), np.array(crests),
                     np.array(responses) if model is not None else None))
    return rows


def model_response(model, limited, window):
    """(ΔSI-SDR of the model's output over `limited`, against `window`; gain_spread of its
    gain)."""
    output, gain = delimit(model, limited, RATE)
    return (float(np.mean(si_sdr(output, window)) - np.mean(si_sdr(limited, window))),
            gain_spread(gain))


def gain_spread(gain):
    """How far a one-gain model's gain `(1, time)` moves, in dB: 95th minus 5th percentile."""
    gain_db = 20.0 * np.log10(np.maximum(gain[0], 1e-9))
    return float(np.percentile(gain_db, 95) - np.percentile(gain_db, 5))


def load_one_gain_model(folder):
    """The one-gain model in `folder`, or None, its error printed, when it cannot be used."""
    try:
        model = load_pretrained(folder)[0]
        require_one_gain(model, folder)
        return model
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", default="data/real_music/train")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--lufs", type=float, default=-8.0)
    parser.add_argument("--model", default=None, help="a weight folder (one gain) to run too")
    args = parser.parse_args(argv)
    model = load_one_gain_model(args.model) if args.model else None
    if args.model and model is None:
        return 2
    windows = [w for w in real_windows(args.songs, args.windows, args.seconds,
                                       np.random.default_rng(0))
               if integrated_loudness(w, RATE) > -40.0]
    print(f"{len(windows)} windows of {args.seconds:g} s, limited to {args.lufs:g} LUFS; the "
          f"windows themselves: crest {np.mean([crest_factor(w) for w in windows]):.2f} dB")
    header = "| design | input SI-SDR mean (dB) | median | 10th percentile | crest mean (dB) |"
    if model is not None:
        header += " model ΔSI-SDR mean (dB) | median | model gain spread (dB) |"
    print(header)
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if model is not None else ""))
    for name, scores, crests, responses in severity_rows(windows, args.lufs, model):
        line = (f"| {name} | {scores.mean():6.2f} | {np.median(scores):6.2f} | "
                f"{np.percentile(scores, 10):6.2f} | {crests.mean():6.2f} |")
        if responses is not None:
            line += (f" {responses[:, 0].mean():+6.2f} | {np.median(responses[:, 0]):+6.2f} | "
                     f"{responses[:, 1].mean():6.2f} |")
        print(line, flush=True)
    if model is not None:
        spread = np.mean([gain_spread(delimit(model, w, RATE)[1]) for w in windows])
        print(f"| unlimited |  |  |  |  |  |  | {spread:6.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
