"""benchmarks/design_severity.py: how hard each limiter design hits the same windows."""
import numpy as np

from benchmarks.design_severity import severity_rows
from tests.helpers import tiny_model
from utils.limiters.training import TRAINING_DESIGNS

RATE = 44100


def bursts(seed):
    rng = np.random.default_rng(seed)
    levels = np.repeat(rng.uniform(0.02, 1.0, 20), RATE // 10)
    x = rng.standard_normal((2, levels.size)) * levels
    return (0.05 * x / np.abs(x).max()).astype(np.float32)  # about -30 LUFS: room to limit


def test_every_design_is_scored_and_louder_targets_hit_harder():
    windows = [bursts(0), bursts(1)]
    loud, gentle = severity_rows(windows, -6.0), severity_rows(windows, -18.0)
    names = [name for name, *_ in loud]
    assert names == list(TRAINING_DESIGNS) + ["alt_limiter (held out)", "multiband (held out)"]
    for (name, hard, *_), (_, soft, *_) in zip(loud, gentle):
        assert hard.shape == (2,) and np.all(np.isfinite(hard)), name
        assert hard.mean() < soft.mean() - 1.0, name  # 12 dB more drive costs SI-SDR


def test_a_model_that_changes_nothing_scores_zero_and_a_model_that_acts_does_not():
    windows = [bursts(0)[:, :RATE]]
    constant = tiny_model()
    constant.decoder.filterbank._filters.zero_()  # gain sigmoid(0) everywhere: a level change
    for name, _, _, responses in severity_rows(windows, -8.0, constant):
        assert responses.shape == (1, 2), name
        assert abs(responses[0, 0]) < 1e-3 and responses[0, 1] < 1e-3, name
    acting = [r for *_, r in severity_rows(windows, -8.0, tiny_model())]
    assert max(r[0, 1] for r in acting) > 0.01  # its gain moves on some design
    assert all(r is None for *_, r in severity_rows(windows, -8.0))
