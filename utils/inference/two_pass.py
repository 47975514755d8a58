"""The engine behind utils.inference.delimit: a song file de-limited in two passes, in the memory of
about one model window whatever the song's length.

Pass 1 (`analyse`) reads the song in blocks, runs the model window by window (GainStream),
stores the gain, resampled back to the song's rate, in a temporary float32 file, and
measures the input and the de-limited signal (Analysis: loudness, peaks, gain statistics,
the plot's envelopes). From those measurements `song_levels` sets the scalar gains
(Levels). Pass 2 (`render`) reads the song again with its stored gain and writes every
audio output atomically. When the windows are normalised with the whole song's gLN
statistics (utils.inference.apply), a statistics pass over the song comes first.

The gain is applied to the input at its own rate and channels: output = input * gain,
where the model saw the song at 44.1 kHz (mono as dual-mono) and its gain was resampled back.
A model with a gain per band (gain_crossovers_hz) gives one gain per band, each applied to its
band of the input, split at the song's rate (utils.inference.bands).
"""
import contextlib
import os
import tempfile
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from utils import plots
from utils.audio import (
    MODEL_RATE,
    AudioReader,
    AudioWriter,
    StreamResampler,
    atomic_path,
    to_stereo,
)
from utils.errors import DelimitError
from utils.inference.apply import Chunking, StreamingGain, song_statistics
from utils.inference.bands import BandStream, apply_gains, power_gain
from utils.loudness import LoudnessMeter, gain_between, to_db

MIN_GAIN = 1e-7  # floor of the gain, so that it always has a level in dB
HISTOGRAM_EDGES_DB = np.arange(-60.0, 0.1, 0.25)  # gain histogram bins; lower values go first


@dataclass(frozen=True)
class Song:
    """A file's header, read once before the passes."""
    path: str
    sample_rate: int
    channels: int
    declared_frames: int


@dataclass
class Levels:
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

    def restored_db(self, gain_db):
        """Restored gain in dB (see utils.inference.delimit.FileReport) from the model's gain in
        dB."""
        return gain_db + to_db(self.input_gain * self.output_gain / self.match_gain)


def song_levels(options, input_gain, input_lufs, input_peak, delimited_lufs, delimited_peak):
    """Levels from the loudness and peak of the input and of the de-limited signal."""
    output_gain = gain_between(delimited_lufs, options.output_lufs)
    peak_normalized = options.avoid_clipping and delimited_peak * output_gain > 1.0
    if peak_normalized:
        output_gain = 1.0 / delimited_peak
    output_lufs = delimited_lufs + to_db(output_gain) if np.isfinite(delimited_lufs) else -np.inf
    match_gain = gain_between(input_lufs, output_lufs if np.isfinite(output_lufs) else None)
    mix_gain = 1.0
    if options.mixed_ratio is not None and options.avoid_clipping:
        # r * a + (1 - r) * b with r in [0, 1] never exceeds the larger of the two parts'
        # peaks, whatever their signs (band gains can flip a sample's sign; one gain cannot).
        bound = max(match_gain * input_peak, delimited_peak * output_gain)
        mix_gain = 1.0 / bound if bound > 1.0 else 1.0
    return Levels(input_gain, output_gain, match_gain, mix_gain, peak_normalized)


def needs_statistics(options, frames, sample_rate):
    """Whether a song of `frames` samples at `sample_rate` needs the statistics pass."""
    return _chunking(options).needs_statistics(round(frames * MODEL_RATE / sample_rate))


def _chunking(options):
    return options.chunking or Chunking(None)


def fit(gain, length):
    """Cut or extend (with its last values; 1.0 if empty) gain curves `(n_gains, n)` to
    `length`."""
    if gain.shape[1] >= length:
        return gain[:, :length]
    fill = gain[:, -1:] if gain.shape[1] else np.ones((gain.shape[0], 1), np.float32)
    return np.concatenate([gain, np.repeat(fill, length - gain.shape[1], axis=1)], axis=1)


def crossovers(model):
    """The model's gain_crossovers_hz: empty for a one-gain model."""
    return getattr(model, "gain_crossovers_hz", ())


