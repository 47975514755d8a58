"""One gain per frequency band (conv_tasnet_params.gain_crossovers_hz): the split, the model,
the extension of a one-gain model, and the inference engine applying band gains."""
import math

import numpy as np
import pytest
import soundfile as sf
import torch

import inference
from models import build_model, load_pretrained
from models.conv_tasnet import BandSplit
from models.extend_context import main as extend_main
from tests.helpers import write_weight
from utils.inference.apply import Chunking
from utils.inference.bands import BandStream, apply_gains, power_gain
from utils.inference.delimit import DelimitOptions, delimit, delimit_file
from utils.inference.two_pass import split_whole

SMALL = {"n_filters": 32, "kernel_size": 16, "stride": 8, "hid_chan": 32, "bn_chan": 16,
         "skip_chan": 16, "n_blocks": 2, "n_repeats": 1, "symmetries": ["polarity"]}
RATE = 44100


def sine(hz, seconds=0.5):
    t = np.arange(int(seconds * RATE)) / RATE
    return torch.tensor(np.stack([np.sin(2 * math.pi * hz * t)] * 2), dtype=torch.float32)[None]


def test_the_bands_sum_back_to_the_input_and_each_holds_its_own_frequencies():
    split = BandSplit([250.0, 4000.0])
    audio = torch.randn(2, 2, 30000) * 0.3
    bands = split(audio)
    assert bands.shape == (2, 3, 2, 30000)
    torch.testing.assert_close(bands.sum(1), audio, atol=1e-6, rtol=0)
    for hz, band in ((80.0, 0), (1000.0, 1), (9000.0, 2)):
        middle = split(sine(hz))[0, :, :, 5000:-5000]  # away from the zero-padded edges
        energy = middle.pow(2).sum(dim=(1, 2))
        assert energy[band] > 0.999 * energy.sum(), (hz, energy)
    # at a crossover, both neighbours carry it at -6 dB (linear phase: their sum is the input)
    middle = split(sine(4000.0))[0, :, :, 5000:-5000]
    rms = middle.pow(2).mean(dim=(1, 2)).sqrt() / math.sqrt(0.5)
    assert torch.allclose(rms[1:], torch.tensor([0.5, 0.5]), atol=0.02), rms


def test_band_gains_are_applied_to_their_bands():
    torch.manual_seed(0)
    model = build_model(dict(SMALL, gain_crossovers_hz=[300, 3000])).eval()
    assert model.n_gains == 3 and "band_split.lowpasses" not in model.state_dict()
    with torch.no_grad():
        model.decoder.weight[:, 2] -= 0.05  # the top band's gain differs from the others'
        audio = torch.randn(1, 2, 12000) * 0.3
        gain, output = model(audio)
    assert gain.shape == (1, 3, 12000) and ((gain > 0) & (gain < 1)).all()
    assert (gain[:, 2] - gain[:, 0]).abs().mean() > 1e-3
    expected = sum(model.band_split(audio)[:, b] * gain[:, b:b + 1] for b in range(3))
    torch.testing.assert_close(output, expected)
    assert model.context >= model.band_split.reach  # the split reaches 1,023 samples each way


@pytest.mark.parametrize("crossovers", [[4000, 250], [250, 250], [0, 100], [30000], ["a"]])
def test_bad_crossovers_are_refused(crossovers):
    with pytest.raises(ValueError, match="gain_crossovers_hz"):
        build_model(dict(SMALL, gain_crossovers_hz=crossovers))


@pytest.fixture
def weight(tmp_path):
    torch.manual_seed(0)
    model = build_model(SMALL)
    return write_weight(tmp_path / "weight", SMALL, model)


