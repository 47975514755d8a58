"""Training and validation datasets (torch Datasets of float32 (2, time) tensors).

    train_dataset, valid_dataset = build_datasets(config)

Training items come from up to three sources, mixed by data_params.source_weights: whole songs
(SongDataset, dir_params.song_root), generated or musdb18-HQ stems limited live
(OnTheFlyDataset, dir_params.root) and a prepared musdb-XL-train (MusdbXLTrainDataset,
dir_params.ozone_root). Validation: held-back songs when songs are a source, otherwise
held-out stem songs (ValidDataset).
"""
import os

import numpy as np
import torch

from dataloader.musdb_xl_train import MusdbXLTrainDataset
from dataloader.on_the_fly import OnTheFlyDataset
from dataloader.songs import (
    MIN_SONG_SECONDS,
    VALID_EXCERPT_SECONDS,
    SongCache,
    SongDataset,
    SongValidDataset,
    build_song_cache,
    split_song_list,
)
from dataloader.valid import ValidDataset
from utils.audio import MODEL_RATE
from utils.data.mixing import split_songs
from utils.limiters.training import split_bands
from utils.loudness import gain_between, integrated_loudness

__all__ = ["BassAlone", "InvertedPolarity", "MusdbXLTrainDataset", "OnTheFlyDataset",
           "SongDataset", "SongValidDataset", "ValidDataset", "WeightedSources", "build_datasets",
           "song_cache_dir", "source_weights", "split_songs"]


class InvertedPolarity(torch.utils.data.Dataset):
    """A validation set's items (limited, target, name) with input and target negated: a
    limiter's gain depends on |x| alone, so a de-limiter should score alike on them."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        limited, target, name = self.items[index]
        return -limited, -target, name


class BassAlone(torch.utils.data.Dataset):
    """A validation set's targets reduced to their bass (below crossover_hz, split_bands' low
    band) at target_lufs, each an unlimited item (input = target). The do-no-harm set's worst
    excerpt is a bass passage whose level pulses, which the validation's unlimited items, whole
    mixes, do not show: this scores how much a model changes bass that no limiter touched.
    Measured on seven models, it does not rank them as that excerpt does (docs/experiments.md):
    a diagnostic, not a stand-in for it. Targets whose bass is under -60 LUFS are left out."""

    def __init__(self, items, crossover_hz=150.0, target_lufs=-14.0):
        self.items = []
        for index in range(len(items)):
            _, target, name = items[index]
            bass = split_bands(target.numpy(), MODEL_RATE, [crossover_hz])[0]
            lufs = integrated_loudness(bass, MODEL_RATE)
            if np.isfinite(lufs) and lufs > -60.0:
                bass = torch.from_numpy((bass * gain_between(lufs, target_lufs)).astype(np.float32))
                self.items.append((bass, bass, f"{name} bass"))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


class WeightedSources(torch.utils.data.Dataset):
    """Items drawn from several datasets with fixed shares.

    Item i picks source k with probability weights[k] and one of its items uniformly, from a
    generator seeded by (seed, epoch, i); len = the sum of the sources' lengths.
    """

    def __init__(self, datasets, weights, seed=777):
        self.datasets = list(datasets)
        weights = np.asarray(weights, np.float64)
        self.p = weights / weights.sum()
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def __len__(self):
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index), 1])
        dataset = self.datasets[int(rng.choice(len(self.datasets), p=self.p))]
        return dataset[int(rng.integers(len(dataset)))]


def song_cache_dir(dirs):
    """Where dir_params.song_root's decoded cache lives."""
    if dirs["song_cache"]:
        return dirs["song_cache"]
    name = os.path.basename(os.path.normpath(os.path.abspath(dirs["song_root"])))
    return os.path.join("data", "song_cache", name)


def source_weights(cfg):
    """data_params.source_weights, or when null the one source the folders name: musdb-XL-train
    when dir_params.ozone_root is set, else the stems."""
    return cfg["data_params"]["source_weights"] or {
        "musdb_xl" if cfg["dir_params"]["ozone_root"] else "stems": 1.0}


