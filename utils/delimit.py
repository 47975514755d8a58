"""The de-limiter's Python API: `delimit` for an array, `delimit_file` for a file.

The main job, one straight line: read -> to 44.1 kHz stereo -> windows -> model ->
overlap-add -> the gain back to the input's rate -> input * gain -> loudness -> write.

`delimit_file` streams: pass 1 reads the song in blocks, runs the model window by window,
resamples the gain back to the input's rate and stores it in a temporary float32 file
while a streaming BS.1770 meter measures the de-limited signal's loudness and peak; pass 2
reads the song again with its stored gain, applies gain and loudness, and writes every
output atomically. Memory stays about one model window whatever the song's length.

The gain is applied to the input at its own rate and channels (mono stays mono, a 96 kHz
song keeps its content above 22 kHz): output = input * gain, where the model saw the song
at 44.1 kHz (mono as dual-mono) and its gain was resampled back.
"""
import contextlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
from tqdm import tqdm

from utils.apply import Chunking, StreamingGain, song_statistics
from utils.audio import (MODEL_RATE, AudioReader, AudioWriter, StreamResampler,
                         atomic_path, to_stereo)
from utils.errors import DelimitError
from utils.loudness import LoudnessMeter

MIN_GAIN = 1e-7  # floor of the gain, so that it always has a level in dB
HISTOGRAM_EDGES_DB = np.arange(-60.0, 0.1, 0.25)  # gain histogram bins; lower values go first


@dataclass
class DelimitOptions:
    """What to do with a song besides de-limiting it.

    Args:
        output_lufs (float or None): loudness of the written output; None keeps the model's
            level (--save_output_loudnorm, default -14.0).
        input_lufs (float or None): normalise the input to this loudness before the model
            (--loudnorm_input_lufs).
        mixed_ratio (float or None): also write r * loudness-matched input + (1 - r) *
            output (--save_mixed_output).
        save_16k_mono, save_histogram, save_sgi_params, save_plot (bool): extra outputs.
        avoid_clipping (bool): divide by the peak if the output would clip.
        chunking (Chunking or None): window geometry; None processes the whole song at
            once (memory then grows with its length).
        device (str): torch device of the model.
        subtype (str or None): wav subtype; None is PCM_16, or FLOAT when avoid_clipping is
            off (so that nothing clips).
        block_frames (int): frames read at a time.
        progress (bool): show a tqdm bar in seconds of audio.
    """
    output_lufs: float | None = -14.0
    input_lufs: float | None = None
    mixed_ratio: float | None = None
    save_16k_mono: bool = False
    save_histogram: bool = False
    save_sgi_params: bool = False
    save_plot: bool = False
    avoid_clipping: bool = True
    chunking: Chunking | None = field(default_factory=Chunking.from_seconds)
    device: str = "cpu"
    subtype: str | None = None
    block_frames: int = 65536
    progress: bool = False

    def wav_subtype(self):
        if self.subtype:
            return self.subtype
        return "PCM_16" if self.avoid_clipping else "FLOAT"


@dataclass
class FileReport:
    """What `delimit_file` did.

    Restored gain is the output's level relative to the loudness-matched input, sample by
    sample: 20 * log10(output(t) / (a * input(t))) with a such that both have the same
    loudness. Positive where the model gave back peaks the limiter had pressed down.
    `mean_restored_db` averages it over time, `max_restored_db` is its largest value;
    both are None for a silent song.
    """
    input_path: str
    output_path: str
    extra_paths: list
    sample_rate: int
    channels: int
    frames: int
    input_lufs: float
    output_lufs: float
    mean_restored_db: float | None
    max_restored_db: float | None
    peak_normalized: bool
    seconds_taken: float

    def summary(self):
        """One line for the log."""
        seconds = self.frames / self.sample_rate
        speed = seconds / self.seconds_taken if self.seconds_taken > 0 else float("inf")
        if self.mean_restored_db is None:
            restored = "restored gain n/a (silent)"
        else:
            restored = (f"restored gain mean {self.mean_restored_db:+.1f} dB, "
                        f"max {self.max_restored_db:+.1f} dB")
        clip = ", divided by its peak" if self.peak_normalized else ""
        return (f"{self.input_path}: input {self.input_lufs:.1f} LUFS, output "
                f"{self.output_lufs:.1f} LUFS, {restored}{clip}; {seconds:.1f} s at "
                f"{self.sample_rate} Hz in {self.seconds_taken:.1f} s ({speed:.0f}x)")


