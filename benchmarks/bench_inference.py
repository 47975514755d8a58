"""Speed and memory of `python -m inference` on generated stereo songs, on CPU.

Writes songs of the given lengths (generated stems through the project's limiter, 44.1 kHz
stereo PCM_16), runs the CLI once per song and model in a child process, the models in turn on
each song, and prints a markdown table: real-time factor (audio seconds per wall second,
start-up included, and as the CLI reports it for the file alone), the child's CPU time (user +
system, all threads: steadier than wall time when other jobs share the cores) and its peak
memory (max RSS); both from os.wait4.

    python -m models.fetch_reference                          # the reference's checkpoint
    python benchmarks/bench_inference.py                      # 30 s, 3 min and 10 min
    python benchmarks/bench_inference.py --seconds 30         # one quick case

Compares the weight folders given to --models: by default the shipped model (weight/) and
the reference's checkpoint (weight_reference/, fetched by the command above).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, REPO)

from models import build_model  # noqa: E402
from prepro.make_stems import render_song  # noqa: E402
from utils.limiters.maximizer import limit  # noqa: E402

PIECE_SECONDS = 30.0


def write_song(path, seconds, seed=0):
    """A limited stereo song of `seconds`, rendered and written 30 s at a time."""
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as f:
        left, i = seconds, 0
        while left > 0:
            piece = min(PIECE_SECONDS, left)
            mix = sum(render_song(seed * 1000 + i, piece).values())
            f.write(limit(mix, 44100, threshold_db=-8.0)[0].T)
            left, i = left - piece, i + 1


def describe(folder):
    """"weight (1.17 M parameters)" for a weight folder; exits with one line if it has no model."""
    try:
        with open(os.path.join(folder, "all.json")) as f:
            args = json.load(f)["args"]
        if not os.path.isfile(os.path.join(folder, "all.pth")):
            raise OSError("no all.pth")
    except (OSError, ValueError, KeyError) as err:
        hint = " (python -m models.fetch_reference fetches the reference's)" \
            if os.path.basename(os.path.normpath(folder)) == "weight_reference" else ""
        raise SystemExit(f"error: {folder}: not a weight folder{hint}: {err}")
    n = sum(p.numel() for p in build_model(args["conv_tasnet_params"]).parameters())
    return f"{os.path.relpath(folder, REPO)} ({n / 1e6:.2f} M parameters)"


def run(song, weights, out, extra):
    """Run the CLI on one song; returns wall seconds, CPU seconds, peak RSS in MB, its stdout."""
    cmd = [sys.executable, "-m", "inference", "--data_root", song, "--weight_directory",
           weights, "--output_directory", out, "--device", "cpu"] + extra
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"inference failed on {song}:\n{stdout}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, nargs="+", default=[30.0, 180.0, 600.0])
    p.add_argument("--models", nargs="+", default=[os.path.join(REPO, "weight"),
                                                   os.path.join(REPO, "weight_reference")],
                   help="weight folders to compare (default: weight, weight_reference)")
    p.add_argument("--workdir", default=None, help="keep songs and outputs here")
    p.add_argument("cli_args", nargs=argparse.REMAINDER,
                   help="passed on to inference after `--`, e.g. -- --threads 1")
    args = p.parse_args()
    extra = [a for a in args.cli_args if a != "--"]
    models = [(os.path.abspath(m), describe(os.path.abspath(m))) for m in args.models]
    work = args.workdir or tempfile.mkdtemp(prefix="bench_inference_")
    os.makedirs(work, exist_ok=True)
    rows = []
    for seconds in args.seconds:
        song = os.path.join(work, f"song_{seconds:g}s.wav")
        if not os.path.exists(song):
            write_song(song, seconds)
        for weights, name in models:
            wall, cpu, rss, stdout = run(song, weights, os.path.join(work, "out"), extra)
            found = re.search(r"\((\d+)x\)", stdout)
            rows.append((name, seconds, wall, seconds / wall, found.group(1) if found else "?",
                         cpu, rss))
    print(f"\n{os.cpu_count()} CPU cores; torch {torch.__version__}; "
          f"CLI args: {' '.join(extra) or '(defaults)'}\n")
    print("| model | song | wall time | real-time factor (wall) | real-time factor (file) "
          "| CPU time | peak memory |")
    print("|---|---|---|---|---|---|---|")
    for name, seconds, wall, rtf, file_rtf, cpu, rss in sorted(rows, key=lambda r: r[0]):
        print(f"| {name} | {seconds:g} s | {wall:.1f} s | {rtf:.1f}x | {file_rtf}x "
              f"| {cpu:.1f} s | {rss:.0f} MB |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
