import json
import os

import pytest
import torch

from models import build_model, load_pretrained
from tests.conftest import DATA_DIR
from utils.errors import DelimitError

SMALL = dict(n_filters=32, kernel_size=16, stride=8, n_blocks=2, n_repeats=1, bn_chan=16,
             hid_chan=32, skip_chan=16)


def reference_args():
    with open(os.path.join(DATA_DIR, "reference_all.json")) as f:
        return json.load(f)["args"]


def test_state_dict_matches_the_reference_checkpoint_exactly():
    model = build_model(reference_args()["conv_tasnet_params"])
    expected = {}
    with open(os.path.join(DATA_DIR, "reference_state_dict.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, shape = line.rstrip("\n").split("\t")
            expected[key] = tuple(int(n) for n in shape.split(","))
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert len(expected) == 149
    assert actual == expected
    assert sum(p.numel() for p in model.parameters()) == 2_345_109


@pytest.mark.parametrize("length", [1, 7, 127, 128, 129, 1000, 4410])
def test_gain_is_per_sample_in_unit_interval_and_applied_to_both_channels(length):
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    audio = torch.randn(3, 2, length)
    with torch.no_grad():
        gain, output = model(audio)
    assert gain.shape == (3, 1, length)
    assert output.shape == (3, 2, length)
    assert torch.all(gain > 0) and torch.all(gain < 1)
    torch.testing.assert_close(output, audio * gain)


def test_gain_reaches_the_last_samples():
    # The reference left the last (T - 128) % 64 samples at sigmoid(0) = 0.5; the model
    # pads its input instead so that the learned gain covers every sample.
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.fill_(1.0)  # make the decoder output clearly non-zero everywhere
        gain, _ = model(torch.rand(1, 2, 1003) + 0.5)
    assert not torch.any(torch.isclose(gain[..., -5:], torch.tensor(0.5)))


def test_abs_encoder_makes_the_gain_independent_of_the_waveforms_sign():
    # A limiter's gain depends on |x| alone; with encoder_activation "abs" the network is an
    # even function of each channel (the encoder runs per channel), so a record, its inverted
    # copy and a copy with one channel inverted get the same gain. The default ReLU sees the
    # sign (the control below), as the reference's does.
    torch.manual_seed(0)
    audio = torch.randn(2, 2, 1000)
    one_inverted = audio * torch.tensor([-1.0, 1.0])[:, None]
    for activation, invariant in (("abs", True), ("relu", False)):
        torch.manual_seed(1)
        model = build_model(dict(SMALL, encoder_activation=activation)).eval()
        with torch.no_grad():
            gain, output = model(audio)
            gain_inverted, output_inverted = model(-audio)
            gain_one_inverted, _ = model(one_inverted)
        assert torch.allclose(gain, gain_inverted, atol=1e-6) == invariant
        assert torch.allclose(gain, gain_one_inverted, atol=1e-6) == invariant
        if invariant:
            torch.testing.assert_close(output_inverted, -output)


def test_channels_are_stacked_channel_major():
    # Swapping left and right changes the prediction: the masker sees which channel is which.
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    audio = torch.randn(1, 2, 2000)
    with torch.no_grad():
        gain, _ = model(audio)
        swapped, _ = model(audio.flip(1))
    assert not torch.allclose(gain, swapped)


def test_symmetries_average_the_gain_over_the_inputs_copies():
    # With symmetries the gain is the mean of the plain network's gains for the input's
    # copies (same weights, same state_dict), so it is the same for a record, its inverted
    # copy and its channel-swapped copy; each batch item is averaged over its own copies.
    torch.manual_seed(0)
    audio = torch.randn(2, 2, 1000)
    torch.manual_seed(1)
    plain = build_model(SMALL).eval()
    model = build_model(dict(SMALL, symmetries=["polarity", "channel_swap"])).eval()
    model.load_state_dict(plain.state_dict())
    with torch.no_grad():
        gain, output = model(audio)
        expected = sum(plain(copy)[0] for copy in
                       (audio, -audio, audio.flip(1), -audio.flip(1))) / 4
        torch.testing.assert_close(gain, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(output, audio * gain)
        for copy in (-audio, audio.flip(1)):
            torch.testing.assert_close(model(copy)[0], gain, rtol=1e-5, atol=1e-6)
        polarity_only = build_model(dict(SMALL, symmetries=["polarity"])).eval()
        polarity_only.load_state_dict(plain.state_dict())
        gain_polarity, _ = polarity_only(audio)
        torch.testing.assert_close(polarity_only(-audio)[0], gain_polarity)
        assert not torch.allclose(polarity_only(audio.flip(1))[0], gain_polarity)
        assert not torch.allclose(plain(audio)[0], gain_polarity)


def test_unknown_symmetry_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="polarity, channel_swap"):
        build_model(dict(SMALL, symmetries=["time_reversal"]))
    with pytest.raises(ValueError, match="a list of names"):
        build_model(dict(SMALL, symmetries="polarity"))
    with pytest.raises(ValueError, match="2 channels"):
        build_model(dict(SMALL, symmetries=["channel_swap"]), nb_channels=1)


def _write_weight_dir(directory, args, state_dict):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "all.json"), "w") as f:
        json.dump({"args": args, "best_loss": -1.0}, f)
    torch.save(state_dict, os.path.join(directory, "all.pth"))


def test_reference_format_checkpoint_loads_and_predicts_the_same(tmp_path):
    args = reference_args()  # the reference's own all.json args, unchanged
    torch.manual_seed(1)
    model = build_model(args["conv_tasnet_params"]).eval()
    _write_weight_dir(tmp_path / "weight", args, model.state_dict())
    loaded, summary = load_pretrained(str(tmp_path / "weight"))
    assert summary["best_loss"] == -1.0
    audio = torch.randn(1, 2, 3000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(audio)[0], model(audio)[0])
    assert not any(p.requires_grad for p in loaded.parameters())
    assert not loaded.training