def output_paths(out_path, options):
    """Every file `delimit_file` writes for `out_path` ("X.wav"): a dict of kind -> path.

    Extra outputs sit beside it: X_mixed.wav, X_16k_mono.wav, X_gain_histogram.png,
    X_sgi.npy (the gain at the output's rate, float32 (time,)), X_plot.png.
    """
    base = os.path.splitext(out_path)[0]
    paths = {"output": out_path}
    if options.mixed_ratio is not None:
        paths["mixed"] = f"{base}_mixed.wav"
    if options.save_16k_mono:
        paths["16k_mono"] = f"{base}_16k_mono.wav"
    if options.save_histogram:
        paths["histogram"] = f"{base}_gain_histogram.png"
    if options.save_sgi_params:
        paths["sgi"] = f"{base}_sgi.npy"
    if options.save_plot:
        paths["plot"] = f"{base}_plot.png"
    return paths


def _db(gain):
    return 20.0 * math.log10(gain)


def _gain_to(lufs, target):
    """Linear gain from `lufs` to `target`; 1.0 when either is missing or silent."""
    if target is None or not np.isfinite(lufs):
        return 1.0
    return 10.0 ** ((target - lufs) / 20.0)


@dataclass
class _Levels:
    """The scalar gains of a song, from pass-1 measurements.

    input_gain: applied before the model; output_gain: applied to input * g (after
    input_gain) to reach the output loudness, lowered if it would clip; match_gain: brings
    the input to the output's loudness; mix_gain: scales the mixed output.
    """
    input_gain: float
    output_gain: float
    match_gain: float
    mix_gain: float
    peak_normalized: bool


def _levels(options, input_gain, input_lufs, input_peak, delimited_lufs, delimited_peak):
    output_gain = _gain_to(delimited_lufs, options.output_lufs)
    peak_normalized = options.avoid_clipping and delimited_peak * output_gain > 1.0
    if peak_normalized:
        output_gain = 1.0 / delimited_peak
    output_lufs = delimited_lufs + _db(output_gain) if np.isfinite(delimited_lufs) else -np.inf
    match_gain = _gain_to(input_lufs, output_lufs if np.isfinite(output_lufs) else None)
    mix_gain = 1.0
    if options.mixed_ratio is not None and options.avoid_clipping:
        # Input and output have the same sign sample by sample (the gain is positive), so
        # the mix never exceeds the larger of the two parts' peaks.
        bound = max(match_gain * input_peak, delimited_peak * output_gain)
        mix_gain = 1.0 / bound if bound > 1.0 else 1.0
    return _Levels(input_gain, output_gain, match_gain, mix_gain, peak_normalized)


def _restored_db(levels, gain_db):
    """Restored gain in dB (see FileReport) from the model's gain in dB."""
    return gain_db + _db(levels.input_gain * levels.output_gain / levels.match_gain)


# ---------------------------------------------------------------------------------------
# Arrays


def delimit(model, audio, sample_rate, options=None):
    """De-limit a whole song held in memory.

    Args:
        model: a ConvTasNetSGI in eval mode (see models.load_pretrained).
        audio (np.ndarray): float `(channels, time)`, 1 or 2 channels, any sample rate.
        sample_rate (int): its rate.
        options (DelimitOptions or None): loudness, clipping, chunking, device (extra
            outputs are ignored here).
    Returns: output float32 `(channels, time)` at `sample_rate`, and the model's gain
        float32 `(time,)` resampled to `sample_rate` (output = input * gain * levels).
    """
    options = options or DelimitOptions()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] not in (1, 2) or audio.shape[1] == 0:
        raise DelimitError(f"audio of shape {audio.shape}: expected (1 or 2, time > 0)")
    if not np.isfinite(audio).all():
        raise DelimitError("audio: NaN or infinite samples")
    input_meter = LoudnessMeter(sample_rate, audio.shape[0])
    input_meter.update(audio)
    input_lufs = input_meter.integrated()
    input_gain = _gain_to(input_lufs, options.input_lufs)
    gain = _song_gain(model, audio * input_gain, sample_rate, options)
    delimited = audio * (input_gain * gain)
    meter = LoudnessMeter(sample_rate, audio.shape[0])
    meter.update(delimited)
    levels = _levels(options, input_gain, input_lufs, float(np.abs(audio).max()),
                     meter.integrated(), float(np.abs(delimited).max()))
    return delimited * np.float32(levels.output_gain), gain


