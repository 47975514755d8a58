"""A model's gains applied to a song at the song's own rate: one gain for the whole spectrum,
or one per band for a model with gain_crossovers_hz.

The bands are split with the model's own linear-phase crossovers (models.conv_tasnet.
crossover_lowpasses), designed for the song's rate, block by block: each band sample needs the
input up to `reach` samples ahead, so the bands lag the input by `reach` samples until `finish`.
With one gain there is nothing to split: the input passes through at once.
"""
import numpy as np
from scipy.signal import oaconvolve

from models.conv_tasnet import bands_from_lowpassed, crossover_lowpasses


class BandStream:
    """`(channels, n)` blocks in, their bands `(bands, channels, m)` out, in order.

    Args:
        crossovers_hz: the model's gain_crossovers_hz (empty: one band, the input itself).
        sample_rate, channels: the song's.
    Together `push` and `finish` return exactly as many samples as were pushed.
    """

    def __init__(self, crossovers_hz, sample_rate, channels):
        self.lowpasses = crossover_lowpasses(crossovers_hz, sample_rate) if crossovers_hz \
            else None
        self.reach = 0 if self.lowpasses is None else self.lowpasses.shape[1] // 2
        self.n_bands = len(crossovers_hz) + 1
        # the input not yet split, with the reach of input before it (zeros at the start)
        self._input = np.zeros((channels, self.reach), np.float32)

    def push(self, block):
        block = np.asarray(block, np.float32)
        if self.lowpasses is None:
            return block[None]
        self._input = np.concatenate([self._input, block], axis=1)
        return self._split(self._input.shape[1] - 2 * self.reach)

    def finish(self):
        if self.lowpasses is None:
            return np.zeros((1, self._input.shape[0], 0), np.float32)
        pending = self._input.shape[1] - self.reach  # samples not yet returned
        self._input = np.concatenate([self._input, np.zeros_like(self._input[:, :self.reach])],
                                     axis=1)  # the zeros after the song's end
        return self._split(pending)

    def _split(self, n):
        """The bands of the next n samples, whose input and reach on both sides are held."""
        if n <= 0:
            return np.zeros((self.n_bands, self._input.shape[0], 0), np.float32)
        window = self._input[:, :n + 2 * self.reach].astype(np.float64)
        lows = np.stack([oaconvolve(window, kernel[None], mode="valid", axes=1)
                         for kernel in self.lowpasses])  # (crossovers, channels, n)
        middle = window[:, self.reach:self.reach + n]
        self._input = self._input[:, n:]
        return np.concatenate(bands_from_lowpassed(middle, lows)).astype(np.float32)


def apply_gains(bands, gains):
    """The de-limited signal `(channels, n)`: each band `(bands, channels, n)` times its gain
    `(bands, n)`, summed."""
    if bands.shape[0] == 1:
        return bands[0] * gains[0]
    return np.einsum("bcn,bn->cn", bands, gains, dtype=np.float32)


def power_gain(bands, gains):
    """The gain `(n,)` that each sample's power got: sqrt(sum of band power x gain ** 2 / sum of
    band power), over bands and channels. With one band it is that band's gain exactly; with
    several it lies between the smallest and the largest of them, nearest to the gains of the
    bands that carry the power. Silent samples get the root mean square of the band gains."""
    if bands.shape[0] == 1:
        return gains[0]
    power = np.square(bands, dtype=np.float64).sum(axis=1)  # (bands, n)
    total = power.sum(axis=0)
    weighted = (power * np.square(gains, dtype=np.float64)).sum(axis=0)
    mean = np.square(gains, dtype=np.float64).mean(axis=0)
    return np.sqrt(np.divide(weighted, total, out=mean, where=total > 0)).astype(np.float32)
