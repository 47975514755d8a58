import os
import stat

import numpy as np
import pytest
import soundfile as sf
import soxr

from utils.audio import (
    AudioReader,
    AudioWriter,
    StreamResampler,
    atomic_path,
    find_audio_files,
    read_audio,
    resample,
    to_pcm,
    to_stereo,
    write_audio,
)
from utils.errors import DelimitError


def noise(channels, frames, seed=0, level=0.3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((channels, frames)) * level).clip(-1, 1).astype(np.float32)


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


def test_find_audio_files_by_extension_any_case_and_recursive(tmp_path):
    for name in ["a.wav", "b.FLAC", "c.Mp3", "d.ogg", "e.aiff", "notes.txt", ".hidden.wav",
                 "sub/f.wav", "out/g.wav"]:
        touch(str(tmp_path / name))
    names = lambda paths: [os.path.relpath(p, tmp_path) for p in paths]  # noqa: E731
    assert names(find_audio_files(str(tmp_path))) == ["a.wav", "b.FLAC", "c.Mp3", "d.ogg",
                                                      "e.aiff"]
    found = names(find_audio_files(str(tmp_path), recursive=True,
                                   exclude=str(tmp_path / "out")))
    assert found == ["a.wav", "b.FLAC", "c.Mp3", "d.ogg", "e.aiff", "sub/f.wav"]
    assert find_audio_files(str(tmp_path / "notes.txt")) == [str(tmp_path / "notes.txt")]
    with pytest.raises(DelimitError, match="missing"):
        find_audio_files(str(tmp_path / "missing"))


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "aiff", "AIF"])
def test_reader_reads_every_supported_format(tmp_path, fmt):
    audio = noise(2, 20_000)
    path = str(tmp_path / f"song.{fmt}")
    sf.write(path, audio.T, 44100, format={"AIF": "AIFF"}.get(fmt, fmt.upper()))
    decoded, rate = read_audio(path)
    assert rate == 44100 and decoded.shape[0] == 2 and decoded.dtype == np.float32
    if fmt in ("wav", "flac", "aiff", "AIF"):  # lossless: the samples themselves
        np.testing.assert_allclose(decoded, audio, atol=1 / 32768)
    else:  # lossy codecs may pad or delay a little
        assert abs(decoded.shape[1] - 20_000) < 3000


def test_reader_blocks_concatenate_to_the_file(tmp_path):
    audio = noise(1, 10_001)
    path = str(tmp_path / "mono.wav")
    sf.write(path, audio.T, 22050, subtype="FLOAT")
    with AudioReader(path) as reader:
        blocks = list(reader.blocks(block_frames=999))
        assert (reader.sample_rate, reader.channels, reader.frames_read) == (22050, 1, 10_001)
    assert all(b.shape[0] == 1 and b.shape[1] <= 999 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio)


def read_all(path):
    with AudioReader(path) as reader:
        return list(reader.blocks())


