"""Audio in and out: finding songs, reading them in blocks, the model's 44.1 kHz stereo
format, streaming resampling and atomic writing. Arrays are channel-first `(channels, time)`.

Every problem a user's file can cause surfaces as a `DelimitError` naming the file.
"""
import contextlib
import functools
import math
import os
import tempfile

import numpy as np
import soundfile as sf
import soxr

from utils.errors import DelimitError

MODEL_RATE = 44100
MODEL_CHANNELS = 2
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")


def find_audio_files(root, recursive=False, exclude=None):
    """The songs to process, sorted.

    Args:
        root (str): a folder (its audio files, by extension, case-insensitive) or one file
            (taken whatever its extension; reading it tells whether it is audio).
        recursive (bool): also look in sub-folders.
        exclude (str or None): a sub-folder to skip while walking (e.g. the output folder).
    Returns: list of paths.
    """
    if os.path.isfile(root):
        return [root]
    if not os.path.isdir(root):
        raise DelimitError(f"{root}: no such file or folder")
    exclude = os.path.realpath(exclude) if exclude else None
    found = []
    for folder, subfolders, files in os.walk(root):
        if folder != root and os.path.realpath(folder) == exclude:
            subfolders[:] = []
            continue
        found += [os.path.join(folder, f) for f in files
                  if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith(".")]
        if not recursive:
            break
        subfolders.sort()
    return sorted(found)


class UnreadableAudio(DelimitError):
    """libsndfile cannot open the file (not audio, empty, unknown format); `reason` is its
    message."""

    def __init__(self, path, reason):
        super().__init__(path, reason)  # the arguments again when unpickled (worker processes)
        self.path, self.reason = path, reason

    def __str__(self):
        return f"{self.path}: not a readable audio file ({self.reason})"


class AudioReader:
    """Reads a mono or stereo file in blocks; a context manager.

    Args:
        path (str): the file.
    Attributes: sample_rate (int), channels (int, 1 or 2), declared_frames (int: the header's
        count, which a truncated file may not reach; `frames_read` counts what was read).
    Raises DelimitError for an unreadable file or one with more than 2 channels.
    """

    def __init__(self, path):
        self.path = path
        try:
            self._file = sf.SoundFile(path)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            # libsndfile says "System error." for a missing file
            reason = "no such file" if not os.path.exists(path) else _reason(err)
            raise UnreadableAudio(path, reason) from err
        self.sample_rate = self._file.samplerate
        self.channels = self._file.channels
        self.declared_frames = self._file.frames
        self.frames_read = 0
        if self.channels not in (1, 2):
            self._file.close()
            raise DelimitError(f"{path}: {self.channels} channels; only mono and stereo "
                               "are supported")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    def blocks(self, block_frames=65536):
        """Yield the file's samples in order as float32 blocks `(channels, n)`, n <= block_frames.

        Raises DelimitError on a decoding error, NaN or infinite samples (refused, not
        cleaned: they mean the file is damaged), or a file without any sample.
        """
        while True:
            try:
                block = self._file.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise DelimitError(f"{self.path}: damaged audio after "
                                   f"{self.frames_read} frames ({_reason(err)})") from err
            if len(block) == 0:
                break
            if not np.isfinite(block).all():
                raise DelimitError(f"{self.path}: NaN or infinite samples near "
                                   f"{self.frames_read / self.sample_rate:.2f} s")
            self.frames_read += len(block)
            yield block.T
        if self.frames_read == 0:
            raise DelimitError(f"{self.path}: no audio samples")


def _reason(err):
    # libsndfile messages can span lines; the CLI prints one line per file.
    return " ".join(str(err).split())


def read_audio(path):
    """The whole file as float32 `(channels, time)` and its sample rate."""
    with AudioReader(path) as reader:
        audio = np.concatenate(list(reader.blocks()), axis=1)
        return audio, reader.sample_rate


def to_stereo(audio):
    """`(1 or 2, time)` -> `(2, time)`: mono becomes dual-mono."""
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0)
    return audio


