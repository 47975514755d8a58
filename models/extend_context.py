"""Grow a trained model without changing its output: a longer context (--n_blocks), or one
gain per frequency band (--gain_crossovers_hz).

    python -m models.extend_context --input weight --output results/init_context --n_blocks 8
    python -m models.extend_context --input weight --output results/init_bands \
        --gain_crossovers_hz 250 4000

Block b of each repeat has dilation 2 ** b, so the blocks a model has keep their weights and
their places; the new ones (the next dilations) follow them in each repeat, with their residual
and skip convs at zero: they add nothing until training moves them, so the extended model's
gain equals the input model's. The shipped model's 5 blocks of 2 repeats see 125 frames of the
encoder (0.18 s at stride 64 and 44.1 kHz); 8 blocks see 1,021 frames (1.5 s). Why: a gain that
is right within 0.18 s can still miss the level of whole passages that a limiter flattened
(README, *Evaluation*: a per-second correction on top of the shipped model's gain would add
+0.8 dB on the real multiband set).

With crossovers, the decoder gets one output per band, each a copy of the one-gain decoder:
every band starts with the same gain, and bands that sum back to the input (BandSplit) make the
output the input model's. Why: on the real multiband set, one gain per band of three, fitted
with hindsight, would gain +4.4 dB where one gain would gain +1.9 (4,096-sample frames; README,
*Evaluation*).
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


def split_gain(model, summary, crossovers_hz):
    """(`model` with one gain per band between crossovers_hz, each band's decoder a copy of
    its one-gain decoder; its summary)."""
    if model.gain_crossovers_hz:
        raise DelimitError(f"the model has gain bands already (crossovers "
                           f"{list(model.gain_crossovers_hz)} Hz)")
    params = dict(summary["args"]["conv_tasnet_params"],
                  gain_crossovers_hz=[float(hz) for hz in crossovers_hz])
    try:
        banded = build_model(params, nb_channels=model.nb_channels)
    except ValueError as err:
        raise DelimitError(f"--gain_crossovers_hz: {err}") from None
    state = model.state_dict()
    filters = state.pop("decoder.filterbank._filters")  # (n_filters, 1, kernel)
    state["decoder.weight"] = filters.repeat(1, banded.n_gains, 1)
    banded.load_state_dict(state)
    args = dict(summary["args"], conv_tasnet_params=params)
    return banded, {"args": args, "extended_from": {"gain_crossovers_hz": []}}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.extend_context",
                                description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="weight folder (all.pth, all.json)")
    p.add_argument("--output", required=True, help="weight folder to write")
    p.add_argument("--n_blocks", type=int, help="blocks per repeat (e.g. 8)")
    p.add_argument("--gain_crossovers_hz", type=float, nargs="+", metavar="HZ",
                   help="one gain per band between these frequencies (e.g. 250 4000)")
    args = p.parse_args(argv)
    if args.n_blocks is None and args.gain_crossovers_hz is None:
        p.error("give --n_blocks, --gain_crossovers_hz or both")
    try:
        if os.path.abspath(args.output) == os.path.abspath(args.input):
            raise DelimitError(f"{args.output}: the output must not be the input")
        model, summary = load_pretrained(args.input)
        origin = {}
        if args.n_blocks is not None:
            model, summary = extend(model, summary, args.n_blocks)
            origin.update(summary["extended_from"])
        if args.gain_crossovers_hz is not None:
            model, summary = split_gain(model, summary, args.gain_crossovers_hz)
            origin.update(summary["extended_from"])
        summary["extended_from"] = dict(origin, folder=args.input)
        save_weight_folder(args.output, model.state_dict(), summary)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    bands = f", {model.n_gains} gain bands" if model.n_gains > 1 else ""
    print(f"{args.output}: a context of {model.context} samples each side{bands}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
