"""Would a model do better run another way? Scores one weight folder on a training config's
validation set (as benchmarks/score_validation.py does) run as inference runs it (each 10-s item
whole), and three other ways: each item cut into windows that normalise with their own gLN
statistics, the gain raised to a power (its dB scaled: > 1 expands more), and the model run
again on its own output.

    python benchmarks/inference_variants.py --config delimit_real_select \
        --designs fast_limiter multiband_maximizer --model weight [--threads 2] \
        [--windows 2 4] [--powers 0.8 1.2 1.4 1.7 2.0] [--passes 2 3]

Prints, per design and variant, what a training run logs for an epoch: the validation loss, the
SI-SDR gained on the limited items and SI-SDR(output, input) on those left unlimited.
"""
import argparse
import os
import sys

import torch

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main_ddp  # noqa: E402
from benchmarks.score_validation import add_validation_arguments, validation_sets  # noqa: E402
from models import load_pretrained, require_one_gain  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.inference.apply import Chunking, apply_model  # noqa: E402


class Variant(torch.nn.Module):
    """The model run another way; like the model, audio (1, 2, time) -> (gain, output)."""

    def __init__(self, model, windows=None, power=1.0, passes=1):
        super().__init__()
        self.model, self.power, self.passes = model, power, passes
        # a quarter of each window cross-faded with the next, no context, own statistics
        self.chunking = None if windows is None else Chunking.from_seconds(
            windows, windows / 4, 0.0, song_statistics=False)

    def forward(self, audio):
        output = audio
        for _ in range(self.passes):
            if self.chunking is None:
                gain = self.model(output)[0]
            else:
                gain = torch.from_numpy(apply_model(self.model, output[0].numpy(),
                                                    self.chunking))[None]
            output = output * gain.clamp_min(1e-6) ** self.power
        return None, output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_arguments(parser)
    parser.add_argument("--model", required=True, help="weight folder")
    parser.add_argument("--windows", type=float, nargs="*", default=[2.0, 4.0],
                        help="window lengths in seconds")
    parser.add_argument("--powers", type=float, nargs="*", default=[0.8, 1.2, 1.4, 1.7, 2.0])
    parser.add_argument("--passes", type=int, nargs="*", default=[2, 3])
    args = parser.parse_args(argv)
    try:
        model = load_pretrained(args.model)[0]
        require_one_gain(model, args.model)
        variants = {"as inference runs it": Variant(model)}
        variants.update({f"{s:g}-s windows, own statistics": Variant(model, windows=s)
                         for s in args.windows})
        variants.update({f"gain ** {p:g}": Variant(model, power=p) for p in args.powers})
        variants.update({f"{n} passes": Variant(model, passes=n) for n in args.passes})
        for design, valid, criterion, ctx in validation_sets(args):
            for label, variant in variants.items():
                scores = main_ddp.validate(variant, valid, criterion, ctx)
                print(f"{design} | {label} | {main_ddp.describe_valid(*scores)}", flush=True)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
