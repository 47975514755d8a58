"""The README's results table: de-limit both evaluation sets and score input, baseline, model.

    python benchmarks/run_eval.py [--eval_root ./eval_data] [--work ./eval_results]
        [--weight_directory ./weight] [--n_songs 10 --seconds 30 --seed 9000]
        [--sets maximizer alt_limiter] [--inference_args "--use_gpu False"] [--skip_inference]

1. builds the evaluation sets with prepro.make_eval_sets if --eval_root has none yet;
2. for each set, runs `python -m inference --data_root EVAL_ROOT/SET --weight_directory W
   --output_directory WORK/SET/model_audio` (skipped with --skip_inference: the folder must
   already hold the model's outputs);
3. scores with eval_delimit, each with the set as --inputs: the limited input itself
   (--baseline input), the input loudness-matched to -14 LUFS (--baseline loudnorm) and the
   model, into WORK/SET/{input,loudnorm,model}/ (results.csv, summary.md, distribution.png);
4. prints the markdown table of means over songs (also WORK/results_table.md); the
   "reference" row gives the unlimited references' own dynamics, the targets to approach.
Exit code 1 if a step failed or some file could not be scored.
"""
import argparse
import csv
import os
import shlex
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, REPO)

import eval_delimit  # noqa: E402
from prepro import make_eval_sets  # noqa: E402

SYSTEMS = ("input", "loudnorm", "model")
# (column in results.csv, table heading, decimals)
COLUMNS = (("si_sdr", "SI-SDR (dB)", 2), ("si_sdr_improvement", "ΔSI-SDR (dB)", 2),
           ("multi_mse", "multi-res MSE", 3), ("multi_mse_improvement", "ΔMSE", 3),
           ("lufs", "LUFS", 1), ("lra", "LRA (LU)", 2), ("crest", "crest (dB)", 2),
           ("plr", "PLR (dB)", 2))


def read_results(path):
    """results.csv -> list of dicts of floats (name kept as text)."""
    with open(path) as f:
        return [{k: (v if k == "name" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _mean(rows, column):
    values = np.array([row[column] for row in rows if column in row], dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def results_table(entries):
    """Markdown table of means over songs.

    Args:
        entries: list of (set name, system name, rows from read_results); a "reference" row
            is added per set from the first system's *_reference columns.
    Returns:
        str.
    """
    lines = ["| set | system | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    seen = set()
    for set_name, system, rows in entries:
        if set_name not in seen and rows:
            seen.add(set_name)
            cells = [f"{_mean(rows, c + '_reference'):.{d}f}" if c + "_reference" in rows[0]
                     else "" for c, _, d in COLUMNS]
            lines.append(f"| {set_name} | reference (unlimited) | " + " | ".join(cells) + " |")
        cells = [f"{_mean(rows, c):.{d}f}" if rows and c in rows[0] else "" for c, _, d in COLUMNS]
        lines.append(f"| {set_name} | {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval_root", default="./eval_data", help="evaluation sets folder")
    parser.add_argument("--work", default="./eval_results", help="outputs and scores")
    parser.add_argument("--weight_directory", default="./weight")
    parser.add_argument("--n_songs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=make_eval_sets.EVAL_MIN_SEED)
    parser.add_argument("--sets", nargs="+", default=["maximizer", "alt_limiter"],
                        choices=["maximizer", "alt_limiter"])
    parser.add_argument("--inference_args", default="", help="extra inference arguments")
    parser.add_argument("--skip_inference", action="store_true",
                        help="reuse WORK/SET/model_audio from an earlier run")
    args = parser.parse_args(argv)

    if not os.path.isfile(os.path.join(args.eval_root, make_eval_sets.CSV_NAME)):
        print(f"building the evaluation sets in {args.eval_root}", file=sys.stderr)
        make_eval_sets.make_eval_sets(args.eval_root, args.n_songs, args.seconds, args.seed)
    references = os.path.join(args.eval_root, "references")
    failed, entries = False, []
    for set_name in args.sets:
        inputs = os.path.join(args.eval_root, set_name)
        model_audio = os.path.join(args.work, set_name, "model_audio")
        if not args.skip_inference:
            command = [sys.executable, "-m", "inference", "--data_root", inputs,
                       "--weight_directory", args.weight_directory,
                       "--output_directory", model_audio] + shlex.split(args.inference_args)
            print("$ " + shlex.join(command), file=sys.stderr)
            if subprocess.run(command, cwd=REPO).returncode != 0:
                print(f"run_eval: inference failed on {inputs}", file=sys.stderr)
                failed = True
                continue
        for system in SYSTEMS:
            output = os.path.join(args.work, set_name, system)
            source = (["--estimates", model_audio] if system == "model"
                      else ["--baseline", system])
            cli = source + ["--inputs", inputs, "--references", references, "--output", output,
                            "--title", f"{set_name}: {system}"]
            results = os.path.join(output, "results.csv")
            if os.path.isfile(results):
                os.remove(results)  # never report an earlier run's scores
            print("$ python -m eval_delimit " + shlex.join(cli), file=sys.stderr)
            failed |= eval_delimit.main(cli) != 0
            if os.path.isfile(results):
                entries.append((set_name, system, read_results(results)))
    table = results_table(entries)
    eval_delimit._write_atomic(os.path.join(args.work, "results_table.md"), table.encode())
    print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
