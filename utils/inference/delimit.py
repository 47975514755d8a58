"""The de-limiter's Python API: `delimit` for an array, `delimit_file` for a file.

The main job, one straight line: read -> to 44.1 kHz stereo -> windows -> model ->
overlap-add -> the gain back to the input's rate -> input * gain -> loudness -> write.

`delimit_file` streams (utils.inference.two_pass): pass 1 runs the model over the song block by
block and measures loudness and peaks, pass 2 applies gain and loudness and writes every output
atomically. Memory stays about one model window whatever the song's length. The gain is
applied to the input at its own rate and channels (mono stays mono, a 96 kHz song keeps its
content above 22 kHz).
"""
import os
import time
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import torch

from utils.audio import AudioReader
from utils.errors import DelimitError
from utils.inference import two_pass
from utils.inference.apply import Chunking
from utils.inference.bands import apply_gains
from utils.loudness import LoudnessMeter, gain_between, to_db


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
    X_sgi.npy (the gain at the output's rate, float32 (time,), or (time, bands) for a model
    with a gain per band), X_plot.png.
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


def delimit(model: torch.nn.Module, audio: np.ndarray, sample_rate: int,
            options: DelimitOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """De-limit a whole song held in memory.

    Args:
        model: a ConvTasNetSGI in eval mode (see models.load_pretrained).
        audio (np.ndarray): float `(channels, time)`, 1 or 2 channels, any sample rate.
        sample_rate (int): its rate.
        options (DelimitOptions or None): loudness, clipping, chunking, device (extra
            outputs are ignored here).
    Returns: output float32 `(channels, time)` at `sample_rate`, and the model's gain
        float32 `(n_gains, time)` resampled to `sample_rate` (output = input * gain[0] * levels;
        for a model with a gain per band, the sum over bands of band(input) * its gain).
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
    input_gain = gain_between(input_lufs, options.input_lufs)
    gain = two_pass.song_gain(model, audio * input_gain, sample_rate, options)
    bands = two_pass.split_whole(audio, sample_rate, two_pass.crossovers(model))
    delimited = apply_gains(bands, gain) * np.float32(input_gain)
    meter = LoudnessMeter(sample_rate, audio.shape[0])
    meter.update(delimited)
    levels = two_pass.song_levels(options, input_gain, input_lufs, float(np.abs(audio).max()),
                                  meter.integrated(), float(np.abs(delimited).max()))
    return delimited * np.float32(levels.output_gain), gain


def delimit_file(model: torch.nn.Module, in_path: str, out_path: str,
                 options: DelimitOptions | None = None) -> FileReport:
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
    with AudioReader(in_path) as reader:
        song = two_pass.Song(in_path, reader.sample_rate, reader.channels,
                             reader.declared_frames)
        input_gain = 1.0
        if options.input_lufs is not None:
            input_gain = gain_between(two_pass.loudness(reader, options.block_frames),
                                      options.input_lufs)
    folder = os.path.dirname(os.path.abspath(out_path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise DelimitError(f"{folder}: cannot create the output folder ({err.strerror})") from None
    analysis, levels, output_lufs = two_pass.run(model, song, input_gain, options, paths)
    input_lufs = analysis.input_meter.integrated()
    silent = not np.isfinite(input_lufs)
    return FileReport(
        input_path=in_path, output_path=out_path,
        extra_paths=[p for k, p in paths.items() if k != "output"],
        sample_rate=song.sample_rate, channels=song.channels, frames=analysis.frames,
        input_lufs=input_lufs, output_lufs=output_lufs,
        mean_restored_db=None if silent else levels.restored_db(analysis.mean_gain_db()),
        max_restored_db=None if silent else levels.restored_db(to_db(analysis.gain_max)),
        peak_normalized=levels.peak_normalized,
        seconds_taken=time.perf_counter() - started)
