"""models/extend_context.py: more dilated blocks, the same gain until training moves them."""

import pytest
import torch

from models import build_model, load_pretrained
from models.conv_tasnet import receptive_field
from models.extend_context import main
from tests.helpers import write_weight

SMALL = {"n_filters": 32, "hid_chan": 32, "bn_chan": 16, "skip_chan": 16, "n_blocks": 2,
         "n_repeats": 2, "symmetries": ["polarity"]}


@pytest.fixture
def weight(tmp_path):
    torch.manual_seed(0)
    model = build_model(SMALL)
    for p in model.parameters():  # no zeros by chance: every weight must land somewhere
        p.data.add_(0.01)
    return write_weight(tmp_path / "weight", SMALL, model)


def test_the_extended_model_has_the_same_gain_and_the_old_blocks_in_place(weight, tmp_path):
    out = tmp_path / "long"
    assert main(["--input", str(weight), "--output", str(out), "--n_blocks", "4"]) == 0
    old, _ = load_pretrained(str(weight))
    new, summary = load_pretrained(str(out))
    assert summary["args"]["conv_tasnet_params"]["n_blocks"] == 4
    assert summary["extended_from"] == {"n_blocks": 2, "folder": str(weight)}
    assert len(new.masker.TCN) == 8 and new.symmetries == ("polarity",)
    for repeat in range(2):
        for block in range(2):  # the old block b of repeat r is the new block b of repeat r
            a = old.masker.TCN[repeat * 2 + block].state_dict()
            b = new.masker.TCN[repeat * 4 + block].state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a)
        for block in range(2, 4):
            added = new.masker.TCN[repeat * 4 + block]
            assert not added.res_conv.weight.any() and not added.skip_conv.weight.any()
            assert added.shared_block[0].weight.any()  # the rest is initialised to learn
    audio = torch.randn(1, 2, 16384) * 0.2
    torch.testing.assert_close(new(audio)[0], old(audio)[0], atol=1e-6, rtol=1e-5)


def test_the_context_grows_and_a_shorter_model_is_refused(weight, tmp_path, capsys):
    assert receptive_field(5, 2) == 125 and receptive_field(8, 2) == 1021
    assert main(["--input", str(weight), "--output", str(tmp_path / "x"), "--n_blocks", "2"]) == 1
    err = capsys.readouterr().err
    assert "has 2 blocks per repeat already" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    assert main(["--input", str(weight), "--output", str(weight), "--n_blocks", "3"]) == 1


def test_the_silent_blocks_get_a_gradient(weight, tmp_path):
    main(["--input", str(weight), "--output", str(tmp_path / "long"), "--n_blocks", "3"])
    model = load_pretrained(str(tmp_path / "long"))[0].requires_grad_(True)
    model(torch.randn(1, 2, 8192) * 0.2)[1].pow(2).mean().backward()
    added = model.masker.TCN[2]  # the first new block, in the first repeat
    assert added.res_conv.weight.grad.abs().sum() > 0
    assert added.skip_conv.weight.grad.abs().sum() > 0
