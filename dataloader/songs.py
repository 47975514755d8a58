"""Training on whole songs (full mixes, e.g. real records): a decoded cache, and datasets that
draw windows from it and limit them live.

Decoding compressed audio for every item would slow training, so each song is decoded once
into `cache_root/{relative path}.s16`: raw int16 frames, stereo, 44.1 kHz, read through a
memory map (a window costs a few page reads). `cache_root/index.json` records each song's
size, modification time and frame count, so a changed song is decoded again.
"""
import json
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from tqdm import tqdm

from utils.audio import (
    MODEL_RATE,
    AudioReader,
    StreamResampler,
    atomic_path,
    find_audio_files,
    to_pcm,
    to_stereo,
)
from utils.data.mixing import song_name_hash
from utils.errors import DelimitError
from utils.limiters.training import limit_for_training, low_band, premaster
from utils.loudness import gain_between, integrated_loudness

MIN_SONG_SECONDS = 4.0  # shorter files (jingles, sound effects) are not used
VALID_ONE_IN = 12  # about 1 song in 12 is held back for validation
VALID_EXCERPT_SECONDS = 10.0  # validation excerpts when data_params.valid_max_seconds is null


def _decode(song_root, relative, cache_root):
    """Decode one song into its .s16 file; returns its frame count."""
    path = os.path.join(cache_root, relative + ".s16")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = 0
    with AudioReader(os.path.join(song_root, relative)) as reader, atomic_path(path) as tmp, \
            open(tmp, "wb") as out:
        resampler = StreamResampler(reader.sample_rate, MODEL_RATE, 2)
        blocks = reader.blocks()
        for block in blocks:
            frames += _write_s16(out, resampler(to_stereo(block)))
        frames += _write_s16(out, resampler(np.zeros((2, 0), np.float32), last=True))
    return frames


def _write_s16(out, block):
    samples = to_pcm(block, 16).astype("<i2")
    out.write(np.ascontiguousarray(samples.T).tobytes())
    return block.shape[1]


def build_song_cache(song_root, cache_root, workers=None):
    """Decode every song under song_root (recursively) that is not cached yet, on `workers`
    processes (default: one per CPU).

    Returns {relative path: frames} of the songs that decoded; a song that does not is
    reported in one line and left out.
    """
    songs = [os.path.relpath(p, song_root) for p in find_audio_files(song_root, recursive=True)]
    if not songs:
        raise DelimitError(f"{song_root}: no songs (wav, flac, ogg, opus, mp3, aiff)")
    index_path = os.path.join(cache_root, "index.json")
    index = {}
    if os.path.isfile(index_path):
        with open(index_path) as f:
            index = json.load(f)
    stamps = {s: _stamp(os.path.join(song_root, s)) for s in songs}
    todo = [s for s in songs if index.get(s, {}).get("stamp") != stamps[s]
            or not os.path.isfile(os.path.join(cache_root, s + ".s16"))]
    if todo:
        with ProcessPoolExecutor(max(1, workers or os.cpu_count() or 1)) as pool:
            futures = {s: pool.submit(_decode, song_root, s, cache_root) for s in todo}
            for song in tqdm(todo, desc=f"decoding songs into {cache_root}", unit="song"):
                try:
                    index[song] = {"stamp": stamps[song], "frames": futures[song].result()}
                except DelimitError as err:
                    print(f"error: {err}", flush=True)
                    index.pop(song, None)
        os.makedirs(cache_root, exist_ok=True)
        with atomic_path(index_path) as tmp, open(tmp, "w") as f:
            json.dump(index, f, indent=0)
    return {s: index[s]["frames"] for s in songs if s in index}


def _stamp(path):
    info = os.stat(path)
    return [info.st_size, int(info.st_mtime)]


def split_song_list(songs):
    """(train, valid): about one song in VALID_ONE_IN is held back, chosen by a hash of its
    path without the extension, so that adding songs never moves another song between the two
    and a re-encoded copy of the folder (prepro.excerpt_songs) splits the same way (in a small
    folder where the hash picks none, the song of the smallest hash)."""
    def key(song):
        return song_name_hash(os.path.splitext(song)[0])

    valid = [s for s in sorted(songs) if key(s) % VALID_ONE_IN == 0]
    if not valid and len(songs) > 1:
        valid = [min(songs, key=key)]
    return [s for s in sorted(songs) if s not in valid], valid


