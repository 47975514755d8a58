"""Validation pairs: whole held-out songs, each limited once, deterministically."""
import numpy as np
import torch

from dataloader.on_the_fly import to_tensor
from utils.data.mixing import mix_song, song_name_hash, stem_frames
from utils.errors import DelimitError
from utils.limiters.training import check_designs, check_variety, limit_for_training
from utils.loudness import normalize_loudness


class ValidDataset(torch.utils.data.Dataset):
    """Held-out songs (or their first max_seconds), limited once and cached in memory.

    Each song's limiter settings come from a generator seeded by (seed, song name), so they do
    not depend on which other songs are in the set: a target loudness drawn from
    N(target_lufs_mean, target_lufs_std), one of `designs` and its settings
    (utils.limiters.training.limit_for_training; with the maximizer alone, exactly the
    maximizer's draws of earlier versions). Songs are processed on first access (each process of
    a distributed run only pays for its share).

    Item i: (limited, target, song_name), the tensors float32 (2, time); target = the unlimited
    mix normalised to target_loudnorm_lufs.

    Args:
        root: musdb18-HQ layout, stems at root/train/{song}/{stem}.wav.
        valid_songs: song names.
        sample_rate: the stems' rate.
        target_loudnorm_lufs: loudness of the target.
        max_seconds: use only the first max_seconds of each song (None: whole songs).
        seed: base seed.
        target_lufs_mean, target_lufs_std: distribution of the limited input's loudness.
        limiter_variety: "wide" or "reference" (see utils.limiters.training.draw_limiter_params).
        designs: training limiter designs (utils.limiters.training.TRAINING_DESIGNS).
    """

    def __init__(self, root, valid_songs, sample_rate=44100, target_loudnorm_lufs=-14.0,
                 max_seconds=None, seed=777, target_lufs_mean=-8.0, target_lufs_std=1.0,
                 limiter_variety="wide", designs=("maximizer",)):
        check_variety(limiter_variety)
        check_designs(designs)
        self.songs = list(valid_songs)
        if not self.songs:
            raise DelimitError(f"{root}: no validation songs")
        self.lengths = stem_frames(root, self.songs, sample_rate)  # fails now on a bad stem
        self.root = root
        self.sample_rate = sample_rate
        self.target_loudnorm_lufs = target_loudnorm_lufs
        self.n_samples = None if max_seconds is None else int(round(max_seconds * sample_rate))
        self.seed = seed
        self.target_lufs_mean = target_lufs_mean
        self.target_lufs_std = target_lufs_std
        self.limiter_variety = limiter_variety
        self.designs = tuple(designs)
        self._cache = {}

    def __len__(self):
        return len(self.songs)

    def __getitem__(self, index):
        song = self.songs[index]
        if song not in self._cache:
            self._cache[song] = self._make(song)
        limited, target = self._cache[song]
        return limited, target, song

    def _make(self, song):
        n = max(self.lengths[song].values())
        if self.n_samples is not None:
            n = min(n, self.n_samples)
        mix = mix_song(self.root, song, 0.0, n, self.sample_rate)
        rng = np.random.default_rng([self.seed, song_name_hash(song)])
        target_lufs = rng.normal(self.target_lufs_mean, self.target_lufs_std)
        limited = limit_for_training(mix, self.sample_rate, rng, target_lufs, self.designs,
                                     self.limiter_variety)
        target = normalize_loudness(mix, self.sample_rate, self.target_loudnorm_lufs)
        return to_tensor(limited), to_tensor(target)
