"""benchmarks/design_severity.py: how hard each limiter design hits the same windows."""
import numpy as np
import soundfile as sf

from benchmarks.design_severity import main, severity_rows
from tests.helpers import TINY, tiny_model, write_weight
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
        # 12 dB more drive costs SI-SDR; compressor_clipper's compressor does not depend on the
        # target (its threshold is set under the window's peak), so only its clip hits harder
        margin = 0.0 if name == "compressor_clipper" else 1.0
        assert hard.mean() < soft.mean() - margin, name


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


def test_the_printed_table_has_a_cell_for_every_column(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the song cache goes under ./data
    songs = tmp_path / "songs"
    songs.mkdir()
    for seed in range(2):  # 3 s songs: room for 1-s windows
        sf.write(songs / f"song{seed}.wav", np.concatenate([bursts(seed)] * 2, 1)[:, :3 * RATE].T
                 * 10, RATE, subtype="FLOAT")
    weight = write_weight(tmp_path / "weight", TINY, tiny_model())
    assert main(["--songs", str(songs), "--windows", "2", "--seconds", "1",
                 "--model", str(weight)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    names = [row.split("|")[1].strip() for row in rows[2:]]
    assert names == list(TRAINING_DESIGNS) + ["alt_limiter (held out)", "multiband (held out)",
                                              "unlimited"]
    assert "median" in rows[0].split("|")[7]  # the model's median after its mean
    assert {row.count("|") for row in rows} == {rows[0].count("|")}
