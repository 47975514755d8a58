"""Score de-limited audio against the unlimited references (utils/evaluation/scoring.py).

    python -m eval_delimit --estimates DIR --references DIR [--inputs DIR] [--output DIR]
    python -m eval_delimit --baseline {input,loudnorm} --inputs DIR --references DIR [--output DIR]

Songs are paired by name (a file's stem, or a musdb-style song folder: see
utils/evaluation/scoring.py); estimates and inputs are resampled to the reference's rate and all
three trimmed to the shortest. `--baseline input` scores the limited inputs themselves,
`--baseline loudnorm` the inputs loudness-normalised to -14 LUFS, in place of estimates.

Writes into --output (default ./eval_results): results.csv (a row per file: name, then the
metrics), summary.md (mean, median, min, max per metric and the worst files; also printed)
and distribution.png (histogram of the SI-SDR improvement, or of the SI-SDR without inputs).
Files that cannot be scored are reported one line each; the exit code is then 1.
"""
import argparse
import sys

from utils.errors import DelimitError
from utils.evaluation.scoring import evaluate, write_outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimates", help="folder of de-limited songs (not with --baseline)")
    parser.add_argument("--references", required=True, help="folder of unlimited references")
    parser.add_argument("--inputs", help="folder of the limited inputs: adds *_input and "
                                         "*_improvement columns")
    parser.add_argument("--baseline", choices=("input", "loudnorm"),
                        help="score the inputs themselves, or loudness-normalised to -14 LUFS, "
                             "instead of estimates")
    parser.add_argument("--output", default="./eval_results", help="results folder")
    parser.add_argument("--title", help="summary heading (default: what was scored)")
    args = parser.parse_args(argv)
    if bool(args.baseline) == bool(args.estimates):
        parser.error("give exactly one of --estimates and --baseline")
    title = args.title or (f"baseline '{args.baseline}' of {args.inputs}" if args.baseline
                           else f"{args.estimates}") + f" vs {args.references}"
    try:
        rows, problems = evaluate(args.references, args.estimates, args.inputs, args.baseline)
        text = write_outputs(rows, problems, args.output, title)
    except DelimitError as err:
        print(f"eval_delimit: {err}", file=sys.stderr)
        return 1
    print(text)
    print(f"results in {args.output}", file=sys.stderr)
    return 1 if problems or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