def test_a_split_model_starts_with_the_one_gain_models_output_and_its_bands_can_part(
        weight, tmp_path):
    out = tmp_path / "bands"
    assert extend_main(["--input", str(weight), "--output", str(out),
                        "--gain_crossovers_hz", "250", "4000"]) == 0
    old, _ = load_pretrained(str(weight))
    new, summary = load_pretrained(str(out))
    assert summary["args"]["conv_tasnet_params"]["gain_crossovers_hz"] == [250.0, 4000.0]
    assert summary["extended_from"] == {"gain_crossovers_hz": [], "folder": str(weight)}
    audio = torch.randn(1, 2, 16384) * 0.2
    old_gain, old_output = old(audio)
    new_gain, new_output = new(audio)
    torch.testing.assert_close(new_gain, old_gain.expand(-1, 3, -1))
    torch.testing.assert_close(new_output, old_output, atol=1e-6, rtol=1e-5)
    # the bands' decoders get different gradients, so training can tell them apart
    new.requires_grad_(True)
    target = new.band_split(audio)[:, 0] * 0.5 + audio * 0.5
    (new(audio)[1] - target).pow(2).mean().backward()
    grad = new.decoder.weight.grad
    assert not torch.allclose(grad[:, 0], grad[:, 2])


def test_split_and_context_together_and_a_split_model_is_not_split_again(weight, tmp_path,
                                                                        capsys):
    both = tmp_path / "both"
    assert extend_main(["--input", str(weight), "--output", str(both), "--n_blocks", "3",
                        "--gain_crossovers_hz", "500"]) == 0
    model, summary = load_pretrained(str(both))
    assert len(model.masker.TCN) == 3 and model.n_gains == 2
    assert summary["extended_from"] == {"n_blocks": 2, "gain_crossovers_hz": [],
                                        "folder": str(weight)}
    assert extend_main(["--input", str(both), "--output", str(tmp_path / "again"),
                        "--gain_crossovers_hz", "1000"]) == 1
    err = capsys.readouterr().err
    assert "has gain bands already" in err and err.count("\n") == 1
    assert extend_main(["--input", str(weight), "--output", str(tmp_path / "bad"),
                        "--gain_crossovers_hz", "4000", "250"]) == 1
    assert "rising frequencies" in capsys.readouterr().err
    assert not (tmp_path / "again").exists() and not (tmp_path / "bad").exists()


def banded_model(crossovers=(250.0, 4000.0)):
    """A small band model whose bands get clearly different gains."""
    torch.manual_seed(1)
    model = build_model(dict(SMALL, gain_crossovers_hz=list(crossovers))).eval()
    with torch.no_grad():
        model.decoder.weight[:, 0] += 0.02
        model.decoder.weight[:, -1] -= 0.04
    return model


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_the_streamed_split_sums_back_and_matches_the_models_own(rate):
    audio = (np.random.default_rng(rate).standard_normal((2, 30000)) * 0.3).astype(np.float32)
    whole = split_whole(audio, rate, (250.0, 4000.0))
    assert whole.shape == (3, 2, 30000)
    np.testing.assert_allclose(whole.sum(0), audio, atol=2e-6)
    stream = BandStream((250.0, 4000.0), rate, 2)
    blocks = [stream.push(audio[:, i:i + 777]) for i in range(0, 30000, 777)]
    np.testing.assert_array_equal(np.concatenate(blocks + [stream.finish()], axis=2), whole)
    if rate == 44100:  # the same bands as the network's (the same filters, by FFT)
        own = BandSplit([250.0, 4000.0])(torch.from_numpy(audio)[None])[0].numpy()
        np.testing.assert_allclose(whole, own, atol=2e-6)
    low_rate = split_whole(audio, 8000, (250.0, 6000.0))  # a crossover above Nyquist
    np.testing.assert_allclose(low_rate[2], 0.0, atol=1e-6)
    np.testing.assert_allclose(low_rate.sum(0), audio, atol=2e-6)
    short = BandStream((250.0,), rate, 1)  # shorter than the filters' reach
    assert short.push(audio[:1, :10]).shape == (2, 1, 0)
    np.testing.assert_allclose(short.finish().sum(0), audio[:1, :10], atol=2e-6)