def split_whole(audio, sample_rate, crossovers_hz):
    """The bands `(bands, channels, time)` of a whole `(channels, time)` array."""
    stream = BandStream(crossovers_hz, sample_rate, audio.shape[0])
    return np.concatenate([stream.push(audio), stream.finish()], axis=2)


def statistics(model, blocks, sample_rate, options, bar=None):
    """The statistics pass (utils.inference.apply.song_statistics) over the song's blocks.

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


class GainStream:
    """Input blocks at the song's rate in, the model's gain at the same rate out.

    To 44.1 kHz stereo, windows through the model (StreamingGain), the gain back to the
    song's rate. The gain lags the input by about a window; `finish` flushes it. The total
    may differ from the input's length by a sample or two (use `fit`).
    """

    def __init__(self, model, sample_rate, options, statistics=None):
        self.to_model = StreamResampler(sample_rate, MODEL_RATE, 2)
        self.windows = StreamingGain(model, _chunking(options), options.device, statistics)
        self.back = StreamResampler(MODEL_RATE, sample_rate, self.windows.n_gains,
                                    hold_edges=True)

    def push(self, block):
        """`(channels, n)` at the song's rate -> gain samples `(n_gains, m)` finished so far."""
        gain = self.windows.push(self.to_model(to_stereo(block)))
        return self._back(gain)

    def finish(self):
        gain = self.windows.push(self.to_model(np.zeros((2, 0), np.float32), last=True))
        gain = np.concatenate([gain, self.windows.finish()], axis=1)
        return self._back(gain, last=True)

    def _back(self, gain, last=False):
        gain = self.back(gain, last=last)
        # Resampling may ring a hair outside the sigmoid's (0, 1).
        return np.clip(gain, MIN_GAIN, 1.0)


def song_gain(model, audio, sample_rate, options):
    """The model's gain `(n_gains, time)` at `sample_rate` for a whole `(channels, time)`
    array."""
    stats = None
    if needs_statistics(options, audio.shape[1], sample_rate):
        stats = statistics(model, [audio], sample_rate, options)
    stream = GainStream(model, sample_rate, options, stats)
    parts = [stream.push(audio)]
    parts.append(stream.finish())
    return fit(np.concatenate(parts, axis=1), audio.shape[1])


# ---------------------------------------------------------------------------------------
# Pass 1: the gain and the measurements


class Fifo:
    """Samples waiting for their counterpart: `(channels, n)` blocks in, any count out."""

    def __init__(self, channels):
        self.blocks = []
        self.size = 0
        self.channels = channels

    def push(self, block):
        self.blocks.append(block)
        self.size += block.shape[1]

    def pop(self, n):
        """The first n samples `(channels, <= n)`: fewer only if fewer are waiting."""
        joined = np.concatenate(self.blocks, axis=1) if self.blocks else \
            np.zeros((self.channels, 0), np.float32)
        self.blocks = [joined[:, n:]] if joined.shape[1] > n else []
        self.size -= min(n, joined.shape[1])
        return joined[:, :n]


class Envelope:
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


class SongEnvelopes:
    """What the song plot shows, one value per `hop` samples: the peaks of the input and of
    the de-limited signal, and the mean gain in dB."""

    def __init__(self, hop):
        self.hop = hop
        self.input = Envelope(hop, np.max)
        self.delimited = Envelope(hop, np.max)
        self.gain_db = Envelope(hop, np.mean)


