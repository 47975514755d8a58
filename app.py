"""A local web demo: upload a song, de-limit it, compare at equal loudness, download.

    python -m app                     # http://127.0.0.1:7860

The de-limiting is utils.inference.delimit.delimit_file, the same code as `python -m inference`. The
page also plays the loudness-matched input next to the output, and a mix of the two (the
`--save_mixed_output` ratio) that re-renders from the last run's files without running the
model again. The API endpoint `/delimit` takes the audio file first (every other input has
a default) and returns the de-limited wav first.

Every file the app makes lives in one temporary folder, removed when the server stops; a
session's run folder is removed at its next run or when the session ends.
"""
import argparse
import glob
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading

import numpy as np
import soundfile as sf

from inference import positive_float, str2bool
from utils.audio import AudioReader, AudioWriter
from utils.errors import DelimitError

REPO = os.path.dirname(os.path.abspath(__file__))
SESSION_SECONDS = 3600  # a session's last run is kept this long after its last use


def build_parser():
    p = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", default=7860, type=int, help="port to listen on")
    p.add_argument("--weight_directory", default=None,
                   help="the default model's folder (all.json + all.pth); the repository's "
                        "weight*/ folders holding a model are offered too (default: weight/)")
    p.add_argument("--share", default=False, type=str2bool, nargs="?", const=True,
                   help="also open a public Gradio share link")
    p.add_argument("--max_seconds", default=1200.0, type=positive_float,
                   help="longest song accepted, in seconds")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: cuda if available, else cpu")
    p.add_argument("--threads", default=os.cpu_count(), type=int, help="CPU threads for torch")
    return p


def is_model_folder(path):
    return all(os.path.isfile(os.path.join(path, f"all.{ext}")) for ext in ("json", "pth"))


def find_models(weight_directory=None, root=REPO):
    """{label: folder}, the default first: `weight_directory` (or `root`/weight), then the
    other `root`/weight*/ folders that hold all.json and all.pth."""
    default = weight_directory or os.path.join(root, "weight")
    if not is_model_folder(default):
        raise DelimitError(f"{default}: no model here (all.json and all.pth)")
    models = {os.path.basename(os.path.normpath(default)): default}
    for folder in sorted(glob.glob(os.path.join(root, "weight*"))):
        if os.path.realpath(folder) == os.path.realpath(default) or not is_model_folder(folder):
            continue
        label = os.path.basename(folder)
        models[label if label not in models else folder] = folder
    return models


class Models:
    """Each model is loaded once, on first use (the default at start-up)."""

    def __init__(self, folders, device):
        self.folders, self.device = folders, device
        self.loaded = {}
        self.lock = threading.Lock()

    def get(self, label):
        if label not in self.folders:
            raise DelimitError(f"unknown model {label!r}; choose one of {list(self.folders)}")
        with self.lock:
            if label not in self.loaded:
                from models import load_pretrained

                self.loaded[label] = load_pretrained(self.folders[label], "all", self.device)[0]
            return self.loaded[label]


def check_input(path, max_seconds):
    """Refuse before any work what the model should not see: not audio, more than two
    channels (AudioReader says so), no samples, or longer than `max_seconds`."""
    with AudioReader(path) as reader:
        seconds = reader.declared_frames / reader.sample_rate
    if reader.declared_frames == 0:
        raise DelimitError(f"{path}: no audio samples")
    if seconds > max_seconds:
        raise DelimitError(f"{path}: {seconds:.0f} s long; this server takes songs of up to "
                           f"{max_seconds:.0f} s")


def _pairs(path_a, path_b):
    """Both files' samples, block by block in step: (a, b) float32 `(channels, n)`."""
    with AudioReader(path_a) as reader, sf.SoundFile(path_b) as other:
        for a in reader.blocks():
            b = other.read(a.shape[1], dtype="float32", always_2d=True).T
            yield a, b