def build_datasets(cfg):
    """(train_dataset, valid_dataset) for a nested config validated by utils.training.config
    (every key present). Every value the config drives is passed, so that no dataset default
    applies."""
    dirs, data = cfg["dir_params"], cfg["data_params"]
    seed = cfg["sys_params"]["seed"]
    target_lufs = data["limitaug_custom_target_lufs"]
    target_std = data["limitaug_custom_target_lufs_std"]
    weights = source_weights(cfg)
    limits = dict(limiter_variety=data["limiter_variety"], designs=data["limiter_designs"])
    premastering = dict(premaster_prob=data["premaster_prob"],
                        premaster_lufs=tuple(data["premaster_lufs"]))
    valid_limits = dict(limits, designs=data["valid_limiter_designs"] or data["limiter_designs"])
    train, shares, valid = [], [], None
    if weights.get("songs"):
        cache_root = song_cache_dir(dirs)
        cache = SongCache(cache_root, build_song_cache(dirs["song_root"], cache_root))
        # Shorter files are jingles and sound effects, not songs to learn or judge on.
        songs = [s for s, n in cache.frames.items() if n >= MIN_SONG_SECONDS * MODEL_RATE]
        train_songs, valid_songs = split_song_list(songs)
        train.append(SongDataset(cache, train_songs, seq_dur=data["seq_dur"],
                                 items_per_song=data["samples_per_track"],
                                 target_loudnorm_lufs=data["target_loudnorm_lufs"],
                                 target_lufs_mean=target_lufs, target_lufs_std=target_std,
                                 unlimited_prob=data["unlimited_prob"], seed=seed,
                                 bass_only_prob=data["bass_only_prob"],
                                 bass_only_hz=tuple(data["bass_only_hz"]),
                                 bass_only_unlimited_prob=data["bass_only_unlimited_prob"],
                                 **premastering, **limits))
        shares.append(weights["songs"])
        seconds = data["valid_max_seconds"] or VALID_EXCERPT_SECONDS
        # The validation spread stays 1 LU (the class's), whatever the training spread.
        valid = SongValidDataset(cache, valid_songs, seconds=seconds,
                                 target_loudnorm_lufs=data["target_loudnorm_lufs"],
                                 target_lufs_mean=target_lufs, seed=seed, **valid_limits)
    if weights.get("stems") or weights.get("musdb_xl") or valid is None:
        root = dirs["root"]
        n_valid = data["n_valid_songs"]
        common = dict(seq_dur=data["seq_dur"], sample_rate=data["sample_rate"],
                      samples_per_track=data["samples_per_track"], use_fixed=data["use_fixed"],
                      target_loudnorm_lufs=data["target_loudnorm_lufs"], seed=seed)
        _, valid_songs = split_songs(root, n_valid)
        if weights.get("musdb_xl"):
            wav_root = dirs["ozone_wav_root"]
            train.append(MusdbXLTrainDataset(root, dirs["ozone_root"], n_valid=n_valid,
                                             from_ratio=wav_root is None, wav_root=wav_root,
                                             **common))
            shares.append(weights["musdb_xl"])
        if weights.get("stems"):
            train.append(OnTheFlyDataset(root, "train", target_lufs_mean=target_lufs,
                                         target_lufs_std=target_std, valid_songs=valid_songs,
                                         unlimited_prob=data["unlimited_prob"],
                                         mix_bus=data["mix_bus"], mix_bus_prob=data["mix_bus_prob"],
                                         **premastering, **limits, **common))
            shares.append(weights["stems"])
        if valid is None:
            valid = ValidDataset(root, valid_songs, sample_rate=data["sample_rate"],
                                 target_loudnorm_lufs=data["target_loudnorm_lufs"],
                                 max_seconds=data["valid_max_seconds"], seed=seed,
                                 target_lufs_mean=target_lufs, target_lufs_std=target_std,
                                 **valid_limits)
    if data["valid_both_polarities"]:
        # Records come in either polarity; selection on one would reward a model for
        # preferring the training music's own.
        valid = torch.utils.data.ConcatDataset([valid, InvertedPolarity(valid)])
    return (train[0] if len(train) == 1 else WeightedSources(train, shares, seed)), valid