class Analysis:
    """Pass-1 measurements of the input x and the de-limited signal d = input_gain * x * g.

    Args:
        plot_hop (int or None): also keep the song plot's envelopes (SongEnvelopes) at one
            value per plot_hop samples.
    """

    def __init__(self, sample_rate, channels, plot_hop=None):
        self.input_meter = LoudnessMeter(sample_rate, channels)
        self.delimited_meter = LoudnessMeter(sample_rate, channels)
        self.input_peak = 0.0
        self.delimited_peak = 0.0
        self.gain_db_sum = 0.0
        self.gain_max = 0.0
        self.frames = 0
        self.histogram = np.zeros(len(HISTOGRAM_EDGES_DB) - 1, np.int64)
        self.envelopes = SongEnvelopes(plot_hop) if plot_hop else None

    def mean_gain_db(self):
        return self.gain_db_sum / self.frames

    def add_input(self, x):
        self.input_meter.update(x)
        self.input_peak = max(self.input_peak, float(np.abs(x).max()))
        if self.envelopes:
            self.envelopes.input.update(np.abs(x).max(axis=0))

    def add_output(self, d, gain):
        self.delimited_meter.update(d)
        self.delimited_peak = max(self.delimited_peak, float(np.abs(d).max(initial=0.0)))
        gain_db = to_db(gain.astype(np.float64))
        self.gain_db_sum += float(gain_db.sum())
        self.gain_max = max(self.gain_max, float(gain.max(initial=0.0)))
        self.frames += len(gain)
        self.histogram += np.histogram(np.clip(gain_db, HISTOGRAM_EDGES_DB[0], 0.0),
                                       HISTOGRAM_EDGES_DB)[0]
        if self.envelopes:
            self.envelopes.delimited.update(np.abs(d).max(axis=0))
            self.envelopes.gain_db.update(gain_db)


def _write_raw(f, array):
    f.write(np.ascontiguousarray(array, dtype=np.float32).tobytes())


def analyse(model, reader, song, input_gain, options, gain_file, stats, bar):
    """Pass 1: the model's gain of the whole song into `gain_file` (raw float32, frame by
    frame: n_gains values each), and the measurements (an Analysis).

    Args:
        stats (SongStatistics or None): from the statistics pass.
    """
    plot_hop = plots.envelope_hop(song.sample_rate, song.declared_frames) \
        if options.save_plot else None
    analysis = Analysis(song.sample_rate, song.channels, plot_hop)
    stream = GainStream(model, song.sample_rate, options, stats)
    bands = BandStream(crossovers(model), song.sample_rate, song.channels)
    scale = np.float32(input_gain)
    # the input's bands without their gain (as bands x channels rows); gain without its bands
    waiting, ready = Fifo(bands.n_bands * song.channels), Fifo(bands.n_bands)
    for block in reader.blocks(options.block_frames):
        waiting.push(_rows(bands.push(block)))
        analysis.add_input(block)
        ready.push(stream.push(block * scale))
        _measure(analysis, waiting, ready, scale, gain_file, min(waiting.size, ready.size))
        bar.update(block.shape[1] / song.sample_rate)
    waiting.push(_rows(bands.finish()))
    ready.push(stream.finish())
    _measure(analysis, waiting, ready, scale, gain_file, waiting.size)
    return analysis


def _rows(bands):
    """(bands, channels, n) -> (bands * channels, n), the shape a Fifo holds."""
    return bands.reshape(bands.shape[0] * bands.shape[1], bands.shape[2])


