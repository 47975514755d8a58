"""Why does the model change a piece of music? For each file: where its energy lies, its crest
factor and how much its level moves; with --model, how much the model changes the file as it
is, its part below --split_hz and its part above.

    python benchmarks/inspect_excerpt.py --model weight FILE [FILE ...] [--split_hz 120]

Meant for unlimited music, such as a do-no-harm excerpt: there the output should be the input,
so SI-SDR(output, input) says how much the model changed it, and the split (two bands that sum
back to the file, utils.limiters.training.split_bands) says which part of the spectrum led it
there. Columns: the energy below 200 Hz, from 200 Hz to 3 kHz and above, in dB of the whole;
the crest factor; the level's spread (95th minus 5th percentile of the RMS over 10-ms frames,
dB); then per part, SI-SDR(output, input) and the gain's spread (design_severity.gain_spread).
The model is level-invariant (its gLN normalises), so the files' loudness does not matter.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.design_severity import gain_spread, load_one_gain_model  # noqa: E402
from utils.audio import read_audio  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.evaluation.metrics import crest_factor, si_sdr  # noqa: E402
from utils.inference.delimit import delimit  # noqa: E402
from utils.limiters.training import split_bands  # noqa: E402

BANDS_HZ = (200.0, 3000.0)


def describe(audio, rate):
    """{"bands": energy below, between and above BANDS_HZ in dB of the whole, "crest": dB,
    "level_spread": dB} of float (channels, time)."""
    power = (np.abs(np.fft.rfft(audio, axis=-1)) ** 2).sum(0)
    freqs = np.fft.rfftfreq(audio.shape[-1], 1.0 / rate)
    edges = (0.0, *BANDS_HZ, np.inf)
    shares = [power[(freqs >= lo) & (freqs < hi)].sum() / power.sum()
              for lo, hi in zip(edges[:-1], edges[1:])]
    frame = int(rate * 0.01)
    frames = audio[:, :audio.shape[-1] // frame * frame].reshape(audio.shape[0], -1, frame)
    level = 10.0 * np.log10((frames ** 2).mean(axis=(0, 2)) + 1e-12)
    return {"bands": [10.0 * np.log10(max(s, 1e-12)) for s in shares],
            "crest": crest_factor(audio),
            "level_spread": float(np.percentile(level, 95) - np.percentile(level, 5))}


def model_changes(model, audio, rate, split_hz):
    """[(part, SI-SDR(output, input) in dB, gain spread in dB)] for the file as it is, its
    part below split_hz and its part above."""
    low, high = split_bands(audio, rate, [split_hz])
    rows = []
    for part, piece in (("as is", audio), ("low", low), ("high", high)):
        piece = piece.astype(np.float32)
        output, gain = delimit(model, piece, rate)
        rows.append((part, float(np.mean(si_sdr(output, piece))), gain_spread(gain)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--model", default=None, help="a weight folder (one gain)")
    parser.add_argument("--split_hz", type=float, default=120.0)
    args = parser.parse_args(argv)
    model = load_one_gain_model(args.model) if args.model else None
    if args.model and model is None:
        return 2
    header = ("| file | < 200 Hz (dB) | 200 Hz-3 kHz | > 3 kHz | crest (dB) | level spread "
              "(dB) |")
    if model is not None:
        header += "".join(f" {part}: SI-SDR (dB) | gain spread (dB) |" for part in
                          ("as is", f"< {args.split_hz:g} Hz", f"> {args.split_hz:g} Hz"))
    print(header)
    print("|---|" + "---:|" * (header.count("|") - 2))
    failed = 0
    for path in args.files:
        try:
            audio, rate = read_audio(path)
        except DelimitError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if not np.any(audio):  # no spectrum, no level, nothing for SI-SDR to compare
            print(f"error: {path}: silent, nothing to inspect", file=sys.stderr)
            failed += 1
            continue
        facts = describe(audio, rate)
        line = (f"| {os.path.basename(path)} | "
                + " | ".join(f"{share:6.1f}" for share in facts["bands"])
                + f" | {facts['crest']:5.2f} | {facts['level_spread']:5.1f} |")
        if model is not None:
            line += "".join(f" {score:5.1f} | {spread:5.2f} |"
                            for _, score, spread in model_changes(model, audio, rate,
                                                                  args.split_hz))
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
