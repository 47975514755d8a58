"""The arithmetic of musdb-XL-train, shared by the dataset builder, the rebuild script and the
training loaders: read stem segments, mix them from a CSV row, turn a limited mix into a gain
ratio and back.

Stem files live at `{root}/train/{song}/{stem}.wav` (musdb18-HQ layout). All audio here is
numpy float32, channels first: (2, time).
"""
import csv
import os
import zlib

import numpy as np
import soundfile as sf

from utils.errors import DelimitError

STEMS = ("vocals", "bass", "drums", "other")
FIXED_COLUMNS = ("song_name", "max_threshold", "max_character")
RANDOM_COLUMNS = ("song_name", "max_threshold", "max_character") + tuple(
    f"{stem}_{key}" for stem in STEMS for key in ("name", "start_sec", "gain", "channelswap"))
# musdb18's official validation songs (they sit in its train/ folder).
MUSDB_VALID_SONGS = (
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies", "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint", "Alexander Ross - Goodbye Bolero", "Fergessen - Nos Palpitants",
    "Leaf - Summerghost", "Skelpolu - Human Mistakes", "Young Griffo - Pennies",
    "ANiMAL - Rockshow", "James May - On The Line", "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)
FLOAT16_MAX = float(np.finfo(np.float16).max)
EPS32 = float(np.finfo(np.float32).eps)
MAX_REDRAWS = 100  # silent mixes are redrawn; this many in a row means the stems are silent


def stem_path(root, song, stem):
    """Path of one stem file: `{root}/train/{song}/{stem}.wav`."""
    return os.path.join(root, "train", song, f"{stem}.wav")


def song_name_hash(name):
    """A stable integer for a song name, to seed what is drawn for that song (CRC-32: Python's
    hash() changes between runs)."""
    return zlib.crc32(name.encode("utf-8"))


def parse_bool(value, where="channelswap"):
    """The CSV's text flag ("True"/"False", any case; also 1/0) as a bool.

    The reference once used bool(text), which is True for the text "False" too.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise DelimitError(f"{where}: expected True or False, got {value!r}")


def list_songs(root):
    """Sorted song folder names under `{root}/train`."""
    folder = os.path.join(root, "train")
    if not os.path.isdir(folder):
        raise DelimitError(f"{folder}: no such folder (expected musdb18-HQ layout "
                           f"root/train/{{song}}/{{stem}}.wav)")
    return sorted(name for name in os.listdir(folder)
                  if os.path.isdir(os.path.join(folder, name)) and not name.startswith("."))


def split_songs(root, n_valid=14):
    """(train_songs, valid_songs) of `{root}/train`, both sorted.

    Validation songs are musdb18's 14 official ones where any of them exist under root/train;
    otherwise (generated stems) the last `n_valid` songs in sorted order.
    """
    songs = list_songs(root)
    valid = [s for s in songs if s in MUSDB_VALID_SONGS]
    if not valid and n_valid > 0:
        valid = songs[-n_valid:] if n_valid < len(songs) else []
        if not valid:
            raise DelimitError(f"{root}: {len(songs)} song(s) under train/, need more than "
                               f"n_valid={n_valid} to hold some out for validation")
    train = [s for s in songs if s not in valid]
    if not train:
        raise DelimitError(f"{root}: no training songs under train/")
    return train, valid


def stem_frames(root, songs, sample_rate=44100):
    """{song: {stem: number of frames}} for every stem of `songs`, checking rate and channels."""
    lengths = {}
    for song in songs:
        lengths[song] = {}
        for stem in STEMS:
            path = stem_path(root, song, stem)
            try:
                info = sf.info(path)
            except (RuntimeError, OSError) as error:  # soundfile errors are RuntimeErrors
                raise DelimitError(f"{path}: cannot read stem ({_reason(error, path)})") from None
            _check_info(path, info.samplerate, info.channels, sample_rate)
            lengths[song][stem] = info.frames
    return lengths


def load_stem_segment(root, song, stem, start_sec=0.0, n_samples=None, sample_rate=44100):
    """Read `n_samples` of one stem from `start_sec` (all of it from there if None).

    Only the needed frames are read. Mono stems are copied to both channels; a stem shorter
    than needed is padded with zeros.

    Returns: float32 (2, n_samples).
    """
    path = stem_path(root, song, stem)
    start = int(round(float(start_sec) * sample_rate))
    try:
        with sf.SoundFile(path) as f:
            _check_info(path, f.samplerate, f.channels, sample_rate)
            if start > 0:
                f.seek(min(start, f.frames))
            frames = -1 if n_samples is None else int(n_samples)
            audio = f.read(frames, dtype="float32", always_2d=True).T
    except (RuntimeError, OSError) as error:
        raise DelimitError(f"{path}: cannot read stem ({_reason(error, path)})") from None
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    if n_samples is not None and audio.shape[1] < n_samples:
        audio = np.pad(audio, ((0, 0), (0, int(n_samples) - audio.shape[1])))
    return np.ascontiguousarray(audio)


def mix_from_row(root, row, seq_dur, sample_rate=44100):
    """The unlimited mix of one musdb-XL-train CSV row.

    Args:
        root: musdb18-HQ root (stems at root/train/{song}/{stem}.wav).
        row: mapping with the columns {stem}_name, {stem}_start_sec, {stem}_gain,
            {stem}_channelswap for the 4 stems; values may be CSV text or numbers/bools.
        seq_dur: segment length in seconds (None: to the end of each stem).
    Returns:
        float32 (2, round(seq_dur * sample_rate)): sum over stems of
        stem[start:start + n] * gain, channels swapped where the flag is true.
    """
    n = None if seq_dur is None else int(round(seq_dur * sample_rate))
    parts = []
    for stem in STEMS:
        try:
            song, start = row[f"{stem}_name"], float(row[f"{stem}_start_sec"])
            gain = float(row[f"{stem}_gain"])
            swap = parse_bool(row[f"{stem}_channelswap"], f"{stem}_channelswap")
        except (KeyError, ValueError) as error:
            raise DelimitError(f"row {row.get('song_name', '?')}: bad or missing {error}") from None
        audio = load_stem_segment(root, song, stem, start, n, sample_rate) * np.float32(gain)
        parts.append(audio[::-1] if swap else audio)
    return _sum(parts)


def mix_song(root, song, start_sec=0.0, n_samples=None, sample_rate=44100):
    """Plain sum of a song's 4 stems (gain 1, no swap) from `start_sec`: float32 (2, time)."""
    parts = [load_stem_segment(root, song, stem, start_sec, n_samples, sample_rate)
             for stem in STEMS]
    return _sum(parts)


def make_ratio(limited, mix):
    """The stored form of a limited mix: limited / mix as float16 (2, time).

    Zeros in the mix are replaced by float32 eps before dividing (so the ratio is 0 there), and
    the result is clipped to float16's finite range (never inf or NaN).
    """
    mix = np.asarray(mix, dtype=np.float32)
    denominator = np.where(mix == 0, np.float32(EPS32), mix)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.asarray(limited, dtype=np.float32) / denominator
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=FLOAT16_MAX, neginf=-FLOAT16_MAX)
    return np.clip(ratio, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def apply_ratio(mix, ratio):
    """The limited mix from its ratio: mix * ratio as float32 (2, time).

    Never NaN or inf: where the mix is 0 or the ratio is not finite (reference files can hold
    inf where the mix was silent), the limited sample is 0.
    """
    mix = np.asarray(mix, dtype=np.float32)
    ratio = np.asarray(ratio, dtype=np.float32)
    if mix.shape != ratio.shape:
        raise DelimitError(f"ratio shape {ratio.shape} does not match the mix {mix.shape}")
    with np.errstate(invalid="ignore", over="ignore"):
        limited = mix * ratio
    bad = (mix == 0) | ~np.isfinite(ratio) | ~np.isfinite(limited)
    limited[bad] = 0.0
    return limited


def load_ratio(path, start=0, n_samples=None):
    """Read a ratio .npy (float16 (2, time)), optionally only frames [start, start + n_samples)
    (memory-mapped, so a window of a whole song costs only the window). Returns float32."""
    try:
        ratio = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise DelimitError(f"{path}: cannot read ratio ({_reason(error, path)})") from None
    if ratio.ndim != 2 or ratio.shape[0] != 2:
        raise DelimitError(f"{path}: ratio must be shaped (2, time), got {ratio.shape}")
    stop = ratio.shape[1] if n_samples is None else start + int(n_samples)
    window = np.asarray(ratio[:, start:stop], dtype=np.float32)
    if n_samples is not None and window.shape[1] < n_samples:
        window = np.pad(window, ((0, 0), (0, int(n_samples) - window.shape[1])))
    return window


def draw_row(rng, songs, lengths, n_samples, sample_rate=44100):
    """Draw one random mix as musdb-XL-train does: each stem from a random song at a random
    start, gain U(0.25, 1.25), channel swap with probability 0.5.

    Args:
        rng: numpy Generator.
        songs: song names to draw from.
        lengths: {song: {stem: frames}} (see stem_frames).
        n_samples: segment length in samples.
    Returns:
        dict of the CSV's stem columns (start_sec is start_frame / sample_rate, a float that
        reads back to the same frame; channelswap a bool).
    """
    row = {}
    for stem in STEMS:
        song = songs[int(rng.integers(len(songs)))]
        start = int(rng.integers(max(1, lengths[song][stem] - n_samples + 1)))
        row[f"{stem}_name"] = song
        row[f"{stem}_start_sec"] = start / sample_rate
        row[f"{stem}_gain"] = float(rng.uniform(0.25, 1.25))
        row[f"{stem}_channelswap"] = bool(rng.random() < 0.5)
    return row


def coherent_row(song, start_sec):
    """A row that mixes one song's 4 stems at the same start, gain 1, no swap."""
    row = {}
    for stem in STEMS:
        row.update({f"{stem}_name": song, f"{stem}_start_sec": start_sec,
                    f"{stem}_gain": 1.0, f"{stem}_channelswap": False})
    return row


def _sum(parts):
    n = max(p.shape[1] for p in parts)
    total = np.zeros((2, n), np.float32)
    for part in parts:
        total[:, :part.shape[1]] += part
    return total


def _check_info(path, file_rate, channels, sample_rate):
    if file_rate != sample_rate:
        raise DelimitError(f"{path}: sample rate {file_rate} Hz, expected {sample_rate} Hz")
    if channels not in (1, 2):
        raise DelimitError(f"{path}: {channels} channels, expected 1 or 2")


def _reason(error, path=None):
    if path is not None and not os.path.exists(path):
        return "no such file"
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def random_csv_paths(ozone_root):
    """The dataset's `ozone_train_random_{i}.csv` files, in order of i."""
    names = [n for n in os.listdir(ozone_root)
             if n.startswith("ozone_train_random_") and n.endswith(".csv")]
    try:
        names.sort(key=lambda n: int(n[len("ozone_train_random_"):-len(".csv")]))
    except ValueError:
        raise DelimitError(f"{ozone_root}: unexpected CSV name among {names}") from None
    return [os.path.join(ozone_root, n) for n in names]


def read_csv_rows(path, columns):
    """Yield the rows of a dataset CSV as dicts of text, after checking its header has
    `columns` (a DelimitError names the CSV and the missing column)."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as error:
        raise DelimitError(f"{path}: cannot read CSV ({error.strerror})") from None
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DelimitError(f"{path}: missing column(s) {', '.join(missing)}")
        yield from reader
