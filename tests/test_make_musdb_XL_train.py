import csv
import os

import numpy as np
import pytest
import soundfile as sf

from prepro.make_musdb_XL_train import main, make_dataset, make_fixed, make_segment
from tests.test_mixing import SR, write_stems
from utils.loudness import integrated_loudness
from utils.mixing import (FIXED_COLUMNS, RANDOM_COLUMNS, STEMS, apply_ratio, draw_row,
                          mix_from_row, mix_song, stem_frames)

SEQ = 1.0
N_SEGMENTS = 7


def make_small_dataset(base, seed=3, n_segments=N_SEGMENTS, workers=1):
    """4 songs x 6 s of stems (song_03 held out) and a dataset of 1 s segments, 3 rows per CSV.
    Returns (stems root, dataset root, make_dataset's summary)."""
    root, output = os.path.join(base, "stems"), os.path.join(base, "xl")
    if not os.path.isdir(root):
        write_stems(root, n_songs=4, seconds=6.0, seed=seed)
    summary = make_dataset(root, output, n_segments, seed, workers=workers, rows_per_csv=3,
                           seq_dur=SEQ, n_valid=1)
    return root, output, summary


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_small_dataset(str(tmp_path_factory.mktemp("xl")))


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, r)) for r in reader]


def test_layout_columns_and_types(dataset):
    root, out, _ = dataset
    names = sorted(os.listdir(out))
    assert names == ["np_ratio", "ozone_train_fixed.csv", "ozone_train_random_0.csv",
                     "ozone_train_random_1.csv", "ozone_train_random_2.csv"]
    rows = []
    for i, expected_rows in enumerate([3, 3, 1]):
        header, part = read_csv(os.path.join(out, f"ozone_train_random_{i}.csv"))
        assert tuple(header) == RANDOM_COLUMNS and len(RANDOM_COLUMNS) == 19
        assert len(part) == expected_rows
        rows += part
    assert [r["song_name"] for r in rows] == [f"ozone_seg_{n}" for n in range(N_SEGMENTS)]
    for row in rows:
        for stem in STEMS:
            assert row[f"{stem}_channelswap"] in ("True", "False")
            assert 0.25 <= float(row[f"{stem}_gain"]) <= 1.25
            assert row[f"{stem}_name"] != "song_03"  # validation song never used
        assert -40.0 <= float(row["max_threshold"]) <= 0.0
        assert 0.0 <= float(row["max_character"]) <= 10.0
        ratio = np.load(os.path.join(out, "np_ratio", "ozone_train_random",
                                     f"{row['song_name']}.npy"))
        assert ratio.dtype == np.float16 and ratio.shape == (2, int(SEQ * SR))
        assert np.isfinite(ratio).all()
    assert {r[f"{s}_channelswap"] for r in rows for s in STEMS} == {"True", "False"}
    header, fixed = read_csv(os.path.join(out, "ozone_train_fixed.csv"))
    assert tuple(header) == FIXED_COLUMNS
    assert [r["song_name"] for r in fixed] == ["song_00", "song_01", "song_02"]  # not song_03
    for row in fixed:
        ratio = np.load(os.path.join(out, "np_ratio", "ozone_train_fixed",
                                     f"{row['song_name']}.npy"))
        assert ratio.dtype == np.float16 and ratio.shape == (2, 6 * SR)