def make_players(in_path, report, folder, stem):
    """Write the loudness-matched input and the output at one level, so that neither clips.

    As inference's mixed output: the input is brought to the output's loudness (match),
    and both are lowered together (scale) if the matched input would clip. Any mix
    r * input + (1 - r) * output is then r * one + (1 - r) * the other.
    Returns the run: a dict of the two paths, the scale and the sample rate.
    """
    lufs = (report.input_lufs, report.output_lufs)
    match = 10.0 ** ((lufs[1] - lufs[0]) / 20.0) if all(map(math.isfinite, lufs)) else 1.0
    peak = 0.0
    for x, y in _pairs(in_path, report.output_path):
        peak = max(peak, match * float(np.abs(x).max()), float(np.abs(y).max(initial=0.0)))
    scale = 1.0 / peak if peak > 1.0 else 1.0
    run = {"folder": folder, "input": os.path.join(folder, f"{stem}_input_matched.wav"),
           "output": os.path.join(folder, f"{stem}_delimited_player.wav"), "scale": scale,
           "sample_rate": report.sample_rate, "channels": report.channels}
    with AudioWriter(run["input"], report.sample_rate, report.channels) as a, \
            AudioWriter(run["output"], report.sample_rate, report.channels) as b:
        for x, y in _pairs(in_path, report.output_path):
            a.write(x * np.float32(match * scale))
            b.write(y * np.float32(scale))
    return run


def render_mix(run, ratio):
    """r * loudness-matched input + (1 - r) * output, from the run's players: no model."""
    if not 0.0 <= ratio <= 1.0:
        raise DelimitError(f"the mix ratio must be in [0, 1], got {ratio}")
    path = os.path.join(run["folder"], f"mix_{ratio:.2f}.wav")
    with AudioWriter(path, run["sample_rate"], run["channels"]) as out:
        for a, b in _pairs(run["input"], run["output"]):
            out.write(np.float32(ratio) * a + np.float32(1.0 - ratio) * b)
    return path


def summary(report, model_label, run):
    name = os.path.basename(report.input_path)
    seconds = report.frames / report.sample_rate
    channels = {1: "mono", 2: "stereo"}[report.channels]
    lines = [f"**{name}**: {seconds:.1f} s, {report.sample_rate} Hz, {channels}; "
             f"model `{model_label}`, {report.seconds_taken:.1f} s "
             f"({seconds / max(report.seconds_taken, 1e-9):.0f}x real time)",
             "",
             "| input | output | restored gain, mean | restored gain, max |",
             "|---:|---:|---:|---:|"]
    if report.mean_restored_db is None:
        restored = ["n/a (silent)"] * 2
    else:
        restored = [f"{report.mean_restored_db:+.1f} dB", f"{report.max_restored_db:+.1f} dB"]
    lines.append(f"| {report.input_lufs:.1f} LUFS | {report.output_lufs:.1f} LUFS | "
                 f"{restored[0]} | {restored[1]} |")
    lines.append("")
    lines.append("Restored gain: the output's level over the loudness-matched input's, "
                 "sample by sample; positive where peaks the limiter pressed down came back.")
    if report.peak_normalized:
        lines.append(" The output was divided by its peak so that it does not clip.")
    if run["scale"] < 1.0:
        lines.append(f" Both players are {20 * math.log10(run['scale']):.1f} dB lower so that "
                     "the loudness-matched input does not clip.")
    return "\n".join(lines)


def remove_run(run):
    if run:
        shutil.rmtree(run["folder"], ignore_errors=True)


def _user_message(err, path):
    # The upload's temporary path means nothing to the user: show its name.
    return str(err).replace(path, os.path.basename(path)) if path else str(err)


