"""De-limit every song in a folder (or one file): `python -m inference --help`.

Argument parsing and the loop over files only; the work is utils.inference.delimit.delimit_file.
A bad file prints one line `error: {path}: {reason}` and the others are still processed;
the exit status is 1 if any file failed, else 0.

torch (also behind models and utils.inference.apply) is imported in the functions that use it, so
that `main` sets OpenMP's wait policy before torch loads OpenMP, which reads it only then.
"""
import argparse
import os
import sys
from collections import Counter

from tqdm import tqdm

from utils.audio import find_audio_files
from utils.errors import DelimitError


def str2bool(value):
    """"True"/"False" (also yes/no, 1/0, any case), as the reference's booleans take."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("true", "yes", "y", "1", "t"):
        return True
    if value.lower() in ("false", "no", "n", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def optional_float(value):
    """A number, or "None" for none."""
    if value is None or value.lower() in ("none", "null", ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or None, got {value!r}") from None


def mix_ratio(value):
    ratio = optional_float(value)
    if ratio is not None and not 0.0 <= ratio <= 1.0:
        raise argparse.ArgumentTypeError(f"the mixing ratio must be in [0, 1], got {ratio}")
    return ratio


def positive_float(value):
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return number


def symmetry_list(value):
    """"polarity,channel_swap" -> ["polarity", "channel_swap"]; "none" -> []."""
    from models.conv_tasnet import check_symmetries

    if value.lower() == "none":
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected none or a comma-separated list, got {value!r}")
    try:
        check_symmetries(names)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return names


def build_parser():
    from utils.inference.apply import OVERLAP_SECONDS, SEGMENT_SECONDS

    p = argparse.ArgumentParser(
        prog="python -m inference",
        description="Restore the dynamics of songs crushed by a mastering limiter "
                    "(De-limiter, sample-wise gain inversion). Booleans take True/False "
                    "(a bare flag means True).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    flag = dict(type=str2bool, nargs="?", const=True)
    ref = p.add_argument_group("arguments of the reference")
    ref.add_argument("--target", default="all",
                     help="model name: reads {weight_directory}/{target}.json and .pth")
    ref.add_argument("--data_root", default="./input_data",
                     help="a folder of songs (wav, flac, ogg, mp3, aiff) or one file")
    ref.add_argument("--weight_directory", default="./weight",
                     help="folder holding {target}.json and {target}.pth")
    ref.add_argument("--output_directory", default="./output", help="where outputs go")
    ref.add_argument("--use_gpu", default=True, **flag,
                     help="use CUDA when available (with --device auto)")
    ref.add_argument("--save_name_as_target", default=False, **flag,
                     help="write {output_directory}/{name}/{target}.wav instead of {name}.wav")
    ref.add_argument("--loudnorm_input_lufs", default=None, type=optional_float,
                     help="normalise the input to this loudness (LUFS) before the model")
    ref.add_argument("--save_output_loudnorm", default=-14.0, type=optional_float,
                     help="loudness (LUFS) of the output; None keeps the model's level")
    ref.add_argument("--save_mixed_output", default=None, type=mix_ratio,
                     help="ratio r: also write r * loudness-matched input + (1 - r) * "
                          "output as {name}_mixed.wav")
    ref.add_argument("--save_16k_mono", default=False, **flag,
                     help="also write a 16 kHz mono copy as {name}_16k_mono.wav")
    ref.add_argument("--save_histogram", default=False, **flag,
                     help="also write a histogram of the gain in dB as "
                          "{name}_gain_histogram.png")
    ref.add_argument("--use_singletrackset", default=False, **flag,
                     help="the reference's chunking: 130,048-sample windows with 5,120 "
                          "samples of context each side, no cross-fade, each window "
                          "normalised on its own")
    ref.add_argument("--save_sgi_params", default=False, **flag,
                     help="also write the gain curve (float32, at the output's rate) as "
                          "{name}_sgi.npy")
    ref.add_argument("--avoid_clipping", default=True, **flag,
                     help="divide the output by its peak if it would clip")
    extra = p.add_argument_group("further arguments")
    extra.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="auto: cuda if available and --use_gpu, else cpu")
    extra.add_argument("--recursive", default=False, **flag,
                       help="also take songs in sub-folders (mirrored in the output)")
    extra.add_argument("--whole_track", default=False, **flag,
                       help="run each song through the model at once (memory grows with "
                            "its length)")
    extra.add_argument("--chunk_seconds", default=SEGMENT_SECONDS, type=positive_float,
                       help="window length of chunked processing")
    extra.add_argument("--overlap", default=OVERLAP_SECONDS, type=float,
                       help="seconds shared by neighbouring windows, cross-faded")
    extra.add_argument("--one_pass", default=False, **flag,
                       help="normalise each window with its own gLN statistics instead of "
                            "the song's: half the computation, further from whole-song "
                            "output")
    extra.add_argument("--save_plot", default=False, **flag,
                       help="also write input and output envelopes and the gain over time "
                            "as {name}_plot.png")
    extra.add_argument("--symmetries", default=None, type=symmetry_list,
                       help="average the gain over these copies of the input (polarity, "
                            "channel_swap, comma-separated), or none; default: the weight's "
                            "conv_tasnet_params.symmetries. Each copy costs one more run "
                            "of the network")
    extra.add_argument("--threads", default=os.cpu_count(), type=int,
                       help="CPU threads for torch (all cores)")
    extra.add_argument("--output_subtype", default=None,
                       choices=("PCM_16", "PCM_24", "FLOAT"),
                       help="wav sample format; default PCM_16, or FLOAT with "
                            "--avoid_clipping False")
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.overlap < args.chunk_seconds:
        parser.error(f"--overlap {args.overlap} must be in [0, --chunk_seconds)")
    return args


def pick_device(args):
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise DelimitError("--device cuda: CUDA is not available")
    if args.device == "auto":
        return "cuda" if args.use_gpu and torch.cuda.is_available() else "cpu"
    return args.device


def options_from_args(args, device):
    from utils.inference.apply import Chunking
    from utils.inference.delimit import DelimitOptions

    if args.whole_track:
        chunking = None
    elif args.use_singletrackset:
        chunking = Chunking.reference()
    else:
        chunking = Chunking.from_seconds(args.chunk_seconds, args.overlap,
                                         song_statistics=not args.one_pass)
    return DelimitOptions(
        output_lufs=args.save_output_loudnorm, input_lufs=args.loudnorm_input_lufs,
        mixed_ratio=args.save_mixed_output, save_16k_mono=args.save_16k_mono,
        save_histogram=args.save_histogram, save_sgi_params=args.save_sgi_params,
        save_plot=args.save_plot, avoid_clipping=args.avoid_clipping, chunking=chunking,
        device=device, subtype=args.output_subtype, progress=True)


def plan_outputs(files, args):
    """[(input, output)]: {output_directory}/{sub-folder}/{name}.wav (or {name}/{target}.wav).

    Songs in one folder that share a name ("a.mp3", "a.wav") get their extension in it
    ("a_mp3", "a_wav") so that none overwrites another.
    """
    root = args.data_root if os.path.isdir(args.data_root) else os.path.dirname(args.data_root)

    def key(path):
        return os.path.relpath(os.path.dirname(path), root), \
            os.path.splitext(os.path.basename(path))[0]

    shared = Counter(key(f) for f in files)
    jobs = []
    for f in files:
        folder, name = key(f)
        if shared[(folder, name)] > 1:
            name = f"{name}_{os.path.splitext(f)[1][1:].lower()}"
        base = os.path.normpath(os.path.join(args.output_directory, folder, name))
        out = os.path.join(base, f"{args.target}.wav") if args.save_name_as_target \
            else base + ".wav"
        jobs.append((f, out))
    return jobs


def main(argv=None):
    # Idle OpenMP threads sleep instead of spinning: on cores shared with other jobs (a
    # training run) spinning threads made inference 2.5x slower with 2 threads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from models import load_pretrained
    from utils.inference.delimit import delimit_file, output_paths

    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    try:
        device = pick_device(args)
        files = find_audio_files(args.data_root, args.recursive, exclude=args.output_directory)
        if not files:
            raise DelimitError(f"{args.data_root}: no audio files (wav, flac, ogg, mp3, aiff)")
        model, _ = load_pretrained(args.weight_directory, args.target, device,
                                   symmetries=args.symmetries)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    options = options_from_args(args, device)
    inputs = {os.path.realpath(f) for f in files}
    failed = 0
    for in_path, out_path in tqdm(plan_outputs(files, args), unit="file", desc="songs",
                                  disable=len(files) < 2):
        try:
            for path in output_paths(out_path, options).values():
                if os.path.realpath(path) in inputs:
                    raise DelimitError(f"{in_path}: the output {path} would overwrite an input")
            report = delimit_file(model, in_path, out_path, options)
            tqdm.write(report.summary())
        except DelimitError as err:
            tqdm.write(f"error: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
