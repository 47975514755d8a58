import os

import pytest

from utils.errors import DelimitError
from utils.training.config import CONFIG_DIR, defaults, load_config

SHIPPED = sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".yaml"))  # config names

@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_loads(name):
    config = load_config(name)
    assert config["model_loss_params"]["architecture"] == "conv_tasnet_mask_on_output"


def test_reference_config_keeps_the_reference_settings():
    config = load_config("delimit_6_s")
    assert config["hyperparams"]["lr"] == 3e-5
    assert config["hyperparams"]["batch_size"] == 8
    assert config["data_params"]["seq_dur"] == 4.0
    assert config["conv_tasnet_params"]["hid_chan"] == 512
    assert config["sys_params"]["seed"] == 777


def test_lr_factors_written_without_a_dot_are_numbers():
    config = load_config("delimit_6_s", ["hyperparams.lr_factors={'TCN[.]5[.]': 1e3}"])
    assert config["hyperparams"]["lr_factors"] == {"TCN[.]5[.]": 1000.0}


def test_overrides_are_parsed_as_yaml_values():
    config = load_config("delimit_6_s", ["hyperparams.lr=1e-4", "hyperparams.ema=true",
                                         "dir_params.ozone_root=null", "hyperparams.batch_size=2"])
    assert config["hyperparams"]["lr"] == pytest.approx(1e-4)
    assert config["hyperparams"]["ema"] is True
    assert config["dir_params"]["ozone_root"] is None
    assert config["hyperparams"]["batch_size"] == 2


@pytest.mark.parametrize("override, message", [
    ("hyperparams.lrr=1", "unknown key hyperparams.lrr"),
    ("hyperparamz.lr=1", "unknown group"),
    ("hyperparams.lr=fast", "hyperparams.lr: expected"),
    ("hyperparams.batch_size=2.5", "hyperparams.batch_size: expected int"),
    ("hyperparams.ema=1", "hyperparams.ema: expected bool"),
    ("hyperparams.min_lr=1", "must be below hyperparams.lr"),
    ("model_loss_params.train_loss_func=[l1]", "train_loss_func"),
    ("lr=1", "expected group.key=value"),
    ("data_params.unlimited_prob=1.5", r"data_params.unlimited_prob: must be in \[0, 1\]"),
    ("data_params.mix_bus_prob=-0.1", r"data_params.mix_bus_prob: must be in \[0, 1\]"),
    ("data_params.random_polarity=-0.1", r"data_params.random_polarity: must be in \[0, 1\]"),
    ("data_params.premaster_prob=2", r"data_params.premaster_prob: must be in \[0, 1\]"),
    ("data_params.premaster_lufs=[-7,-13]", "data_params.premaster_lufs: two negative"),
    ("data_params.premaster_lufs=[-10]", "data_params.premaster_lufs: two negative"),
    ("data_params.premaster_lufs=[-10,3]", "data_params.premaster_lufs: two negative"),
    ("data_params.bass_only_prob=1.5", r"data_params.bass_only_prob: must be in \[0, 1\]"),
    ("data_params.bass_only_hz=[250,80]", "data_params.bass_only_hz: two positive"),
    ("data_params.bass_only_hz=[0,80]", "data_params.bass_only_hz: two positive"),
    ("data_params.bass_only_unlimited_prob=-0.1",
     r"data_params.bass_only_unlimited_prob: must be in \[0, 1\] or null"),
    ("hyperparams.lr_factors={'TCN[': 10}", "hyperparams.lr_factors: 'TCN\\[' is not a regex"),
    ("hyperparams.lr_factors={TCN: 0}", "the factor of 'TCN' must be a positive number"),
    ("hyperparams.lr_factors={TCN: fast}", "the factor of 'TCN' must be a positive number"),
    ("hyperparams.lr_factors={5: 10}", "hyperparams.lr_factors: 5 is not a regex"),
    ("conv_tasnet_params.symmetries=[foo]", r"conv_tasnet_params: unknown symmetries \['foo'\]"),
    ("conv_tasnet_params.gain_crossovers_hz=[4000, 250]",
     r"conv_tasnet_params: gain_crossovers_hz \[4000, 250\]: rising frequencies"),
])
def test_bad_keys_and_types_are_clear_errors(override, message):
    with pytest.raises(DelimitError, match=message):
        load_config("delimit_6_s", [override])


def test_unknown_key_in_a_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("hyperparams:\n  learning_rate: 0.1\n")
    with pytest.raises(DelimitError, match="bad.yaml: unknown key hyperparams.learning_rate"):
        load_config(str(path))


def test_missing_config_is_a_clear_error():
    with pytest.raises(DelimitError, match="no such config"):
        load_config("does_not_exist")


def test_defaults_cover_the_reference_json_args():
    import json

    from tests.conftest import DATA_DIR

    with open(os.path.join(DATA_DIR, "reference_all.json")) as f:
        args = json.load(f)["args"]
    known = defaults()
    for group, keys in args.items():
        if isinstance(keys, dict) and group in known:
            assert set(keys) <= set(known[group]), group


def test_keys_that_do_nothing_here_warn_when_set(capsys):
    load_config("delimit_6_s", ["data_params.nfft=2048", "sys_params.port=29500"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: sys_params.port=29500 has no effect here (a key of the reference's "
                   "config that this project does not read)",
                   "warning: data_params.nfft=2048 has no effect here (a key of the reference's "
                   "config that this project does not read)"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_set_no_key_that_does_nothing(name, capsys):
    load_config(name)
    assert capsys.readouterr().err == ""


def test_keys_that_do_nothing_are_schema_keys():
    from utils.training.config import NO_EFFECT, SCHEMA

    for group, keys in NO_EFFECT.items():
        assert set(keys) <= set(SCHEMA[group]), group


def test_null_target_loudness_takes_the_schema_default():
    config = load_config("delimit_6_s")  # writes null for both, as the reference's config does
    assert config["data_params"]["limitaug_custom_target_lufs"] == -8.0
    assert config["data_params"]["limitaug_custom_target_lufs_std"] == 1.0


def test_an_architecture_the_trainer_does_not_build_is_refused():
    with pytest.raises(DelimitError, match="model_loss_params.architecture"):
        load_config("smoke", ["model_loss_params.architecture=conv_tasnet"])
