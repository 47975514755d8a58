import csv
import os

import numpy as np
import pytest
import soundfile as sf

import prepro.make_musdb_XL_train as builder
from prepro.make_musdb_XL_train import main, make_dataset, make_fixed, make_segment
from tests.helpers import SMALL_XL_SEGMENTS as N_SEGMENTS
from tests.helpers import SMALL_XL_SEQ as SEQ
from tests.helpers import SR, make_small_dataset, write_stems
from utils.data.mixing import (
    FIXED_COLUMNS,
    RANDOM_COLUMNS,
    STEMS,
    apply_ratio,
    draw_row,
    make_ratio,
    mix_from_row,
    mix_song,
    stem_frames,
)
from utils.errors import DelimitError
from utils.limiters.maximizer import limit, maximize_to_loudness
from utils.loudness import integrated_loudness


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_small_dataset(str(tmp_path_factory.mktemp("xl")))


def assert_lands_and_reproduces(mix, row, ratio, target_lufs):
    """The stored form mix * ratio is within 0.5 LU of the target, and limiting the mix with the
    row's recorded (max_threshold, max_character) gives the stored ratio bit for bit."""
    assert abs(integrated_loudness(apply_ratio(mix, ratio), SR) - target_lufs) <= 0.5
    limited, _ = limit(mix, SR, threshold_db=float(str(row["max_threshold"])),
                       character=float(str(row["max_character"])))
    np.testing.assert_array_equal(make_ratio(limited, mix), ratio)


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
    retried = 0
    for number, stored in enumerate(rows):
        row, ratio, info = make_segment(root, songs, lengths, 3, number, SEQ, SR)
        assert {k: str(v) for k, v in row.items()} == stored  # deterministic, same text
        np.testing.assert_array_equal(
            ratio, np.load(os.path.join(out, "np_ratio", "ozone_train_random",
                                        f"ozone_seg_{number}.npy")))
        # Every segment lands, read back from the files as a loader does.
        assert_lands_and_reproduces(mix_from_row(root, stored, SEQ, SR), stored, ratio,
                                    info["target_lufs"])
        # Segment 5's -5.8 LUFS is out of reach of its drawn character (the limiter saturates
        # near -6.3 LUFS): it is limited with a faster one.
        assert (float(stored["max_character"]) < info["drawn_character"]) == (info["tries"] > 1)
        retried += info["tries"] > 1
    assert retried == summary["retried"] >= 1 and summary["off_target"] == 0
    # fixed songs too
    fixed = read_csv(os.path.join(out, "ozone_train_fixed.csv"))[1]
    for stored in fixed:
        song = stored["song_name"]
        row, ratio, info = make_fixed(root, song, 3, SR)
        assert {k: str(v) for k, v in row.items()} == stored
        stored_ratio = np.load(os.path.join(out, "np_ratio", "ozone_train_fixed", f"{song}.npy"))
        np.testing.assert_array_equal(ratio, stored_ratio)
        assert_lands_and_reproduces(mix_song(root, song, 0.0, None, SR), stored, stored_ratio,
                                    info["target_lufs"])


def draws(monkeypatch, first):
    """Make the builder's first (target, character) draws `first`, the later ones as usual."""
    queue, real = list(first), builder.draw_limiting
    monkeypatch.setattr(builder, "draw_limiting",
                        lambda rng: queue.pop(0) if queue else real(rng))


def test_out_of_reach_target_retries_with_a_faster_character(dataset, monkeypatch):
    root = dataset[0]
    songs = ["song_00", "song_01", "song_02"]
    lengths = stem_frames(root, songs, SR)
    draws(monkeypatch, [(-6.8, 9.0)])  # loud target, slow release
    row, ratio, info = make_segment(root, songs, lengths, 3, 0, SEQ, SR)
    mix = mix_from_row(root, row, SEQ, SR)
    # With the drawn character the limiter saturates short of the target...
    limited, _, _ = maximize_to_loudness(mix, SR, -6.8, 0.5, character=9.0)
    assert integrated_loudness(limited, SR) < -6.8 - 0.5
    # ... so the same mix is limited with a faster character, which lands.
    assert info["tries"] > 1 and info["redraws"] == 0 and info["drawn_character"] == 9.0
    assert row["max_character"] < 9.0
    assert_lands_and_reproduces(mix, row, ratio, -6.8)


@pytest.mark.parametrize("target", [0.0, -60.0])
def test_unreachable_target_redraws_the_mix(dataset, monkeypatch, target):
    # 0 LUFS: out of reach of character 0 at the most drive; -60 LUFS: the mix is already louder
    root = dataset[0]
    songs = ["song_00", "song_01", "song_02"]
    lengths = stem_frames(root, songs, SR)
    plain, _, _ = make_segment(root, songs, lengths, 3, 1, SEQ, SR)
    draws(monkeypatch, [(target, 2.0)])
    row, ratio, info = make_segment(root, songs, lengths, 3, 1, SEQ, SR)
    assert info["redraws"] == 1 and info["target_lufs"] != target
    assert row["vocals_start_sec"] != plain["vocals_start_sec"]  # another mix
    assert_lands_and_reproduces(mix_from_row(root, row, SEQ, SR), row, ratio,
                                info["target_lufs"])
    # a fixed song cannot be redrawn: its target is
    draws(monkeypatch, [(target, 2.0)])
    row, ratio, info = make_fixed(root, "song_01", 3, SR)
    assert info["redraws"] == 1 and info["target_lufs"] != target
    assert_lands_and_reproduces(mix_song(root, "song_01", 0.0, None, SR), row, ratio,
                                info["target_lufs"])


def test_never_reachable_targets_raise(dataset, monkeypatch):
    root = dataset[0]
    lengths = stem_frames(root, ["song_00"], SR)
    monkeypatch.setattr(builder, "draw_limiting", lambda rng: (-60.0, 2.0))
    with pytest.raises(DelimitError, match="out of the limiter's reach"):
        make_segment(root, ["song_00"], lengths, 3, 0, 0.1, SR)
    with pytest.raises(DelimitError, match="song_00: none of 100 drawn targets"):
        make_fixed(root, "song_00", 3, SR)


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
    printed = capsys.readouterr().out
    assert "2 segments" in printed and "2 of 2 within 0.5 LU" in printed
    assert not os.path.exists(os.path.join(out, "ozone_train_fixed.csv"))
    os.remove(os.path.join(root, "train", "song_01", "bass.wav"))
    code = main(["--root", root, "--output", out, "--n_segments", "2", "--seed", "1",
                 "--n_valid", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "song_01" in err[0] and "bass.wav" in err[0]
