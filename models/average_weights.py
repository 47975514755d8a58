"""Average the weights of models of one architecture into a new weight folder:

    python -m models.average_weights --output soup results/checkpoint/delimit_real_ref:0.7 \
        weight_reference:0.3

Each input is a weight folder (all.pth, all.json) or a training run's checkpoint file
(results/checkpoint/RUN/all.chkpnt: the run's latest weights, or their moving average when the
run keeps one; its all.pth holds the best epoch's), optionally followed by `:WEIGHT` (default
1; the weights are normalised to sum to 1). Averaging a fine-tuned model with the weights it
started from (WiSE-FT, Wortsman et al. 2022) keeps more of the start's behaviour on data the
fine-tuning did not cover; it only makes sense for models that share a start. The output's
all.json holds the first model's `args` and an `averaged_from` list of the inputs and weights.
One checkpoint alone exports a run's latest weights as a weight folder:

    python -m models.average_weights --output last results/checkpoint/delimit_real_wide/all.chkpnt
"""
import argparse
import os
import pickle
import sys

import torch

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import (  # noqa: E402
    load_pretrained,
    load_weights,
    model_from_summary,
    save_weight_folder,
)
from utils.errors import DelimitError  # noqa: E402


def parse_input(text):
    """"FOLDER" or "FOLDER:WEIGHT" -> (folder, weight)."""
    folder, sep, weight = text.rpartition(":")
    if not sep or not folder or os.path.isdir(text):  # a folder whose name holds a ':'
        return text, 1.0
    try:
        value = float(weight)
    except ValueError:
        raise DelimitError(f"{text}: the weight after ':' must be a number") from None
    if not value > 0:
        raise DelimitError(f"{text}: the weight after ':' must be > 0")
    return folder, value


def load_input(path):
    """(model, summary) of a weight folder, or of a run's all.chkpnt with the all.json beside it."""
    if not path.endswith(".chkpnt"):
        return load_pretrained(path)
    model, summary = model_from_summary(os.path.join(os.path.dirname(path) or ".", "all.json"))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        # the EMA's weights when the run keeps one: they are what its validation scores
        state_dict = checkpoint.get("ema") or checkpoint["state_dict"]
    except (OSError, RuntimeError, KeyError, TypeError, AttributeError, EOFError,
            pickle.UnpicklingError) as err:
        raise DelimitError(f"{path}: not a training checkpoint ({err!r})") from err
    load_weights(model, state_dict)
    return model, summary


def average(inputs):
    """[(folder, weight), ...] -> (averaged state_dict, the json summary to write)."""
    total = sum(weight for _, weight in inputs)
    averaged, first_summary = None, None
    for folder, weight in inputs:
        model, summary = load_input(folder)
        state_dict = model.state_dict()
        shapes = {k: v.shape for k, v in state_dict.items()}
        if first_summary is None:
            first_summary, crossovers = summary, model.gain_crossovers_hz
            averaged = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in state_dict.items()}
        elif shapes != {k: v.shape for k, v in averaged.items()}:
            raise DelimitError(f"{folder}: its weights' names or shapes differ from "
                               f"{inputs[0][0]}'s (another architecture)")
        elif model.gain_crossovers_hz != crossovers:  # same shapes, other bands
            raise DelimitError(f"{folder}: its gain bands (crossovers "
                               f"{list(model.gain_crossovers_hz)} Hz) differ from "
                               f"{inputs[0][0]}'s ({list(crossovers)} Hz)")
        for key, value in state_dict.items():
            averaged[key] += value.double() * (weight / total)
    state_dict = {k: v.float() for k, v in averaged.items()}
    # the first model's settings, but not its training record (best_loss, epochs...), which
    # says nothing about the average
    summary = {"args": first_summary["args"],
               "averaged_from": [{"folder": folder, "weight": weight / total}
                                 for folder, weight in inputs]}
    return state_dict, summary


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.average_weights",
                                description="Average the weights of models that share an "
                                            "architecture into a new weight folder.")
    p.add_argument("inputs", nargs="+", help="weight folders or runs' all.chkpnt files, "
                   "each optionally PATH:WEIGHT")
    p.add_argument("--output", required=True, help="weight folder to write (all.pth, all.json)")
    args = p.parse_args(argv)
    try:
        inputs = [parse_input(text) for text in args.inputs]
        if os.path.abspath(args.output) in {os.path.abspath(f) for f, _ in inputs}:
            raise DelimitError(f"{args.output}: the output must not be one of the inputs")
        state_dict, summary = average(inputs)
        save_weight_folder(args.output, state_dict, summary)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.output}: " + " + ".join(f"{d['weight']:.3g} x {d['folder']}"
                                          for d in summary["averaged_from"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
