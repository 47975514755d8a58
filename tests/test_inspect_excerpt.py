"""benchmarks/inspect_excerpt.py: where a file's energy lies and how much a model changes it."""
import numpy as np
import soundfile as sf

from benchmarks.inspect_excerpt import describe, main, model_changes
from tests.helpers import TINY, tiny_model, write_weight

RATE = 44100


def tone(hz, seconds=1.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([np.sin(2 * np.pi * hz * t)] * 2).astype(np.float32) * 0.5


def test_a_steady_bass_tone_is_all_low_band_with_a_sine_crest_and_no_level_movement():
    facts = describe(tone(50.0), RATE)
    assert facts["bands"][0] > -0.01 and max(facts["bands"][1:]) < -40.0
    assert abs(facts["crest"] - 3.01) < 0.05
    assert facts["level_spread"] < 0.1


def test_a_gated_treble_tone_is_all_high_band_and_its_level_moves_by_the_gate():
    gate = np.repeat(np.tile([1.0, 0.1], 5), RATE // 10)  # 100 ms on, 100 ms 20 dB down
    facts = describe(tone(5000.0) * gate, RATE)
    assert facts["bands"][2] > -0.1 and facts["bands"][0] < -30.0
    assert abs(facts["level_spread"] - 20.0) < 0.5


def test_a_model_that_changes_nothing_leaves_every_part_alone_and_an_acting_one_does_not():
    audio = tone(60.0) + tone(2000.0) * np.linspace(0.1, 1.0, RATE)
    constant = tiny_model()
    constant.decoder.filterbank._filters.zero_()  # gain sigmoid(0) everywhere
    rows = model_changes(constant, audio, RATE, 120.0)
    assert [part for part, *_ in rows] == ["as is", "low", "high"]
    for part, score, spread in rows:
        assert score > 60.0 and spread < 1e-3, part
    acting = model_changes(tiny_model(), audio, RATE, 120.0)
    assert min(score for _, score, _ in acting) < 60.0
    assert max(spread for *_, spread in acting) > 0.01


def test_a_bad_file_is_named_the_others_are_inspected_and_the_exit_code_says_so(tmp_path,
                                                                                capsys):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, tone(100.0).T, RATE)
    bad.write_text("not audio")
    weight = write_weight(tmp_path / "weight", TINY, tiny_model())
    assert main([str(good), str(bad), "--model", str(weight)]) == 1
    out, err = capsys.readouterr()
    assert "bad.wav" in err and len(err.strip().splitlines()) == 1
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert rows[2].startswith("| good.wav |")
    assert rows[2].count("|") == rows[0].count("|") == 13
    assert main([str(good)]) == 0


def test_the_model_changes_a_file_alike_at_any_level():
    # why the README may inspect excerpts at whatever loudness their files have
    audio = tone(60.0) * np.linspace(0.1, 1.0, RATE) + tone(3000.0) * 0.2
    quiet, loud = (model_changes(tiny_model(), audio * scale, RATE, 120.0)
                   for scale in (0.05, 1.0))
    for (part, q_score, q_spread), (_, l_score, l_spread) in zip(quiet, loud):
        assert abs(q_score - l_score) < 0.1 and abs(q_spread - l_spread) < 0.01, part


def test_a_silent_file_gets_a_one_line_error_not_a_row_of_nans(tmp_path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((RATE, 2)), RATE)
    assert main([str(silent)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"error: {silent}: silent, nothing to inspect"
    assert "nan" not in out and len([line for line in out.splitlines() if line]) == 2
