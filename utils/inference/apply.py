"""Applying the model to a signal of any length: fixed-length windows, each run through the
model on its own, their gains cross-faded back together (overlap-add with weights
normalised by their sum).

Works on a stream: 44.1 kHz stereo blocks go in, finished gain samples come out, and the
memory held is about one window whatever the song's length.

gLN normalises with the mean and variance of its whole input, so a window on its own
sees other statistics than the whole song and gets a different gain everywhere, not
only near its edges (30 s windows of a 60 s song: 29-49 dB SI-SDR from whole-song output
with a briefly trained model). By default a first pass therefore gathers every gLN
layer's statistics over the whole song, window by window (`SongStatistics`), and the
second pass runs the windows with those instead of their own: 50-65 dB from whole-song
output, for twice the computation, in the memory of one window.
"""
import contextlib
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from models.conv_tasnet import GlobalLayerNorm
from utils.audio import MODEL_RATE

# Default geometry. With song statistics a window only needs to be long enough for its
# edges not to matter; 10 s keeps every activation tensor of the reference-size model
# under glibc's 32 MB mmap limit (longer windows run 2x slower from page faults alone).
SEGMENT_SECONDS = 10.0
OVERLAP_SECONDS = 0.5


@dataclass(frozen=True)
class Chunking:
    """Window geometry in samples at 44.1 kHz.

    Args:
        segment (int or None): samples whose gain a window contributes; None runs the whole
            song as one window (memory then grows with the song).
        overlap (int): samples shared by neighbouring windows, cross-faded linearly.
        context (int): extra samples the model sees on each side of a window, whose gain
            is dropped (clipped at the song's edges). StreamingGain raises it to the
            model's own reach (`model.context`) where it is less.
        song_statistics (bool): normalise every window with gLN statistics of the whole
            song (two passes, see the module's docstring) instead of its own.
    """
    segment: int | None
    overlap: int = 0
    context: int = 0
    song_statistics: bool = True

    def __post_init__(self):
        if self.segment is not None and not 0 <= self.overlap < self.segment:
            raise ValueError(f"overlap {self.overlap} must be in [0, segment {self.segment})")
        if self.context < 0:
            raise ValueError(f"context {self.context} must be >= 0")

    @classmethod
    def from_seconds(cls, segment=SEGMENT_SECONDS, overlap=OVERLAP_SECONDS, context=0.0,
                     song_statistics=True):
        """Geometry from durations in seconds; segment None means whole-track."""
        seg = None if segment is None else max(1, round(segment * MODEL_RATE))
        return cls(seg, round(overlap * MODEL_RATE), round(context * MODEL_RATE),
                   song_statistics)

    @classmethod
    def reference(cls):
        """The reference's single-track geometry: 130,048-sample windows whose outer 5,120
        samples on each side are context only, so a hop of 119,808 and no cross-fade;
        each window normalised with its own statistics."""
        return cls(segment=119_808, overlap=0, context=5_120, song_statistics=False)

    def needs_statistics(self, length):
        """Whether a song of `length` samples needs the statistics pass (it spans several
        windows and song statistics are on)."""
        return self.song_statistics and self.segment is not None and length > self.segment

    def statistics_pass(self):
        """Geometry of the statistics pass: the same windows, no overlap, no context beyond
        the model's own reach."""
        return Chunking(self.segment)

    @property
    def hop(self):
        return self.segment - self.overlap

    def aligned(self, stride):
        """The geometry with every length a multiple of `stride`, the model's hop.

        The encoder's frames then sit on the same grid in every window as in the whole
        song: a strided encoder is not shift-invariant, and windows off the grid give a
        gain that differs far more from whole-song processing than gLN's statistics do.
        """
        def up(n):
            return -(-n // stride) * stride
        if self.segment is None:
            return self
        segment = up(self.segment)
        overlap = min(up(self.overlap), segment - stride)
        return Chunking(segment, overlap, up(self.context), self.song_statistics)


class SongStatistics:
    """The mean and variance of every gLN layer's input over a whole song.

    Gathered while windows run (`recording`): each window adds the frames it owns, so
    every frame of the song counts once. Then `freeze()`, and while `applying`, every gLN
    layer normalises with them instead of its window's own statistics.

    Args:
        model: a ConvTasNetSGI; its GlobalLayerNorm layers are found by type.
    """

    def __init__(self, model):
        self.layers = [m for m in model.modules() if isinstance(m, GlobalLayerNorm)]
        # Per layer and batch item (the model batches an input's symmetric copies, each
        # with statistics of its own): sum, sum of squares, count. Sized by the first window.
        self.sums = None
        self.moments = None  # after freeze(): per layer (mean, variance), (batch, 1, 1) tensors

    @contextlib.contextmanager
    def recording(self, first_frame, last_frame):
        """The model's gLN layers also add frames [first_frame, last_frame) to the sums
        (last_frame None: to the end)."""
        owned = slice(first_frame, last_frame)

        def observer(i):
            def add(x):
                part = x[..., owned]
                if self.sums is None:
                    self.sums = np.zeros((len(self.layers), x.shape[0], 3))
                sums = (part.sum(dim=(1, 2), dtype=torch.float64),
                        part.square().sum(dim=(1, 2), dtype=torch.float64))
                self.sums[i, :, :2] += torch.stack(sums, 1).cpu().numpy()
                self.sums[i, :, 2] += part[0].numel()
            return add

        with self._set("observer", [observer(i) for i in range(len(self.layers))]):
            yield

    @contextlib.contextmanager
    def applying(self):
        """The model's gLN layers normalise with the frozen song statistics."""
        with self._set("moments", self.moments):
            yield

    def freeze(self):
        sums = np.zeros((len(self.layers), 1, 3)) if self.sums is None else self.sums
        count = np.maximum(sums[..., 2], 1)
        mean = sums[..., 0] / count
        var = np.maximum(sums[..., 1] / count - mean ** 2, 0.0)

        def column(values):
            return torch.tensor(values, dtype=torch.float32)[:, None, None]
        self.moments = [(column(m), column(v)) for m, v in zip(mean, var)]
        return self

    @contextlib.contextmanager
    def _set(self, attribute, values):
        for layer, value in zip(self.layers, values):
            setattr(layer, attribute, value)
        try:
            yield
        finally:
            for layer in self.layers:
                setattr(layer, attribute, None)


def crossfade_weight(length, overlap):
    """Window weight `(length,)`: linear ramps over `overlap` samples at both ends, 1 between.

    The ramps never reach 0, so a sample that only one window covers gets exactly its gain
    back once the weights are normalised by their sum.
    """
    weight = np.ones(length, dtype=np.float64)
    if overlap > 0:
        ramp = np.minimum((np.arange(length) + 0.5) / overlap, 1.0)
        weight = np.minimum(ramp, ramp[::-1])
    return weight


def model_gain(model, audio, device="cpu"):
    """The model's gain for one window.

    Args:
        model: a ConvTasNetSGI in eval mode.
        audio (np.ndarray): float32 `(2, time)` at 44.1 kHz.
    Returns: float32 gain `(n_gains, time)`: one row, or one per band of a model with
        gain_crossovers_hz.
    """
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(device)
        gain, _ = model(x)  # (1, n_gains, time)
    return gain[0].float().cpu().numpy()


class StreamingGain:
    """Runs the model over a stream in overlapping windows and cross-fades their gains.

    Regular windows start every `hop` samples; the last window is moved back to end at the
    song's end, so every window is full length (a short tail window would give gLN poor
    statistics). A window runs once the stream has passed its end (and its context). All
    window edges sit on the model's stride grid (see `Chunking.aligned`).

    Args:
        model: a ConvTasNetSGI in eval mode.
        chunking (Chunking): window geometry.
        device (str): where the model runs.
        statistics (SongStatistics or None): frozen: windows use them; not yet frozen:
            windows record into them (each owning the samples from the previous window's
            end to its own end); None: windows use their own.
    Use: `push((2, n))` and then `finish()`; each returns the next finished gain samples,
    float32 `(n_gains, m)`; together they return exactly one gain per input sample.
    """

    def __init__(self, model, chunking, device="cpu", statistics=None):
        self.model = model
        self.statistics = statistics
        self._recorded = 0  # song position up to which statistics are recorded
        self.stride = getattr(model, "stride", 1)
        # every window also sees what the network reaches beyond its edges (a longer
        # context than the cross-fade would otherwise leave edge gains without it)
        reach = getattr(model, "context", 0)
        if chunking.segment is not None and chunking.context < reach:
            chunking = dataclasses.replace(chunking, context=reach)
        self.chunking = chunking.aligned(self.stride)
        self.device = device
        self.received = 0  # samples pushed so far
        self._input = np.zeros((2, 0), np.float32)
        self._input_start = 0  # song position of self._input[:, 0]
        self._pending = []  # blocks received after self._input, joined when a window runs
        self.n_gains = getattr(model, "n_gains", 1)
        self._gain = np.zeros((self.n_gains, 0))  # weighted gain sums from self._out_start on
        self._weight = np.zeros(0)
        self._out_start = 0
        self._next = 0  # index of the next regular window

    def push(self, audio):
        """Add `(2, n)` samples; returns the gain samples finished so far."""
        self._pending.append(np.asarray(audio, np.float32))
        self.received += audio.shape[1]
        out = []
        c = self.chunking
        if c.segment is not None:
            # Window k is regular (not the last) once the stream is past its end and context.
            while self.received > self._next * c.hop + c.segment + c.context:
                start = self._next * c.hop
                self._run(start, start + c.segment)
                self._next += 1
                out.append(self._take(start))
                # Keep what later windows may still read: the next regular one, or the
                # last one, which starts no earlier than `received - segment - stride`.
                self._drop_input(min(self._next * c.hop, self.received - c.segment
                                     - self.stride) - c.context)
        return np.concatenate(out, axis=1) if out else np.zeros((self.n_gains, 0), np.float32)

    def finish(self):
        """The stream has ended: run the remaining windows; returns the rest of the gain."""
        c, length = self.chunking, self.received
        if length == 0:
            return np.zeros((self.n_gains, 0), np.float32)
        if c.segment is None:
            self._run(0, length)
        else:
            while self._next * c.hop + c.segment < length:
                start = self._next * c.hop
                self._run(start, start + c.segment)
                self._next += 1
            last = max(0, length - c.segment) // self.stride * self.stride
            self._run(last, length)
        return self._take(length)

    def _run(self, start, end):
        if self._pending:
            self._input = np.concatenate([self._input] + self._pending, axis=1)
            self._pending = []
        context = self.chunking.context
        lo, hi = max(0, start - context), min(self.received, end + context)
        window = self._input[:, lo - self._input_start:hi - self._input_start]
        if self.statistics is None:
            gain = model_gain(self.model, window, self.device)
        elif self.statistics.moments is not None:
            with self.statistics.applying():
                gain = model_gain(self.model, window, self.device)
        else:
            # Frames start every `stride` samples from `lo`; the last window owns the rest.
            first = (max(start, self._recorded) - lo) // self.stride
            last = None if end == self.received else (end - lo) // self.stride
            with self.statistics.recording(first, last):
                gain = model_gain(self.model, window, self.device)
            self._recorded = end
        gain = gain[:, start - lo:end - lo]
        weight = crossfade_weight(end - start, self.chunking.overlap)
        grow = end - self._out_start - self._gain.shape[1]
        if grow > 0:
            self._gain = np.concatenate([self._gain, np.zeros((self.n_gains, grow))], axis=1)
            self._weight = np.concatenate([self._weight, np.zeros(grow)])
        at = start - self._out_start
        self._gain[:, at:at + gain.shape[1]] += gain * weight
        self._weight[at:at + gain.shape[1]] += weight

    def _take(self, end):
        """Return the normalised gain up to song position `end` and forget it."""
        n = end - self._out_start
        done = (self._gain[:, :n] / self._weight[:n]).astype(np.float32)
        self._gain, self._weight = self._gain[:, n:], self._weight[n:]
        self._out_start = end
        return done

    def _drop_input(self, position):
        n = position - self._input_start
        if n > 0:
            self._input = self._input[:, n:]
            self._input_start = position


def apply_model(model: torch.nn.Module, audio: np.ndarray, chunking: Chunking | None = None,
                device: str = "cpu", block: int = 65536) -> np.ndarray:
    """The model's gain for a whole `(2, time)` 44.1 kHz signal, window by window.

    Args:
        model: a ConvTasNetSGI in eval mode.
        audio (np.ndarray): float32 `(2, time)`.
        chunking (Chunking or None): geometry; None uses the default windows (with a
            statistics pass first when the song spans several windows).
        block (int): samples pushed at a time (as a file reader would).
    Returns: float32 gain `(n_gains, time)`.
    """
    chunking = chunking or Chunking.from_seconds()
    statistics = None
    if chunking.needs_statistics(audio.shape[1]):
        statistics = song_statistics(model, chunking, _blocks(audio, block), device)
    stream = StreamingGain(model, chunking, device, statistics)
    parts = [stream.push(b) for b in _blocks(audio, block)]
    parts.append(stream.finish())
    return np.concatenate(parts, axis=1)


def song_statistics(model, chunking, blocks, device="cpu"):
    """The statistics pass: run `chunking`'s windows over the whole song, gathering every gLN
    layer's statistics, and return them frozen (SongStatistics).

    Args:
        blocks: iterable of float32 `(2, n)` blocks at the model's rate, the whole song.
    """
    statistics = SongStatistics(model)
    stream = StreamingGain(model, chunking.statistics_pass(), device, statistics)
    for block in blocks:
        stream.push(block)
    stream.finish()
    return statistics.freeze()


def _blocks(audio, block):
    return (audio[:, i:i + block] for i in range(0, audio.shape[1], block))
