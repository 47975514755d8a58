import numpy as np

from prepro import make_example
from utils.audio import read_audio, write_audio


def test_check_of_a_missing_file_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "missing.wav"
    assert make_example.main(["--check", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {missing}: not a readable audio file (no such file)"


def test_check_of_the_example_itself_scores_it_as_the_limited_input(capsys):
    assert make_example.main(["--check", make_example.DEFAULT_PATH]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["unlimited", "limited", "output"]
    assert lines[1].split()[1:] == lines[2].split()[1:]  # the same file, the same numbers
    sdr = float(lines[1].split()[2])
    assert 2.0 < sdr < 8.0  # crushed, but still the song the unlimited mix renders


def test_check_of_a_wrong_length_output_says_what_it_expected(tmp_path, capsys):
    short = tmp_path / "short.wav"
    write_audio(str(short), np.zeros((2, 4410), np.float32), 44100)
    assert make_example.main(["--check", str(short)]) == 1
    assert "expected (2, 882000) at 44100 Hz" in capsys.readouterr().err


def test_the_example_in_input_data_has_the_renders_length():
    audio, rate = read_audio(make_example.DEFAULT_PATH)
    assert rate == 44100 and audio.shape == (2, int(make_example.SECONDS * 44100))
