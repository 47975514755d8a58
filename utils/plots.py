"""Every figure of the project, drawn one way: matplotlib's object API (no pyplot, so no GUI
backend and no global state), the default colour cycle, thin lines, tight layout, 100 dpi
PNG, written atomically (utils.audio.atomic_path).

- plot_song: a de-limited song's peak envelopes and model gain over time (--save_plot);
- plot_gain_histogram: how much of the song got each gain in dB (--save_histogram);
- plot_loss_curve: loss and validation SI-SDR per epoch of a training run (main_ddp);
- metric_histogram_png: an evaluation metric over files (eval_delimit's distribution.png).
"""
import io

import numpy as np

from utils.audio import atomic_path
from utils.loudness import to_db

DPI = 100
LINE_WIDTH = 0.6  # curves of a whole song: thousands of points
SILENCE = 1e-5  # -100 dB: the level plotted for silence


def envelope_hop(sample_rate, frames):
    """Samples per plotted point of a song: 100 points a second, or 4,000 over a long song."""
    return max(sample_rate // 100, frames // 4000)


def _figure(width, height, rows=1, columns=1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots(rows, columns, **kwargs)


def _save_figure(fig, path):
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def plot_song(path, hop, sample_rate, input_peaks, output_peaks, gain_db):
    """The loudness-matched input's and the output's peak envelopes (dBFS) above, the model's
    gain (dB) below, against time.

    Args:
        hop (int): samples per value of the envelopes, at `sample_rate`.
        input_peaks, output_peaks (np.ndarray): linear peak per hop `(points,)`, the input
            already loudness-matched to the output.
        gain_db (np.ndarray): the mean gain per hop in dB `(points,)`.
    """
    t = np.arange(len(gain_db)) * hop / sample_rate
    fig, (top, bottom) = _figure(12, 6, 2, 1, sharex=True)
    top.plot(t, to_db(input_peaks, SILENCE), lw=LINE_WIDTH, label="input, loudness-matched")
    top.plot(t, to_db(output_peaks, SILENCE), lw=LINE_WIDTH, label="output")
    top.set_ylabel("peak envelope (dBFS)")
    top.set_ylim(bottom=-60)
    top.legend(loc="lower right")
    bottom.plot(t, gain_db, lw=LINE_WIDTH, color="C2")
    bottom.set_ylabel("model gain (dB)")
    bottom.set_xlabel("time (s)")
    _save_figure(fig, path)


def plot_gain_histogram(path, counts, edges):
    """The fraction of samples in each gain bin; the x axis starts at the lowest bin used.

    Args:
        counts (np.ndarray): samples per bin `(bins,)`.
        edges (np.ndarray): the bins' edges in dB `(bins + 1,)`.
    """
    fig, ax = _figure(8, 4)
    ax.bar(edges[:-1], counts / max(1, counts.sum()), width=np.diff(edges), align="edge")
    used = np.flatnonzero(counts)
    if len(used):
        ax.set_xlim(edges[used[0]] - 1.0, 0.5)
    ax.set_xlabel("model gain (dB)")
    ax.set_ylabel("fraction of samples")
    _save_figure(fig, path)


def plot_loss_curve(path, history):
    """Training and validation loss, and the validation SI-SDR of the output and of the
    limited input, per epoch.

    Args:
        history (dict): lists by epoch under train_loss_history, valid_loss_history,
            valid_si_sdr_history and valid_input_si_sdr_history (main_ddp's TrainState).
    """
    fig, (ax_loss, ax_sdr) = _figure(11, 4, 1, 2)
    epochs = range(1, len(history["train_loss_history"]) + 1)
    ax_loss.plot(epochs, history["train_loss_history"], label="train")
    ax_loss.plot(epochs, history["valid_loss_history"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss (negative SI-SDR, dB)", title="Loss")
    ax_sdr.plot(epochs, history["valid_si_sdr_history"], label="de-limited output")
    ax_sdr.plot(epochs, history["valid_input_si_sdr_history"], "--", label="limited input")
    ax_sdr.set(xlabel="epoch", ylabel="SI-SDR vs. unlimited (dB)", title="Validation SI-SDR")
    for ax in (ax_loss, ax_sdr):
        ax.legend()
        ax.grid(alpha=0.3)
    _save_figure(fig, path)


def metric_histogram_png(values, metric):
    """PNG bytes: the histogram of one metric (in dB) over files, its median marked, and 0 dB
    when the metric is an improvement.

    Args:
        values (np.ndarray): one value per file `(files,)`.
        metric (str): the column's name, e.g. si_sdr_improvement.
    """
    fig, ax = _figure(6, 4)
    median = np.median(values)
    ax.hist(values, bins=max(5, min(40, len(values))), color="C0", alpha=0.8)
    ax.axvline(median, color="k", linestyle="--", label=f"median {median:.2f} dB")
    if metric.endswith("improvement"):
        ax.axvline(0.0, color="C3", linewidth=1, label="no change")
    ax.set(xlabel=f"{metric} (dB)", ylabel="files", title=f"{metric} over {len(values)} file(s)")
    ax.legend()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
