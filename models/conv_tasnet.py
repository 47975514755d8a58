"""Conv-TasNet with sample-wise gain inversion (SGI), the reference's
"conv_tasnet_mask_on_output" architecture.

The network works on tensors only: 44.1 kHz stereo waveforms in, a gain and the
de-limited waveform out. Reading, resampling and loudness live in `utils/`.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from asteroid_filterbanks import Decoder, Encoder, FreeFB

ARCHITECTURE = "conv_tasnet_mask_on_output"
MODEL_RATE = 44100  # the network's sample rate (utils.audio.MODEL_RATE)
BAND_SPLIT_TAPS = 2047  # linear-phase crossover length: 46 ms, transition ~130 Hz wide

# Input transforms a limiter's gain is invariant to: it depends on |x| alone, and one gain
# serves both channels.
SYMMETRIES = {"polarity": lambda audio: -audio,
              "channel_swap": lambda audio: audio.flip(1)}


def check_symmetries(names):
    """Raise ValueError, listing the choices, if a name is not one of SYMMETRIES."""
    unknown = sorted(set(names) - set(SYMMETRIES))
    if unknown:
        raise ValueError(f"unknown symmetries {unknown}; choose from {', '.join(SYMMETRIES)}")


class GlobalLayerNorm(nn.Module):
    """gLN: normalise over channels and time together, then a per-channel gain and bias.

    Args:
        n_channels (int): number of channels C.
        eps (float): added to the variance, default 1e-8.
    Shapes: (batch, C, time) -> (batch, C, time).
    """

    def __init__(self, n_channels, eps=1e-8):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n_channels))
        self.beta = nn.Parameter(torch.zeros(n_channels))
        self.eps = eps
        # For chunked inference (utils/inference/apply.py): `observer` sees every input, to gather a
        # whole song's statistics; `moments` = (mean, var) replaces the input's own. Neither
        # is part of the state_dict.
        self.observer = None
        self.moments = None

    def forward(self, x):
        if self.observer is not None:
            self.observer(x)
        if self.moments is None:
            mean = x.mean(dim=(1, 2), keepdim=True)
            var = (x - mean).pow(2).mean(dim=(1, 2), keepdim=True)
        else:
            mean, var = (m.to(x.device) for m in self.moments)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.gamma[:, None] + self.beta[:, None]


class TemporalBlock(nn.Module):
    """One dilated block of the TCN: 1x1 conv, PReLU, gLN, depthwise conv, PReLU, gLN,
    then a residual and a skip 1x1 conv.

    Args:
        bn_chan (int): bottleneck channels (block input and output).
        hid_chan (int): hidden channels of the depthwise conv.
        skip_chan (int): skip-connection channels.
        kernel_size (int): depthwise kernel size, default 3.
        dilation (int): dilation of the depthwise conv; padding keeps the length.
    Shapes: (batch, bn_chan, frames) -> residual (batch, bn_chan, frames),
        skip (batch, skip_chan, frames).
    """

    def __init__(self, bn_chan, hid_chan, skip_chan, kernel_size=3, dilation=1):
        super().__init__()
        padding = (kernel_size - 1) * dilation // 2
        self.shared_block = nn.Sequential(
            nn.Conv1d(bn_chan, hid_chan, 1),
            nn.PReLU(),
            GlobalLayerNorm(hid_chan),
            nn.Conv1d(hid_chan, hid_chan, kernel_size, padding=padding,
                      dilation=dilation, groups=hid_chan),
            nn.PReLU(),
            GlobalLayerNorm(hid_chan),
        )
        self.res_conv = nn.Conv1d(hid_chan, bn_chan, 1)
        self.skip_conv = nn.Conv1d(hid_chan, skip_chan, 1)

    def forward(self, x):
        hidden = self.shared_block(x)
        return self.res_conv(hidden), self.skip_conv(hidden)


class TDConvNet(nn.Module):
    """The masker: gLN + bottleneck, `n_repeats` x `n_blocks` dilated blocks whose skips
    are summed, then PReLU, a 1x1 conv to `out_chan` and the mask activation.

    Shapes: (batch, in_chan, frames) -> (batch, out_chan, frames).
    """

    def __init__(self, in_chan, out_chan, n_blocks=5, n_repeats=2, bn_chan=128,
                 hid_chan=512, skip_chan=128, conv_kernel_size=3, mask_act="relu"):
        super().__init__()
        self.bottleneck = nn.Sequential(GlobalLayerNorm(in_chan), nn.Conv1d(in_chan, bn_chan, 1))
        self.TCN = nn.ModuleList(
            TemporalBlock(bn_chan, hid_chan, skip_chan, conv_kernel_size, dilation=2 ** b)
            for _ in range(n_repeats)
            for b in range(n_blocks)
        )
        self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(skip_chan, out_chan, 1))
        self.mask_act = _activation(mask_act)

    def forward(self, x):
        x = self.bottleneck(x)
        skip_sum = 0.0
        for block in self.TCN:
            residual, skip = block(x)
            x = x + residual
            skip_sum = skip_sum + skip
        return self.mask_act(self.mask_net(skip_sum))


def crossover_lowpasses(crossovers_hz, sample_rate=MODEL_RATE):
    """The linear-phase low-pass at each crossover: float64 (crossovers, taps), taps odd.

    Blackman-windowed sincs, unit gain at DC; BAND_SPLIT_TAPS at 44.1 kHz and as many
    milliseconds at other rates, so that the bands are the same in Hz at any rate.
    """
    taps = 2 * round((BAND_SPLIT_TAPS - 1) / 2 * sample_rate / MODEL_RATE) + 1
    n = np.arange(taps) - (taps - 1) / 2
    kernels = []
    for hz in crossovers_hz:
        # in cycles per 2 samples, as np.sinc wants it; at or above Nyquist (a crossover a
        # low-rate song cannot hold) the low-pass is the identity and the band above is empty
        cutoff = min(2.0 * hz / sample_rate, 1.0)
        kernel = cutoff * np.sinc(cutoff * n) * np.blackman(taps)
        kernels.append(kernel / kernel.sum())
    return np.array(kernels).reshape(len(kernels), taps)


def bands_from_lowpassed(audio, lows):
    """Bands, low to high, from the input and its low-passed copies at each crossover (along
    the first axis of `lows`): band k = low k - low k-1, the top band = input - the last low,
    so they sum back to the input exactly. Works for numpy arrays and tensors alike."""
    bands = [lows[:1]] + [lows[k + 1:k + 2] - lows[k:k + 1] for k in range(len(lows) - 1)]
    return bands + [audio[None] - lows[-1:]]


class BandSplit(nn.Module):
    """Split audio into bands that sum back to it exactly, at the network's rate.

    Each crossover is a linear-phase low-pass (crossover_lowpasses: centred, so no delay);
    band k is the low-pass at crossover k minus the one below it, the top band the rest. Linear
    phase matters: with equal gains in every band the output is the input itself, so a
    band-gain model can leave music alone as exactly as a one-gain one.

    Shapes: (batch, channels, time) -> (batch, len(crossovers_hz) + 1, channels, time).
    """

    def __init__(self, crossovers_hz):
        super().__init__()
        lowpasses = torch.tensor(crossover_lowpasses(crossovers_hz), dtype=torch.float32)
        # not in the state_dict: rebuilt from the summary's crossovers
        self.register_buffer("lowpasses", lowpasses, persistent=False)
        self.reach = lowpasses.shape[-1] // 2

    def forward(self, audio):
        batch, channels, length = audio.shape
        # convolution by FFT: a 2,047-tap conv1d is 10x slower than the whole network on a CPU
        taps = self.lowpasses.shape[-1]
        n_fft = 1 << (length + taps - 2).bit_length()  # >= length + taps - 1: no wrap-around
        spectrum = torch.fft.rfft(audio.reshape(batch * channels, 1, length), n_fft)
        lows = torch.fft.irfft(spectrum * torch.fft.rfft(self.lowpasses, n_fft), n_fft)
        lows = lows[..., self.reach:self.reach + length]  # centred: (b * c, crossovers, time)
        lows = lows.reshape(batch, channels, -1, length).permute(2, 0, 1, 3)
        return torch.cat(bands_from_lowpassed(audio, lows), dim=0).transpose(0, 1)


def check_crossovers(crossovers_hz, sample_rate=MODEL_RATE):
    """Raise ValueError unless the crossovers are rising frequencies inside (0, Nyquist)."""
    values = list(crossovers_hz)
    if any(not isinstance(hz, (int, float)) or isinstance(hz, bool) or not math.isfinite(hz)
           for hz in values):
        raise ValueError(f"gain_crossovers_hz must be a list of numbers, got {crossovers_hz!r}")
    if any(not 0 < hz < sample_rate / 2 for hz in values) or values != sorted(set(values)):
        raise ValueError(f"gain_crossovers_hz {values}: rising frequencies between 0 and "
                         f"{sample_rate // 2} Hz, please")


def receptive_field(n_blocks, n_repeats, conv_kernel_size=3):
    """Encoder frames that one output frame of the TCN depends on (its dilations are 2 ** b)."""
    return 1 + (conv_kernel_size - 1) * (2 ** n_blocks - 1) * n_repeats


class Abs(nn.Module):
    def forward(self, x):
        return x.abs()


def _activation(name):
    activations = {"relu": nn.ReLU(), "abs": Abs(), "sigmoid": nn.Sigmoid(),
                   "linear": nn.Identity(), None: nn.Identity()}
    if name not in activations:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         + ", ".join(key for key in activations if key))
    return activations[name]


class ConvTasNetSGI(nn.Module):
    """Conv-TasNet that predicts one gain per sample and applies it to its input.

    Args:
        n_filters (int): encoder/decoder filters, default 512.
        kernel_size (int): filter length in samples, default 128.
        stride (int): hop in samples, default 64.
        n_blocks, n_repeats, bn_chan, hid_chan, skip_chan: TCN sizes (5, 2, 128, 512, 128).
        nb_channels (int): audio channels, default 2; their features are stacked.
        encoder_activation (str): after the encoder, default "relu".
        mask_act (str): after the masker, default "relu".
        decoder_activation (str): turns the decoder output into a gain, default "sigmoid".
        symmetries (list of str): transforms of the input that a limiter's gain does not
            depend on, "polarity" (x -> -x) and "channel_swap" (left <-> right). The gain is
            averaged over the input's copies under them, so it is exactly invariant to them
            (one forward pass per copy, batched). Default none, as the reference.
        gain_crossovers_hz (list of float): empty (the default, the reference's model): one
            gain for the whole spectrum. Otherwise one gain per band between these crossovers
            (BandSplit), from a decoder with one output per band: a multiband limiter presses
            each band down on its own, which no single gain undoes.
    Shapes: forward((batch, nb_channels, time)) -> gain (batch, bands, time),
        output (batch, nb_channels, time) = sum over bands of band(input) * its gain
        (= input * gain with one band).
    """

    def __init__(self, n_filters=512, kernel_size=128, stride=64, n_blocks=5, n_repeats=2,
                 bn_chan=128, hid_chan=512, skip_chan=128, nb_channels=2,
                 encoder_activation="relu", mask_act="relu", decoder_activation="sigmoid",
                 conv_kernel_size=3, symmetries=(), gain_crossovers_hz=()):
        super().__init__()
        symmetries = symmetries or ()
        if isinstance(symmetries, str):
            raise ValueError(f"symmetries must be a list of names, got {symmetries!r}")
        check_symmetries(symmetries)
        if "channel_swap" in symmetries and nb_channels < 2:
            raise ValueError("symmetry channel_swap needs at least 2 channels")
        self.symmetries = tuple(name for name in SYMMETRIES if name in symmetries)
        self.kernel_size = kernel_size
        self.stride = stride
        # samples on either side of a gain sample that it depends on: half the TCN's reach,
        # plus one encoder kernel
        self.context = receptive_field(n_blocks, n_repeats, conv_kernel_size) // 2 * stride \
            + kernel_size
        self.nb_channels = nb_channels
        self.encoder = Encoder(FreeFB(n_filters, kernel_size, stride=stride))
        self.encoder_activation = _activation(encoder_activation)
        self.masker = TDConvNet(nb_channels * n_filters, n_filters, n_blocks, n_repeats,
                                bn_chan, hid_chan, skip_chan, conv_kernel_size, mask_act)
        self.decoder_activation = _activation(decoder_activation)
        check_crossovers(gain_crossovers_hz or ())
        self.gain_crossovers_hz = tuple(float(hz) for hz in gain_crossovers_hz or ())
        if self.gain_crossovers_hz:
            # the reference's decoder is this transposed conv with one output channel
            self.decoder = nn.ConvTranspose1d(n_filters, len(self.gain_crossovers_hz) + 1,
                                              kernel_size, stride=stride, bias=False)
            self.band_split = BandSplit(self.gain_crossovers_hz)
            self.context = max(self.context, self.band_split.reach)
        else:
            self.decoder = Decoder(FreeFB(n_filters, kernel_size, stride=stride))
            self.band_split = None

    @property
    def n_gains(self):
        """Gains per sample: 1, or one per band."""
        return len(self.gain_crossovers_hz) + 1

    def padded_length(self, length):
        """The smallest length >= `length` that the encoder's frames cover exactly."""
        if length <= self.kernel_size:
            return self.kernel_size
        n_hops = -(-(length - self.kernel_size) // self.stride)
        return self.kernel_size + n_hops * self.stride

    def forward(self, audio):
        copies = [audio]
        for name in self.symmetries:
            copies += [SYMMETRIES[name](copy) for copy in copies]
        batch = torch.cat(copies) if len(copies) > 1 else audio  # copy-major
        gain = self.raw_gain(batch)  # (copies * batch, n_gains, time)
        gain = gain.view(len(copies), audio.shape[0], *gain.shape[1:]).mean(0)
        if self.band_split is None:
            return gain, audio * gain
        return gain, (self.band_split(audio) * gain[:, :, None]).sum(1)

    def raw_gain(self, audio):
        """The network's gain (batch, n_gains, time) for `audio`, before any averaging."""
        length = audio.shape[-1]
        # Unlike the reference (which zero-pads the decoder output, leaving a gain of 0.5
        # on the last samples), pad the input so the frames reach the very last sample.
        padded = F.pad(audio, (0, self.padded_length(length) - length))
        features = self.encoder_activation(self.encoder(padded))  # (batch, ch, filters, frames)
        features = features.flatten(1, 2)  # channel-major: left's filters, then right's
        gain = self.decoder(self.masker(features))[..., :length]  # (batch, n_gains, time)
        return self.decoder_activation(gain)


def build_model(conv_tasnet_params, nb_channels=2):
    """A ConvTasNetSGI from a config's `conv_tasnet_params` group (reference keys)."""
    params = dict(conv_tasnet_params)
    norm_type = params.pop("norm_type", None)
    if norm_type not in (None, {}, "", "gLN"):
        raise ValueError(f"conv_tasnet_params.norm_type {norm_type!r}: only gLN is supported")
    known = {"n_filters", "kernel_size", "stride", "n_blocks", "n_repeats", "bn_chan",
             "hid_chan", "skip_chan", "encoder_activation", "mask_act", "decoder_activation",
             "conv_kernel_size", "symmetries", "gain_crossovers_hz"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown conv_tasnet_params key(s): {', '.join(unknown)}")
    return ConvTasNetSGI(nb_channels=nb_channels, **params)
