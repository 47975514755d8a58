"""Training pairs mixed from stems and limited while training (no prepared dataset needed)."""
import numpy as np
import torch

from utils.data.mixing import (
    MAX_REDRAWS,
    coherent_row,
    draw_row,
    list_songs,
    mix_from_row,
    split_songs,
    stem_frames,
)
from utils.errors import DelimitError
from utils.limiters.compressor import mix_bus, random_bus_params
from utils.limiters.training import check_designs, check_variety, limit_for_training, premaster
from utils.loudness import gain_between, integrated_loudness


def to_tensor(audio):
    """float32 torch tensor (channels, time) from a numpy array."""
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))


class OnTheFlyDataset(torch.utils.data.Dataset):
    """Random stem mixes limited live by the project's training limiters.

    Item i, a pair of float32 tensors (2, round(seq_dur * sample_rate)):
        limited: the mix through utils.limiters.training.limit_for_training (one of `designs`,
            or unlimited with probability unlimited_prob) at a target loudness drawn from
            N(target_lufs_mean, target_lufs_std) LUFS;
        target: the unlimited mix normalised to target_loudnorm_lufs.
    The mix is drawn as musdb-XL-train's (each stem from a random song at a random start, gain
    U(0.25, 1.25), channel swap p=0.5; silent mixes redrawn) or, with probability use_fixed, a
    coherent window of one song (its 4 stems at the same start, gain 1, no swap). With mix_bus,
    the summed mix goes (with probability mix_bus_prob) through a mix-bus stage (glue
    compression and gentle saturation, utils.limiters.compressor.mix_bus) first, as real mixes
    do. With premaster_prob, the mix may then be mastered loud, as records often are. Only the
    window of each stem is read from disk. Item i is a function of (seed, epoch, i) alone.

    Args:
        root: musdb18-HQ layout, stems at root/train/{song}/{stem}.wav (44.1 kHz).
        split: "train" (songs not held out) or "valid" (the held-out songs).
        seq_dur: segment length in seconds.
        sample_rate: the stems' rate (others are refused).
        samples_per_track: items per song per epoch (len = samples_per_track * songs).
        use_fixed: probability of a coherent one-song window.
        target_loudnorm_lufs: loudness of the target.
        target_lufs_mean, target_lufs_std: distribution of the limited input's loudness.
        limiter_variety: "wide" (random_limiter_params) or "reference" (Gamma character only).
        designs: training limiter designs (utils.limiters.training.TRAINING_DESIGNS).
        unlimited_prob: share of items left unlimited (target = input).
        mix_bus: pass each mix through the mix-bus stage.
        mix_bus_prob: with mix_bus, the share of mixes that go through it.
        premaster_prob: the share of mixes mastered (utils.limiters.training.premaster, to
            U(premaster_lufs) LUFS) before anything else; the mastered mix is the original.
        valid_songs: held-out song names; None: split_songs(root, n_valid).
        n_valid: held-out songs of a folder without musdb's validation songs.
        seed: base seed.
    """

    def __init__(self, root, split="train", seq_dur=4.0, sample_rate=44100,
                 samples_per_track=128, use_fixed=0.019, target_loudnorm_lufs=-14.0,
                 target_lufs_mean=-8.0, target_lufs_std=1.0, limiter_variety="wide",
                 valid_songs=None, n_valid=14, seed=777, designs=("maximizer",),
                 unlimited_prob=0.0, mix_bus=False, mix_bus_prob=1.0, premaster_prob=0.0,
                 premaster_lufs=(-13.0, -7.0)):
        if split not in ("train", "valid"):
            raise DelimitError(f"split must be 'train' or 'valid', got {split!r}")
        check_variety(limiter_variety)
        check_designs(designs)
        if valid_songs is None:
            train, valid = split_songs(root, n_valid)
        else:
            valid = list(valid_songs)
            train = [s for s in list_songs(root) if s not in valid]
        self.songs = train if split == "train" else valid
        if not self.songs:
            raise DelimitError(f"{root}: no {split} songs")
        self.root = root
        self.n_samples = int(round(seq_dur * sample_rate))
        self.sample_rate = sample_rate
        self.samples_per_track = samples_per_track
        self.use_fixed = use_fixed
        self.target_loudnorm_lufs = target_loudnorm_lufs
        self.target_lufs_mean = target_lufs_mean
        self.target_lufs_std = target_lufs_std
        self.limiter_variety = limiter_variety
        self.designs = tuple(designs)
        self.unlimited_prob = unlimited_prob
        self.mix_bus = mix_bus
        self.mix_bus_prob = mix_bus_prob
        self.premaster_prob = premaster_prob
        self.premaster_lufs = tuple(premaster_lufs)
        self.seed = seed
        self.epoch = 0
        self.lengths = stem_frames(root, self.songs, sample_rate)  # frame counts only

    def set_epoch(self, epoch):
        """Items depend on (seed, epoch, index): call before each epoch."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.samples_per_track * len(self.songs)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        coherent = rng.random() < self.use_fixed
        mix, mix_lufs = self.draw_mix(rng, coherent)
        # no draw at probability 1, so that the items of runs made before mix_bus_prob existed
        # stay what they were (a resumed run goes on with the same items)
        if self.mix_bus and (self.mix_bus_prob >= 1.0 or rng.random() < self.mix_bus_prob):
            mix = mix_bus(mix, self.sample_rate, **random_bus_params(rng))
            mix_lufs = integrated_loudness(mix, self.sample_rate)
        if self.premaster_prob and rng.random() < self.premaster_prob:
            mix, mix_lufs = premaster(mix, self.sample_rate, rng, self.designs,
                                      self.limiter_variety, self.premaster_lufs)
        target_lufs = rng.normal(self.target_lufs_mean, self.target_lufs_std)
        limited = limit_for_training(mix, self.sample_rate, rng, target_lufs, self.designs,
                                     self.limiter_variety, self.unlimited_prob)
        # = normalize_loudness(mix, ...), reusing the loudness measured when drawing the mix
        target = mix * np.float32(gain_between(mix_lufs, self.target_loudnorm_lufs))
        return to_tensor(limited), to_tensor(target)

    def draw_mix(self, rng, coherent):
        """(mix float32 (2, n_samples), its loudness in LUFS), a mix that is not silent."""
        for _ in range(MAX_REDRAWS):
            if coherent:
                song = self.songs[int(rng.integers(len(self.songs)))]
                frames = min(self.lengths[song].values())
                start = int(rng.integers(max(1, frames - self.n_samples + 1)))
                row = coherent_row(song, start / self.sample_rate)
            else:
                row = draw_row(rng, self.songs, self.lengths, self.n_samples, self.sample_rate)
            mix = mix_from_row(self.root, row, self.n_samples / self.sample_rate,
                               self.sample_rate)
            lufs = integrated_loudness(mix, self.sample_rate)
            if np.isfinite(lufs):
                return mix, lufs
        raise DelimitError(f"{self.root}: {MAX_REDRAWS} silent mixes in a row; "
                           f"are the stems silent?")
