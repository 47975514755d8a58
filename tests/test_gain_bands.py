"""One gain per frequency band (conv_tasnet_params.gain_crossovers_hz): the split, the model,
the extension of a one-gain model, and the engine's refusal of what it cannot apply yet."""
import json
import math

import numpy as np
import pytest
import torch

import inference
from models import build_model, load_pretrained
from models.conv_tasnet import BandSplit
from models.extend_context import main as extend_main
from utils.errors import DelimitError
from utils.inference.apply import model_gain

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
    folder = tmp_path / "weight"
    folder.mkdir()
    args = {"model_loss_params": {"architecture": "conv_tasnet_mask_on_output"},
            "conv_tasnet_params": SMALL, "data_params": {"nb_channels": 2}}
    (folder / "all.json").write_text(json.dumps({"args": args}))
    torch.save(model.state_dict(), folder / "all.pth")
    return folder


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


def test_the_inference_engine_refuses_a_band_model_before_any_song(weight, tmp_path, capsys):
    bands = tmp_path / "bands"
    extend_main(["--input", str(weight), "--output", str(bands), "--gain_crossovers_hz", "250"])
    songs = tmp_path / "songs"
    songs.mkdir()
    import soundfile as sf
    sf.write(songs / "a.wav", np.zeros((4410, 2), np.float32), RATE)
    out = tmp_path / "out"
    assert inference.main(["--data_root", str(songs), "--weight_directory", str(bands),
                           "--output_directory", str(out), "--threads", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bands}: a model with 2 gain bands") and "\n" not in err
    assert not out.exists()
    with pytest.raises(DelimitError, match="2 gain bands"):
        model_gain(load_pretrained(str(bands))[0], np.zeros((2, 4410), np.float32))