class StreamResampler:
    """soxr resampling of a stream of `(channels, n)` blocks; the identity when the rates match.

    Streaming gives exactly the samples of resampling the concatenated signal at once.

    Args:
        in_rate, out_rate (int): sample rates.
        channels (int): channels of every block.
        hold_edges (bool): for control signals (a gain curve), which do not start or end at
            zero: extend the stream with its first and last values so that the filter does
            not ring at the edges. The output then runs on a little past the end; the
            caller cuts it to the length it needs.
    """

    def __init__(self, in_rate, out_rate, channels, hold_edges=False):
        self.identity = in_rate == out_rate
        self.channels = channels
        self.hold_edges = hold_edges
        if self.identity:
            return
        self._stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype="float32",
                                           quality="HQ")
        # A lead-in of `pad_in` input samples is exactly `pad_out` output samples to drop.
        step = in_rate // math.gcd(in_rate, out_rate)
        self._pad_in = step * max(1, -(-2048 // step))
        self._to_drop = self._pad_in * out_rate // in_rate if hold_edges else 0
        self._last = None

    def __call__(self, block, last=False):
        """Resample the next block `(channels, n)`; `last=True` flushes the filter.

        Returns float32 `(channels, m)`.
        """
        block = np.asarray(block, dtype=np.float32).reshape(self.channels, -1)
        if self.identity:
            return block
        if self.hold_edges:
            if block.shape[1]:
                if self._last is None:
                    block = np.concatenate([np.repeat(block[:, :1], self._pad_in, 1), block], 1)
                self._last = block[:, -1:]
            if last and self._last is not None:
                block = np.concatenate([block, np.repeat(self._last, self._pad_in, 1)], 1)
        out = self._stream.resample_chunk(np.ascontiguousarray(block.T), last=last).T
        if self._to_drop:
            drop = min(self._to_drop, out.shape[1])
            out, self._to_drop = out[:, drop:], self._to_drop - drop
        return np.ascontiguousarray(out, dtype=np.float32)


def resample(audio, in_rate, out_rate):
    """Resample a whole `(channels, time)` array (soxr HQ)."""
    if in_rate == out_rate:
        return np.asarray(audio, dtype=np.float32)
    return np.ascontiguousarray(soxr.resample(np.asarray(audio, np.float32).T, in_rate,
                                              out_rate, quality="HQ").T)


@functools.cache
def _umask():
    # Reading the umask means setting it: done once, when the first file is written.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_path(path):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; outputs are ordinary files
    return tmp


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on any error it
    is removed, so a failed write never leaves a partial file under the final name."""
    tmp = _temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path, data):
    """Write bytes `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


PCM_BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def to_pcm(audio, bits=16):
    """The project's one rule from float samples to integer ones: scaled by 2**(bits-1),
    rounded to the nearest step, clipped to the integer range. int16 for 16 bits; for 8, 24 and
    32 bits, int32 holding the value in its top bytes (how libsndfile takes such samples).
    libsndfile's own float conversion rounds down, half a step of bias; this one does not."""
    scale = 2.0 ** (bits - 1)
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * scale), -scale, scale - 1)
    if bits == 16:
        return pcm.astype(np.int16)
    return pcm.astype(np.int32) << (32 - bits)


class AudioWriter:
    """Writes a wav file block by block, atomically (see `atomic_path`); a context manager.

    Args:
        path (str): final path.
        sample_rate (int), channels (int).
        subtype (str): soundfile subtype, e.g. "PCM_16", "PCM_24" or "FLOAT". Integer
            subtypes are converted by `to_pcm` (rounded, clipped).
    """

    def __init__(self, path, sample_rate, channels, subtype="PCM_16"):
        self.path = path
        self.channels = channels
        self.frames = 0
        self._bits = PCM_BITS.get(subtype)
        self._tmp = _temp_path(path)
        try:
            self._file = sf.SoundFile(self._tmp, "w", sample_rate, channels, subtype,
                                      format="WAV")
        except BaseException:
            os.remove(self._tmp)
            raise

    def write(self, block):
        """Append `(channels, n)` samples."""
        block = np.asarray(block, dtype=np.float32).reshape(self.channels, -1)
        if self._bits:
            block = to_pcm(block, self._bits)
        self._file.write(block.T)
        self.frames += block.shape[1]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self._file.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.remove(self._tmp)


def write_audio(path, audio, sample_rate, subtype="PCM_16"):
    """Write `(channels, time)` to a wav file atomically."""
    audio = np.asarray(audio)
    with AudioWriter(path, sample_rate, audio.shape[0], subtype) as writer:
        writer.write(audio)