def test_power_gain_is_the_gain_of_one_band_and_lies_between_the_band_gains():
    rng = np.random.default_rng(0)
    bands = rng.standard_normal((3, 2, 1000)).astype(np.float32)
    gains = rng.uniform(0.1, 1.0, (3, 1000)).astype(np.float32)
    np.testing.assert_array_equal(power_gain(bands[:1], gains[:1]), gains[0])
    mixed = power_gain(bands, gains)
    assert (mixed >= gains.min(0) - 1e-6).all() and (mixed <= gains.max(0) + 1e-6).all()
    bands[1:] = 0.0  # all the power in the lowest band: its gain
    np.testing.assert_allclose(power_gain(bands, gains), gains[0], rtol=1e-6)
    silent = power_gain(np.zeros_like(bands), gains)
    np.testing.assert_allclose(silent, np.sqrt(np.square(gains).mean(0)), rtol=1e-6)


@pytest.mark.parametrize("rate, channels", [(44100, 2), (48000, 1)])
def test_a_band_model_de_limits_files_band_by_band_at_their_rate(tmp_path, rate, channels):
    model = banded_model()
    t = np.arange(int(2.5 * rate)) / rate
    audio = (0.4 * np.sin(2 * math.pi * 110 * t) * (1 + 0.5 * np.sin(2 * math.pi * 3 * t))
             + 0.2 * np.sin(2 * math.pi * 7000 * t)).astype(np.float32)[None]
    audio = np.repeat(audio, channels, 0)
    src = tmp_path / "song.wav"
    sf.write(src, audio.T, rate, subtype="FLOAT")
    options = DelimitOptions(output_lufs=None, save_sgi_params=True, save_plot=True,
                             subtype="FLOAT", chunking=Chunking.from_seconds(1.0, 0.25),
                             block_frames=5000)
    report = delimit_file(model, str(src), str(tmp_path / "out.wav"), options)
    out, out_rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    gains = np.load(tmp_path / "out_sgi.npy")
    assert out_rate == rate and out.shape == (audio.shape[1], channels)
    assert gains.shape == (audio.shape[1], 3)
    # the gains differ by band, and each applies to its own band of the input
    assert np.median(gains[:, 0] / gains[:, 2]) > 1.05
    expected = apply_gains(split_whole(audio, rate, model.gain_crossovers_hz), gains.T)
    np.testing.assert_allclose(out.T, expected, atol=1e-5)
    # the array API agrees, and so does another block size
    array_out, array_gain = delimit(model, audio, rate, options)
    np.testing.assert_allclose(array_gain, gains.T, atol=1e-5)
    np.testing.assert_allclose(array_out, out.T, atol=1e-5)
    options.block_frames = 777
    delimit_file(model, str(src), str(tmp_path / "small_blocks.wav"), options)
    np.testing.assert_allclose(sf.read(tmp_path / "small_blocks.wav", dtype="float32",
                                       always_2d=True)[0], out, atol=1e-6)
    assert report.mean_restored_db is not None and (tmp_path / "out_plot.png").stat().st_size


def test_a_split_model_de_limits_a_file_as_its_one_gain_model_did(weight, tmp_path):
    extend_main(["--input", str(weight), "--output", str(tmp_path / "bands"),
                 "--gain_crossovers_hz", "250", "4000"])
    audio = (np.random.default_rng(3).standard_normal((2, 96000)) * 0.1).astype(np.float32)
    songs = tmp_path / "songs"
    songs.mkdir()
    sf.write(songs / "song.wav", audio.T, 48000, subtype="FLOAT")
    outputs = []
    for name in ("weight", "bands"):
        assert inference.main(["--data_root", str(songs), "--weight_directory",
                               str(tmp_path / name), "--output_directory",
                               str(tmp_path / f"out_{name}"), "--output_subtype", "FLOAT",
                               "--threads", "1"]) == 0
        outputs.append(sf.read(tmp_path / f"out_{name}" / "song.wav", dtype="float32")[0])
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
