"""Tests for utils/evaluation/scoring.py and its CLI eval_delimit.py: pairing, refusals, resampling,
CSV, summary, CLI exit codes."""
import csv
import os

import numpy as np
import pytest
import soundfile as sf

import eval_delimit
from utils.errors import DelimitError
from utils.evaluation import scoring
from utils.loudness import integrated_loudness

SR = 16000  # small files: the metrics work at any rate


def _song(seed, seconds=1.0, channels=2, sr=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = np.sin(2 * np.pi * (200 + 50 * seed) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * tone + 0.05 * rng.standard_normal((channels, t.size))).astype(np.float32)


def _write(path, audio, sr=SR):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, audio.T, sr)


def _plain_set(root, names=("a", "b")):
    """references/, estimates/ (close to the references) and inputs/ (clipped) for `names`."""
    for i, name in enumerate(names):
        ref = _song(i)
        _write(f"{root}/references/{name}.wav", ref)
        _write(f"{root}/estimates/{name}.flac", ref + 0.01 * _song(i + 10))
        _write(f"{root}/inputs/{name}.wav", np.clip(4 * ref, -0.5, 0.5))
    return str(root / "references"), str(root / "estimates"), str(root / "inputs")


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_pairs_plain_folders_by_stem_across_extensions(tmp_path):
    refs, ests, ins = _plain_set(tmp_path)
    _write(f"{ests}/.tmp_partial.wav", _song(9))  # hidden: ignored
    pairs, problems = scoring.pair_files(refs, ests, ins)
    assert problems == []
    assert [p.name for p in pairs] == ["a", "b"]
    assert pairs[0].estimate.endswith("a.flac") and pairs[0].input.endswith("a.wav")


def test_pairs_musdb_layout(tmp_path):
    for i, song in enumerate(["Song One", "Song Two"]):
        _write(f"{tmp_path}/hq/test/{song}/mixture.wav", _song(i))
        _write(f"{tmp_path}/xl/test/{song}/mixture.wav", 2 * _song(i))
        _write(f"{tmp_path}/out/{song}/all.wav", _song(i))
    _write(f"{tmp_path}/hq/train/Other/mixture.wav", _song(5))  # not scored
    pairs, problems = scoring.pair_files(f"{tmp_path}/hq", f"{tmp_path}/out",
                                            f"{tmp_path}/xl")
    assert problems == []
    assert [p.name for p in pairs] == ["Song One", "Song Two"]
    assert pairs[1].reference == f"{tmp_path}/hq/test/Song Two/mixture.wav"
    assert pairs[1].estimate == f"{tmp_path}/out/Song Two/all.wav"
    assert pairs[1].input == f"{tmp_path}/xl/test/Song Two/mixture.wav"


def test_missing_counterparts_are_named(tmp_path):
    refs, ests, ins = _plain_set(tmp_path, names=("a", "b", "c"))
    os.remove(f"{ests}/b.flac")
    os.remove(f"{ins}/c.wav")
    _write(f"{ests}/stray.wav", _song(3))
    pairs, problems = scoring.pair_files(refs, ests, ins)
    assert [p.name for p in pairs] == ["a"]
    assert len(problems) == 3
    assert any(p.startswith(f"{refs}/b.wav: no estimate") for p in problems)
    assert any(p.startswith(f"{ests}/c.flac: no input") for p in problems)
    assert any(p.startswith(f"{ests}/stray.wav: no reference") for p in problems)


def test_duplicate_names_and_missing_folders_are_refused(tmp_path):
    refs, ests, _ = _plain_set(tmp_path)
    _write(f"{ests}/a.wav", _song(0))
    _, problems = scoring.pair_files(refs, ests)
    assert len(problems) == 1 and "'a' is also" in problems[0]
    with pytest.raises(DelimitError, match="no such folder"):
        scoring.pair_files(str(tmp_path / "nope"), ests)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DelimitError, match="empty: no audio files"):
        scoring.pair_files(str(tmp_path / "empty"), ests)


def test_unreadable_multichannel_and_mismatched_files_are_refused(tmp_path):
    refs, ests, _ = _plain_set(tmp_path)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(DelimitError, match=f"{bad}: cannot read audio"):
        scoring.read_audio(str(bad))
    _write(f"{tmp_path}/surround.wav", np.zeros((3, 100), np.float32))
    with pytest.raises(DelimitError, match="surround.wav: 3 channels"):
        scoring.read_audio(f"{tmp_path}/surround.wav")
    _write(f"{tmp_path}/mono.wav", _song(0, channels=1))
    pair = scoring.Pair("a", f"{refs}/a.wav", f"{tmp_path}/mono.wav")
    with pytest.raises(DelimitError, match="mono.wav: 1 channel"):
        scoring.load_pair(pair)


def test_resamples_estimate_to_reference_rate_and_trims(tmp_path):
    t = np.arange(44100) / 44100
    ref = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1234 * t)])
    _write(f"{tmp_path}/ref.wav", ref, sr=44100)
    import soxr
    _write(f"{tmp_path}/est.wav", soxr.resample(ref.T, 44100, 22050).T[:, :-100], sr=22050)
    pair = scoring.Pair("x", f"{tmp_path}/ref.wav", f"{tmp_path}/est.wav")
    reference, estimate, limited, rate = scoring.load_pair(pair)
    assert rate == 44100 and limited is None
    assert reference.shape == estimate.shape == (2, 44100 - 200)
    # Tones well below 11 kHz survive the round trip through 22.05 kHz.
    assert scoring.score(reference, estimate, rate)["si_sdr"] > 40.0


