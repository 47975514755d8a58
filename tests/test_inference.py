"""The main job end to end (inference.py, utils/inference/delimit.py) and the streaming loudness
meter it relies on (utils/loudness.py: LoudnessMeter)."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import inference
from models import build_model
from tests.conftest import REPO
from tests.helpers import SMALL, write_weight
from utils.audio import read_audio
from utils.errors import DelimitError
from utils.inference.apply import Chunking
from utils.inference.delimit import DelimitOptions, delimit, delimit_file
from utils.loudness import LoudnessMeter, integrated_loudness


def song(channels, seconds, sample_rate=44100, seed=0):
    """Noise bursts over a tone, limited-ish by a tanh: float32 (channels, T)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    hits = (np.sin(2 * np.pi * 2 * t) > 0.7) * rng.standard_normal((channels, n))
    audio = np.tanh(3 * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.5 * hits)) * 0.9
    return audio.astype(np.float32)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(SMALL).eval()


@pytest.fixture(scope="module")
def weight_dir(tmp_path_factory, model):
    return str(write_weight(tmp_path_factory.mktemp("weight"), SMALL, model))


# Small windows, so that a few seconds of audio already go through several of them.
FAST = dict(chunking=Chunking.from_seconds(1.0, 0.25), block_frames=8192)


def write(path, audio, sample_rate, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, audio.T, sample_rate, **kwargs)
    return path


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def run_cli(capsys, *argv):
    code = inference.main([str(a) for a in argv] + ["--threads", "1"])
    out, err = capsys.readouterr()
    return code, out, err


# --- streaming loudness ----------------------------------------------------------------

