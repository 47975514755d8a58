import os

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import SR, write_stems
from utils.data.mixing import (
    MUSDB_VALID_SONGS,
    RANDOM_COLUMNS,
    STEMS,
    apply_ratio,
    draw_row,
    load_ratio,
    load_stem_segment,
    make_ratio,
    mix_from_row,
    parse_bool,
    read_csv_rows,
    split_songs,
    stem_frames,
)
from utils.errors import DelimitError


@pytest.fixture
def stems(tmp_path):
    root = str(tmp_path / "stems")
    write_stems(root, n_songs=3, seconds=2.0)
    return root


def read(root, song, stem):
    return sf.read(os.path.join(root, "train", song, f"{stem}.wav"), dtype="float32")[0].T


def test_parse_bool_reads_text_flags_properly():
    assert parse_bool("True") is True and parse_bool("true ") is True and parse_bool("1")
    assert parse_bool("False") is False  # bool("False") would be True
    assert parse_bool(False) is False and parse_bool(np.bool_(True)) is True
    with pytest.raises(DelimitError):
        parse_bool("maybe")


def test_load_stem_segment_reads_window_and_pads(stems):
    full = read(stems, "song_01", "bass")
    segment = load_stem_segment(stems, "song_01", "bass", 1000 / SR, 500, SR)
    assert segment.shape == (2, 500) and segment.dtype == np.float32
    np.testing.assert_array_equal(segment, full[:, 1000:1500])
    tail = load_stem_segment(stems, "song_01", "bass", (full.shape[1] - 100) / SR, 300, SR)
    np.testing.assert_array_equal(tail[:, :100], full[:, -100:])
    assert not tail[:, 100:].any()  # zero padding past the end
    whole = load_stem_segment(stems, "song_01", "bass", 0.0, None, SR)
    np.testing.assert_array_equal(whole, full)


def test_mono_stem_is_copied_to_both_channels(stems):
    path = os.path.join(stems, "train", "song_00", "vocals.wav")
    mono = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    sf.write(path, mono, SR, subtype="FLOAT")
    segment = load_stem_segment(stems, "song_00", "vocals", 0.0, 1000, SR)
    np.testing.assert_array_equal(segment, np.stack([mono, mono]))


def test_mix_from_row_applies_gain_and_text_swap_flag(stems):
    start = 0.5
    row = {}
    for k, stem in enumerate(STEMS):
        row.update({f"{stem}_name": f"song_0{k % 3}", f"{stem}_start_sec": str(start),
                    f"{stem}_gain": str(0.25 + 0.25 * k),
                    f"{stem}_channelswap": "True" if k % 2 else "False"})
    n = int(0.5 * SR)
    mix = mix_from_row(stems, row, 0.5, SR)
    expected = np.zeros((2, n), np.float32)
    s = int(start * SR)
    for k, stem in enumerate(STEMS):
        audio = read(stems, f"song_0{k % 3}", stem)[:, s:s + n] * np.float32(0.25 + 0.25 * k)
        expected += audio[::-1] if k % 2 else audio
    assert mix.shape == (2, n) and mix.dtype == np.float32
    np.testing.assert_allclose(mix, expected, atol=1e-6)
    # "False" must not swap: flipping every flag changes the result
    flipped = dict(row, **{f"{s}_channelswap": "True" for s in STEMS})
    assert not np.allclose(mix_from_row(stems, flipped, 0.5, SR), mix)


def test_ratio_round_trip_and_silence():
    rng = np.random.default_rng(1)
    mix = rng.standard_normal((2, 1000)).astype(np.float32) * 0.3
    mix[:, 100:200] = 0.0  # silence
    limited = (mix * 0.7).astype(np.float32)
    ratio = make_ratio(limited, mix)
    assert ratio.dtype == np.float16 and ratio.shape == (2, 1000)
    assert np.isfinite(ratio).all() and not ratio[:, 100:200].any()
    rebuilt = apply_ratio(mix, ratio)
    assert rebuilt.dtype == np.float32
    np.testing.assert_allclose(rebuilt, limited, atol=np.abs(limited).max() * 2.0 ** -11)
    # huge ratios (limited much louder than a tiny mix) are clipped to float16's range
    assert np.isfinite(make_ratio(np.ones((2, 4)), np.full((2, 4), 1e-9))).all()


