"""Score weight folders on a training config's validation set, limited by the designs of one's
choice: how would each model rank if selection used a design it never trained on?

    python benchmarks/score_validation.py --config delimit_real_wide [group.key=value ...] \
        --designs fast_limiter --models shipped=weight reference=weight_reference [--threads 2] \
        [--invert_polarity] [--bass_alone [HZ]]

Prints, per design and model, what a training run logs for an epoch: the validation loss, the
SI-SDR gained on the limited excerpts, and SI-SDR(output, input) on those left unlimited. The
validation songs and the limiter settings are the run's own (its song or stem folder, seed), so
a model's line matches the `start weights` line of a run that starts from it. With
--invert_polarity, each model is also scored on the same items with their polarity inverted
(input and target): a limiter's gain depends on |x| alone, so a de-limiter should score alike.
With --bass_alone, each model is also scored, once (every design limits the same targets), on
the targets' bass alone (below HZ, default 150), left unlimited at -14 LUFS
(dataloader.BassAlone): how much it changes bass that no limiter touched (it does not rank
models as the do-no-harm set's worst excerpt, a bass passage, does).
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import main_ddp  # noqa: E402
from benchmarks.run_eval import parse_models  # noqa: E402
from dataloader import BassAlone, InvertedPolarity, build_datasets  # noqa: E402
from models import load_pretrained  # noqa: E402
from utils.errors import DelimitError  # noqa: E402
from utils.training.config import load_config  # noqa: E402
from utils.training.losses import CombinedLoss  # noqa: E402


def add_validation_arguments(parser):
    """The arguments of every validation scorer: --config, its overrides, --designs, --threads."""
    parser.add_argument("--config", required=True, help="a training config (name or path)")
    parser.add_argument("overrides", nargs="*", help="group.key=value, as main_ddp takes them")
    parser.add_argument("--designs", nargs="+", required=True,
                        help="training designs to validate with, one at a time")
    parser.add_argument("--threads", type=int, default=None, help="default: every CPU")


def validation_sets(args):
    """For each of args.designs: (design, the validation items limited by it, the validation
    criterion, the run context), as a run of args.config builds and scores its validation set.
    Raises DelimitError for a bad config or missing data."""
    overrides = [*args.overrides, f"sys_params.num_threads={args.threads or 'null'}"]
    config = load_config(args.config, overrides)
    ctx = main_ddp.Context(config)
    main_ddp.prepare_data(config, ctx)
    losses = config["model_loss_params"]
    criterion = CombinedLoss(losses["valid_loss_func"], losses["valid_loss_scales"],
                             losses["si_sdr_cap_db"])
    for design in args.designs:
        config = load_config(args.config,
                             [*overrides, f"data_params.valid_limiter_designs=[{design}]"])
        yield design, build_datasets(config)[1], criterion, ctx


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_arguments(parser)
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=FOLDER")
    parser.add_argument("--invert_polarity", action="store_true",
                        help="also score the items with their polarity inverted")
    parser.add_argument("--bass_alone", type=float, nargs="?", const=150.0, default=None,
                        metavar="HZ", help="also score the targets' bass alone (below HZ, "
                        "default 150), unlimited")
    args = parser.parse_args(argv)
    models = parse_models(args.models, "score_validation")
    try:
        loaded = {name: load_pretrained(folder)[0] for name, folder in models.items()}
        for number, (design, valid, criterion, ctx) in enumerate(validation_sets(args)):
            versions = {design: valid}
            if args.invert_polarity:
                versions[f"{design}, inverted"] = InvertedPolarity(valid)
            if args.bass_alone and number == 0:  # every design limits the same targets
                versions[f"bass alone below {args.bass_alone:g} Hz"] = BassAlone(
                    valid, args.bass_alone)
            for label, items in versions.items():
                for name, model in loaded.items():
                    scores = main_ddp.validate(model, items, criterion, ctx)
                    print(f"{label} | {name} | {main_ddp.describe_valid(*scores)}", flush=True)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
