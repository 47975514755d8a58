"""The README's results table: de-limit the evaluation sets with each model and score them
beside the input and the loudness-matched input.

    python benchmarks/run_eval.py [--eval_root ./eval_data] [--real_root ./eval_data/real]
        [--real_songs ./data/real_music/eval] [--work ./eval_results]
        [--models shipped=weight reference=weight_reference]
        [--sets maximizer alt_limiter real_alt_limiter real_multiband do_no_harm]
        [--inference_args "--use_gpu False"] [--skip_inference [NAME ...]] [--invert_polarity]

Sets (inputs, references):
    maximizer, alt_limiter      generated songs (EVAL_ROOT/SET, EVAL_ROOT/references); built
                                by prepro.make_eval_sets if missing
    real_alt_limiter,           real records limited by the two designs kept out of training
    real_multiband              (REAL_ROOT/alt_limiter|multiband, REAL_ROOT/references)
    do_no_harm                  the same records unlimited at -14 LUFS: the input is the
                                reference, and SI-SDR(output, input) is what is scored
The real sets are built by prepro.make_real_eval_sets from --real_songs when REAL_ROOT has
none yet (that folder comes from `python -m prepro.debian_music --set eval`).

For each set: `python -m inference` with each model's weight folder into
WORK/SET/{model}_audio (skipped with --skip_inference: for the models it names, or for all),
then eval_delimit scores the input itself, the input loudness-matched to -14 LUFS and each
model into WORK/SET/{system}/. A model whose folder is missing is left out with a note (the
reference's checkpoint comes from `python -m models.fetch_reference --output
weight_reference`). Prints the table of means over files, with the median, worst and share
below -1 dB of the SI-SDR improvement (also WORK/results_table.md). Exit code 1 if a step
failed or a file could not be scored.

--invert_polarity scores every set with its audio (inputs and references) negated, from copies
in WORK/inverted: a limiter's gain depends on |x| alone, so a de-limiter should score the same.
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
from prepro import make_eval_sets, make_real_eval_sets  # noqa: E402
from utils.audio import AUDIO_EXTENSIONS, read_audio, write_atomic, write_audio  # noqa: E402

GENERATED_SETS = ("maximizer", "alt_limiter")
REAL_SETS = {"real_alt_limiter": "alt_limiter", "real_multiband": "multiband"}
DO_NO_HARM = "do_no_harm"
HARM_DB = -1.0  # an item "made worse" loses more than this


def read_results(path):
    """results.csv -> list of dicts of floats (name kept as text)."""
    with open(path) as f:
        return [{k: (v if k == "name" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _values(rows, column):
    values = np.array([row[column] for row in rows if column in row], dtype=np.float64)
    return values[np.isfinite(values)]


def _stats():
    """(heading, function of rows -> float or None, decimals) for each column."""
    def mean(column):
        return lambda rows: _values(rows, column).mean() if _values(rows, column).size else None

    def of_delta(reduce):
        def cell(rows):
            values = _values(rows, "si_sdr_improvement")
            return reduce(values) if values.size else None
        return cell

    return (("SI-SDR (dB)", mean("si_sdr"), 2),
            ("min SI-SDR", lambda rows: _values(rows, "si_sdr").min()
             if _values(rows, "si_sdr").size else None, 2),
            ("ΔSI-SDR mean", of_delta(np.mean), 2),
            ("ΔSI-SDR median", of_delta(np.median), 2),
            ("ΔSI-SDR worst", of_delta(np.min), 2),
            (f"worse than {HARM_DB:g} dB", of_delta(lambda v: 100.0 * np.mean(v < HARM_DB)), 0),
            ("multi-res MSE", mean("multi_mse"), 3),
            ("LUFS", mean("lufs"), 1), ("crest (dB)", mean("crest"), 2),
            ("PLR (dB)", mean("plr"), 2))


def results_table(entries):
    """Markdown table: one row per (set, system); entries = [(set, system, rows)]."""
    stats = _stats()
    lines = ["| set | system | files | " + " | ".join(h for h, _, _ in stats) + " |",
             "|---|---|---:|" + "---:|" * len(stats)]
    for set_name, system, rows in entries:
        cells = []
        for heading, function, decimals in stats:
            value = function(rows) if rows else None
            suffix = " %" if heading.startswith("worse") else ""
            cells.append("" if value is None else f"{value:.{decimals}f}{suffix}")
        lines.append(f"| {set_name} | {system} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def set_folders(set_name, eval_root, real_root):
    """(inputs, references) of a set; for do_no_harm the inputs are the references."""
    if set_name in GENERATED_SETS:
        return os.path.join(eval_root, set_name), os.path.join(eval_root, "references")
    references = os.path.join(real_root, "references")
    if set_name == DO_NO_HARM:
        return references, references
    return os.path.join(real_root, REAL_SETS[set_name]), references


def inverted_copy(source, destination):
    """Copy the folder `source` to `destination` with every audio file's samples negated, as a
    32-bit float wav of the same stem (so that nothing clips; sets pair files by stem); other
    files are copied as they are. A copy newer than its source is kept from an earlier run.
    Two audio files of one stem in a folder are an error (their copies would be one file).
    Returns `destination`."""
    for folder, _, names in os.walk(source):
        target_folder = os.path.join(destination, os.path.relpath(folder, source))
        os.makedirs(target_folder, exist_ok=True)
        taken = {}
        for name in sorted(names):
            path = os.path.join(folder, name)
            is_audio = name.lower().endswith(AUDIO_EXTENSIONS)
            target_name = os.path.splitext(name)[0] + ".wav" if is_audio else name
            if target_name in taken:
                raise SystemExit(f"run_eval: {path}: same name as {taken[target_name]}; "
                                 "their inverted copies would be one file")
            taken[target_name] = path
            target = os.path.join(target_folder, target_name)
            if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(path):
                continue
            if is_audio:
                audio, rate = read_audio(path)
                write_audio(target, -audio, rate, subtype="FLOAT")
            else:
                with open(path, "rb") as f:
                    write_atomic(target, f.read())
    return destination


def parse_models(items, prog="run_eval"):
    """['name=folder', ...] -> {name: folder}."""
    models = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise SystemExit(f"{prog}: --models {item!r}: expected name=folder")
        models[name] = folder
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval_root", default="./eval_data", help="generated sets folder")
    parser.add_argument("--real_root", default="./eval_data/real", help="real-music sets")
    parser.add_argument("--real_songs", default="./data/real_music/eval",
                        help="evaluation songs the real sets are cut from when missing")
    parser.add_argument("--work", default="./eval_results", help="outputs and scores")
    parser.add_argument("--models", nargs="+", default=["shipped=weight",
                                                       "reference=weight_reference"],
                        help="name=weight_folder for each model to score")
    parser.add_argument("--n_songs", type=int, default=10, help="generated sets: songs")
    parser.add_argument("--seconds", type=float, default=30.0, help="generated sets: length")
    parser.add_argument("--seed", type=int, default=make_eval_sets.EVAL_MIN_SEED)
    all_sets = [*GENERATED_SETS, *REAL_SETS, DO_NO_HARM]
    parser.add_argument("--sets", nargs="+", default=all_sets, choices=all_sets)
    parser.add_argument("--inference_args", default="", help="extra inference arguments")
    parser.add_argument("--skip_inference", nargs="*", metavar="NAME", default=None,
                        help="reuse WORK/SET/{model}_audio from an earlier run: of the models "
                             "named, or of every model when none is named")
    parser.add_argument("--invert_polarity", action="store_true",
                        help="score the sets with their polarity inverted (copies in WORK)")
    args = parser.parse_args(argv)
    models = parse_models(args.models)
    unknown = sorted(set(args.skip_inference or ()) - set(models))
    if unknown:
        print(f"run_eval: --skip_inference names {', '.join(unknown)}, not among --models",
              file=sys.stderr)
        return 2
    reused = set(models) if args.skip_inference == [] else set(args.skip_inference or ())
    for name, folder in list(models.items()):
        if not os.path.isdir(folder):
            print(f"run_eval: {name}: no folder {folder}; left out", file=sys.stderr)
            del models[name]

    if any(s in GENERATED_SETS for s in args.sets) and not os.path.isfile(
            os.path.join(args.eval_root, make_eval_sets.CSV_NAME)):
        print(f"building the evaluation sets in {args.eval_root}", file=sys.stderr)
        make_eval_sets.make_eval_sets(args.eval_root, args.n_songs, args.seconds, args.seed)
    failed, entries = False, []
    real_csv = os.path.join(args.real_root, make_real_eval_sets.CSV_NAME)
    if any(s not in GENERATED_SETS for s in args.sets) and not os.path.isfile(real_csv):
        if not os.path.isdir(args.real_songs):
            print(f"run_eval: no real-music sets in {args.real_root} and no songs in "
                  f"{args.real_songs}: run python -m prepro.debian_music --set eval",
                  file=sys.stderr)
            return 1
        print(f"building the real-music sets in {args.real_root}", file=sys.stderr)
        _, problems = make_real_eval_sets.make_real_eval_sets(args.real_songs, args.real_root)
        failed = bool(problems)
    for set_name in args.sets:
        inputs, references = set_folders(set_name, args.eval_root, args.real_root)
        if not os.path.isdir(inputs):
            print(f"run_eval: {set_name}: no folder {inputs} (see prepro.make_real_eval_sets)",
                  file=sys.stderr)
            failed = True
            continue
        if args.invert_polarity:
            copies = os.path.join(args.work, "inverted",
                                  "generated" if set_name in GENERATED_SETS else "real")
            print(f"{set_name}: polarity-inverted copies in {copies}", file=sys.stderr)
            inputs, references = (inverted_copy(folder, os.path.join(copies, os.path.basename(
                os.path.normpath(folder)))) for folder in (inputs, references))
        systems = [] if set_name == DO_NO_HARM else [("input", None), ("loudnorm", None)]
        for name, folder in models.items():
            audio = os.path.join(args.work, set_name, f"{name}_audio")
            systems.append((name, audio))
            if name in reused:
                continue
            command = [sys.executable, "-m", "inference", "--data_root", inputs,
                       "--weight_directory", folder,
                       "--output_directory", audio] + shlex.split(args.inference_args)
            print("$ " + shlex.join(command), file=sys.stderr)
            if subprocess.run(command, cwd=REPO).returncode != 0:
                print(f"run_eval: inference with {name} failed on {inputs}", file=sys.stderr)
                failed = True
        for system, audio in systems:
            output = os.path.join(args.work, set_name, system)
            cli = (["--estimates", audio] if audio else ["--baseline", system])
            cli += ["--references", references, "--output", output,
                    "--title", f"{set_name}: {system}"]
            if set_name != DO_NO_HARM:
                cli += ["--inputs", inputs]
            results = os.path.join(output, "results.csv")
            if os.path.isfile(results):
                os.remove(results)  # never report an earlier run's scores
            print("$ python -m eval_delimit " + shlex.join(cli), file=sys.stderr)
            failed |= eval_delimit.main(cli) != 0
            if os.path.isfile(results):
                entries.append((set_name, system, read_results(results)))
    table = results_table(entries)
    write_atomic(os.path.join(args.work, "results_table.md"), table.encode())
    print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
