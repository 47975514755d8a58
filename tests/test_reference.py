"""The reference's published checkpoint (models/fetch_reference.py) and the golden test of
faithfulness: with its weights, this project's model gives the gain that the reference's own
model code gives (tests/data/golden_gain.npz, made by tests/data/make_golden_gain.py).

The checkpoint is fetched through pip once and cached (see fetch_reference.default_cache);
without a network the tests that need it are skipped, with pip's reason.
"""
import hashlib
import json
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

import inference
from models import fetch_reference, load_pretrained
from tests.conftest import DATA_DIR
from tests.data.make_golden_gain import FRAMES, KEEP, golden_input
from utils.errors import DelimitError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("weight_reference"))
    try:
        fetch_reference.fetch(folder)
    except DelimitError as err:
        if "pip could not download" in str(err):
            pytest.skip(f"the reference's checkpoint is not reachable: {err}")
        raise
    return folder


def test_fetched_folder_is_the_reference_checkpoint(reference_dir):
    with open(os.path.join(reference_dir, "all.pth"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == fetch_reference.WEIGHTS_SHA256
    with open(os.path.join(reference_dir, "all.json")) as f:
        fetched = json.load(f)
    with open(os.path.join(DATA_DIR, "reference_all.json")) as f:
        assert fetched == json.load(f)


def test_golden_gain_matches_the_reference_model_code(reference_dir):
    golden = np.load(os.path.join(DATA_DIR, "golden_gain.npz"))
    assert golden["gain"].shape == (3, KEEP)
    model, _ = load_pretrained(reference_dir)
    audio = torch.from_numpy(golden_input())[None]
    assert audio.shape == (1, 2, FRAMES)
    with torch.no_grad():
        gain = model(audio)[0][0, 0].numpy()
    ours = np.stack([gain[s:s + KEEP] for s in golden["starts"]])
    # The gain moves (a constant would make the comparison weak), and matches everywhere.
    assert ours.std() > 0.01
    np.testing.assert_allclose(ours, golden["gain"], rtol=0, atol=1e-4)


def test_inference_runs_the_reference_checkpoint(reference_dir, tmp_path, capsys):
    sf.write(tmp_path / "song.wav", golden_input()[:, :44100].T, 44100)
    code = inference.main(["--data_root", str(tmp_path / "song.wav"), "--weight_directory",
                           reference_dir, "--output_directory", str(tmp_path / "out"),
                           "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    assert sf.info(str(tmp_path / "out" / "song.wav")).frames == 44100


def fake_wheel(path, weights=b"not the weights"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(fetch_reference.WEIGHTS, weights)
        z.writestr(fetch_reference.ARGS, json.dumps({"conv_tasnet_params": {}}))
    return str(path)


def test_a_wheel_with_other_weights_is_refused(tmp_path):
    with pytest.raises(DelimitError, match="weights.pth has sha256 .*, expected 34f2ef"):
        fetch_reference.read_wheel(fake_wheel(tmp_path / "w.whl"))
    (tmp_path / "broken.whl").write_bytes(b"PK not a zip")
    with pytest.raises(DelimitError, match="not the reference's wheel"):
        fetch_reference.read_wheel(str(tmp_path / "broken.whl"))


def test_the_cached_wheel_is_used_without_pip(tmp_path, monkeypatch, capsys):
    wheel = fake_wheel(tmp_path / fetch_reference.WHEEL)
    monkeypatch.setattr(fetch_reference.subprocess, "run", None)  # any call to pip would fail
    assert fetch_reference.fetch_wheel(str(tmp_path)) == wheel
    code = fetch_reference.main(["--output", str(tmp_path / "w"), "--cache_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "sha256" in err
    assert not (tmp_path / "w").exists() or not os.listdir(tmp_path / "w")


def test_an_unwritable_weight_folder_is_one_line_and_leaves_nothing(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.setattr(fetch_reference, "fetch_wheel", lambda cache: "cached.whl")
    monkeypatch.setattr(fetch_reference, "read_wheel", lambda wheel: (b"weights", {"a": 1}))
    (tmp_path / "a_file").write_text("")
    blocked = tmp_path / "a_file" / "weights"
    assert fetch_reference.main(["--output", str(blocked)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {blocked}: cannot write") and err.count("\n") == 1
    # all.pth is written, then all.json cannot be (a folder has its name): all.pth goes too.
    (tmp_path / "weights" / "all.json").mkdir(parents=True)
    assert fetch_reference.main(["--output", str(tmp_path / "weights")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'weights'}: cannot write") and err.count("\n") == 1
    assert os.listdir(tmp_path / "weights") == ["all.json"]