@pytest.mark.parametrize("sample_rate", [44100, 48000, 22050, 11025])
@pytest.mark.parametrize("seconds", [0.0001, 0.3, 0.45, 0.451, 3.7])
def test_streaming_meter_matches_pyloudnorm(sample_rate, seconds):
    rng = np.random.default_rng(1)
    n = max(1, int(seconds * sample_rate))
    audio = rng.standard_normal((2, n)) * np.linspace(0.01, 0.5, n)
    audio[:, n // 3:n // 2] *= 1e-4  # a quiet passage for the gates to drop
    meter = LoudnessMeter(sample_rate, 2)
    start = 0
    while start < n:
        step = int(rng.integers(1, 20_000))
        meter.update(audio[:, start:start + step])
        meter.update(audio[:, :0])  # empty blocks happen while streaming
        start += step
    assert meter.integrated() == pytest.approx(integrated_loudness(audio, sample_rate), abs=0.01)


def test_streaming_meter_gates_silence():
    meter = LoudnessMeter(44100, 1)
    assert meter.integrated() == float("-inf")
    meter.update(np.zeros((1, 44100)))
    assert meter.integrated() == float("-inf")
    meter.update(np.full((1, 44100), 1e-6))  # below the -70 LUFS absolute gate
    assert meter.integrated() == float("-inf")


# --- delimit_file ------------------------------------------------------------------------

def test_output_is_input_times_gain_at_the_target_loudness(tmp_path, model):
    audio = song(2, 4.0)
    src = write(str(tmp_path / "in" / "song.wav"), audio, 44100, subtype="FLOAT")
    before = digest(src)
    out = str(tmp_path / "out" / "song.wav")
    report = delimit_file(model, src, out, DelimitOptions(save_sgi_params=True,
                                                          subtype="FLOAT", **FAST))
    output, rate = read_audio(out)
    gain = np.load(str(tmp_path / "out" / "song_sgi.npy"))
    assert rate == 44100 and output.shape == audio.shape and gain.shape == (audio.shape[1],)
    assert gain.dtype == np.float32 and np.all((gain > 0) & (gain <= 1))
    assert integrated_loudness(output, 44100) == pytest.approx(-14.0, abs=0.05)
    assert report.output_lufs == pytest.approx(-14.0, abs=0.05)
    audible = np.abs(audio) > 1e-3
    scale = np.median(output[audible] / (audio * gain)[audible])  # one scalar: loudness
    np.testing.assert_allclose(output, audio * gain * scale, rtol=1e-4, atol=1e-6)
    assert digest(src) == before  # the input is never modified
    assert sorted(os.listdir(tmp_path / "out")) == ["song.wav", "song_sgi.npy"]


def test_file_and_array_apis_agree_and_streaming_block_size_does_not_matter(tmp_path, model):
    audio = song(2, 3.0, seed=4)
    src = write(str(tmp_path / "song.wav"), audio, 44100, subtype="FLOAT")
    array_out, array_gain = delimit(model, audio, 44100, DelimitOptions(**FAST))
    for block in (1000, 44100 * 4):
        options = DelimitOptions(subtype="FLOAT", chunking=FAST["chunking"], block_frames=block)
        out = str(tmp_path / f"out_{block}.wav")
        delimit_file(model, src, out, options)
        np.testing.assert_allclose(read_audio(out)[0], array_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rate", [48000, 22050, 96000])
def test_any_rate_and_mono_come_back_at_their_rate_and_channels(tmp_path, model, rate):
    mono = song(1, 2.0, rate)
    src = write(str(tmp_path / "mono.flac"), mono, rate)
    stereo_src = write(str(tmp_path / "dual.wav"), np.repeat(mono, 2, 0), rate,
                       subtype="FLOAT")
    options = DelimitOptions(output_lufs=None, save_sgi_params=True, subtype="FLOAT", **FAST)
    delimit_file(model, src, str(tmp_path / "mono_out.wav"), options)
    delimit_file(model, stereo_src, str(tmp_path / "dual_out.wav"), options)
    out, out_rate = read_audio(str(tmp_path / "mono_out.wav"))
    dual, _ = read_audio(str(tmp_path / "dual_out.wav"))
    decoded, _ = read_audio(src)
    assert out_rate == rate and out.shape == decoded.shape == (1, mono.shape[1])
    # Mono is processed as dual-mono: the same gain as the dual-mono file.
    np.testing.assert_allclose(out[0], dual[0], atol=1e-4)
    gain = np.load(str(tmp_path / "mono_out_sgi.npy"))
    np.testing.assert_allclose(out, decoded * gain, atol=1e-6)


def test_resampled_gain_matches_the_gain_computed_at_44k(tmp_path, model):
    # The gain for a 48 kHz song is the model's 44.1 kHz gain resampled: compare it with
    # the gain of the same song given at 44.1 kHz.
    import soxr
    audio44 = song(2, 3.0, 44100, seed=2)
    audio48 = soxr.resample(audio44.T, 44100, 48000).T.astype(np.float32)
    _, gain44 = delimit(model, audio44, 44100, DelimitOptions(**FAST))
    _, gain48 = delimit(model, audio48, 48000, DelimitOptions(**FAST))
    assert gain44.shape == (1, audio44.shape[1]) and gain48.shape == (1, audio48.shape[1])
    back = soxr.resample(gain48[0].astype(np.float64), 48000, 44100)
    inner = slice(2000, -2000)
    db = 20 * np.log10(back[inner] / gain44[0, inner])
    assert np.median(np.abs(db)) < 0.1


def test_silent_and_tiny_files_are_valid(tmp_path, model):
    options = DelimitOptions(save_plot=True, save_histogram=True, save_16k_mono=True,
                             mixed_ratio=0.5, **FAST)
    silent = write(str(tmp_path / "silent.wav"), np.zeros((2, 30_000), np.float32), 44100)
    report = delimit_file(model, silent, str(tmp_path / "out" / "silent.wav"), options)
    output, _ = read_audio(str(tmp_path / "out" / "silent.wav"))
    assert output.shape == (2, 30_000) and np.all(output == 0)
    assert report.mean_restored_db is None and "n/a" in report.summary()
    for frames, rate in [(1, 44100), (5, 48000), (3, 8000), (200, 96000)]:
        tiny = song(2, 1.0, rate, seed=frames)[:, :frames]
        src = write(str(tmp_path / f"tiny_{frames}.wav"), tiny, rate, subtype="FLOAT")
        out = str(tmp_path / "out" / f"tiny_{frames}.wav")
        delimit_file(model, src, out, options)
        output, out_rate = read_audio(out)
        assert out_rate == rate and output.shape == (2, frames)
        assert np.all(np.isfinite(output)) and np.abs(output).max() <= 1.0


def test_refuses_to_overwrite_its_input(tmp_path, model):
    src = write(str(tmp_path / "song.wav"), song(2, 1.0), 44100)
    before = digest(src)
    with pytest.raises(DelimitError, match="overwrite"):
        delimit_file(model, src, src, DelimitOptions(**FAST))
    assert digest(src) == before


def test_a_damaged_file_leaves_no_partial_output(tmp_path, model):
    sf.write(str(tmp_path / "full.flac"), song(2, 3.0).T, 44100)
    data = open(tmp_path / "full.flac", "rb").read()
    src = str(tmp_path / "cut.flac")
    open(src, "wb").write(data[:len(data) // 2])
    out_dir = tmp_path / "out"
    with pytest.raises(DelimitError, match="cut.flac"):
        delimit_file(model, src, str(out_dir / "cut.wav"),
                     DelimitOptions(save_sgi_params=True, mixed_ratio=0.3, **FAST))
    assert os.listdir(out_dir) == []  # no output, no temporary file


def test_loudness_options(tmp_path, model):
    audio = song(2, 3.0, seed=5) * 0.5
    src = write(str(tmp_path / "song.wav"), audio, 44100, subtype="FLOAT")
    lufs = integrated_loudness(audio, 44100)

    def run(name, **kwargs):
        kwargs = {"subtype": "FLOAT", "save_sgi_params": True, **FAST, **kwargs}
        delimit_file(model, src, str(tmp_path / f"{name}.wav"), DelimitOptions(**kwargs))
        return read_audio(str(tmp_path / f"{name}.wav"))[0], \
            np.load(str(tmp_path / f"{name}_sgi.npy"))

    # None keeps the model's level: exactly input * gain.
    kept, gain = run("kept", output_lufs=None)
    np.testing.assert_allclose(kept, audio * gain, atol=1e-6)
    # The input normalised before the model: input * a * gain, a taking it to -20 LUFS.
    pre, gain = run("pre", output_lufs=None, input_lufs=-20.0)
    a = 10 ** ((-20.0 - lufs) / 20)
    np.testing.assert_allclose(pre, audio * a * gain, rtol=1e-4, atol=1e-6)
    # A loud target clips unless the output is divided by its peak.
    safe, _ = run("safe", output_lufs=0.0)
    assert np.abs(safe).max() <= 1.0 + 1e-6
    loud, _ = run("loud", output_lufs=0.0, avoid_clipping=False)
    assert np.abs(loud).max() > 1.0
    assert integrated_loudness(loud, 44100) == pytest.approx(0.0, abs=0.05)


def test_mixed_output_blends_the_matched_input(tmp_path, model):
    audio = song(2, 3.0, seed=6) * 0.7
    src = write(str(tmp_path / "song.wav"), audio, 44100, subtype="FLOAT")
    outputs = {}
    for r in (0.0, 0.5, 1.0):
        out = str(tmp_path / f"r{r}" / "song.wav")
        delimit_file(model, src, out, DelimitOptions(mixed_ratio=r, subtype="FLOAT", **FAST))
        outputs[r] = read_audio(out)[0], read_audio(out.replace(".wav", "_mixed.wav"))[0]
    output, mixed0 = outputs[0.0]
    np.testing.assert_allclose(mixed0, output, atol=1e-6)
    matched = outputs[1.0][1]  # the input at the output's loudness
    np.testing.assert_allclose(matched, audio * (matched.std() / audio.std()), atol=1e-5)
    assert integrated_loudness(matched, 44100) == pytest.approx(-14.0, abs=0.1)
    np.testing.assert_allclose(outputs[0.5][1], 0.5 * matched + 0.5 * output, atol=1e-5)


def test_extra_outputs(tmp_path, model):
    src = write(str(tmp_path / "song.ogg"), song(2, 3.0, 48000), 48000)
    out = str(tmp_path / "out" / "song.wav")
    report = delimit_file(model, src, out, DelimitOptions(
        save_16k_mono=True, save_histogram=True, save_plot=True, **FAST))
    mono, rate = read_audio(str(tmp_path / "out" / "song_16k_mono.wav"))
    output, _ = read_audio(out)
    assert rate == 16000 and mono.shape[0] == 1
    assert abs(mono.shape[1] - output.shape[1] / 3) <= 1
    for png in ("song_gain_histogram.png", "song_plot.png"):
        assert open(tmp_path / "out" / png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(report.extra_paths) == 3
    assert report.max_restored_db > report.mean_restored_db


# --- the command line ----------------------------------------------------------------

def test_cli_processes_a_folder_and_reports_each_bad_file(tmp_path, weight_dir, capsys):
    data = tmp_path / "input_data"
    write(str(data / "good.wav"), song(2, 2.0), 44100)
    write(str(data / "mono48k.FLAC"), song(1, 1.0, 48000), 48000)
    write(str(data / "surround.wav"), song(6, 0.5), 44100)
    (data / "text.mp3").write_text("not audio")
    write(str(data / "nan.wav"), np.array([[0.0, np.nan]]), 44100, subtype="FLOAT")
    before = {p: digest(str(data / p)) for p in os.listdir(data)}
    out = tmp_path / "output"
    code, stdout, stderr = run_cli(capsys, "--data_root", data, "--weight_directory",
                                   weight_dir, "--output_directory", out,
                                   "--chunk_seconds", "1", "--overlap", "0.25")
    assert code == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3
    for name in ("surround.wav", "text.mp3", "nan.wav"):
        assert any(line.startswith(f"error: {data / name}: ") for line in errors)
    assert sorted(os.listdir(out)) == ["good.wav", "mono48k.wav"]
    assert read_audio(str(out / "mono48k.wav"))[0].shape == (1, 48000)
    assert "good.wav: input" in stdout and "LUFS" in stdout and "restored gain" in stdout
    assert {p: digest(str(data / p)) for p in os.listdir(data)} == before
    code, _, _ = run_cli(capsys, "--data_root", data / "good.wav", "--weight_directory",
                         weight_dir, "--output_directory", out / "single")
    assert code == 0 and os.listdir(out / "single") == ["good.wav"]


def test_cli_symmetries_override_the_weights_setting(tmp_path, weight_dir, capsys):
    # --symmetries polarity averages the gain over the input and its inverted copy, through
    # the whole chain (several windows with song statistics, loudness, float output): a song
    # and its inverted copy come out as each other's negatives. Without it they do not.
    audio = song(2, 3.0, seed=4)
    data = tmp_path / "input_data"
    write(str(data / "song.wav"), audio, 44100, subtype="FLOAT")
    write(str(data / "inverted.wav"), -audio, 44100, subtype="FLOAT")
    common = ["--data_root", data, "--weight_directory", weight_dir, "--chunk_seconds", "1",
              "--overlap", "0.25", "--output_subtype", "FLOAT", "--avoid_clipping", "False"]
    outputs = {}
    for symmetries in ("polarity", "none"):
        out = tmp_path / symmetries
        code, _, _ = run_cli(capsys, *common, "--output_directory", out,
                             "--symmetries", symmetries)
        assert code == 0
        outputs[symmetries] = [read_audio(str(out / f"{name}.wav"))[0]
                               for name in ("song", "inverted")]
    plain, inverted = outputs["polarity"]
    np.testing.assert_allclose(inverted, -plain, atol=1e-5)
    plain, inverted = outputs["none"]
    assert np.abs(inverted + plain).max() > 1e-3
    for bad in ("loudness", ","):
        with pytest.raises(SystemExit):
            inference.parse_args(["--symmetries", bad])
    assert inference.parse_args(["--symmetries", "polarity,channel_swap"]).symmetries == [
        "polarity", "channel_swap"]


def test_cli_recursive_layout_name_collisions_and_target_folders(tmp_path, weight_dir, capsys):
    data = tmp_path / "songs"
    write(str(data / "a.wav"), song(2, 0.5), 44100)
    write(str(data / "a.flac"), song(2, 0.5, seed=1), 44100)
    write(str(data / "album" / "b.wav"), song(2, 0.5), 44100)
    out = tmp_path / "out"
    code, _, _ = run_cli(capsys, "--data_root", data, "--weight_directory", weight_dir,
                         "--output_directory", out, "--recursive")
    assert code == 0
    assert sorted(os.listdir(out)) == ["a_flac.wav", "a_wav.wav", "album"]
    assert os.listdir(out / "album") == ["b.wav"]
    code, _, _ = run_cli(capsys, "--data_root", data / "album", "--weight_directory",
                         weight_dir, "--output_directory", out / "t",
                         "--save_name_as_target", "True", "--save_sgi_params", "true")
    assert code == 0 and sorted(os.listdir(out / "t" / "b")) == ["all.wav", "all_sgi.npy"]


def test_cli_refuses_to_write_over_an_input(tmp_path, weight_dir, capsys):
    data = tmp_path / "songs"
    src = write(str(data / "song.wav"), song(2, 0.5), 44100)
    before = digest(src)
    code, _, stderr = run_cli(capsys, "--data_root", data, "--weight_directory", weight_dir,
                              "--output_directory", data)
    assert code == 1 and f"error: {src}: " in stderr and "overwrite" in stderr
    assert digest(src) == before and os.listdir(data) == ["song.wav"]


def test_cli_setup_errors_are_one_line(tmp_path, weight_dir, capsys):
    code, _, stderr = run_cli(capsys, "--data_root", tmp_path / "missing",
                              "--weight_directory", weight_dir)
    assert code == 1 and stderr.strip() == f"error: {tmp_path / 'missing'}: no such file or folder"
    write(str(tmp_path / "song.wav"), song(2, 0.5), 44100)
    code, _, stderr = run_cli(capsys, "--data_root", tmp_path, "--weight_directory",
                              tmp_path / "noweights")
    assert code == 1 and stderr.startswith("error: ") and "all.json" in stderr
    if not torch.cuda.is_available():
        code, _, stderr = run_cli(capsys, "--data_root", tmp_path, "--weight_directory",
                                  weight_dir, "--device", "cuda")
        assert code == 1 and "CUDA is not available" in stderr


# --- output-side failures: one line naming the path, exit 1, nothing partial -------------

def one_error_line(stderr):
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_cli_output_folder_that_cannot_be_made(tmp_path, weight_dir, capsys):
    src = write(str(tmp_path / "in" / "song.wav"), song(2, 0.5), 44100)
    (tmp_path / "taken").write_text("a file where the output folder would go")
    out = tmp_path / "taken" / "output"
    code, _, stderr = run_cli(capsys, "--data_root", src, "--weight_directory", weight_dir,
                              "--output_directory", out)
    assert code == 1
    assert one_error_line(stderr).startswith(f"error: {out}: cannot create the output folder")
    assert sorted(os.listdir(tmp_path)) == ["in", "taken"] and (tmp_path / "taken").is_file()


@pytest.fixture
def unwritable_dir(tmp_path):
    """A folder that nobody can write into, root included: read-only permissions, and as
    root (whom permissions do not stop) the immutable attribute (chattr +i)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        chattr = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        immutable = chattr.returncode == 0
    try:
        (folder / "probe").write_text("")
    except OSError:
        yield folder
    else:
        pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_cli_output_folder_that_cannot_be_written(tmp_path, weight_dir, unwritable_dir, capsys):
    src = write(str(tmp_path / "in" / "song.wav"), song(2, 0.5), 44100)
    code, _, stderr = run_cli(capsys, "--data_root", src, "--weight_directory", weight_dir,
                              "--output_directory", unwritable_dir, "--save_plot")
    assert code == 1
    line = one_error_line(stderr)
    assert line.startswith(f"error: {unwritable_dir / 'song.wav'}: cannot write (")
    assert os.listdir(unwritable_dir) == []


@pytest.mark.parametrize("limit, extra", [(65536, []),  # the gain's temporary file fails
                                          (600_000, ["--output_subtype", "FLOAT"])])  # the wav
def test_cli_full_disk(tmp_path, weight_dir, limit, extra):
    """Writes fail past `limit` bytes: the child runs under RLIMIT_FSIZE, which makes the OS
    refuse to grow any file beyond it (EFBIG, as ENOSPC on a full disk) for every writer,
    libsndfile and numpy included, whoever runs the tests."""
    import resource

    src = write(str(tmp_path / "in" / "song.wav"), song(2, 3.0), 44100)  # 529 kB of gain
    out = tmp_path / "out"
    child = subprocess.run(
        [sys.executable, "-m", "inference", "--data_root", src, "--weight_directory",
         weight_dir, "--output_directory", out, "--threads", "1", "--save_sgi_params"] + extra,
        cwd=REPO, capture_output=True, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert child.returncode == 1, child.stderr
    assert one_error_line(child.stderr).startswith(f"error: {out / 'song.wav'}: cannot write (")
    assert os.listdir(out) == []


def test_an_output_failing_after_others_were_written_takes_them_away(tmp_path, model,
                                                                     monkeypatch):
    src = write(str(tmp_path / "song.wav"), song(2, 1.0), 44100)
    old = tmp_path / "out" / "song_plot.png"  # from an earlier run
    old.parent.mkdir()
    old.write_bytes(b"an earlier plot")

    def disk_full(path, *args):
        raise OSError(28, "No space left on device", path)
    monkeypatch.setattr("utils.plots._save_figure", lambda fig, path: disk_full(path))
    options = DelimitOptions(save_plot=True, save_histogram=True, save_sgi_params=True, **FAST)
    with pytest.raises(DelimitError, match="song.wav: cannot write \\(No space left on device\\)$"):
        delimit_file(model, src, str(tmp_path / "out" / "song.wav"), options)
    assert os.listdir(tmp_path / "out") == ["song_plot.png"]  # what was there before stays
    assert old.read_bytes() == b"an earlier plot"


def test_arguments_match_the_reference():
    args = inference.parse_args([])
    assert (args.target, args.data_root, args.weight_directory, args.output_directory) == \
        ("all", "./input_data", "./weight", "./output")
    assert args.use_gpu is True and args.avoid_clipping is True
    assert args.save_output_loudnorm == -14.0
    for name in ("save_name_as_target", "save_16k_mono", "save_histogram",
                 "use_singletrackset", "save_sgi_params"):
        assert getattr(args, name) is False
    assert args.loudnorm_input_lufs is None and args.save_mixed_output is None
    args = inference.parse_args(["--use_gpu", "False", "--save_output_loudnorm", "None",
                                 "--save_mixed_output", "0.3", "--save_16k_mono",
                                 "--avoid_clipping", "false"])
    assert args.use_gpu is False and args.save_output_loudnorm is None
    assert args.save_mixed_output == 0.3 and args.save_16k_mono is True
    assert args.avoid_clipping is False
    assert inference.pick_device(args) == "cpu"
    with pytest.raises(SystemExit):
        inference.parse_args(["--save_mixed_output", "2"])
    with pytest.raises(SystemExit):
        inference.parse_args(["--use_gpu", "maybe"])
    chunking = inference.options_from_args(inference.parse_args(["--use_singletrackset"]),
                                           "cpu").chunking
    assert chunking == Chunking.reference()
    assert inference.options_from_args(inference.parse_args(["--whole_track"]),
                                       "cpu").chunking is None


def test_help_documents_every_argument():
    result = subprocess.run([sys.executable, "-m", "inference", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for name in ("target", "data_root", "weight_directory", "output_directory", "use_gpu",
                 "save_name_as_target", "loudnorm_input_lufs", "save_output_loudnorm",
                 "save_mixed_output", "save_16k_mono", "save_histogram",
                 "use_singletrackset", "save_sgi_params", "avoid_clipping", "device",
                 "recursive", "whole_track", "chunk_seconds", "overlap", "save_plot"):
        assert f"--{name}" in result.stdout