class SongCache:
    """Memory-mapped windows of the decoded songs."""

    def __init__(self, cache_root, frames):
        self.cache_root = cache_root
        self.frames = dict(frames)
        self._maps = {}

    def window(self, song, start, n):
        """float32 (2, n) from frame `start` (zero-padded past the end)."""
        if song not in self._maps:  # opened lazily: each data-loading process maps its own
            self._maps[song] = np.memmap(os.path.join(self.cache_root, song + ".s16"),
                                         dtype="<i2", mode="r", shape=(self.frames[song], 2))
        part = np.asarray(self._maps[song][start:start + n], np.float32).T / 32768.0
        if part.shape[1] < n:
            part = np.pad(part, ((0, 0), (0, n - part.shape[1])))
        return part


class SongDataset(torch.utils.data.Dataset):
    """Random windows of whole songs, augmented and limited live.

    Item i, a pair of float32 tensors (2, round(seq_dur * 44100)):
        limited: the window (a song drawn with probability proportional to its length, a
            uniform start; level moved by U(-4, 2) dB, channels swapped with p = 0.5) through
            utils.limiters.training.limit_for_training: target loudness N(target_lufs_mean,
            target_lufs_std) clipped to 3 std, one of `designs`, or unlimited with
            probability unlimited_prob. With probability bass_only_prob the window is first
            replaced by its bass (utils.limiters.training.low_band, a crossover drawn from
            bass_only_hz; kept when above -40 LUFS), left unlimited with probability
            bass_only_unlimited_prob (None: unlimited_prob). With probability premaster_prob
            the window is then mastered (utils.limiters.training.premaster: one of `designs` to
            U(premaster_lufs) LUFS) and stands for the original from then on;
        target: the augmented (perhaps bass-only, perhaps mastered) window normalised to
            target_loudnorm_lufs.
    Near-silent windows (below -40 LUFS) are redrawn. Item i is a function of (seed, epoch, i).

    Args:
        cache: a SongCache. songs: the song names (relative paths) to draw from.
        items_per_song: len = items_per_song * len(songs).
        other args: as above.
    """

    def __init__(self, cache, songs, seq_dur=2.0, items_per_song=8, target_loudnorm_lufs=-14.0,
                 target_lufs_mean=-8.0, target_lufs_std=1.5, designs=("maximizer",),
                 limiter_variety="wide", unlimited_prob=0.15, premaster_prob=0.0,
                 premaster_lufs=(-13.0, -7.0), bass_only_prob=0.0, bass_only_hz=(80.0, 250.0),
                 bass_only_unlimited_prob=None, seed=777):
        self.n_samples = int(round(seq_dur * MODEL_RATE))
        self.songs = [s for s in songs if cache.frames[s] >= self.n_samples]
        if not self.songs:
            raise DelimitError(f"{cache.cache_root}: no song of at least {seq_dur} s")
        self.cache = cache
        lengths = np.array([cache.frames[s] for s in self.songs], np.float64)
        self.song_p = lengths / lengths.sum()
        self.items = items_per_song * len(self.songs)
        self.target_loudnorm_lufs = target_loudnorm_lufs
        self.target_lufs = (target_lufs_mean, target_lufs_std)
        self.designs = tuple(designs)
        self.limiter_variety = limiter_variety
        self.unlimited_prob = unlimited_prob
        self.premaster_prob = premaster_prob
        self.premaster_lufs = tuple(premaster_lufs)
        self.bass_only_prob = bass_only_prob
        self.bass_only_hz = tuple(bass_only_hz)
        self.bass_only_unlimited_prob = bass_only_unlimited_prob
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.items

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        for _ in range(20):
            song = self.songs[int(rng.choice(len(self.songs), p=self.song_p))]
            start = int(rng.integers(self.cache.frames[song] - self.n_samples + 1))
            window = self.cache.window(song, start, self.n_samples)
            window = window * np.float32(10.0 ** (rng.uniform(-4.0, 2.0) / 20.0))
            if rng.random() < 0.5:
                window = window[::-1]
            lufs = integrated_loudness(window, MODEL_RATE)
            if lufs > -40.0:
                break
        else:
            raise DelimitError(f"{self.cache.cache_root}: 20 near-silent windows in a row")
        unlimited_prob = self.unlimited_prob
        if self.bass_only_prob and rng.random() < self.bass_only_prob:
            bass = low_band(window, MODEL_RATE, rng, self.bass_only_hz)
            bass_lufs = integrated_loudness(bass, MODEL_RATE)
            if bass_lufs > -40.0:  # a window with next to no bass keeps its whole mix
                window, lufs = bass, bass_lufs
                if self.bass_only_unlimited_prob is not None:
                    unlimited_prob = self.bass_only_unlimited_prob
        if self.premaster_prob and rng.random() < self.premaster_prob:
            window, lufs = premaster(window, MODEL_RATE, rng, self.designs, self.limiter_variety,
                                     self.premaster_lufs)
        mean, std = self.target_lufs
        target_lufs = float(np.clip(rng.normal(mean, std), mean - 3 * std, mean + 3 * std))
        limited = limit_for_training(window, MODEL_RATE, rng, target_lufs, self.designs,
                                     self.limiter_variety, unlimited_prob)
        target = window * np.float32(gain_between(lufs, self.target_loudnorm_lufs))
        return _tensor(limited), _tensor(target)


