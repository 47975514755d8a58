"""Lengthen a model's context: more dilated blocks in each repeat of its TCN, its gain unchanged.

    python -m models.extend_context --input weight --output results/init_context --n_blocks 8

Block b of each repeat has dilation 2 ** b, so the blocks a model has keep their weights and
their places; the new ones (the next dilations) follow them in each repeat, with their residual
and skip convs at zero: they add nothing until training moves them, so the extended model's
gain equals the input model's. The shipped model's 5 blocks of 2 repeats see 125 frames of the
encoder (0.18 s at stride 64 and 44.1 kHz); 8 blocks see 1,021 frames (1.5 s). Why: a gain that
is right within 0.18 s can still miss the level of whole passages that a limiter flattened
(README, *Evaluation*: a per-second correction on top of the shipped model's gain would add
+0.8 dB on the real multiband set).
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_model, load_pretrained, save_weight_folder  # noqa: E402
from utils.errors import DelimitError  # noqa: E402


def extend(model, summary, n_blocks):
    """(`model` with n_blocks blocks per repeat, the new ones silent; its summary)."""
    dilations = [block.shared_block[3].dilation[0] for block in model.masker.TCN]
    repeats = dilations.count(1)  # each repeat starts again at dilation 1
    old_blocks = len(dilations) // repeats
    if n_blocks <= old_blocks:
        raise DelimitError(f"--n_blocks {n_blocks}: the model has {old_blocks} blocks per "
                           "repeat already; give more")
    params = dict(summary["args"]["conv_tasnet_params"], n_blocks=n_blocks)
    extended = build_model(params, nb_channels=model.nb_channels)
    state = extended.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("masker.TCN."):
            index, rest = key.removeprefix("masker.TCN.").split(".", 1)
            repeat, block = divmod(int(index), old_blocks)
            key = f"masker.TCN.{repeat * n_blocks + block}.{rest}"
        state[key] = value.clone()
    for repeat in range(repeats):
        for block in range(old_blocks, n_blocks):
            for conv in ("res_conv", "skip_conv"):
                for name in ("weight", "bias"):
                    state[f"masker.TCN.{repeat * n_blocks + block}.{conv}.{name}"].zero_()
    extended.load_state_dict(state)
    args = dict(summary["args"], conv_tasnet_params=params)
    return extended, {"args": args, "extended_from": {"n_blocks": old_blocks}}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.extend_context",
                                description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="weight folder (all.pth, all.json)")
    p.add_argument("--output", required=True, help="weight folder to write")
    p.add_argument("--n_blocks", type=int, default=8, help="blocks per repeat (default 8)")
    args = p.parse_args(argv)
    try:
        if os.path.abspath(args.output) == os.path.abspath(args.input):
            raise DelimitError(f"{args.output}: the output must not be the input")
        model, summary = load_pretrained(args.input)
        extended, new_summary = extend(model, summary, args.n_blocks)
        new_summary["extended_from"]["folder"] = args.input
        save_weight_folder(args.output, extended.state_dict(), new_summary)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.output}: {args.n_blocks} blocks per repeat, a context of "
          f"{extended.context} samples each side")
    return 0


if __name__ == "__main__":
    sys.exit(main())