def test_score_columns_and_improvement(tmp_path):
    ref = _song(1, seconds=3.5)
    est = ref + 0.01 * _song(2, seconds=3.5)
    limited = np.clip(3 * ref, -0.3, 0.3)
    row = scoring.score(ref, est, SR, limited)
    assert list(row)[:6] == ["si_sdr", "multi_mse", "lufs", "lra", "crest", "plr"]
    assert row["si_sdr_improvement"] == pytest.approx(row["si_sdr"] - row["si_sdr_input"])
    assert row["multi_mse_improvement"] == pytest.approx(row["multi_mse_input"] -
                                                         row["multi_mse"])
    assert row["si_sdr_improvement"] > 0
    assert row["crest_input"] < row["crest_reference"]  # the clipped input is flatter
    assert np.isfinite(row["lra_reference"]) and row["seconds"] == pytest.approx(3.5)


def test_cli_writes_results_summary_and_plot_and_reports_failures(tmp_path, capsys):
    refs, ests, ins = _plain_set(tmp_path, names=("a", "b", "c"))
    (tmp_path / "estimates" / "c.flac").write_bytes(b"garbage")  # unreadable: c not scored
    out = tmp_path / "res"
    code = eval_delimit.main(["--estimates", ests, "--references", refs, "--inputs", ins,
                              "--output", str(out)])
    assert code == 1
    captured = capsys.readouterr()
    assert f"{ests}/c.flac: cannot read audio" in captured.err
    rows = _read_csv(out / "results.csv")
    assert [r["name"] for r in rows] == ["a", "b"]
    header = list(rows[0])
    assert header[:2] == ["name", "si_sdr"] and "si_sdr_improvement" in header
    summary = (out / "summary.md").read_text()
    assert summary in captured.out
    assert "| si_sdr |" in summary and "mean | median" in summary
    assert "Worst 2 by si_sdr_improvement" in summary and "c.flac" in summary
    assert (out / "distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in os.listdir(out) if f.startswith(".tmp_")]


def test_cli_exit_codes(tmp_path, capsys):
    refs, ests, ins = _plain_set(tmp_path)
    assert eval_delimit.main(["--estimates", ests, "--references", refs,
                              "--output", str(tmp_path / "ok")]) == 0
    assert eval_delimit.main(["--estimates", ests, "--references", str(tmp_path / "none"),
                              "--output", str(tmp_path / "no")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("eval_delimit: ") and "none: no such folder" in err[-1]
    with pytest.raises(SystemExit):  # --baseline and --estimates together
        eval_delimit.main(["--estimates", ests, "--baseline", "input", "--inputs", ins,
                           "--references", refs])


def test_results_that_cannot_be_written_are_one_line_and_leave_nothing(tmp_path, capsys):
    refs, ests, _ = _plain_set(tmp_path)
    (tmp_path / "taken").write_text("a file where the results folder would go")
    out = tmp_path / "taken" / "res"
    assert eval_delimit.main(["--estimates", ests, "--references", refs,
                              "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == \
        f"eval_delimit: {out}: cannot write the results (Not a directory)"


def test_a_full_disk_leaves_no_results(tmp_path):
    """The child may grow no file past 8 kB (RLIMIT_FSIZE: the OS refuses the write, as on a
    full disk): results.csv and summary.md fit, distribution.png does not."""
    import resource
    import subprocess
    import sys

    refs, ests, _ = _plain_set(tmp_path)
    out = tmp_path / "res"
    child = subprocess.run(
        [sys.executable, "-m", "eval_delimit", "--estimates", ests, "--references", refs,
         "--output", str(out)], cwd=os.path.dirname(os.path.dirname(__file__)),
        capture_output=True, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192)))
    assert child.returncode == 1 and "Traceback" not in child.stderr
    assert child.stderr.splitlines()[-1] == \
        f"eval_delimit: {out}: cannot write the results (File too large)"
    assert os.listdir(out) == []


def test_worst_files_come_first_in_summary(tmp_path):
    refs, ests, _ = _plain_set(tmp_path, names=("good", "bad"))
    _write(f"{ests}/bad.flac", _song(0) + 0.5 * _song(7))
    rows, problems = scoring.evaluate(refs, ests)
    text = scoring.summary_markdown(rows, problems, worst=1)
    assert "| bad |" in text and "| good |" not in text


def test_baselines_score_the_inputs(tmp_path):
    refs, _, ins = _plain_set(tmp_path)
    raw, _ = scoring.evaluate(refs, inputs=ins, baseline="input")
    normed, _ = scoring.evaluate(refs, inputs=ins, baseline="loudnorm")
    for a, b in zip(raw, normed):
        assert a["si_sdr"] == pytest.approx(a["si_sdr_input"])  # the input is the estimate
        assert b["si_sdr"] == pytest.approx(a["si_sdr"], abs=1e-6)  # gain does not change it
        assert b["lufs"] == pytest.approx(scoring.LOUDNORM_LUFS, abs=0.1)
        assert b["multi_mse"] != pytest.approx(a["multi_mse"])
    audio, _ = scoring.read_audio(f"{ins}/a.wav")
    assert raw[0]["lufs"] == pytest.approx(integrated_loudness(audio, SR))
    with pytest.raises(DelimitError, match="needs --inputs"):
        scoring.evaluate(refs, baseline="loudnorm")
