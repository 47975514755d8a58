"""Training pairs from musdb-XL-train (CSV rows + gain ratios, or its rebuilt wavs)."""
import os

import numpy as np
import soundfile as sf
import torch

from dataloader.on_the_fly import to_tensor
from utils.data.mixing import (
    FIXED_COLUMNS,
    RANDOM_COLUMNS,
    STEMS,
    apply_ratio,
    coherent_row,
    load_ratio,
    mix_from_row,
    parse_bool,
    random_csv_paths,
    read_csv_rows,
    split_songs,
    stem_frames,
)
from utils.errors import DelimitError
from utils.loudness import normalize_loudness


class MusdbXLTrainDataset(torch.utils.data.Dataset):
    """The reference's training set over the musdb-XL-train layout.

    Item i, a pair of float32 tensors (2, round(seq_dur * sample_rate)):
        limited: a stored limited segment (rebuilt from CSV row + stems + ratio with the same
            utils.data.mixing functions as prepro/save_musdb_XL_train_wave.py, or read from its
            wavs);
        target: the unlimited mix of the same stems, gains and swaps, normalised to
            target_loudnorm_lufs.
    With probability use_fixed a random window of a whole limited training song ("fixed") is
    used instead. Validation songs are never drawn as fixed songs (the reference's fixed set
    held them). Item i is a function of (seed, epoch, i): the random segments are visited in a
    seeded permutation that continues across epochs, so every segment is used before any
    repeats.

    Args:
        root: musdb18-HQ root (stems at root/train/{song}/{stem}.wav).
        ozone_root: musdb-XL-train root (ozone_train_random_{i}.csv, ozone_train_fixed.csv,
            np_ratio/).
        seq_dur: segment length in seconds (the stored segments' length).
        sample_rate: 44100.
        use_fixed: probability of a fixed-song window.
        target_loudnorm_lufs: loudness of the target.
        samples_per_track: len = samples_per_track * training songs.
        from_ratio: rebuild the limited input from the ratio .npy files; else read wav_root.
        wav_root: output folder of save_musdb_XL_train_wave (ozone_train_random/*.wav,
            ozone_train_fixed/*.wav).
        seed: base seed.
        n_valid: held-out songs where root has none of musdb's validation songs.
    """

    def __init__(self, root, ozone_root, seq_dur=4.0, sample_rate=44100, use_fixed=0.019,
                 target_loudnorm_lufs=-14.0, samples_per_track=128, from_ratio=True,
                 wav_root=None, seed=777, n_valid=14):
        if not from_ratio and wav_root is None:
            raise DelimitError("MusdbXLTrainDataset: from_ratio=False needs wav_root")
        if not os.path.isdir(ozone_root):
            raise DelimitError(f"{ozone_root}: no such folder (musdb-XL-train root)")
        self.root, self.ozone_root, self.wav_root = root, ozone_root, wav_root
        self.from_ratio = from_ratio
        self.seq_dur = seq_dur
        self.n_samples = int(round(seq_dur * sample_rate))
        self.sample_rate = sample_rate
        self.use_fixed = use_fixed
        self.target_loudnorm_lufs = target_loudnorm_lufs
        self.seed = seed
        self.epoch = 0
        train, valid = split_songs(root, n_valid)
        self.n_items = samples_per_track * len(train)
        self._load_random_rows()
        self.fixed_songs = self._fixed_songs(train, valid)
        self.fixed_frames = {song: min(lengths.values()) for song, lengths
                             in stem_frames(root, self.fixed_songs, sample_rate).items()}
        self._permutations = {}

    def _load_random_rows(self):
        # Compact arrays instead of 300,000 dicts: the set is copied into every loader worker.
        paths = random_csv_paths(self.ozone_root)
        if not paths:
            raise DelimitError(f"{self.ozone_root}: no ozone_train_random_*.csv")
        names, stems, starts, gains, swaps = [], [], [], [], []
        song_index = {}
        for path in paths:
            for row in read_csv_rows(path, RANDOM_COLUMNS):
                try:
                    names.append(row["song_name"])
                    stems.append([song_index.setdefault(row[f"{s}_name"], len(song_index))
                                  for s in STEMS])
                    starts.append([float(row[f"{s}_start_sec"]) for s in STEMS])
                    gains.append([float(row[f"{s}_gain"]) for s in STEMS])
                    swaps.append([parse_bool(row[f"{s}_channelswap"]) for s in STEMS])
                except (ValueError, DelimitError) as error:
                    raise DelimitError(f"{path}: row {row.get('song_name')}: {error}") from None
        self.segment_names = names
        self.segment_songs = list(song_index)
        self.segment_stems = np.array(stems, dtype=np.int32)
        self.segment_starts = np.array(starts, dtype=np.float64)
        self.segment_gains = np.array(gains, dtype=np.float64)
        self.segment_swaps = np.array(swaps, dtype=bool)

    def _fixed_songs(self, train, valid):
        path = os.path.join(self.ozone_root, "ozone_train_fixed.csv")
        if not os.path.exists(path) or self.use_fixed <= 0:
            return []
        listed = [row["song_name"] for row in read_csv_rows(path, FIXED_COLUMNS)]
        return [song for song in listed if song in train and song not in valid]

    def set_epoch(self, epoch):
        """Items depend on (seed, epoch, index): call before each epoch."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.n_items

    def row(self, segment):
        """CSV row (dict) of random segment number `segment` (position in the CSVs)."""
        row = {"song_name": self.segment_names[segment]}
        for k, stem in enumerate(STEMS):
            row[f"{stem}_name"] = self.segment_songs[self.segment_stems[segment, k]]
            row[f"{stem}_start_sec"] = self.segment_starts[segment, k]
            row[f"{stem}_gain"] = self.segment_gains[segment, k]
            row[f"{stem}_channelswap"] = self.segment_swaps[segment, k]
        return row

    def segment_for(self, epoch, index):
        """Which random segment item `index` of `epoch` uses: position epoch * len + index of
        an endless sequence of seeded permutations of all segments."""
        n = len(self.segment_names)
        position = epoch * self.n_items + index
        cycle = position // n
        if cycle not in self._permutations:
            if len(self._permutations) > 2:
                self._permutations.clear()
            self._permutations[cycle] = np.random.default_rng(
                [self.seed, 1, cycle]).permutation(n)
        return int(self._permutations[cycle][position % n])

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        if self.fixed_songs and rng.random() < self.use_fixed:
            mix, limited = self.fixed_window(rng)
        else:
            mix, limited = self.random_segment(self.segment_for(self.epoch, int(index)))
        target = normalize_loudness(mix, self.sample_rate, self.target_loudnorm_lufs)
        return to_tensor(limited), to_tensor(target)

    def random_segment(self, segment):
        """(mix, limited), float32 (2, n_samples) each, of one stored random segment."""
        name = self.segment_names[segment]
        mix = mix_from_row(self.root, self.row(segment), self.seq_dur, self.sample_rate)
        if self.from_ratio:
            path = os.path.join(self.ozone_root, "np_ratio", "ozone_train_random", f"{name}.npy")
            limited = apply_ratio(mix, load_ratio(path, 0, self.n_samples))
        else:
            path = os.path.join(self.wav_root, "ozone_train_random", f"{name}.wav")
            limited = self._read_wav(path, 0)
        return mix, limited

    def fixed_window(self, rng):
        """(mix, limited) of a random window of a random fixed song."""
        song = self.fixed_songs[int(rng.integers(len(self.fixed_songs)))]
        start = int(rng.integers(max(1, self.fixed_frames[song] - self.n_samples + 1)))
        mix = mix_from_row(self.root, coherent_row(song, start / self.sample_rate),
                           self.seq_dur, self.sample_rate)
        if self.from_ratio:
            path = os.path.join(self.ozone_root, "np_ratio", "ozone_train_fixed", f"{song}.npy")
            limited = apply_ratio(mix, load_ratio(path, start, self.n_samples))
        else:
            path = os.path.join(self.wav_root, "ozone_train_fixed", f"{song}.wav")
            limited = self._read_wav(path, start)
        return mix, limited

    def _read_wav(self, path, start):
        try:
            audio, _ = sf.read(path, frames=self.n_samples, start=start, dtype="float32",
                               always_2d=True, fill_value=0.0)
        except (RuntimeError, OSError) as error:
            reason = "no such file" if not os.path.exists(path) else str(error)
            raise DelimitError(f"{path}: cannot read rebuilt wav ({reason})") from None
        return np.ascontiguousarray(audio.T)