class SongValidDataset(torch.utils.data.Dataset):
    """Validation on held-back songs: `excerpts_per_song` excerpts of each (starting at 1/4,
    1/2, 3/4 ... of the song), each limited once by a training design with settings seeded by
    the song's name and the excerpt's number, or, for one excerpt in `unlimited_one_in`, left
    unlimited (so that selection also rewards leaving music alone).

    Item i: (limited, target, name), float32 tensors (2, time), name "{song}#{k}"; target at
    target_loudnorm_lufs.
    """

    def __init__(self, cache, songs, seconds=10.0, excerpts_per_song=3,
                 target_loudnorm_lufs=-14.0, target_lufs_mean=-8.0, target_lufs_std=1.0,
                 designs=("maximizer",), limiter_variety="wide", unlimited_one_in=5, seed=777):
        self.cache = cache
        self.excerpts = [(song, k) for song in songs for k in range(excerpts_per_song)]
        if not self.excerpts:
            raise DelimitError(f"{cache.cache_root}: no validation songs (a song folder needs "
                               "at least 2 songs)")
        self.n_samples = int(round(seconds * MODEL_RATE))
        self.per_song = excerpts_per_song
        self.args = (target_loudnorm_lufs, target_lufs_mean, target_lufs_std, tuple(designs),
                     limiter_variety, unlimited_one_in, seed)
        self._items = {}

    def __len__(self):
        return len(self.excerpts)

    def __getitem__(self, index):
        if index not in self._items:
            self._items[index] = self._make(index)
        song, k = self.excerpts[index]
        return (*self._items[index], f"{song}#{k}")

    def _make(self, index):
        loudnorm, mean, std, designs, variety, unlimited_one_in, seed = self.args
        song, k = self.excerpts[index]
        frames = self.cache.frames[song]
        n = min(self.n_samples, frames)
        start = (frames - n) * (k + 1) // (self.per_song + 1)
        excerpt = self.cache.window(song, start, n)
        rng = np.random.default_rng([seed, song_name_hash(song), k])
        target_lufs = float(np.clip(rng.normal(mean, std), mean - 3 * std, mean + 3 * std))
        lufs = integrated_loudness(excerpt, MODEL_RATE)
        if not np.isfinite(lufs):
            raise DelimitError(f"{song}: validation excerpt {k} is silent")
        if index % unlimited_one_in == unlimited_one_in - 1:
            limited = excerpt
        else:
            limited = limit_for_training(excerpt, MODEL_RATE, rng, target_lufs, designs, variety)
        target = excerpt * np.float32(gain_between(lufs, loudnorm))
        return _tensor(limited), _tensor(target)


def _tensor(audio):
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