def _song_gain(model, audio, sample_rate, options):
    """The model's gain `(time,)` at `sample_rate` for a whole `(channels, time)` array."""
    statistics = None
    if _chunking(options).needs_statistics(_model_length(audio.shape[1], sample_rate)):
        statistics = _statistics(model, [audio], sample_rate, options)
    stream = _GainStream(model, sample_rate, options, statistics)
    parts = [stream.push(audio)]
    parts.append(stream.finish())
    return _fit(np.concatenate(parts), audio.shape[1])


def _chunking(options):
    return options.chunking or Chunking(None)


def _model_length(frames, sample_rate):
    return round(frames * MODEL_RATE / sample_rate)


def _fit(gain, length):
    """Cut or extend (with its last value; 1.0 if empty) a gain curve to `length`."""
    if len(gain) >= length:
        return gain[:length]
    fill = gain[-1] if len(gain) else 1.0
    return np.concatenate([gain, np.full(length - len(gain), fill, np.float32)])


def _statistics(model, blocks, sample_rate, options, bar=None):
    """The statistics pass (utils.apply.song_statistics) over the song's blocks.

    Args:
        blocks: iterable of `(channels, n)` blocks at `sample_rate` (the model's input).
    """
    to_model = StreamResampler(sample_rate, MODEL_RATE, 2)

    def model_blocks():
        for block in blocks:
            yield to_model(to_stereo(block))
            if bar is not None:
                bar.update(block.shape[1] / sample_rate)
        yield to_model(np.zeros((2, 0), np.float32), last=True)

    return song_statistics(model, _chunking(options), model_blocks(), options.device)


class _GainStream:
    """Input blocks at the song's rate in, the model's gain at the same rate out.

    To 44.1 kHz stereo, windows through the model (StreamingGain), the gain back to the
    song's rate. The gain lags the input by about a window; `finish` flushes it. The total
    may differ from the input's length by a sample or two (use `_fit`).
    """

    def __init__(self, model, sample_rate, options, statistics=None):
        self.to_model = StreamResampler(sample_rate, MODEL_RATE, 2)
        self.windows = StreamingGain(model, _chunking(options), options.device, statistics)
        self.back = StreamResampler(MODEL_RATE, sample_rate, 1, hold_edges=True)

    def push(self, block):
        """`(channels, n)` at the song's rate -> gain samples `(m,)` finished so far."""
        gain = self.windows.push(self.to_model(to_stereo(block)))
        return self._back(gain)

    def finish(self):
        gain = self.windows.push(self.to_model(np.zeros((2, 0), np.float32), last=True))
        gain = np.concatenate([gain, self.windows.finish()])
        return self._back(gain, last=True)

    def _back(self, gain, last=False):
        gain = self.back(gain[None], last=last)[0]
        # Resampling may ring a hair outside the sigmoid's (0, 1).
        return np.clip(gain, MIN_GAIN, 1.0)


# ---------------------------------------------------------------------------------------
# Files


class _Fifo:
    """Input samples waiting for their gain: `(channels, n)` blocks in, any count out."""

    def __init__(self, channels):
        self.blocks = []
        self.size = 0
        self.channels = channels

    def push(self, block):
        self.blocks.append(block)
        self.size += block.shape[1]

    def pop(self, n):
        joined = np.concatenate(self.blocks, axis=1) if self.blocks else \
            np.zeros((self.channels, 0), np.float32)
        self.blocks = [joined[:, n:]] if joined.shape[1] > n else []
        self.size -= min(n, joined.shape[1])
        return joined[:, :n]


