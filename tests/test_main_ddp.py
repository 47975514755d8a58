import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import main_ddp
from benchmarks import score_validation
from models import build_model, load_pretrained
from tests.conftest import REPO
from utils.errors import DelimitError
from utils.training.config import load_config

SMALL_MODEL = ["conv_tasnet_params.n_filters=64", "conv_tasnet_params.hid_chan=64",
               "conv_tasnet_params.bn_chan=32", "conv_tasnet_params.skip_chan=32"]


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    """A tiny stem folder shared by the tests of this module (generated once)."""
    from prepro.make_stems import make_stems

    root = str(tmp_path_factory.mktemp("stems"))
    make_stems(root, n_songs=4, seconds=4, seed=1)
    return root


def smoke_overrides(stems, out, *extra):
    return [f"dir_params.root={stems}", f"dir_params.output_directory={out}", *extra]


def checkpoint_dir(out, exp="smoke"):
    return os.path.join(out, "checkpoint", exp)


def test_smoke_training_writes_reference_format_checkpoints(stems, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = str(tmp_path / "out")
    code = main_ddp.main(["--config=smoke",
                          *smoke_overrides(stems, out, "wandb_params.use_wandb=true")])
    assert code == 0
    folder = checkpoint_dir(out)
    for name in ("all.chkpnt", "all.pth", "all.json", "loss_curve.png"):
        assert os.path.getsize(os.path.join(folder, name)) > 0, name
    with open(os.path.join(folder, "all.json")) as f:
        summary = json.load(f)
    for key in ("args", "best_epoch", "best_loss", "epochs_trained", "num_bad_epochs",
                "train_loss_history", "valid_loss_history", "train_time_history"):
        assert key in summary
    assert summary["epochs_trained"] == 2
    assert len(summary["valid_loss_history"]) == 2
    assert all(map(lambda v: v == v and abs(v) < 1e3, summary["train_loss_history"]))
    assert summary["args"]["conv_tasnet_params"]["n_filters"] == 512  # the reference's model
    chkpnt = torch.load(os.path.join(folder, "all.chkpnt"), weights_only=False)
    assert {"epoch", "state_dict", "best_loss", "optimizer", "scheduler"} <= set(chkpnt)
    model, _ = load_pretrained(folder)  # all.pth + all.json load like the shipped weight
    assert sum(p.numel() for p in model.parameters()) == 2_345_109
    # wandb ran offline (no account, no network) and did not stop training
    assert any(name.startswith("offline-run") for name in os.listdir(os.path.join(folder, "wandb")))


def test_training_changes_the_weights_and_lowers_the_loss(stems, tmp_path):
    config = load_config("smoke", smoke_overrides(
        stems, str(tmp_path), *SMALL_MODEL, "hyperparams.epochs=4", "hyperparams.lr=3e-3"))
    torch.manual_seed(777)
    initial = build_model(config["conv_tasnet_params"]).state_dict()
    model, state = main_ddp.train(config)
    assert any(not torch.equal(initial[k], v) for k, v in model.state_dict().items())
    history = state["train_loss_history"]
    assert min(history[1:]) < history[0]


def train_small_model(stems, out, model_setting):
    """One epoch of the smoke config with a small model and one conv_tasnet_params override;
    returns its saved (model, summary) as inference loads them."""
    code = main_ddp.main(["--config=smoke", *smoke_overrides(
        stems, out, *SMALL_MODEL, "hyperparams.epochs=1", model_setting)])
    assert code == 0
    return load_pretrained(checkpoint_dir(out))


def test_training_with_symmetries_writes_a_checkpoint_that_infers_with_them(stems, tmp_path):
    # The option lives in the checkpoint's all.json, so inference averages the gain the way
    # the model trained (here over polarity: the loaded model ignores the waveform's sign).
    model, summary = train_small_model(stems, str(tmp_path),
                                       "conv_tasnet_params.symmetries=[polarity]")
    assert summary["args"]["conv_tasnet_params"]["symmetries"] == ["polarity"]
    assert model.symmetries == ("polarity",)
    audio = torch.randn(1, 2, 4000) * 0.3
    torch.testing.assert_close(model(-audio)[0], model(audio)[0])
    assert not torch.allclose(model.raw_gain(-audio), model.raw_gain(audio))


def test_a_band_gain_model_trains_its_bands_apart_and_reloads_with_them(stems, tmp_path):
    model, summary = train_small_model(stems, str(tmp_path),
                                       "conv_tasnet_params.gain_crossovers_hz=[300, 3000]")
    assert summary["args"]["conv_tasnet_params"]["gain_crossovers_hz"] == [300, 3000]
    assert model.n_gains == 3
    gain = model(torch.randn(1, 2, 8000) * 0.3)[0]
    assert gain.shape == (1, 3, 8000) and not torch.allclose(gain[:, 0], gain[:, 2])


def test_lr_factors_train_the_matched_parameters_alone_at_their_rate(stems, tmp_path):
    # lr 1e-12 for all but the first TCN block, which learns at 1e-12 x 1e9 = 1e-3.
    config = load_config("smoke", smoke_overrides(
        stems, str(tmp_path), *SMALL_MODEL, "hyperparams.epochs=1", "hyperparams.lr=1e-12",
        "hyperparams.lr_factors={'^masker[.]TCN[.]0[.]': 1.0e+9}"))
    torch.manual_seed(777)  # the seed build() initialises the model with
    initial = build_model(config["conv_tasnet_params"]).state_dict()
    model, _ = main_ddp.train(config)
    for name, value in model.state_dict().items():
        change = (value - initial[name]).abs().max().item()
        if name.startswith("masker.TCN.0."):
            assert change > 1e-4 or not name.endswith("conv.weight"), name
        else:
            assert change < 1e-6, name


def test_an_lr_factor_that_matches_no_parameter_is_refused():
    model = build_model({"n_filters": 16, "hid_chan": 16, "bn_chan": 8, "skip_chan": 8})
    groups = main_ddp.parameter_groups(model, 1e-3, {"TCN[.]0[.]": 10, "decoder": 0.5})
    assert [group["lr"] for group in groups] == [1e-3, 5e-4, 1e-2]
    assert sum(len(group["params"]) for group in groups) == len(list(model.parameters()))
    with pytest.raises(DelimitError, match=r"'TCN\[\.\]99\[\.\]' matches no parameter"):
        main_ddp.parameter_groups(model, 1e-3, {"TCN[.]99[.]": 10})


def test_bad_config_fails_before_anything_starts(tmp_path, capsys):
    out = tmp_path / "out"
    code = main_ddp.main(["--config=smoke", f"dir_params.output_directory={out}",
                          "hyperparams.lr=fast"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: hyperparams.lr: expected int or float, got 'fast'"]
    assert not out.exists()


def _run(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(stems, tmp_path):
    common = [*SMALL_MODEL, "hyperparams.epochs=3", "hyperparams.checkpoint_every=1",
              "sys_params.num_threads=1", "data_params.random_polarity=0.5"]
    # Uninterrupted reference run.
    config = load_config("smoke", smoke_overrides(stems, str(tmp_path / "a"), *common))
    torch.set_num_threads(1)
    uninterrupted, state = main_ddp.train(config)
    total_steps = state["global_step"]
    # The same run, killed with SIGKILL once it has written a checkpoint...
    out_b = str(tmp_path / "b")
    chkpnt = os.path.join(checkpoint_dir(out_b), "all.chkpnt")
    process = _run(["-m", "main_ddp", "--config=smoke", *smoke_overrides(stems, out_b, *common)])
    deadline = time.time() + 120
    while not os.path.exists(chkpnt) and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = torch.load(chkpnt, weights_only=False)["train_state"]["global_step"]
    assert 0 < killed_at < total_steps, "the run was not interrupted part-way"
    # ... then resumed: it continues from its checkpoint and ends where the other run ended.
    resumed, state_b = main_ddp.train(load_config("smoke", smoke_overrides(
        stems, out_b, *common, "dir_params.resume=true")))
    assert state_b["global_step"] == total_steps
    assert state_b["epochs_trained"] == 3
    for key, value in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_polarity_is_inverted_for_input_and_target_together_and_repeatably():
    limited, target = torch.rand(64, 2, 10) + 0.1, torch.rand(64, 2, 10) + 0.1
    flipped_in, flipped_target = main_ddp.invert_polarity(limited, target, 0.5, (777, 3, 5, 0))
    inverted = flipped_in[:, 0, 0] < 0
    assert 10 < int(inverted.sum()) < 54  # some items of the batch, not all
    for k in range(64):
        sign = -1.0 if inverted[k] else 1.0
        assert torch.equal(flipped_in[k], sign * limited[k])
        assert torch.equal(flipped_target[k], sign * target[k])
    again, _ = main_ddp.invert_polarity(limited, target, 0.5, (777, 3, 5, 0))
    other, _ = main_ddp.invert_polarity(limited, target, 0.5, (777, 3, 6, 0))
    assert torch.equal(again, flipped_in)
    assert not torch.equal(other, flipped_in)
    always, _ = main_ddp.invert_polarity(limited, target, 1.0, (1, 0, 0, 0))
    assert torch.equal(always, -limited)


def test_torchrun_two_cpu_processes_keep_identical_weights(stems, tmp_path):
    out = tmp_path / "ddp"
    out.mkdir()
    process = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    os.path.join("tests", "ddp_worker.py"), str(out), "smoke",
                    *smoke_overrides(stems, str(out), *SMALL_MODEL, "sys_params.num_threads=1")])
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    rank0 = torch.load(out / "rank0.pt", weights_only=False)
    rank1 = torch.load(out / "rank1.pt", weights_only=False)
    assert rank0["global_step"] == rank1["global_step"] > 0
    for key, value in rank0["state_dict"].items():
        assert torch.equal(rank1["state_dict"][key], value), key
    with open(os.path.join(checkpoint_dir(str(out)), "all.json")) as f:
        assert json.load(f)["args"]["sys_params"]["world_size"] == 2


def test_continual_training_starts_a_new_run_from_a_weight_folder(stems, tmp_path):
    first, _ = main_ddp.train(load_config("smoke", smoke_overrides(
        stems, str(tmp_path / "a"), *SMALL_MODEL, "hyperparams.epochs=1")))
    weight_folder = checkpoint_dir(str(tmp_path / "a"))  # all.pth + all.json, like weight/
    os.remove(os.path.join(weight_folder, "all.chkpnt"))
    config = load_config("smoke", smoke_overrides(
        stems, str(tmp_path / "b"), *SMALL_MODEL, "hyperparams.epochs=1", "hyperparams.lr=1e-12",
        f"dir_params.resume={weight_folder}", "dir_params.continual_train=true"))
    second, state = main_ddp.train(config)
    assert state["epochs_trained"] == 1  # a new run: its own epochs, not the first run's
    for key, value in first.state_dict().items():  # started from the first run's weights
        torch.testing.assert_close(second.state_dict()[key], value, atol=1e-6, rtol=0)


def test_ema_run_starts_its_average_from_the_init_weights(stems, tmp_path):
    """With hyperparams.ema, the weights validated and kept are the average's: a new run from
    init_weights must start that average from them, not from the random initialisation."""
    main_ddp.train(load_config("smoke", smoke_overrides(
        stems, str(tmp_path / "a"), *SMALL_MODEL, "hyperparams.epochs=1")))
    init = checkpoint_dir(str(tmp_path / "a"))
    main_ddp.train(load_config("smoke", smoke_overrides(
        stems, str(tmp_path / "b"), *SMALL_MODEL, "hyperparams.epochs=1", "hyperparams.lr=1e-12",
        "hyperparams.ema=true", "hyperparams.ema_decay=0.9", f"dir_params.init_weights={init}")))
    started, _ = load_pretrained(init)
    kept, _ = load_pretrained(checkpoint_dir(str(tmp_path / "b")))
    for key, value in started.state_dict().items():
        torch.testing.assert_close(kept.state_dict()[key], value, atol=1e-6, rtol=0)


def test_a_run_folder_gives_its_best_weights_to_a_new_run_and_its_checkpoint_to_resume(tmp_path):
    from utils.training.train_utils import resolve_resume_path

    (tmp_path / "all.pth").write_bytes(b"best")
    (tmp_path / "all.chkpnt").write_bytes(b"last")
    folder = str(tmp_path)
    assert resolve_resume_path(folder, None, "all", weights_only=True).endswith("all.pth")
    assert resolve_resume_path(folder, None, "all").endswith("all.chkpnt")
    os.remove(tmp_path / "all.pth")
    assert resolve_resume_path(folder, None, "all", weights_only=True).endswith("all.chkpnt")


def test_song_training_starts_from_init_weights_then_resumes_its_own_run(stems, tmp_path,
                                                                        capsys):
    """A run on whole songs (plus stems), with unlimited items and the capped loss: with no
    checkpoint of its own it starts from dir_params.init_weights; run again, it resumes."""
    import soundfile as sf

    from tests.helpers import music

    songs = tmp_path / "songs"
    os.makedirs(songs)
    for i in range(4):  # songs of at least MIN_SONG_SECONDS (4 s)
        sf.write(songs / f"song{i:02d}.wav", music(4.5, seed=i).T, 44100)
    first, _ = main_ddp.train(load_config("smoke", smoke_overrides(
        stems, str(tmp_path / "a"), *SMALL_MODEL, "hyperparams.epochs=1")))
    song_run = smoke_overrides(
        stems, str(tmp_path / "b"), *SMALL_MODEL, "hyperparams.lr=1e-12",
        f"dir_params.song_root={songs}", f"dir_params.song_cache={tmp_path / 'cache'}",
        "data_params.source_weights={songs: 0.7, stems: 0.3}", "data_params.unlimited_prob=0.5",
        "data_params.limiter_designs=[maximizer, clipper_maximizer]",
        "data_params.valid_limiter_designs=[fast_limiter]",
        "model_loss_params.train_loss_func=[si_sdr_capped]",
        "model_loss_params.valid_loss_func=[si_sdr_capped]", "dir_params.resume=true",
        f"dir_params.init_weights={checkpoint_dir(str(tmp_path / 'a'))}")
    second, state = main_ddp.train(load_config("smoke", [*song_run, "hyperparams.epochs=1"]))
    assert state["epochs_trained"] == 1
    # the start weights were validated first: with lr 1e-12 epoch 1 scores the same
    assert len(state["start_valid"]) == 5
    assert len(state["valid_untouched_worst_history"]) == 1
    assert state["start_valid"][0] == pytest.approx(state["valid_loss_history"][0], abs=1e-4)
    # benchmarks/score_validation.py gives the start weights the line the run logged for them,
    # another for the same items with their polarity inverted, and others for a design the run
    # did not validate with
    capsys.readouterr()
    assert score_validation.main(["--config=smoke", *song_run, "--designs", "fast_limiter",
                                  "maximizer", "--invert_polarity", "--bass_alone", "--models",
                                  f"a={checkpoint_dir(str(tmp_path / 'a'))}"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert lines[0] == f"fast_limiter | a | {main_ddp.describe_valid(*state['start_valid'])}"
    assert lines[1].startswith("fast_limiter, inverted | a | ")  # this small model is not
    assert lines[1].split(" | ")[2] != lines[0].split(" | ")[2]  # polarity-invariant
    # the bass alone of the targets, every item unlimited, once: every design has the same targets
    assert lines[2].startswith("bass alone below 150 Hz | a | ")
    assert "no limited items, unlimited items left at" in lines[2]
    assert lines[3].startswith("maximizer | a | ") and lines[3] != lines[0].replace(
        "fast_limiter", "maximizer")
    assert lines[4].startswith("maximizer, inverted | a | ")
    for key, value in first.state_dict().items():  # started from init_weights
        torch.testing.assert_close(second.state_dict()[key], value, atol=1e-6, rtol=0)
    assert all(-30.0 <= v < 0 for v in state["valid_loss_history"])  # the cap bounds it
    _, resumed = main_ddp.train(load_config("smoke", [*song_run, "hyperparams.epochs=2"]))
    assert resumed["epochs_trained"] == 2  # its own checkpoint wins over init_weights
    assert resumed["train_loss_history"][0] == state["train_loss_history"][0]


def test_train_state_is_saved_as_a_plain_dict_and_reads_older_ones():
    from dataclasses import asdict

    state = main_ddp.TrainState(epoch=3, global_step=40, train_loss_history=[-5.0, -6.0])
    saved = asdict(state)
    assert type(saved) is dict and main_ddp.TrainState.from_dict(saved) == state
    del saved["valid_untouched_si_sdr_history"]  # written before that key existed
    older = main_ddp.TrainState.from_dict(saved)
    assert older.epoch == 3 and older.global_step == 40
    assert older.valid_untouched_si_sdr_history == []
    # epochs validated before the worst unlimited item was kept count as nan
    saved = asdict(main_ddp.TrainState(valid_loss_history=[-5.0, -6.0]))
    del saved["valid_untouched_worst_history"]
    worst = main_ddp.TrainState.from_dict(saved).valid_untouched_worst_history
    assert len(worst) == 2 and all(math.isnan(v) for v in worst)


def test_validation_scores_the_mean_and_the_worst_unlimited_item():
    from utils.training.config import load_config
    from utils.training.losses import channel_si_sdr

    class AddNoise(torch.nn.Module):  # the same noise on every item: quiet items suffer most
        def forward(self, audio):
            noise = 0.01 * torch.sin(torch.arange(audio.shape[-1]) * 0.3)
            return torch.ones_like(audio[:, :1]), audio + noise

    t = torch.arange(4000) / 44100.0
    tone = torch.stack([torch.sin(2 * math.pi * 440 * t)] * 2)
    items = [(torch.tanh(3 * tone) / 3, tone * 0.25, "limited"),  # input != target
             (tone * 0.8, tone * 0.8, "loud"), (tone * 0.1, tone * 0.1, "quiet"),
             (tone * 0.3, tone * 0.3, "middle")]
    ctx = main_ddp.Context(load_config("smoke", ["sys_params.num_threads=1"]))
    loss, out_sdr, in_sdr, mean, worst = main_ddp.validate(
        AddNoise(), items, lambda estimate, target: torch.tensor(0.0), ctx)
    untouched = [channel_si_sdr(AddNoise()(x[None])[1], x[None]).item() for x, _, _ in items[1:]]
    assert worst == pytest.approx(min(untouched)) and worst < mean - 5
    assert mean == pytest.approx(sum(untouched) / 3)
    # with no unlimited item, both are nan and the line leaves them out
    scores = main_ddp.validate(AddNoise(), items[:1], lambda e, t: torch.tensor(0.0), ctx)
    assert math.isnan(scores[3]) and math.isnan(scores[4])
    assert "unlimited" not in main_ddp.describe_valid(*scores)
    assert main_ddp.describe_valid(-20.0, 20.0, 19.0, 49.5, 43.9).endswith(
        "unlimited items left at 49.5 dB (worst 43.9 dB)")
    # with no limited item, the limited SI-SDRs are nan and the line says so
    scores = main_ddp.validate(AddNoise(), items[1:], lambda e, t: torch.tensor(0.0), ctx)
    assert math.isnan(scores[1]) and math.isnan(scores[2])
    assert scores[4] == pytest.approx(worst)
    line = main_ddp.describe_valid(*scores)
    assert "no limited items, unlimited items left at" in line and "SI-SDR" not in line
