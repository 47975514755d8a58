"""benchmarks/gain_bound.py: the best framed gain, the bound of a gain-only model."""
import numpy as np

from benchmarks.gain_bound import best_framed_gain
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