def _measure(analysis, waiting, ready, scale, gain_file, n):
    """The next `n` input samples with their gain (the last value held if the gain falls
    short) into the measurements, and the gain into the gain file."""
    gain = fit(ready.pop(n), n)
    bands = waiting.pop(n).reshape(len(gain), waiting.channels // len(gain), n)
    analysis.add_output(apply_gains(bands, gain) * scale, power_gain(bands, gain))
    _write_raw(gain_file, gain.T)


def loudness(reader, block_frames):
    """Integrated loudness of everything `reader` has still to read."""
    meter = LoudnessMeter(reader.sample_rate, reader.channels)
    for block in reader.blocks(block_frames):
        meter.update(block)
    return meter.integrated()


# ---------------------------------------------------------------------------------------
# Pass 2: the outputs


def render(reader, song, gain_path, frames, levels, options, paths, crossovers_hz=()):
    """Pass 2: read the song again with its gain, write every audio output.

    Args:
        crossovers_hz: the model's gain_crossovers_hz: with them the gain file holds a gain per
            band for each frame, and the song is split into those bands again.
    Returns the output's measured loudness.
    """
    sr, channels = song.sample_rate, song.channels
    splitter = BandStream(crossovers_hz, sr, channels)
    n_gains = splitter.n_bands
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
            shape = (frames,) if n_gains == 1 else (frames, n_gains)
            np.lib.format.write_array_header_1_0(
                sgi, {"descr": "<f4", "fortran_order": False, "shape": shape})

        def write(bands):
            n = bands.shape[-1]
            gain = np.fromfile(gains, np.float32, count=n * n_gains)
            if len(gain) < n * n_gains:
                raise DelimitError(f"{song.path}: file changed while being processed")
            gain = gain.reshape(n, n_gains).T
            y = apply_gains(bands, gain) * scale
            out.write(y)
            meter.update(y)
            if mixed is not None:
                x = bands[0] if n_gains == 1 else bands.sum(axis=0)  # the input, aligned with y
                mixed.write((r * levels.match_gain * x + (1 - r) * y) * levels.mix_gain)
            if mono is not None:
                mono.write(to_16k(y.mean(axis=0, keepdims=True)))
            if sgi is not None:
                _write_raw(sgi, gain.T)

        read = 0
        for block in reader.blocks(options.block_frames):
            read += block.shape[1]
            write(splitter.push(block))
        write(splitter.finish())
        if read != frames:
            raise DelimitError(f"{song.path}: file changed while being processed")
        if mono is not None:
            mono.write(to_16k(np.zeros((1, 0), np.float32), last=True))
    return meter.integrated()


def write_figures(paths, analysis, levels, song):
    """The figures asked for in `paths` (plot, histogram)."""
    if "plot" in paths:
        env = analysis.envelopes
        plots.plot_song(paths["plot"], env.hop, song.sample_rate,
                        env.input.result() * levels.match_gain,
                        env.delimited.result() * levels.output_gain, env.gain_db.result())
    if "histogram" in paths:
        plots.plot_gain_histogram(paths["histogram"], analysis.histogram, HISTOGRAM_EDGES_DB)


# ---------------------------------------------------------------------------------------
# The passes in order


@contextlib.contextmanager
def _read_again(song):
    """A reader of the song for one more pass; a DelimitError if its format changed."""
    with AudioReader(song.path) as reader:
        if (reader.sample_rate, reader.channels) != (song.sample_rate, song.channels):
            raise DelimitError(f"{song.path}: file changed while being processed")
        yield reader


def run(model, song, input_gain, options, paths):
    """Every pass over `song` (a Song) writing the outputs in `paths` (output_paths), whose
    folder exists.

    Returns (Analysis, Levels, the output's loudness in LUFS).
    """
    with_statistics = needs_statistics(options, song.declared_frames, song.sample_rate)
    seconds = song.declared_frames / song.sample_rate
    folder = os.path.dirname(os.path.abspath(paths["output"]))
    fd, gain_path = tempfile.mkstemp(dir=folder, prefix=".gain.", suffix=".tmp")
    bar = tqdm(total=seconds * (2 if with_statistics else 1), unit="s", leave=False,
               desc=os.path.basename(song.path) + (" (2 passes)" if with_statistics else ""),
               disable=not options.progress,
               bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of audio [{elapsed}<{remaining}]")
    try:
        with os.fdopen(fd, "wb") as gain_file:
            stats = None
            if with_statistics:
                with _read_again(song) as reader:
                    blocks = (b * np.float32(input_gain)
                              for b in reader.blocks(options.block_frames))
                    stats = statistics(model, blocks, song.sample_rate, options, bar)
            with _read_again(song) as reader:
                analysis = analyse(model, reader, song, input_gain, options, gain_file, stats,
                                   bar)
        levels = song_levels(options, input_gain, analysis.input_meter.integrated(),
                             analysis.input_peak, analysis.delimited_meter.integrated(),
                             analysis.delimited_peak)
        with _read_again(song) as reader:
            output_lufs = render(reader, song, gain_path, analysis.frames, levels, options,
                                 paths, crossovers(model))
    finally:
        bar.close()
        os.remove(gain_path)
    write_figures(paths, analysis, levels, song)
    return analysis, levels, output_lufs
