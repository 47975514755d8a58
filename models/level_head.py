"""A slow-level head: a small network over 93-ms frames that sees +-6 s and corrects the level
the de-limiter's 0.18-s context cannot (a compressor's slow gain, as the alt limiter applies).

It reads frame statistics of the limited input x and of the de-limiter's output y = x * g, and
returns a gain in dB per frame; the output is y * 10 ** (c(t) / 20), c interpolated linearly
between frame centres. Its last layer starts at zero, so an untrained head changes nothing.

Training needs no audio: the SI-SDR of y * w(t) against the target s, with w constant over
1024-sample sub-frames, depends on the sub-frames' <s, y> and ||y||^2 alone (`frame_stats`,
`si_sdr_from_stats`), so windows are reduced to a few hundred numbers once.
"""
import numpy as np
import torch
from torch import nn

FRAME = 4096  # samples per head frame (93 ms at 44.1 kHz)
SUB = 1024  # samples per sub-frame of the training loss
N_FEATURES = 5
REACH = 63  # frames the head sees on each side (5.9 s)
EPS = 1e-10


def frame_levels(x, y):
    """Per frame (4, frames), float32 dB: the energy and the peak of x, then of y, for x, y float
    arrays (channels, time), time a multiple of FRAME."""
    rows = []
    for a in (x, y):
        frames = a.reshape(a.shape[0], -1, FRAME)
        rows.append(10 * np.log10(np.mean(frames ** 2, axis=(0, 2)) + EPS))
        rows.append(20 * np.log10(np.max(np.abs(frames), axis=(0, 2)) + EPS))
    return np.stack(rows).astype(np.float32)


def frame_features(levels, reach=REACH):
    """Head input (..., N_FEATURES, frames) from `frame_levels` (..., 4, frames): the input's and
    the output's energy and peak relative to their largest peak within `reach` frames (so
    neither the song's level nor how long it is matters), and the output's energy relative to
    the input's (the de-limiter's gain), scaled to about unit range."""
    levels = torch.as_tensor(levels)
    feats = []
    for energy, peak in (levels[..., 0, :], levels[..., 1, :]), (levels[..., 2, :],
                                                                  levels[..., 3, :]):
        top = nn.functional.max_pool1d(peak[None] if peak.dim() == 1 else peak[:, None],
                                       2 * reach + 1, stride=1, padding=reach)
        top = top[0] if peak.dim() == 1 else top[:, 0]
        feats += [energy - top, peak - top]
    feats.append(levels[..., 2, :] - levels[..., 0, :])
    return torch.stack(feats, dim=-2).clamp(-80.0, 40.0) / 20.0


def frame_stats(s, y):
    """Per channel and sub-frame: <s, y> and ||y||^2 (channels, time // SUB), and ||s||^2
    (channels,), float64; s and y zero-mean per channel first, as SI-SDR is scored."""
    s = s - s.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    sf = s.reshape(s.shape[0], -1, SUB).astype(np.float64)
    yf = y.reshape(y.shape[0], -1, SUB).astype(np.float64)
    return (sf * yf).sum(-1), (yf * yf).sum(-1), (sf * sf).sum((1, 2))


def upsample_db(c, factor):
    """Per-frame values (..., frames) to `factor` points per frame, linear between frame
    centres and constant beyond the first and last."""
    frames = c.shape[-1]
    centres = (torch.arange(frames * factor, dtype=c.dtype, device=c.device) + 0.5) / factor - 0.5
    centres = centres.clamp(0, frames - 1)
    lo = centres.floor().long().clamp(max=frames - 1)
    hi = (lo + 1).clamp(max=frames - 1)
    t = centres - lo
    return c[..., lo] * (1 - t) + c[..., hi] * t


def si_sdr_from_stats(c_db, cross, energy, target, cap_db=50.0):
    """SI-SDR in dB (batch,) of y * 10 ** (c / 20) against s, averaged over channels, from
    `frame_stats` (batched: cross, energy (batch, channels, subs), target (batch, channels))
    and the head's c_db (batch, frames); soft-capped at cap_db like the training loss."""
    w = 10 ** (upsample_db(c_db, FRAME // SUB) / 20)[:, None, :]
    p = (w * cross).sum(-1)
    q = (w * w * energy).sum(-1)
    signal = p * p / q.clamp_min(EPS)
    error = (target - signal).clamp_min(0)
    tau = 10 ** (-cap_db / 10)
    return (10 * torch.log10(signal / (error + tau * signal) + EPS)).mean(-1)


class LevelHead(nn.Module):
    """Frame features (batch, N_FEATURES, frames) -> gain in dB (batch, frames), within
    +-max_db. Dilated convolutions with edge replication, reach +-63 frames (5.9 s)."""

    def __init__(self, channels=32, dilations=(1, 2, 4, 8, 16, 32), max_db=12.0):
        super().__init__()
        self.max_db = max_db
        self.inp = nn.Conv1d(N_FEATURES, channels, 1)
        self.blocks = nn.ModuleList(
            nn.Conv1d(channels, channels, 3, dilation=d, padding=d, padding_mode="replicate")
            for d in dilations)
        self.out = nn.Conv1d(channels, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def reach(self):
        """Frames the head sees on each side."""
        return sum(b.dilation[0] for b in self.blocks)

    def forward(self, features):
        h = torch.relu(self.inp(features))
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return self.max_db * torch.tanh(self.out(h)[:, 0] / self.max_db)


def apply_head(head, x, y):
    """y * the head's gain, for x, y float arrays (channels, time) of any length: padded to
    whole frames at the end, the gain interpolated to samples."""
    n = x.shape[-1]
    pad = -n % FRAME
    xp, yp = (np.pad(a, ((0, 0), (0, pad)), mode="edge") for a in (x, y))
    with torch.no_grad():
        c = head(frame_features(frame_levels(xp, yp))[None])
        gain = 10 ** (upsample_db(c, FRAME)[0, :n].numpy() / 20)
    return (y * gain).astype(np.float32), gain
