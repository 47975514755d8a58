"""Speed and memory of `python -m inference` on generated stereo songs, on CPU.

Writes songs of the given lengths (generated stems through the project's limiter, 44.1 kHz
stereo PCM_16), runs the CLI once per song in a child process and prints a markdown table:
real-time factor (audio seconds per wall second, start-up included, and as the CLI reports
it for the file alone) and the child's peak memory (max RSS, from os.wait4).

    python benchmarks/bench_inference.py                      # 30 s, 3 min and 10 min
    python benchmarks/bench_inference.py --seconds 30         # one quick case

Uses the model in --weight_directory (default ./weight); without one there, a randomly
initialised model of the reference's size (same computation as a trained one).
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
sys.path.insert(0, REPO)

from models import build_model  # noqa: E402
from prepro.make_stems import render_song  # noqa: E402
from utils.maximizer import limit  # noqa: E402

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


def reference_size_weights(folder):
    with open(os.path.join(REPO, "..", "shared", "spec", "reference_all.json")) as f:
        args = json.load(f)["args"]
    torch.manual_seed(0)
    model = build_model(args["conv_tasnet_params"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "all.json"), "w") as f:
        json.dump({"args": args}, f)
    torch.save(model.state_dict(), os.path.join(folder, "all.pth"))
    return folder


def run(song, weights, out, extra):
    """Run the CLI on one song; returns wall seconds, peak RSS in MB, its stdout."""
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
    return wall, usage.ru_maxrss / 1024, stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, nargs="+", default=[30.0, 180.0, 600.0])
    p.add_argument("--weight_directory", default=os.path.join(REPO, "weight"))
    p.add_argument("--workdir", default=None, help="keep songs and outputs here")
    p.add_argument("cli_args", nargs=argparse.REMAINDER,
                   help="passed on to inference after `--`, e.g. -- --threads 1")
    args = p.parse_args()
    extra = [a for a in args.cli_args if a != "--"]
    work = args.workdir or tempfile.mkdtemp(prefix="bench_inference_")
    os.makedirs(work, exist_ok=True)
    weights = args.weight_directory
    model_note = weights
    if not os.path.isfile(os.path.join(weights, "all.pth")):
        weights = reference_size_weights(os.path.join(work, "weight"))
        model_note = "random reference-size model (2.35 M parameters)"
    rows = []
    for seconds in args.seconds:
        song = os.path.join(work, f"song_{seconds:g}s.wav")
        if not os.path.exists(song):
            write_song(song, seconds)
        wall, rss, stdout = run(song, weights, os.path.join(work, "out"), extra)
        found = re.search(r"\((\d+)x\)", stdout)
        rows.append((seconds, wall, seconds / wall, found.group(1) if found else "?", rss))
    print(f"\nmodel: {model_note}; {os.cpu_count()} CPU cores; torch {torch.__version__}; "
          f"CLI args: {' '.join(extra) or '(defaults)'}\n")
    print("| song | wall time | real-time factor (wall) | real-time factor (file) "
          "| peak memory |")
    print("|---|---|---|---|---|")
    for seconds, wall, rtf, file_rtf, rss in rows:
        print(f"| {seconds:g} s | {wall:.1f} s | {rtf:.1f}x | {file_rtf}x | {rss:.0f} MB |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