def test_apply_ratio_never_gives_nan_or_inf():
    mix = np.array([[0.0, 0.5, 0.0, 0.2]] * 2, np.float32)
    ratio = np.array([[np.inf, 0.5, np.nan, -np.inf]] * 2, np.float16)
    limited = apply_ratio(mix, ratio)
    assert np.isfinite(limited).all()
    np.testing.assert_array_equal(limited[0], [0.0, 0.25, 0.0, 0.0])
    with pytest.raises(DelimitError):
        apply_ratio(mix, ratio[:, :3])


def test_missing_stem_names_the_file(stems):
    os.remove(os.path.join(stems, "train", "song_02", "drums.wav"))
    with pytest.raises(DelimitError, match=r"song_02.drums\.wav.*no such file"):
        load_stem_segment(stems, "song_02", "drums", 0.0, 100, SR)
    with pytest.raises(DelimitError, match="drums.wav"):
        stem_frames(stems, ["song_02"], SR)


def test_wrong_sample_rate_is_refused(stems):
    path = os.path.join(stems, "train", "song_00", "other.wav")
    sf.write(path, np.zeros((100, 2), np.float32), 22050)
    with pytest.raises(DelimitError, match="22050"):
        load_stem_segment(stems, "song_00", "other", 0.0, 10, SR)


def test_split_songs_generated_and_musdb(tmp_path):
    root = str(tmp_path / "gen")
    for name in ["c", "a", "d", "b"]:
        os.makedirs(os.path.join(root, "train", name))
    assert split_songs(root, 1) == (["a", "b", "c"], ["d"])
    musdb = str(tmp_path / "musdb")
    for name in ["Zed - Song", MUSDB_VALID_SONGS[0], "Abc - Song", MUSDB_VALID_SONGS[5]]:
        os.makedirs(os.path.join(musdb, "train", name))
    train, valid = split_songs(musdb, 14)
    assert train == ["Abc - Song", "Zed - Song"]
    assert valid == sorted([MUSDB_VALID_SONGS[0], MUSDB_VALID_SONGS[5]])
    with pytest.raises(DelimitError):
        split_songs(root, 4)  # nothing left to train on


def test_draw_row_start_reads_back_to_the_drawn_frame(stems):
    lengths = stem_frames(stems, ["song_00", "song_01"], SR)
    rng = np.random.default_rng(3)
    for _ in range(20):
        row = draw_row(rng, ["song_00", "song_01"], lengths, 1000, SR)
        for stem in STEMS:
            start = float(str(row[f"{stem}_start_sec"])) * SR  # through the CSV's text
            assert abs(start - round(start)) < 1e-6
            assert 0 <= round(start) <= lengths[row[f"{stem}_name"]][stem] - 1000
            assert 0.25 <= row[f"{stem}_gain"] <= 1.25


def test_load_ratio_window_and_bad_file(tmp_path):
    path = str(tmp_path / "r.npy")
    ratio = np.arange(20, dtype=np.float16).reshape(2, 10)
    np.save(path, ratio)
    np.testing.assert_array_equal(load_ratio(path, 8, 4), [[8, 9, 0, 0], [18, 19, 0, 0]])
    with pytest.raises(DelimitError, match="missing.npy"):
        load_ratio(str(tmp_path / "missing.npy"))


def test_read_csv_rows_names_missing_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(",".join(c for c in RANDOM_COLUMNS if c != "bass_gain") + "\n")
    with pytest.raises(DelimitError, match=r"x\.csv.*bass_gain"):
        list(read_csv_rows(str(path), RANDOM_COLUMNS))
