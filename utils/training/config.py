"""Training configs: YAML files of the reference's groups and keys, command-line overrides,
and one validation pass at start-up.

A config is a nested dict `{group: {key: value}}`. Every key the project knows is listed in
SCHEMA with its type(s) and default, the only place where a config default is written; a YAML
file may leave keys out (they take the default) but may not name a key that is not here, and
every value must have one of the listed types. Keys of the reference that this project does not
read (NO_EFFECT) are accepted, so that the reference's configs load, and a value other than
their default prints a warning.
"""
import os
import re
import sys

import yaml

from models.conv_tasnet import ARCHITECTURE, check_crossovers, check_symmetries
from utils.errors import DelimitError
from utils.limiters.training import check_designs, check_variety

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(REPO, "configs")

NUM = (int, float)
OPT_STR = (str, type(None))
OPT_NUM = (int, float, type(None))

# group -> key -> (allowed types, default). Keys marked "project" are this project's additions.
SCHEMA = {
    "wandb_params": {
        "use_wandb": (bool, False),
        "entity": (OPT_STR, None),
        "project": (str, "delimit"),
        "rerun_id": (OPT_STR, None),
        "sweep": (bool, False),
    },
    "sys_params": {
        "nb_workers": (int, 4),
        "seed": (int, 777),
        "n_nodes": (int, 1),
        "port": ((int, str, type(None)), None),
        "rank": (int, 0),
        "world_size": (int, 1),
        "device": (str, "auto"),  # project: auto | cpu | cuda
        "num_threads": ((int, type(None)), None),  # project: torch CPU threads per process
    },
    "task_params": {
        "target": (str, "all"),
        "train": (bool, True),
        "dataset": (str, "delimit"),
        "bleeding_nsrcs": ((int, type(None)), None),
    },
    "dir_params": {
        "root": (str, "./data/stems"),
        "output_directory": (str, "./results"),
        "exp_name": (str, "delimit"),
        "resume": ((bool, str, type(None)), None),
        "continual_train": (bool, False),
        # project: weights (a folder with all.pth, or a .pth) that a new run starts from when
        # dir_params.resume finds no checkpoint of its own
        "init_weights": (OPT_STR, None),
        "delimit_valid_root": (OPT_STR, None),
        "delimit_valid_L_root": (OPT_STR, None),
        "ozone_root": (OPT_STR, None),
        # project: the wavs rebuilt by prepro/save_musdb_XL_train_wave.py from ozone_root;
        # null: rebuild each limited segment from its gain ratio on the fly
        "ozone_wav_root": (OPT_STR, None),
        "pretrained_classifier": (OPT_STR, None),
        # project: a folder of whole songs (any formats, sub-folders) to train on, and where
        # their decoded cache goes (null: ./data/song_cache/{the folder's name})
        "song_root": (OPT_STR, None),
        "song_cache": (OPT_STR, None),
    },
    "hyperparams": {
        "batch_size": (int, 8),
        "epochs": (int, 200),
        "optimizer": (str, "adamw"),
        "weight_decay": (NUM, 0.01),
        "lr": (NUM, 3e-5),
        "lr_decay_gamma": (NUM, 0.5),
        "lr_decay_patience": (int, 15),
        "lr_scheduler": (OPT_STR, "step_lr"),
        # project: plateau floor; default lr / 100 (the reference's was above lr)
        "min_lr": (OPT_NUM, None),
        "patience": (int, 50),
        "gradient_clip": (OPT_NUM, 5.0),
        "ema": (bool, False),
        "ema_decay": (NUM, 0.999),  # project
        "log_every": (int, 50),  # project: a log line every N steps
        "checkpoint_every": (int, 0),  # project: also checkpoint every N steps (0: per epoch only)
        "max_hours": (OPT_NUM, None),  # project: stop cleanly after this much wall time
        # project: {regex: factor}: parameters whose name matches a regex (re.search; the first
        # that matches) learn at lr x factor, e.g. blocks added by models.extend_context
        "lr_factors": ((dict, type(None)), None),
    },
    "data_params": {
        "nfft": (int, 4096),
        "nhop": (int, 1024),
        "nb_channels": (int, 2),
        "sample_rate": (int, 44100),
        "seq_dur": (NUM, 4.0),
        "samples_per_track": (int, 128),
        "limitaug_method": (OPT_STR, "ozone"),
        "limitaug_mode": (OPT_STR, None),
        # the limited input's loudness is drawn from N(lufs, std) LUFS (null: these defaults)
        "limitaug_custom_target_lufs": (OPT_NUM, -8.0),
        "limitaug_custom_target_lufs_std": (OPT_NUM, 1.0),
        "target_limitaug_mode": (OPT_STR, None),
        "target_limitaug_custom_target_lufs": (OPT_NUM, None),
        "target_limitaug_custom_target_lufs_std": (OPT_NUM, None),
        "custom_limiter_attack_range": ((list, type(None)), None),
        "custom_limiter_release_range": ((list, type(None)), None),
        "target_loudnorm_lufs": (NUM, -14.0),
        "random_mix": (bool, True),
        "use_fixed": (NUM, 0.019),
        "singleset_num_frames": ((int, type(None)), None),
        "limiter_variety": (str, "wide"),  # project: wide | reference
        "n_valid_songs": (int, 14),  # project: held-out songs of a generated stem folder
        # project: validate on the first N s of each stem song (null: whole songs), or on
        # excerpts of N s of each held-back real song (null: 10 s)
        "valid_max_seconds": (OPT_NUM, None),
        # project: {n_songs, seconds, seed}: generate dir_params.root with prepro.make_stems if
        # missing
        "generate_stems": ((dict, type(None)), None),
        # project: {songs, stems, musdb_xl}: the share of training items from each source
        # (null: the stems, or musdb-XL-train when dir_params.ozone_root is set)
        "source_weights": ((dict, type(None)), None),
        "limiter_designs": (list, ["maximizer"]),  # project: utils.limiters.training designs
        # project: the designs that limit the validation songs (held-back songs, or held-out
        # stem songs) for model selection (null: the training designs); a design left out of
        # training measures how the model does on a limiter it never saw
        "valid_limiter_designs": ((list, type(None)), None),
        "unlimited_prob": (NUM, 0.0),  # project: share of items left unlimited (target = input)
        "mix_bus": (bool, False),  # project: generated mixes through a mix-bus stage
        # project: with mix_bus, the share of generated mixes that go through it (the rest stay
        # raw, as the generated evaluation sets are)
        "mix_bus_prob": (NUM, 1.0),
        # project: the share of training originals (songs and stem mixes) mastered loud first
        # (utils.limiters.training.premaster), to a loudness drawn from U(premaster_lufs)
        "premaster_prob": (NUM, 0.0),
        "premaster_lufs": (list, [-13.0, -7.0]),
        # project: the share of song windows replaced by their bass alone (the part below a
        # crossover drawn from U(bass_only_hz) in log; utils.limiters.training.low_band)
        "bass_only_prob": (NUM, 0.0),
        "bass_only_hz": (list, [80.0, 250.0]),
        # project: the share of those bass windows left unlimited (null: unlimited_prob)
        "bass_only_unlimited_prob": (OPT_NUM, None),
        # project: probability of inverting a training item's polarity (input and target)
        "random_polarity": (NUM, 0.0),
        # project: validate on every item and on its polarity-inverted copy
        "valid_both_polarities": (bool, False),
    },
    "model_loss_params": {
        "architecture": (str, "conv_tasnet_mask_on_output"),
        "train_loss_func": (list, ["si_sdr"]),
        "train_loss_scales": (list, [1.0]),
        "valid_loss_func": (list, ["si_sdr"]),
        "valid_loss_scales": (list, [1.0]),
        "efficient_mixit_threshold": (OPT_NUM, None),
        "si_sdr_cap_db": (NUM, 30.0),  # project: the soft cap of the si_sdr_capped loss
    },
    "conv_tasnet_params": {
        "encoder_activation": (str, "relu"),
        "n_filters": (int, 512),
        "kernel_size": (int, 128),
        "stride": (int, 64),
        "n_blocks": (int, 5),
        "n_repeats": (int, 2),
        "bn_chan": (int, 128),
        "hid_chan": (int, 512),
        "skip_chan": (int, 128),
        "mask_act": (str, "relu"),
        "decoder_activation": (str, "sigmoid"),
        "norm_type": ((str, dict, type(None)), "gLN"),
        "symmetries": (list, []),  # project: gain averaged over these copies of the input
        "gain_crossovers_hz": (list, []),  # project: one gain per band between these (Hz)
    },
}

