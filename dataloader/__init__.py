"""Training and validation datasets (torch Datasets of float32 (2, time) tensors).

    train_dataset, valid_dataset = build_datasets(config)

picks MusdbXLTrainDataset (a prepared musdb-XL-train, dir_params.ozone_root) or OnTheFlyDataset
(stems limited while training) and a ValidDataset of held-out whole songs.
"""
from dataloader.musdb_xl_train import MusdbXLTrainDataset
from dataloader.on_the_fly import OnTheFlyDataset
from dataloader.valid import ValidDataset
from utils.mixing import split_songs

__all__ = ["MusdbXLTrainDataset", "OnTheFlyDataset", "ValidDataset", "build_datasets",
           "split_songs"]


def build_datasets(cfg):
    """(train_dataset, valid_dataset) for a nested reference config.

    Uses dir_params.root (stems), dir_params.ozone_root (set: MusdbXLTrainDataset, reading
    the rebuilt wavs of dir_params.ozone_wav_root if set; null: OnTheFlyDataset),
    data_params (seq_dur, sample_rate, samples_per_track, use_fixed, target_loudnorm_lufs, and the project's limiter_variety, n_valid_songs, valid_max_seconds,
    limitaug_custom_target_lufs, limitaug_custom_target_lufs_std) and sys_params.seed.
    """
    dirs, data = cfg["dir_params"], cfg["data_params"]
    seed = cfg["sys_params"]["seed"]
    root = dirs["root"]
    sample_rate = data.get("sample_rate", 44100)
    n_valid = data.get("n_valid_songs", 14)
    target_lufs = data.get("limitaug_custom_target_lufs")
    target_std = data.get("limitaug_custom_target_lufs_std")
    target_lufs = -8.0 if target_lufs is None else target_lufs
    target_std = 1.0 if target_std is None else target_std
    common = dict(seq_dur=data.get("seq_dur", 4.0), sample_rate=sample_rate,
                  samples_per_track=data.get("samples_per_track", 128),
                  use_fixed=data.get("use_fixed", 0.019),
                  target_loudnorm_lufs=data.get("target_loudnorm_lufs", -14.0), seed=seed)
    _, valid_songs = split_songs(root, n_valid)
    if dirs.get("ozone_root"):
        wav_root = dirs.get("ozone_wav_root")
        train = MusdbXLTrainDataset(root, dirs["ozone_root"], n_valid=n_valid,
                                    from_ratio=wav_root is None, wav_root=wav_root, **common)
    else:
        train = OnTheFlyDataset(root, "train", target_lufs_mean=target_lufs,
                                target_lufs_std=target_std,
                                limiter_variety=data.get("limiter_variety", "wide"),
                                valid_songs=valid_songs, **common)
    valid = ValidDataset(root, valid_songs, sample_rate=sample_rate,
                         target_loudnorm_lufs=common["target_loudnorm_lufs"],
                         max_seconds=data.get("valid_max_seconds"), seed=seed,
                         target_lufs_mean=target_lufs, target_lufs_std=target_std)
    return train, valid
