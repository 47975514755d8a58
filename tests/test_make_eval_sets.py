"""Tests for prepro/make_eval_sets.py on a tiny set (2 songs x 5 s, built once)."""
import csv
import os

import numpy as np
import pytest
import soundfile as sf

from prepro import make_eval_sets as mes
from prepro.make_stems import STEMS, generated_song_seed, render_song
from utils.errors import DelimitError
from utils.loudness import integrated_loudness

SR = 44100


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("evalsets"))
    rows = mes.make_eval_sets(root, n_songs=2, seconds=5.0, seed=9001, progress=False)
    return root, rows


def test_writes_the_layout_and_csv(built):
    root, rows = built
    names = ["gen_s9001_0000", "gen_s9001_0001"]
    for set_name in mes.SETS:
        assert sorted(os.listdir(os.path.join(root, set_name))) == [n + ".wav" for n in names]
        for name in names:
            info = sf.info(os.path.join(root, set_name, name + ".wav"))
            assert (info.samplerate, info.channels, info.frames) == (SR, 2, 5 * SR)
            assert info.subtype == "FLOAT"
    with open(os.path.join(root, mes.CSV_NAME)) as f:
        table = list(csv.DictReader(f))
    assert [r["name"] for r in table] == names
    assert tuple(table[0]) == mes.CSV_COLUMNS
    assert float(table[1]["target_lufs"]) == pytest.approx(rows[1]["target_lufs"], abs=1e-4)
    assert not [f for f in os.listdir(root) if f.startswith(".tmp_")]


def test_limited_sets_hit_their_targets_and_references_are_at_minus_14(built):
    root, rows = built
    for row in rows:
        def lufs(set_name):
            audio, _ = sf.read(os.path.join(root, set_name, row["name"] + ".wav"))
            return integrated_loudness(audio.T, SR)
        assert lufs("references") == pytest.approx(-14.0, abs=0.05)
        assert lufs("maximizer") == pytest.approx(row["target_lufs"], abs=mes.TOLERANCE_LU)
        assert lufs("alt_limiter") == pytest.approx(row["target_lufs"], abs=mes.TOLERANCE_LU)
        assert lufs("maximizer") == pytest.approx(row["maximizer_lufs"], abs=1e-3)


def test_reference_is_the_unlimited_mix_scaled(built):
    root, rows = built
    stems = render_song(generated_song_seed(9001, 0), 5.0)
    mix = sum(stems[s].astype(np.float64) for s in STEMS)
    reference, _ = sf.read(os.path.join(root, "references", rows[0]["name"] + ".wav"))
    gain = 10 ** ((-14.0 - integrated_loudness(mix, SR)) / 20)
    np.testing.assert_allclose(reference.T, mix * gain, atol=1e-6)
    limited, _ = sf.read(os.path.join(root, "maximizer", rows[0]["name"] + ".wav"))
    assert np.abs(limited).max() <= 1.0 and not np.allclose(limited.T, mix * gain, atol=1e-2)


def test_params_follow_musdb_xl_distributions():
    draws = [mes.draw_params(9000, i) for i in range(3000)]
    targets = np.array([d["target_lufs"] for d in draws])
    characters = np.array([d["character"] for d in draws])
    assert targets.mean() == pytest.approx(-8.0, abs=0.1)
    assert targets.std() == pytest.approx(1.0, abs=0.1)
    assert characters.mean() == pytest.approx(2.0, abs=0.1)  # Gamma(2, 1), rarely clipped
    assert characters.min() > 0 and characters.max() <= 10.0
    assert mes.draw_params(9000, 5) == mes.draw_params(9000, 5)
    assert mes.draw_params(9000, 5) != mes.draw_params(9001, 5)


def test_refuses_training_seeds_and_bad_arguments(tmp_path, capsys):
    with pytest.raises(DelimitError, match="--seed 1: evaluation seeds must be >= 9000"):
        mes.make_eval_sets(str(tmp_path), n_songs=1, seconds=1.0, seed=1)
    with pytest.raises(DelimitError, match="--n_songs"):
        mes.make_eval_sets(str(tmp_path), n_songs=0)
    (tmp_path / "file").write_text("x")
    assert mes.main(["--output", str(tmp_path / "file"), "--n_songs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "file: --output exists and is not a folder" in err[0]
