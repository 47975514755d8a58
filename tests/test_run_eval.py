"""benchmarks/run_eval.py: the results table's statistics and the sets' folders."""
import os

import pytest

from benchmarks import run_eval


def rows(deltas, si_sdr=10.0):
    return [{"name": f"s{i}", "si_sdr": si_sdr + d, "si_sdr_improvement": d, "lufs": -14.0}
            for i, d in enumerate(deltas)]


def test_table_gives_mean_median_worst_and_share_made_worse():
    table = run_eval.results_table([("real_multiband", "shipped", rows([2.0, -3.0, 0.5, 1.5]))])
    header, _, line = table.strip().splitlines()
    cells = dict(zip([c.strip() for c in header.split("|")[1:-1]],
                     [c.strip() for c in line.split("|")[1:-1]]))
    assert cells["files"] == "4"
    assert cells["ΔSI-SDR mean"] == "0.25"
    assert cells["ΔSI-SDR median"] == "1.00"
    assert cells["ΔSI-SDR worst"] == "-3.00"
    assert cells["worse than -1 dB"] == "25 %"
    assert cells["min SI-SDR"] == "7.00"
    assert cells["multi-res MSE"] == ""  # not in the rows: left empty, not made up


def test_do_no_harm_scores_outputs_against_the_unlimited_input():
    assert run_eval.set_folders("do_no_harm", "e", "r") == ("r/references", "r/references")
    assert run_eval.set_folders("real_multiband", "e", "r") == ("r/multiband", "r/references")
    assert run_eval.set_folders("maximizer", "e", "r") == ("e/maximizer", "e/references")


def test_models_are_name_equals_folder():
    assert run_eval.parse_models(["a=weight", "b=x/y"]) == {"a": "weight", "b": "x/y"}
    with pytest.raises(SystemExit):
        run_eval.parse_models(["weight"])


def test_inverted_copy_negates_every_audio_file_and_copies_the_rest(tmp_path):
    import numpy as np
    import soundfile as sf

    source = tmp_path / "real"
    (source / "multiband").mkdir(parents=True)
    audio = np.random.default_rng(0).uniform(-1.0, 1.0, (1000, 2)).astype(np.float32)
    audio[0] = -1.0  # negated, a full-scale negative sample must not clip
    sf.write(source / "multiband" / "a.wav", audio, 44100, subtype="PCM_16")
    sf.write(source / "multiband" / "b.flac", audio[::-1], 44100, subtype="PCM_16")
    (source / "real_eval_set.csv").write_text("name,gain\na,1\n")
    out = run_eval.inverted_copy(str(source), str(tmp_path / "inverted"))
    inverted, rate = sf.read(tmp_path / "inverted" / "multiband" / "a.wav", dtype="float32")
    original, _ = sf.read(source / "multiband" / "a.wav", dtype="float32")
    assert rate == 44100 and out == str(tmp_path / "inverted")
    np.testing.assert_array_equal(inverted, -original)
    # other audio formats too, written as float wav of the same stem (sets pair by stem)
    inverted_flac, _ = sf.read(tmp_path / "inverted" / "multiband" / "b.wav", dtype="float32")
    original_flac, _ = sf.read(source / "multiband" / "b.flac", dtype="float32")
    np.testing.assert_array_equal(inverted_flac, -original_flac)
    assert not (tmp_path / "inverted" / "multiband" / "b.flac").exists()
    assert (tmp_path / "inverted" / "real_eval_set.csv").read_text() == "name,gain\na,1\n"
    assert sorted(p.name for p in source.rglob("*")) == ["a.wav", "b.flac", "multiband",
                                                         "real_eval_set.csv"]  # untouched


def test_inverted_copy_refuses_two_files_of_one_stem(tmp_path):
    import soundfile as sf

    source = tmp_path / "set"
    source.mkdir()
    silence = [[0.0, 0.0]] * 100
    sf.write(source / "song.wav", silence, 44100)
    sf.write(source / "song.flac", silence, 44100)
    with pytest.raises(SystemExit, match="song.wav: same name as .*song.flac"):
        run_eval.inverted_copy(str(source), str(tmp_path / "inverted"))


def test_inverted_copy_redoes_a_copy_older_than_its_source(tmp_path):
    import os

    import numpy as np
    import soundfile as sf

    source, out = tmp_path / "set", tmp_path / "inverted"
    source.mkdir()
    sf.write(source / "a.wav", np.full((100, 2), 0.25, np.float32), 44100, subtype="FLOAT")
    run_eval.inverted_copy(str(source), str(out))
    kept = os.path.getmtime(out / "a.wav")
    run_eval.inverted_copy(str(source), str(out))  # up to date: not rewritten
    assert os.path.getmtime(out / "a.wav") == kept
    sf.write(source / "a.wav", np.full((100, 2), 0.5, np.float32), 44100, subtype="FLOAT")
    os.utime(source / "a.wav", (kept + 10, kept + 10))
    run_eval.inverted_copy(str(source), str(out))
    np.testing.assert_array_equal(sf.read(out / "a.wav", dtype="float32")[0], -0.5)


def test_skip_inference_reuses_the_named_models_only(tmp_path, monkeypatch, capsys):
    import numpy as np
    import soundfile as sf

    eval_root = tmp_path / "eval"
    for folder in ("maximizer", "references"):
        (eval_root / folder).mkdir(parents=True)
        sf.write(eval_root / folder / "song.wav", np.zeros((4410, 2), np.float32), 44100)
    (eval_root / "eval_set.csv").write_text("song\n")
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    ran, real_run = [], run_eval.subprocess.run

    def fake_run(command, **kwargs):  # inference is recorded, not run; anything else runs
        if "inference" not in command:
            return real_run(command, **kwargs)
        ran.append(command[command.index("--weight_directory") + 1])
        return type("Done", (), {"returncode": 0})

    monkeypatch.setattr(run_eval.subprocess, "run", fake_run)

    def weights_run(*skip):
        ran.clear()
        run_eval.main(["--eval_root", str(eval_root), "--work", str(tmp_path / "work"),
                       "--sets", "maximizer", "--models", *(f"{m}={tmp_path / m}" for m in "abc"),
                       *skip])
        return [os.path.basename(folder) for folder in ran]

    assert weights_run() == ["a", "b", "c"]
    assert weights_run("--skip_inference", "a", "c") == ["b"]
    assert weights_run("--skip_inference") == []
    assert run_eval.main(["--eval_root", str(eval_root), "--models", f"a={tmp_path / 'a'}",
                          "--skip_inference", "z"]) == 2
    assert "--skip_inference names z, not among --models" in capsys.readouterr().err
