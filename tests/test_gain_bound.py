"""benchmarks/gain_bound.py: the best framed gain, the bound of a gain-only model."""
import numpy as np
import pytest
import soundfile as sf

from benchmarks import gain_bound
from benchmarks.gain_bound import best_banded_gain, best_framed_gain
from tests.helpers import TINY, tiny_model, write_weight
from utils.evaluation.metrics import si_sdr


def test_a_framed_gain_is_undone_exactly_and_a_finer_one_only_by_short_frames():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, 1000))
    steps = np.repeat(rng.uniform(0.2, 1.0, 10), 100)  # constant over frames of 100
    limited = reference * steps
    np.testing.assert_allclose(best_framed_gain(limited, reference, 100), reference, atol=1e-9)
    wobble = reference * (1 + 0.5 * np.sin(np.arange(1000) / 7.0))  # varies within a frame
    short, long = (si_sdr(best_framed_gain(wobble, reference, n), reference) for n in (8, 500))
    assert short > long > si_sdr(wobble, reference)


def test_the_gain_is_linked_never_negative_and_covers_a_last_short_frame():
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((2, 250))
    out = best_framed_gain(-reference, reference, 100)  # the best fit would be -1
    assert out.shape == reference.shape and not out.any()
    limited = reference * np.array([[1.0], [0.5]])  # channels apart: one gain cannot undo it
    ratio = best_framed_gain(limited, reference, 100) / limited
    np.testing.assert_allclose(ratio[0], ratio[1])
    assert np.ptp(ratio[:, 200:]) < 1e-12 and ratio[0, 249] > 1.0


def test_a_bad_file_is_named_and_the_others_are_scored(tmp_path, capsys):
    import soundfile as sf

    from benchmarks import gain_bound

    for folder in ("maximizer", "references"):
        (tmp_path / folder).mkdir()
    reference = np.random.default_rng(2).standard_normal((4410, 2)) * 0.1
    sf.write(tmp_path / "references" / "a.wav", reference, 44100)
    sf.write(tmp_path / "maximizer" / "a.wav", reference * 0.5, 44100)
    (tmp_path / "maximizer" / "b.wav").write_bytes(b"not audio")
    assert gain_bound.main(["--eval_root", str(tmp_path), "--real_root", str(tmp_path / "no"),
                            "--frames", "64"]) == 1
    out, err = capsys.readouterr()
    assert "b.wav" in err and err.count("\n") == 1
    assert "| maximizer | 1 |" in out


def test_the_best_power_undoes_a_gain_that_was_too_timid():
    from benchmarks.gain_bound import best_power

    rng = np.random.default_rng(3)
    reference = rng.standard_normal((2, 2000))
    limiting = np.repeat(rng.uniform(0.1, 1.0, 20), 100)
    limited = reference * limiting
    timid = 1.0 / np.sqrt(limiting)  # half the dB it takes; scale does not matter to SI-SDR
    power, score = best_power(limited, reference, timid / timid.max(), [0.5, 1.0, 2.0, 3.0])
    assert power == 2.0 and score > 80.0
    assert best_power(limited, reference, timid, [1.0])[1] < 30.0


def test_a_model_adds_its_gain_as_is_and_at_its_best_power(tmp_path, capsys):
    weight = write_weight(tmp_path / "weight", TINY, tiny_model())
    for folder in ("maximizer", "references"):
        (tmp_path / folder).mkdir()
    reference = np.random.default_rng(4).standard_normal((8820, 2)) * 0.1
    sf.write(tmp_path / "references" / "a.wav", reference, 44100)
    sf.write(tmp_path / "maximizer" / "a.wav", np.clip(reference, -0.1, 0.1), 44100)
    root = ["--eval_root", str(tmp_path), "--real_root", str(tmp_path / "no"), "--frames", "64"]
    assert gain_bound.main([*root, "--model", str(weight), "--powers", "0", "1", "2"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "| maximizer |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    as_is, best, slow, power = (float(c) for c in cells[4:8])
    assert best >= as_is and power in (0.0, 1.0, 2.0)  # the powers tried include the model's own
    assert slow >= as_is  # a gain of 1 per second is among those fitted
    assert gain_bound.main([*root, "--model", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_gain_per_band_undoes_what_one_gain_cannot():
    from utils.limiters.multiband import linkwitz_riley

    rng = np.random.default_rng(4)
    reference = rng.standard_normal((2, 8192))
    low = linkwitz_riley(reference, 250, 44100, "lowpass")
    high = linkwitz_riley(reference, 4000, 44100, "highpass")
    # the bands turned down by different amounts in each frame of 1024 samples
    frame_gains = np.repeat(rng.uniform(0.2, 1.0, (3, 8)), 1024, axis=1)
    limited = (frame_gains[0] * low + frame_gains[1] * (reference - low - high)
               + frame_gains[2] * high)
    banded = si_sdr(best_banded_gain(limited, reference, 1024, (250, 4000)), reference)
    single = si_sdr(best_framed_gain(limited, reference, 1024), reference)
    # Not exact: the bands of the limited mix are not the scaled bands of the reference (a
    # Linkwitz-Riley band filtered again is not itself), but far closer than one gain gets.
    assert banded > single + 3.0 > si_sdr(limited, reference) + 3.0
    # with one gain for all bands it is the single-gain bound
    same = reference * np.repeat(rng.uniform(0.2, 1.0, 8), 1024)
    np.testing.assert_allclose(best_banded_gain(same, reference, 1024, (250, 4000)),
                               best_framed_gain(same, reference, 1024), atol=1e-6)


def test_bands_out_of_order_are_refused_before_any_work(capsys):
    from benchmarks import gain_bound

    with pytest.raises(SystemExit) as exit_info:
        gain_bound.main(["--bands", "4000", "250", "--eval_root", "/nonexistent"])
    assert exit_info.value.code == 2
    assert "--bands: expected 0 < LOW < HIGH" in capsys.readouterr().err
