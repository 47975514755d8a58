"""Integrated loudness (ITU-R BS.1770-4) on channel-first audio: whole arrays via
pyloudnorm, and a streaming meter for songs read in blocks; gains in dB and between
loudnesses."""
import copy

import numpy as np
import pyloudnorm
import scipy.signal

_METERS = {}


def _meter(sample_rate):
    if sample_rate not in _METERS:
        _METERS[sample_rate] = pyloudnorm.Meter(sample_rate)
    return _METERS[sample_rate]


def integrated_loudness(audio, sample_rate):
    """Loudness in LUFS of `audio` shaped (channels, time); -inf for silence.

    Audio shorter than one 400 ms gating block is measured over the block zero-padded.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[None]
    min_len = int(np.ceil(0.4 * sample_rate)) + 1
    if audio.shape[-1] < min_len:
        audio = np.pad(audio, ((0, 0), (0, min_len - audio.shape[-1])))
    with np.errstate(divide="ignore"):
        return float(_meter(sample_rate).integrated_loudness(audio.T))


def gain_between(lufs, target_lufs):
    """Linear gain that takes a signal measured at `lufs` to `target_lufs`; 1.0 for silence
    (`lufs` not finite) or no target (None)."""
    if target_lufs is None or not np.isfinite(lufs):
        return 1.0
    return float(10.0 ** ((target_lufs - lufs) / 20.0))


def to_db(amplitude, floor=None):
    """20 log10 of a linear amplitude or gain (a number or an array), raised to `floor` first
    if one is given (so that silence has a level)."""
    if floor is not None:
        amplitude = np.maximum(amplitude, floor)
    return 20.0 * np.log10(amplitude)


def loudness_gain(audio, sample_rate, target_lufs):
    """Linear gain that brings `audio` (channels, time) to `target_lufs`; 1.0 for silence."""
    return gain_between(integrated_loudness(audio, sample_rate), target_lufs)


def normalize_loudness(audio, sample_rate, target_lufs):
    """`audio` (channels, time) scaled to `target_lufs`; silence is returned unchanged."""
    return audio * loudness_gain(audio, sample_rate, target_lufs)


# ---------------------------------------------------------------------------------------
# Streaming meter: the same measurement as `integrated_loudness`, fed block by block, so a
# song of any length is measured in constant memory.

_BLOCK_S = 0.4  # BS.1770 gating block
_STEP = 0.25  # blocks overlap by 75 %: a new block every 100 ms
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0


def k_weighting(sample_rate):
    """The two K-weighting biquads (high shelf, then high pass) as [(b, a), (b, a)].

    RBJ audio-EQ-cookbook designs with pyloudnorm's parameters (shelf +4 dB at 1500 Hz,
    Q 1/sqrt(2); high pass 38 Hz, Q 0.5), so both meters agree at every sample rate.
    """
    w0 = 2.0 * np.pi * 1500.0 / sample_rate
    amp = 10.0 ** (4.0 / 40.0)
    alpha = np.sin(w0) / (2.0 / np.sqrt(2.0))
    cos, root = np.cos(w0), 2.0 * np.sqrt(amp) * alpha
    shelf_b = amp * np.array([(amp + 1) + (amp - 1) * cos + root,
                              -2.0 * ((amp - 1) + (amp + 1) * cos),
                              (amp + 1) + (amp - 1) * cos - root])
    shelf_a = np.array([(amp + 1) - (amp - 1) * cos + root,
                        2.0 * ((amp - 1) - (amp + 1) * cos),
                        (amp + 1) - (amp - 1) * cos - root])
    w0 = 2.0 * np.pi * 38.0 / sample_rate
    alpha = np.sin(w0) / (2.0 * 0.5)
    cos = np.cos(w0)
    pass_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    pass_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return [(shelf_b / shelf_a[0], shelf_a / shelf_a[0]), (pass_b / pass_a[0], pass_a / pass_a[0])]


class LoudnessMeter:
    """Integrated loudness (BS.1770-4) of a signal that arrives in blocks.

    K-weighting runs with carried filter state; the energy of every 100 ms step is kept
    (10 numbers a second per channel), and `integrated()` applies the 400 ms blocks with
    75 % overlap and the -70 LUFS absolute and -10 LU relative gates. Agrees with
    `integrated_loudness` on the concatenated signal, short signals included.

    Args:
        sample_rate (int): rate of the blocks.
        channels (int): number of channels C.
    """

    def __init__(self, sample_rate, channels):
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples = 0
        self._filters = k_weighting(sample_rate)
        self._state = [np.zeros((channels, 2)) for _ in self._filters]
        self._steps = []  # finished 100 ms step energies, each (C,)
        self._partial = np.zeros(channels)  # energy of the step in progress

    def _boundary(self, step):
        # Same float expression as pyloudnorm so that block edges fall on the same samples.
        return int(_BLOCK_S * (step * _STEP) * self.sample_rate)

    def update(self, audio):
        """Add the next block, shaped (channels, time)."""
        audio = np.asarray(audio, dtype=np.float64).reshape(self.channels, -1)
        if audio.shape[1] == 0:
            return  # lfilter would return a wrong state for an empty block
        for i, (b, a) in enumerate(self._filters):
            audio, self._state[i] = scipy.signal.lfilter(b, a, audio, axis=-1, zi=self._state[i])
        power = audio ** 2
        start = 0
        while start < power.shape[1]:
            to_boundary = self._boundary(len(self._steps) + 1) - self.samples
            take = min(to_boundary, power.shape[1] - start)
            self._partial += power[:, start:start + take].sum(axis=1)
            self.samples += take
            start += take
            if self.samples == self._boundary(len(self._steps) + 1):
                self._steps.append(self._partial)
                self._partial = np.zeros(self.channels)

    def integrated(self):
        """Gated loudness in LUFS of everything seen so far; -inf for silence or no audio."""
        if self.samples == 0:
            return float("-inf")
        min_length = int(np.ceil(_BLOCK_S * self.sample_rate)) + 1
        if self.samples < min_length:
            # Like integrated_loudness: a signal shorter than one block is measured
            # zero-padded to a block (the filters' tail rings into the padding).
            padded = copy.deepcopy(self)
            padded.update(np.zeros((self.channels, min_length - self.samples)))
            return padded.integrated()
        n_blocks = int(np.round((self.samples / self.sample_rate - _BLOCK_S)
                                / (_BLOCK_S * _STEP))) + 1
        steps = np.zeros((n_blocks + 3, self.channels))
        done = np.array(self._steps[:n_blocks + 3]).reshape(-1, self.channels)
        steps[:len(done)] = done
        if len(done) < len(steps):
            steps[len(done)] = self._partial
        energy = sum(steps[k:k + n_blocks] for k in range(4)) / (_BLOCK_S * self.sample_rate)
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(energy.sum(axis=1))
            gated = block_lufs >= _ABSOLUTE_GATE
            if not gated.any():
                return float("-inf")
            relative = -0.691 + 10.0 * np.log10(energy[gated].mean(axis=0).sum()) + _RELATIVE_GATE
            gated &= block_lufs > relative
            if not gated.any():
                return float("-inf")
            return float(-0.691 + 10.0 * np.log10(energy[gated].mean(axis=0).sum()))