def build_app(models, device, max_seconds, runs_folder):
    """The Gradio Blocks of the page (not launched)."""
    import gradio as gr  # here: gradio reads GRADIO_TEMP_DIR when imported

    from utils.inference.delimit import DelimitOptions, delimit_file, output_paths

    labels = list(models.folders)

    def delimit_song(path, model_label, ratio, previous, progress=gr.Progress(track_tqdm=True)):
        if not path:
            raise gr.Error("Upload or record a song first.")
        folder = tempfile.mkdtemp(dir=runs_folder)
        try:
            check_input(path, max_seconds)
            model = models.get(model_label or labels[0])
            stem = re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(path))[0])[:80]
            out = os.path.join(folder, f"{stem or 'song'}_delimited.wav")
            options = DelimitOptions(save_plot=True, save_sgi_params=True, device=device,
                                     progress=True)
            report = delimit_file(model, path, out, options)
            progress(1.0, desc="players")
            run = make_players(path, report, folder, stem or "song")
            mix = render_mix(run, ratio)
        except DelimitError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise gr.Error(_user_message(err, path), print_exception=False) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        remove_run(previous)  # only now: a failed run leaves the last one to remix
        extra = output_paths(out, options)
        return (out, run["input"], run["output"], mix, extra["plot"],
                summary(report, model_label or labels[0], run), extra["sgi"], run)

    def remix(run, ratio):
        if not run:
            raise gr.Error("De-limit a song first: the mix re-renders its result.")
        try:
            return render_mix(run, ratio)
        except (DelimitError, OSError) as err:
            raise gr.Error(f"the last run is gone ({err}); de-limit the song again",
                           print_exception=False) from None

    with gr.Blocks(title="De-limiter", delete_cache=(SESSION_SECONDS, SESSION_SECONDS)) as demo:
        state = gr.State(None, time_to_live=SESSION_SECONDS, delete_callback=remove_run)
        gr.Markdown("# De-limiter\nGive a song crushed by a mastering limiter its dynamics "
                    "back. Upload or record a song (wav, flac, ogg, mp3, aiff; mono or "
                    f"stereo; up to {max_seconds / 60:.0f} min), then press *De-limit*.")
        with gr.Row():
            song = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song")
            with gr.Column():
                model = gr.Dropdown(labels, value=labels[0], label="Model",
                                    visible=len(labels) > 1)
                button = gr.Button("De-limit", variant="primary")
                summary_box = gr.Markdown(label="Summary")
        with gr.Row():
            player_in = gr.Audio(label="Input, loudness-matched", interactive=False)
            player_out = gr.Audio(label="De-limited", interactive=False)
        with gr.Row():
            ratio = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Mix ratio r",
                              info="r × loudness-matched input + (1 − r) × de-limited, "
                                   "as inference's --save_mixed_output r; re-renders "
                                   "without running the model")
            player_mix = gr.Audio(label="Mix", interactive=False)
        plot = gr.Image(label="Envelopes and the model's gain over time", type="filepath",
                        interactive=False)
        with gr.Row():
            download_wav = gr.DownloadButton("Download the de-limited wav")
            download_gain = gr.DownloadButton("Download the gain curve (.npy)")
        button.click(delimit_song, [song, model, ratio, state],
                     [download_wav, player_in, player_out, player_mix, plot, summary_box,
                      download_gain, state], api_name="delimit", concurrency_limit=1)
        ratio.release(remix, [state, ratio], player_mix, api_name="remix",
                      concurrency_limit=4, show_progress="minimal")
    return demo


def pick_device(name):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise DelimitError("--device cuda: CUDA is not available")
    return "cuda" if name == "auto" and torch.cuda.is_available() else \
        ("cpu" if name == "auto" else name)


def main(argv=None):
    # Before torch and gradio load: idle OpenMP threads sleep (as in inference.main), and
    # gradio sends nothing out.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import torch

    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    try:
        device = pick_device(args.device)
        models = Models(find_models(args.weight_directory), device)
        models.get(next(iter(models.folders)))
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    root = tempfile.mkdtemp(prefix="delimiter-app-")
    os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(root, "gradio"))
    os.makedirs(os.path.join(root, "runs"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl+C, cleaning up
    try:
        import gradio as gr
        demo = build_app(models, device, args.max_seconds, os.path.join(root, "runs"))
        demo.queue().launch(server_name=args.host, server_port=args.port, share=args.share,
                            theme=gr.themes.Default(font=["system-ui", "sans-serif"],
                                                    font_mono=["monospace"]))
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
