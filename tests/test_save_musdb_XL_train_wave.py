import csv
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from prepro.save_musdb_XL_train_wave import main
from tests.helpers import SMALL_XL_SEQ as SEQ
from tests.helpers import SR, make_small_dataset
from utils.data.mixing import RANDOM_COLUMNS, STEMS, mix_from_row, mix_song, random_csv_paths
from utils.limiters.maximizer import limit


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("xl"))
    root, npy_root, _ = make_small_dataset(base)
    out = os.path.join(base, "wav")
    assert rebuild(root, npy_root, out) == 0
    return root, npy_root, out


def rebuild(root, npy_root, out, *extra):
    return main(["--root", root, "--musdb_XL_train_npy_root", npy_root, "--output", out, *extra])


def rows_of(npy_root):
    rows = []
    for path in random_csv_paths(npy_root):
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def close_to_limiter(wav_path, mix, threshold_db, character):
    """The rebuilt file equals the maximizer's output within what the format keeps: the float16
    ratio (relative 2 ** -11) and 16-bit PCM (2 ** -16)."""
    audio, rate = sf.read(wav_path, dtype="float32", always_2d=True)
    assert rate == SR and sf.info(wav_path).subtype == "PCM_16"
    expected, _ = limit(mix, SR, threshold_db=threshold_db, character=character)
    assert audio.T.shape == expected.shape
    error = np.abs(audio.T - expected)
    assert (error <= np.abs(expected) * 2.0 ** -11 + 2.0 ** -16 + 1e-7).all()
    return audio.T


def test_rebuilt_wavs_equal_the_maximizer_output(rebuilt):
    root, npy_root, out = rebuilt
    rows = rows_of(npy_root)
    assert sorted(os.listdir(os.path.join(out, "ozone_train_random"))) == sorted(
        f"{r['song_name']}.wav" for r in rows)
    for row in rows:
        mix = mix_from_row(root, row, SEQ, SR)
        audio = close_to_limiter(os.path.join(out, "ozone_train_random", f"{row['song_name']}.wav"),
                                 mix, float(row["max_threshold"]), float(row["max_character"]))
        assert audio.shape == (2, int(SEQ * SR))
    with open(os.path.join(npy_root, "ozone_train_fixed.csv"), newline="") as f:
        fixed = list(csv.DictReader(f))
    assert len(fixed) == 3
    for row in fixed:
        song = row["song_name"]
        close_to_limiter(os.path.join(out, "ozone_train_fixed", f"{song}.wav"),
                         mix_song(root, song, 0.0, None, SR), float(row["max_threshold"]),
                         float(row["max_character"]))


def test_rerun_skips_written_files_and_resumes(rebuilt, tmp_path, capsys):
    root, npy_root, out = rebuilt
    copy = str(tmp_path / "wav")
    shutil.copytree(out, copy)
    removed = os.path.join(copy, "ozone_train_random", "ozone_seg_4.wav")
    os.remove(removed)
    kept = os.path.join(copy, "ozone_train_random", "ozone_seg_0.wav")
    os.utime(kept, (1, 1))
    capsys.readouterr()
    assert rebuild(root, npy_root, copy, "--workers", "2") == 0
    assert "1 written, 9 already there, 0 failed" in capsys.readouterr().out
    assert os.stat(kept).st_mtime == 1  # not rewritten
    with open(removed, "rb") as a, open(removed.replace(copy, out), "rb") as b:
        assert a.read() == b.read()
    hidden = [n for d in ("ozone_train_random", "ozone_train_fixed")
              for n in os.listdir(os.path.join(copy, d)) if n.startswith(".")]
    assert hidden == []  # no temporary files left


def test_missing_stem_is_named_and_fails_the_run(rebuilt, tmp_path, capsys):
    root, npy_root, _ = rebuilt
    stems = str(tmp_path / "stems")
    shutil.copytree(root, stems)
    row = rows_of(npy_root)[0]
    song = row["drums_name"]
    os.remove(os.path.join(stems, "train", song, "drums.wav"))
    out = str(tmp_path / "wav")
    capsys.readouterr()
    assert rebuild(stems, npy_root, out) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert errors and all(os.path.join(song, "drums.wav") in line for line in errors)
    assert "no such file" in errors[0]
    assert f"{len(errors)} failed" in captured.out
    # everything that does not need that file was still written
    n_files = sum(len(os.listdir(os.path.join(out, d)))
                  for d in ("ozone_train_random", "ozone_train_fixed"))
    assert n_files == 10 - len(errors)


def write_one_row_dataset(npy_root, row, ratio, columns=RANDOM_COLUMNS):
    os.makedirs(os.path.join(npy_root, "np_ratio", "ozone_train_random"))
    with open(os.path.join(npy_root, "ozone_train_random_0.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerow([row.get(c, "") for c in columns])
    np.save(os.path.join(npy_root, "np_ratio", "ozone_train_random",
                         f"{row['song_name']}.npy"), ratio)


def test_silent_mix_with_infinite_ratio_gives_zeros_not_nan(rebuilt, tmp_path):
    # The reference's files hold inf where the mix was silent (limited / eps in float16).
    root = rebuilt[0]
    row = {"song_name": "ozone_seg_0", "max_threshold": "-3.0", "max_character": "2.0"}
    for stem in STEMS:
        row.update({f"{stem}_name": "song_00", f"{stem}_start_sec": "0.0",
                    f"{stem}_gain": "0.0", f"{stem}_channelswap": "False"})
    ratio = np.full((2, int(SEQ * SR)), np.inf, np.float16)
    ratio[:, ::2] = np.nan
    npy_root = str(tmp_path / "npy")
    write_one_row_dataset(npy_root, row, ratio)
    out = str(tmp_path / "wav")
    assert rebuild(root, npy_root, out) == 0
    audio, _ = sf.read(os.path.join(out, "ozone_train_random", "ozone_seg_0.wav"))
    assert audio.shape == (int(SEQ * SR), 2) and np.isfinite(audio).all() and not audio.any()


def test_missing_column_names_the_csv(rebuilt, tmp_path, capsys):
    root = rebuilt[0]
    columns = tuple(c for c in RANDOM_COLUMNS if c != "other_channelswap")
    npy_root = str(tmp_path / "npy")
    write_one_row_dataset(npy_root, {"song_name": "ozone_seg_0"}, np.zeros((2, 4), np.float16),
                          columns)
    capsys.readouterr()
    assert rebuild(root, npy_root, str(tmp_path / "wav")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ozone_train_random_0.csv" in err[0]
    assert "other_channelswap" in err[0]
    assert not os.path.exists(tmp_path / "wav")  # checked before any work


def test_ratio_of_wrong_length_is_reported(rebuilt, tmp_path, capsys):
    root, npy_root, _ = rebuilt
    copy = str(tmp_path / "npy")
    shutil.copytree(npy_root, copy)
    np.save(os.path.join(copy, "np_ratio", "ozone_train_fixed", "song_01.npy"),
            np.ones((2, 100), np.float16))
    capsys.readouterr()
    assert rebuild(root, copy, str(tmp_path / "wav")) == 1
    err = capsys.readouterr().err
    assert "song_01.npy" in err and "does not match" in err