def test_reader_refuses_bad_files_with_one_line_naming_them(tmp_path):
    cases = {}
    cases["text.wav"] = lambda p: open(p, "w").write("not audio at all\n" * 20)
    cases["empty.wav"] = lambda p: open(p, "w").close()
    cases["no_samples.wav"] = lambda p: sf.write(p, np.zeros((0, 2)), 44100)
    cases["surround.wav"] = lambda p: sf.write(p, noise(6, 1000).T, 44100)
    cases["nan.wav"] = lambda p: sf.write(p, np.array([[0.1, np.nan, 0.2]]).T, 44100,
                                          subtype="FLOAT")
    cases["inf.wav"] = lambda p: sf.write(p, np.array([[0.1, np.inf, 0.2]]).T, 44100,
                                          subtype="FLOAT")

    def truncated_flac(p):
        sf.write(p + ".full.flac", noise(2, 88_200).T, 44100)
        data = open(p + ".full.flac", "rb").read()
        open(p, "wb").write(data[:len(data) // 2])
    cases["cut.flac"] = truncated_flac
    for name, make in cases.items():
        path = str(tmp_path / name)
        make(path)
        with pytest.raises(DelimitError) as err:
            read_all(path)
        message = str(err.value)
        assert message.startswith(path + ": ") and "\n" not in message, message


def test_an_unreadable_file_error_crosses_processes(tmp_path):
    """Worker processes (the song cache's) send it back pickled: it must come back whole."""
    import pickle

    path = str(tmp_path / "text.wav")
    open(path, "w").write("not audio at all\n" * 20)
    with pytest.raises(DelimitError) as err:
        AudioReader(path)
    again = pickle.loads(pickle.dumps(err.value))
    assert type(again) is type(err.value) and str(again) == str(err.value)


def test_to_stereo_makes_mono_dual_mono():
    mono = noise(1, 10)
    np.testing.assert_array_equal(to_stereo(mono), np.concatenate([mono, mono]))
    stereo = noise(2, 10)
    assert to_stereo(stereo) is stereo


@pytest.mark.parametrize("rates", [(48000, 44100), (44100, 22050), (8000, 44100),
                                   (44100, 96000)])
def test_stream_resampling_equals_resampling_at_once(rates):
    audio = noise(2, 30_011)
    stream = StreamResampler(*rates, channels=2)
    parts = [stream(audio[:, i:i + 4000]) for i in range(0, audio.shape[1], 4000)]
    parts.append(stream(np.zeros((2, 0)), last=True))
    streamed = np.concatenate(parts, axis=1)
    whole = resample(audio, *rates)
    assert streamed.shape == whole.shape == (2, round(30_011 * rates[1] / rates[0]))
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    np.testing.assert_allclose(whole, soxr.resample(audio.T, *rates).T, atol=1e-6)


def test_same_rate_is_left_untouched():
    audio = noise(2, 1000)
    np.testing.assert_array_equal(StreamResampler(44100, 44100, 2)(audio), audio)


@pytest.mark.parametrize("out_rate", [48000, 22050, 8000])
def test_held_edges_keep_a_gain_curve_right_to_its_ends(out_rate):
    # A gain curve does not start at 0; plain resampling rings at its edges.
    t = np.arange(44100) / 44100
    gain = (0.5 + 0.2 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)[None]
    stream = StreamResampler(44100, out_rate, 1, hold_edges=True)
    parts = [stream(gain[:, i:i + 5000]) for i in range(0, gain.shape[1], 5000)]
    out = np.concatenate(parts + [stream(np.zeros((1, 0)), last=True)], axis=1)[0]
    n = out_rate  # one second
    expected = 0.5 + 0.2 * np.sin(2 * np.pi * 3 * np.arange(n) / out_rate)
    assert out.shape[0] >= n
    np.testing.assert_allclose(out[:n], expected, atol=1e-3)
    assert np.abs(resample(gain, 44100, out_rate)[0, :n] - expected).max() > 0.02


def test_writer_is_atomic_and_leaves_nothing_on_failure(tmp_path):
    path = str(tmp_path / "out" / "song.wav")
    with pytest.raises(RuntimeError):
        with AudioWriter(path, 44100, 2) as writer:
            writer.write(noise(2, 1000))
            assert not os.path.exists(path)  # only the temporary file exists meanwhile
            raise RuntimeError("model failed")
    assert os.listdir(tmp_path / "out") == []
    audio = noise(2, 1000)
    write_audio(path, audio, 44100, subtype="FLOAT")
    np.testing.assert_array_equal(read_audio(path)[0], audio)
    assert os.listdir(tmp_path / "out") == ["song.wav"]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & stat.S_IRGRP  # an ordinary file, not mkstemp's private one


def test_integer_output_clips_instead_of_wrapping(tmp_path):
    path = str(tmp_path / "loud.wav")
    write_audio(path, np.array([[0.5, 1.5, -1.5, 1.0000001]], np.float32), 44100, "PCM_16")
    decoded = read_audio(path)[0][0]
    assert decoded[0] == pytest.approx(0.5, abs=1e-4)
    assert decoded[1] > 0.99 and decoded[2] < -0.99 and decoded[3] > 0.99
    write_audio(path, np.array([[0.5, 1.5, -1.5]], np.float32), 44100, "PCM_U8")
    np.testing.assert_allclose(read_audio(path)[0][0], [0.5, 127 / 128, -1.0])


@pytest.mark.parametrize("subtype,bits", [("PCM_16", 16), ("PCM_24", 24)])
def test_integer_files_hold_the_nearest_step(tmp_path, subtype, bits):
    """One rule for every integer write: the nearest step (libsndfile alone rounds down)."""
    step = 2.0 ** -(bits - 1)
    steps = np.array([0.4, 0.6, 1.4, 1.6, -0.4, -0.6, -1.6, 1000.5001, -1000.4999])
    audio = (steps * step)[None]
    expected = np.array([0, 1, 1, 2, 0, -1, -2, 1001, -1000])
    path = str(tmp_path / "steps.wav")
    write_audio(path, audio, 44100, subtype)
    stored = sf.read(path, dtype="int32")[0] >> (32 - bits)
    np.testing.assert_array_equal(stored, expected)
    assert to_pcm(np.array([1.0, -1.0, 2.0]), 16).tolist() == [32767, -32768, 32767]
    np.testing.assert_array_equal(to_pcm(audio, bits) >> (0 if bits == 16 else 32 - bits),
                                  expected[None])


def test_atomic_path_replaces_only_on_success(tmp_path):
    path = str(tmp_path / "gain.npy")
    with open(path, "w") as f:
        f.write("old")
    with pytest.raises(ValueError):
        with atomic_path(path) as tmp:
            open(tmp, "w").write("half")
            raise ValueError
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["gain.npy"]
    with atomic_path(path) as tmp:
        open(tmp, "w").write("new")
    assert open(path).read() == "new"