class _Envelope:
    """Decimates a stream to one value per `hop` samples (peak of |x|, or mean)."""

    def __init__(self, hop, reduce):
        self.hop, self.reduce = hop, reduce
        self.rest = np.zeros(0)
        self.values = []

    def update(self, signal):
        signal = np.concatenate([self.rest, signal])
        n = len(signal) // self.hop * self.hop
        if n:
            self.values.append(self.reduce(signal[:n].reshape(-1, self.hop), axis=1))
        self.rest = signal[n:]

    def result(self):
        values = self.values + ([self.reduce(self.rest[None], axis=1)] if len(self.rest) else [])
        return np.concatenate(values) if values else np.zeros(0)


class _Analysis:
    """Pass-1 measurements of the input x and the de-limited signal d = input_gain * x * g."""

    def __init__(self, sample_rate, channels, hop):
        self.input_meter = LoudnessMeter(sample_rate, channels)
        self.delimited_meter = LoudnessMeter(sample_rate, channels)
        self.input_peak = 0.0
        self.delimited_peak = 0.0
        self.gain_db_sum = 0.0
        self.gain_max = 0.0
        self.frames = 0
        self.histogram = np.zeros(len(HISTOGRAM_EDGES_DB) - 1, np.int64)
        self.input_env = _Envelope(hop, np.max)
        self.delimited_env = _Envelope(hop, np.max)
        self.gain_env = _Envelope(hop, np.mean)
        self.hop = hop

    def add_input(self, x):
        self.input_meter.update(x)
        self.input_peak = max(self.input_peak, float(np.abs(x).max()))
        self.input_env.update(np.abs(x).max(axis=0))

    def add_output(self, d, gain):
        self.delimited_meter.update(d)
        self.delimited_peak = max(self.delimited_peak, float(np.abs(d).max(initial=0.0)))
        self.delimited_env.update(np.abs(d).max(axis=0))
        gain_db = 20.0 * np.log10(gain.astype(np.float64))
        self.gain_db_sum += float(gain_db.sum())
        self.gain_max = max(self.gain_max, float(gain.max(initial=0.0)))
        self.frames += len(gain)
        self.histogram += np.histogram(np.clip(gain_db, HISTOGRAM_EDGES_DB[0], 0.0),
                                       HISTOGRAM_EDGES_DB)[0]
        self.gain_env.update(gain_db)


def _write_raw(f, array):
    f.write(np.ascontiguousarray(array, dtype=np.float32).tobytes())