def test_ddp_prefixed_state_dict_loads(tmp_path):
    args = reference_args()
    args["conv_tasnet_params"] = dict(SMALL)
    model = build_model(SMALL)
    _write_weight_dir(tmp_path, args, {f"module.{k}": v for k, v in model.state_dict().items()})
    loaded, _ = load_pretrained(str(tmp_path))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_missing_or_wrong_weight_files_are_user_errors(tmp_path):
    with pytest.raises(DelimitError, match="all.json"):
        load_pretrained(str(tmp_path))
    args = reference_args()
    args["model_loss_params"]["architecture"] = "something_else"
    _write_weight_dir(tmp_path, args, {})
    with pytest.raises(DelimitError, match="architecture"):
        load_pretrained(str(tmp_path))
    with open(tmp_path / "all.json", "w") as f:
        f.write("{not json")
    with pytest.raises(DelimitError, match="not a de-limiter summary"):
        load_pretrained(str(tmp_path))
    args = reference_args()
    args["conv_tasnet_params"] = dict(SMALL, symmetries=["loudness"])
    _write_weight_dir(tmp_path, args, build_model(SMALL).state_dict())
    with pytest.raises(DelimitError, match="all.json: unknown symmetries"):
        load_pretrained(str(tmp_path))
    model, _ = load_pretrained(str(tmp_path), symmetries=["polarity"])  # the override wins
    assert model.symmetries == ("polarity",)


def test_unknown_model_keys_are_refused():
    with pytest.raises(ValueError, match="unknown conv_tasnet_params"):
        build_model(dict(SMALL, n_filterz=3))


def test_average_weights_writes_the_weighted_mean_and_refuses_other_architectures(tmp_path,
                                                                                   capsys):
    from models import average_weights

    args = reference_args()
    args["conv_tasnet_params"] = dict(SMALL)
    models = []
    for i, name in enumerate(("a", "b")):
        torch.manual_seed(i)
        models.append(build_model(SMALL))
        _write_weight_dir(tmp_path / name, args, models[-1].state_dict())
    out = tmp_path / "soup"
    assert average_weights.main([f"{tmp_path / 'a'}:3", f"{tmp_path / 'b'}:1",
                                 "--output", str(out)]) == 0
    soup, summary = load_pretrained(str(out))
    for key, value in soup.state_dict().items():
        expected = 0.75 * models[0].state_dict()[key] + 0.25 * models[1].state_dict()[key]
        torch.testing.assert_close(value, expected)
    assert [d["weight"] for d in summary["averaged_from"]] == [0.75, 0.25]
    assert summary["args"]["conv_tasnet_params"] == SMALL
    assert "best_loss" not in summary  # a's training record says nothing of the average

    wider = dict(args, conv_tasnet_params=dict(SMALL, hid_chan=96))
    _write_weight_dir(tmp_path / "wide", wider, build_model(wider["conv_tasnet_params"])
                      .state_dict())
    capsys.readouterr()
    assert average_weights.main([str(tmp_path / "a"), str(tmp_path / "wide"),
                                 "--output", str(tmp_path / "bad")]) == 1
    assert "wide: its weights' names or shapes differ" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    for name, crossovers in (("low", [200.0]), ("high", [3000.0])):  # same shapes, other bands
        banded = dict(args, conv_tasnet_params=dict(SMALL, gain_crossovers_hz=crossovers))
        _write_weight_dir(tmp_path / name, banded,
                          build_model(banded["conv_tasnet_params"]).state_dict())
    assert average_weights.main([str(tmp_path / "low"), str(tmp_path / "high"),
                                 "--output", str(tmp_path / "bad")]) == 1
    assert "high: its gain bands (crossovers [3000.0] Hz) differ" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert average_weights.main([str(tmp_path / "a"), "--output", str(tmp_path / "a")]) == 1
    assert "must not be one of the inputs" in capsys.readouterr().err


def test_average_weights_exports_a_runs_latest_weights_from_its_checkpoint(tmp_path, capsys):
    from models import average_weights

    args = reference_args()
    args["conv_tasnet_params"] = dict(SMALL)
    torch.manual_seed(0)
    best, latest, ema = (build_model(SMALL).state_dict() for _ in range(3))
    run = tmp_path / "run"
    _write_weight_dir(run, args, best)  # all.pth: the best epoch's weights
    checkpoint = {"epoch": 3, "state_dict": latest, "best_loss": -1.0, "ema": None}
    torch.save(checkpoint, run / "all.chkpnt")
    assert average_weights.main([str(run / "all.chkpnt"), "--output", str(tmp_path / "last")]) == 0
    exported, summary = load_pretrained(str(tmp_path / "last"))
    for key, value in exported.state_dict().items():
        torch.testing.assert_close(value, latest[key])
    assert summary["args"]["conv_tasnet_params"] == SMALL

    torch.save(dict(checkpoint, ema=ema), run / "all.chkpnt")  # a run that keeps an EMA
    assert average_weights.main([str(run / "all.chkpnt"), "--output", str(tmp_path / "ema")]) == 0
    exported, _ = load_pretrained(str(tmp_path / "ema"))
    for key, value in exported.state_dict().items():
        torch.testing.assert_close(value, ema[key])

    (run / "all.chkpnt").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert average_weights.main([str(run / "all.chkpnt"), "--output", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "all.chkpnt: not a training checkpoint" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()