def test_segments_land_on_their_target_and_match_a_rerun(dataset):
    root, out, summary = dataset
    songs = ["song_00", "song_01", "song_02"]
    lengths = stem_frames(root, songs, SR)
    rows = []
    for i in range(3):
        rows += read_csv(os.path.join(out, f"ozone_train_random_{i}.csv"))[1]
    misses = 0
    for number, stored in enumerate(rows):
        row, ratio, info = make_segment(root, songs, lengths, 3, number, SEQ, SR)
        assert {k: str(v) for k, v in row.items()} == stored  # deterministic, same text
        np.testing.assert_array_equal(
            ratio, np.load(os.path.join(out, "np_ratio", "ozone_train_random",
                                        f"ozone_seg_{number}.npy")))
        # The stored form (mix * float16 ratio) is as loud as the limiter's output, and that is
        # within 0.5 LU of the drawn target unless the target is out of the limiter's reach
        # (here: segment 5's -5.8 LUFS; the limiter saturates near -6.3): such misses are
        # counted in the summary.
        limited = apply_ratio(mix_from_row(root, stored, SEQ, SR), ratio)
        assert abs(integrated_loudness(limited, SR) - info["lufs"]) < 0.01
        if abs(info["lufs"] - info["target_lufs"]) > 0.5:
            misses += 1
            assert info["lufs"] < info["target_lufs"]  # only a too loud target is missed
    assert misses == summary["off_target"] <= 1
    # fixed songs too
    row, ratio, info = make_fixed(root, "song_01", 3, SR)
    limited = apply_ratio(mix_song(root, "song_01", 0.0, None, SR), ratio)
    assert abs(integrated_loudness(limited, SR) - info["target_lufs"]) <= 0.51


def test_workers_give_identical_files(dataset, tmp_path):
    root, out, _ = dataset
    other = str(tmp_path / "xl2")
    make_dataset(root, other, N_SEGMENTS, 3, workers=2, rows_per_csv=3, seq_dur=SEQ, n_valid=1)
    for dirpath, _, files in os.walk(out):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as a, open(path.replace(out, other), "rb") as b:
                assert a.read() == b.read(), path


def test_other_seed_differs_and_stale_csvs_are_removed(dataset, tmp_path):
    root, _, _ = dataset
    out = str(tmp_path / "xl")
    make_dataset(root, out, 7, 4, rows_per_csv=3, seq_dur=SEQ, n_valid=1)
    first = read_csv(os.path.join(out, "ozone_train_random_0.csv"))[1]
    make_dataset(root, out, 2, 5, rows_per_csv=3, seq_dur=SEQ, n_valid=1, fixed=False)
    assert sorted(n for n in os.listdir(out) if n.endswith(".csv")) == ["ozone_train_random_0.csv"]
    second = read_csv(os.path.join(out, "ozone_train_random_0.csv"))[1]
    assert len(second) == 2 and second[0] != first[0]


def test_silent_mixes_are_redrawn(tmp_path):
    root = str(tmp_path / "stems")
    write_stems(root, names=["a_silent", "b_loud", "c_valid"], seconds=1.0)
    for stem in STEMS:
        sf.write(os.path.join(root, "train", "a_silent", f"{stem}.wav"),
                 np.zeros((SR, 2), np.float32), SR)
    songs = ["a_silent", "b_loud"]
    lengths = stem_frames(root, songs, SR)
    n = SR // 2
    # segments whose first draw takes all 4 stems from the silent song
    silent_first = [number for number in range(300)
                    if {draw_row(np.random.default_rng([1, 0, number]), songs, lengths, n, SR)
                        [f"{s}_name"] for s in STEMS} == {"a_silent"}][:2]
    assert silent_first
    for number in silent_first:
        row, ratio, info = make_segment(root, songs, lengths, 1, number, 0.5, SR)
        assert any(row[f"{s}_name"] == "b_loud" for s in STEMS)
        assert np.isfinite(ratio).all() and abs(info["lufs"] - info["target_lufs"]) <= 0.5
    # a whole silent fixed song: ratio 0 everywhere, never inf or NaN
    _, ratio, _ = make_fixed(root, "a_silent", 1, SR)
    assert np.isfinite(ratio).all() and not ratio.any()


def test_cli_writes_and_reports_errors(tmp_path, capsys):
    root = str(tmp_path / "stems")
    write_stems(root, n_songs=3, seconds=1.0)
    out = str(tmp_path / "xl")
    code = main(["--root", root, "--output", out, "--n_segments", "2", "--seed", "1",
                 "--seq_dur", "0.5", "--n_valid", "1", "--no_fixed"])
    assert code == 0
    assert "2 segments" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(out, "ozone_train_fixed.csv"))
    os.remove(os.path.join(root, "train", "song_01", "bass.wav"))
    code = main(["--root", root, "--output", out, "--n_segments", "2", "--seed", "1",
                 "--n_valid", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "song_01" in err[0] and "bass.wav" in err[0]