def _analyse(model, reader, input_gain, options, gain_file, statistics, bar):
    """Pass 1: model gain of the whole song into `gain_file` (raw float32), measurements."""
    sr, channels = reader.sample_rate, reader.channels
    hop = max(sr // 100, reader.declared_frames // 4000)  # plot resolution
    stats = _Analysis(sr, channels, hop)
    stream = _GainStream(model, sr, options, statistics)
    waiting = _Fifo(channels)
    ready = [np.zeros(0, np.float32)]  # gain samples not yet matched with input

    def match(gain, final=False):
        ready[0] = np.concatenate([ready[0], gain])
        n = waiting.size if final else min(len(ready[0]), waiting.size)
        g = _fit(ready[0], n) if final else ready[0][:n]
        ready[0] = ready[0][n:]
        x = waiting.pop(n)
        stats.add_output(x * (g * np.float32(input_gain)), g)
        _write_raw(gain_file, g)

    for block in reader.blocks(options.block_frames):
        waiting.push(block)
        stats.add_input(block)
        match(stream.push(block * np.float32(input_gain)))
        bar.update(block.shape[1] / sr)
    match(stream.finish(), final=True)
    return stats


def _input_loudness(path, options):
    with AudioReader(path) as reader:
        meter = LoudnessMeter(reader.sample_rate, reader.channels)
        for block in reader.blocks(options.block_frames):
            meter.update(block)
        return meter.integrated()


def _render(reader, gain_path, frames, levels, options, paths):
    """Pass 2: read the song again with its gain, write every audio output.

    Returns the output's measured loudness.
    """
    sr, channels = reader.sample_rate, reader.channels
    subtype = options.wav_subtype()
    meter = LoudnessMeter(sr, channels)
    scale = np.float32(levels.input_gain * levels.output_gain)
    with contextlib.ExitStack() as stack:
        gains = stack.enter_context(open(gain_path, "rb"))
        out = stack.enter_context(AudioWriter(paths["output"], sr, channels, subtype))
        mixed = mono = sgi = None
        if "mixed" in paths:
            mixed = stack.enter_context(AudioWriter(paths["mixed"], sr, channels, subtype))
            r = options.mixed_ratio
        if "16k_mono" in paths:
            mono = stack.enter_context(AudioWriter(paths["16k_mono"], 16000, 1, subtype))
            to_16k = StreamResampler(sr, 16000, 1)
        if "sgi" in paths:
            # Header, then the samples block by block: the file is never held in memory
            # (unlike np.lib.format.open_memmap, whose written pages stay resident).
            sgi = stack.enter_context(open(stack.enter_context(atomic_path(paths["sgi"])), "wb"))
            np.lib.format.write_array_header_1_0(
                sgi, {"descr": "<f4", "fortran_order": False, "shape": (frames,)})
        read = 0
        for block in reader.blocks(options.block_frames):
            gain = np.fromfile(gains, np.float32, count=block.shape[1])
            if len(gain) < block.shape[1]:
                raise DelimitError(f"{reader.path}: file changed while being processed")
            read += block.shape[1]
            y = block * (gain * scale)
            out.write(y)
            meter.update(y)
            if mixed is not None:
                mixed.write((r * levels.match_gain * block + (1 - r) * y) * levels.mix_gain)
            if mono is not None:
                mono.write(to_16k(y.mean(axis=0, keepdims=True)))
            if sgi is not None:
                _write_raw(sgi, gain)
        if read != frames:
            raise DelimitError(f"{reader.path}: file changed while being processed")
        if mono is not None:
            mono.write(to_16k(np.zeros((1, 0), np.float32), last=True))
    return meter.integrated()


def _plot(path, stats, levels, sample_rate):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    t = np.arange(len(stats.gain_env.result())) * stats.hop / sample_rate
    floor = 1e-5  # -100 dB, so silence plots
    fig = Figure(figsize=(12, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(t, _to_db(stats.input_env.result() * levels.match_gain, floor), lw=0.6,
             label="input, loudness-matched")
    top.plot(t, _to_db(stats.delimited_env.result() * levels.output_gain, floor), lw=0.6,
             label="output")
    top.set_ylabel("peak envelope (dBFS)")
    top.set_ylim(bottom=-60)
    top.legend(loc="lower right")
    bottom.plot(t, stats.gain_env.result(), lw=0.6, color="C2")
    bottom.set_ylabel("model gain (dB)")
    bottom.set_xlabel("time (s)")
    fig.tight_layout()
    _save_figure(fig, path)


def _histogram(path, stats):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    edges = HISTOGRAM_EDGES_DB
    ax.bar(edges[:-1], stats.histogram / max(1, stats.histogram.sum()), width=np.diff(edges),
           align="edge")
    used = np.flatnonzero(stats.histogram)
    if len(used):
        ax.set_xlim(edges[used[0]] - 1.0, 0.5)
    ax.set_xlabel("model gain (dB)")
    ax.set_ylabel("fraction of samples")
    fig.tight_layout()
    _save_figure(fig, path)


def _to_db(values, floor):
    return 20.0 * np.log10(np.maximum(values, floor))


def _save_figure(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def delimit_file(model, in_path, out_path, options=None):
    """De-limit one audio file into a wav file at the input's rate and channels.

    Args:
        model: a ConvTasNetSGI in eval mode (see models.load_pretrained).
        in_path (str): mono or stereo wav, flac, ogg, mp3 or aiff at any sample rate.
        out_path (str): the output wav; extra outputs go beside it (see output_paths).
        options (DelimitOptions or None).
    Returns: a FileReport.
    Raises DelimitError for a bad input (missing, unreadable, damaged, NaN/inf samples,
        more than 2 channels), an output that would overwrite the input, or an output that
        cannot be written (folder not creatable or not writable, disk full); nothing of this
        song is left behind under the outputs' names then.
    """
    options = options or DelimitOptions()
    paths = output_paths(out_path, options)
    before = {path: _file_identity(path) for path in paths.values()}
    try:
        return _delimit_file(model, in_path, out_path, paths, options)
    except (OSError, sf.SoundFileError) as err:
        # Outputs are written atomically, but one song has several: remove those that this
        # call already completed, so that a failed song leaves none of its outputs.
        for path, identity in before.items():
            if _file_identity(path) not in (None, identity):
                os.remove(path)
        raise DelimitError(f"{out_path}: cannot write ({_write_error(err)})") from None


def _write_error(err):
    if isinstance(err, sf.SoundFileError):
        return f"libsndfile: {err}"  # its "System error." hides the OS's reason
    return err.strerror or str(err)


def _file_identity(path):
    """What tells a file apart from its replacement, or None if there is no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _delimit_file(model, in_path, out_path, paths, options):
    started = time.perf_counter()
    if not os.path.isfile(in_path):
        raise DelimitError(f"{in_path}: no such file")
    for path in paths.values():
        if os.path.exists(path) and os.path.samefile(path, in_path):
            raise DelimitError(f"{in_path}: the output {path} would overwrite the input")
    input_gain = 1.0
    if options.input_lufs is not None:
        input_gain = _gain_to(_input_loudness(in_path, options), options.input_lufs)
    with AudioReader(in_path) as reader:
        seconds, sr = reader.declared_frames / reader.sample_rate, reader.sample_rate
        two_pass = _chunking(options).needs_statistics(
            _model_length(reader.declared_frames, sr))
    folder = os.path.dirname(os.path.abspath(out_path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise DelimitError(f"{folder}: cannot create the output folder ({err.strerror})") from None
    fd, gain_path = tempfile.mkstemp(dir=folder, prefix=".gain.", suffix=".tmp")
    bar = tqdm(total=round(seconds * (2 if two_pass else 1), 1), unit="s", leave=False,
               desc=os.path.basename(in_path) + (" (2 passes)" if two_pass else ""),
               disable=not options.progress,
               bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of audio [{elapsed}<{remaining}]")
    try:
        statistics = None
        if two_pass:
            with AudioReader(in_path) as reader:
                blocks = (b * np.float32(input_gain) for b in reader.blocks(options.block_frames))
                statistics = _statistics(model, blocks, sr, options, bar)
        with os.fdopen(fd, "wb") as gain_file, AudioReader(in_path) as reader:
            stats = _analyse(model, reader, input_gain, options, gain_file, statistics, bar)
        levels = _levels(options, input_gain, stats.input_meter.integrated(), stats.input_peak,
                         stats.delimited_meter.integrated(), stats.delimited_peak)
        with AudioReader(in_path) as reader:
            output_lufs = _render(reader, gain_path, stats.frames, levels, options, paths)
    finally:
        bar.close()
        os.remove(gain_path)
    if "plot" in paths:
        _plot(paths["plot"], stats, levels, reader.sample_rate)
    if "histogram" in paths:
        _histogram(paths["histogram"], stats)
    silent = not np.isfinite(stats.input_meter.integrated())
    return FileReport(
        input_path=in_path, output_path=out_path,
        extra_paths=[p for k, p in paths.items() if k != "output"],
        sample_rate=reader.sample_rate, channels=reader.channels, frames=stats.frames,
        input_lufs=stats.input_meter.integrated(), output_lufs=output_lufs,
        mean_restored_db=None if silent else _restored_db(levels, stats.gain_db_sum / stats.frames),
        max_restored_db=None if silent else _restored_db(levels, _db(stats.gain_max)),
        peak_normalized=levels.peak_normalized,
        seconds_taken=time.perf_counter() - started)