# The reference's keys that nothing here reads (the model, data and processes are set up by the
# other keys and by torchrun): accepted so that its configs load, with a warning when set.
NO_EFFECT = {
    "wandb_params": ("sweep",),
    "sys_params": ("n_nodes", "port", "rank", "world_size"),
    "task_params": ("train", "dataset", "bleeding_nsrcs"),
    "dir_params": ("delimit_valid_root", "delimit_valid_L_root", "pretrained_classifier"),
    "data_params": ("nfft", "nhop", "limitaug_method", "limitaug_mode", "target_limitaug_mode",
                    "target_limitaug_custom_target_lufs",
                    "target_limitaug_custom_target_lufs_std", "custom_limiter_attack_range",
                    "custom_limiter_release_range", "random_mix", "singleset_num_frames"),
    "model_loss_params": ("efficient_mixit_threshold",),
}
# Keys where the reference's configs write null for "unset": null takes the default.
NULL_IS_DEFAULT = (("data_params", "limitaug_custom_target_lufs"),
                   ("data_params", "limitaug_custom_target_lufs_std"))

LOSSES = ("si_sdr", "si_sdr_capped", "mrstft")
SOURCES = ("songs", "stems", "musdb_xl")


def _type_name(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_type(where, value, types):
    types = types if isinstance(types, tuple) else (types,)
    # bool is an int in Python: do not let True pass as a number, nor 1 as a bool.
    if isinstance(value, bool) and bool not in types:
        ok = False
    elif (isinstance(value, int) and not isinstance(value, bool) and bool in types
          and int not in types):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise DelimitError(f"{where}: expected {_type_name(types)}, got {value!r}")


def defaults():
    """A config holding every key at its default."""
    return {g: {k: (list(d) if isinstance(d, list) else d) for k, (_, d) in keys.items()}
            for g, keys in SCHEMA.items()}


def merge(config, overrides, source):
    """Copy `overrides` ({group: {key: value}}) into `config`, refusing unknown keys."""
    if not isinstance(overrides, dict):
        raise DelimitError(f"{source}: expected a mapping of groups, "
                           f"got {type(overrides).__name__}")
    for group, keys in overrides.items():
        if group not in SCHEMA:
            raise DelimitError(f"{source}: unknown group {group!r} (known: {', '.join(SCHEMA)})")
        if not isinstance(keys, dict):
            raise DelimitError(f"{source}: group {group!r} must be a mapping")
        for key, value in keys.items():
            if key not in SCHEMA[group]:
                raise DelimitError(f"{source}: unknown key {group}.{key}")
            config[group][key] = value
    return config


def parse_override(text):
    """'group.key=value' -> {group: {key: value}}, the value parsed as YAML (1e-4, true, null,
    [a])."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise DelimitError(f"override {text!r}: expected group.key=value")
    name, raw = text.split("=", 1)
    group, key = name.split(".", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as err:
        raise DelimitError(f"override {text!r}: value is not valid YAML ({err})") from err
    return {group: {key: value}}


def _yaml_number(value):
    """`value`, or the float it spells if it is a numeric string: YAML reads 1e-4 as a string
    when it is written without a dot."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _check_range(data, key, valid, what):
    """data[key] must be [low, high], two numbers that pass `valid`, low <= high."""
    pair = data[key]
    if (len(pair) != 2 or not all(isinstance(v, NUM) and valid(v) for v in pair)
            or pair[0] > pair[1]):
        raise DelimitError(f"data_params.{key}: {what}, low <= high; got {pair!r}")


def validate(config):
    """Check types and the few relations between keys; raise DelimitError on the first problem."""
    for group, key in NULL_IS_DEFAULT:
        if config[group][key] is None:
            config[group][key] = SCHEMA[group][key][1]
    for group, keys in SCHEMA.items():
        for key, (types, _) in keys.items():
            value = config[group][key]
            allowed = types if isinstance(types, tuple) else (types,)
            if float in allowed:
                value = config[group][key] = _yaml_number(value)
            _check_type(f"{group}.{key}", value, types)
    hp, mlp = config["hyperparams"], config["model_loss_params"]
    for prefix in ("train", "valid"):
        funcs, scales = mlp[f"{prefix}_loss_func"], mlp[f"{prefix}_loss_scales"]
        unknown = [f for f in funcs if f not in LOSSES]
        if unknown or not funcs:
            raise DelimitError(f"model_loss_params.{prefix}_loss_func: {funcs!r}; "
                               f"choose from {', '.join(LOSSES)}")
        if len(scales) != len(funcs):
            raise DelimitError(f"model_loss_params.{prefix}_loss_scales: "
                               "one scale per loss expected")
    if hp["optimizer"] not in ("adamw", "adam"):
        raise DelimitError(f"hyperparams.optimizer: {hp['optimizer']!r}; choose adamw or adam")
    if hp["lr_scheduler"] not in (None, "step_lr", "plateau", "none"):
        raise DelimitError(f"hyperparams.lr_scheduler: {hp['lr_scheduler']!r}; "
                           "choose step_lr (the reference's plateau scheduler), plateau or none")
    if hp["min_lr"] is not None and hp["min_lr"] >= hp["lr"]:
        raise DelimitError(f"hyperparams.min_lr ({hp['min_lr']}) must be below hyperparams.lr "
                           f"({hp['lr']}), or the scheduler never acts")
    for pattern, factor in (hp["lr_factors"] or {}).items():
        try:
            re.compile(pattern)
        except (re.error, TypeError) as err:
            raise DelimitError(f"hyperparams.lr_factors: {pattern!r} is not a regex ({err})")
        factor = hp["lr_factors"][pattern] = _yaml_number(factor)
        if not isinstance(factor, NUM) or isinstance(factor, bool) or factor <= 0:
            raise DelimitError(f"hyperparams.lr_factors: the factor of {pattern!r} must be a "
                               f"positive number, got {factor!r}")
    # the model's own checks, here so that a bad setting stops a run before it makes folders
    model_params = config["conv_tasnet_params"]
    try:
        check_symmetries(model_params["symmetries"])
        check_crossovers(model_params["gain_crossovers_hz"])
    except ValueError as err:
        raise DelimitError(f"conv_tasnet_params: {err}") from None
    for key in ("batch_size", "epochs"):
        if hp[key] < 1:
            raise DelimitError(f"hyperparams.{key}: must be at least 1")
    if config["data_params"]["seq_dur"] <= 0:
        raise DelimitError("data_params.seq_dur: must be positive")
    if config["sys_params"]["device"] not in ("auto", "cpu", "cuda"):
        raise DelimitError("sys_params.device: choose auto, cpu or cuda")
    if config["model_loss_params"]["architecture"] != ARCHITECTURE:
        raise DelimitError(f"model_loss_params.architecture: only {ARCHITECTURE!r} is supported")
    check_variety(config["data_params"]["limiter_variety"])
    check_designs(config["data_params"]["limiter_designs"])
    if config["data_params"]["valid_limiter_designs"] is not None:
        check_designs(config["data_params"]["valid_limiter_designs"])
    for key in ("unlimited_prob", "random_polarity", "mix_bus_prob", "premaster_prob",
                "bass_only_prob", "bass_only_unlimited_prob"):
        value = config["data_params"][key]
        if value is not None and not 0.0 <= value <= 1.0:
            nullable = " or null" if SCHEMA["data_params"][key][0] is OPT_NUM else ""
            raise DelimitError(f"data_params.{key}: must be in [0, 1]{nullable}")
    _check_range(config["data_params"], "premaster_lufs", lambda v: v < 0,
                 "two negative loudnesses [low, high] in LUFS")
    _check_range(config["data_params"], "bass_only_hz", lambda v: v > 0,
                 "two positive crossovers [low, high] in Hz")
    weights = config["data_params"]["source_weights"]
    if weights is not None:
        if set(weights) - set(SOURCES) or not all(isinstance(w, NUM) and w >= 0
                                                  for w in weights.values()):
            raise DelimitError(f"data_params.source_weights: keys among {', '.join(SOURCES)}, "
                               "non-negative numbers")
        if sum(weights.values()) <= 0:
            raise DelimitError("data_params.source_weights: at least one weight must be > 0")
        if weights.get("songs") and not config["dir_params"]["song_root"]:
            raise DelimitError("data_params.source_weights.songs needs dir_params.song_root")
        if weights.get("musdb_xl") and not config["dir_params"]["ozone_root"]:
            raise DelimitError("data_params.source_weights.musdb_xl needs dir_params.ozone_root")
    spec = config["data_params"]["generate_stems"]
    if spec is not None and sorted(spec) != ["n_songs", "seconds", "seed"]:
        raise DelimitError("data_params.generate_stems: expected the keys n_songs, seconds, seed")
    return config


def load_config(name_or_path, overrides=()):
    """Load `configs/{name}.yaml` (or a path), apply 'group.key=value' overrides, validate."""
    path = name_or_path
    if not os.path.isfile(path):
        path = os.path.join(CONFIG_DIR, f"{name_or_path}.yaml")
    if not os.path.isfile(path):
        raise DelimitError(f"{name_or_path}: no such config (looked for {path})")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DelimitError(f"{path}: cannot read config ({err})") from err
    config = merge(defaults(), data, path)
    for text in overrides:
        merge(config, parse_override(text), f"override {text!r}")
    validate(config)
    warn_no_effect(config)
    return config


def warn_no_effect(config):
    """One line on stderr for each NO_EFFECT key whose value is not its default."""
    for group, keys in NO_EFFECT.items():
        for key in keys:
            value, default = config[group][key], SCHEMA[group][key][1]
            if value != default:
                print(f"warning: {group}.{key}={value!r} has no effect here (a key of the "
                      "reference's config that this project does not read)",
                      file=sys.stderr, flush=True)
