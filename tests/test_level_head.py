"""The slow-level head: its loss from frame statistics equals SI-SDR on the audio, an untrained
head changes nothing, its features ignore the song's level, and it can learn a slow level."""
import numpy as np
import pytest
import torch

from models.level_head import (
    FRAME,
    SUB,
    LevelHead,
    apply_head,
    frame_features,
    frame_levels,
    frame_stats,
    si_sdr_from_stats,
    upsample_db,
)
from utils.evaluation.metrics import si_sdr


def _noise(frames, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, (2, frames * FRAME)).astype(np.float32)


def test_loss_from_stats_is_si_sdr_of_the_audio():
    frames = 6
    s = _noise(frames)
    y = s + 0.05 * _noise(frames, seed=1)
    c = torch.tensor(np.random.default_rng(2).uniform(-6, 6, (1, frames)))
    # the gain the loss assumes: constant over each sub-frame
    per_sub = upsample_db(c, FRAME // SUB)[0].numpy()
    scaled = y * np.repeat(10 ** (per_sub / 20), SUB)
    stats = [torch.from_numpy(np.asarray(a))[None] for a in frame_stats(s, y)]
    from_stats = float(si_sdr_from_stats(c, *stats, cap_db=300.0)[0])
    direct = float(np.mean(si_sdr(scaled, s)))
    assert from_stats == pytest.approx(direct, abs=1e-3)
    # and the gain changes it: a test that could fail
    assert from_stats < float(si_sdr_from_stats(torch.zeros_like(c), *stats, cap_db=300.0)[0])


def test_untrained_head_leaves_the_output_as_it_is():
    x = _noise(5)[:, :-1000]  # not a whole number of frames
    y = 0.5 * x
    out, gain = apply_head(LevelHead(), x, y)
    assert out.shape == y.shape
    np.testing.assert_array_equal(gain, 1.0)
    np.testing.assert_allclose(out, y)


def test_features_ignore_the_level_of_the_song():
    x = _noise(8) * np.linspace(0.1, 1.0, 8 * FRAME, dtype=np.float32)
    y = x * 0.7
    a = frame_features(frame_levels(x, y))
    b = frame_features(frame_levels(x * 0.1, y * 0.1))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert a.shape == (5, 8)
    assert float(a[0].max() - a[0].min()) > 0.5  # the level ramp is seen


def test_head_learns_to_undo_a_slow_level_change():
    """Targets whose second half is 6 dB louder than the input says: the head, trained on the
    statistics alone, learns to raise where the input is quieter."""
    torch.manual_seed(0)
    levels, cross, energy, power = [], [], [], []
    for seed in range(4):
        s = _noise(16, seed)
        s[:, 8 * FRAME:] *= 2.0
        x = s.copy()
        x[:, 8 * FRAME:] *= 0.5 * 1.2  # squeezed: louder than the start, but not by 6 dB
        levels.append(frame_levels(x, x))
        for total, part in zip((cross, energy, power), frame_stats(s, x)):
            total.append(part)
    features = frame_features(np.stack(levels))
    stats = [torch.from_numpy(np.stack(a)) for a in (cross, energy, power)]
    head = LevelHead()
    with torch.no_grad():
        before = float(si_sdr_from_stats(head(features).double(), *stats).mean())
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(60):
        loss = -si_sdr_from_stats(head(features).double(), *stats).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(si_sdr_from_stats(head(features).double(), *stats).mean())
    assert after > before + 5.0
