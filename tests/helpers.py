"""Builders shared by several test modules: a small model's settings, a weight folder, and test
data written to disk (stems, a song-like signal, a small musdb-XL-train)."""
import os

import numpy as np
import soundfile as sf
import torch

from models import build_model, save_weight_folder
from utils.data.mixing import STEMS

SR = 44100

# A Conv-TasNet of the reference's structure (5 blocks x 2 repeats, kernel 128, stride 64) but
# narrow, so that it runs fast on a CPU.
SMALL = dict(n_filters=64, kernel_size=128, stride=64, n_blocks=5, n_repeats=2, bn_chan=32,
             hid_chan=64, skip_chan=32)


# Tinier still (2 blocks, 32 filters), for tests that only run a model.
TINY = dict(n_filters=32, hid_chan=32, bn_chan=16, skip_chan=16, n_blocks=2, n_repeats=1)


def tiny_model(seed=0):
    """A TINY model, seeded, in eval mode with its weights frozen."""
    torch.manual_seed(seed)
    return build_model(TINY).eval().requires_grad_(False)


def write_weight(folder, conv_tasnet_params, model):
    """`model` (built from conv_tasnet_params) as a weight folder that load_pretrained reads,
    with only the settings it needs; returns the folder."""
    args = {"model_loss_params": {"architecture": "conv_tasnet_mask_on_output"},
            "conv_tasnet_params": conv_tasnet_params, "data_params": {"nb_channels": 2}}
    save_weight_folder(str(folder), model.state_dict(), {"args": args})
    return folder


SMALL_XL_SEQ = 1.0  # segment length (s) of make_small_dataset
SMALL_XL_SEGMENTS = 7


def write_stems(root, n_songs=4, seconds=6.0, seed=0, names=None, subtype="FLOAT"):
    """A tiny musdb18-HQ folder: root/train/{song}/{stem}.wav, stereo 44.1 kHz.

    Each stem is noise through a different envelope (drum-like bursts, a sustained tone...) at
    about -25 LUFS, so a mix is never silent and the limiter has peaks to act on.
    Returns the song names.
    """
    rng = np.random.default_rng(seed)
    names = names or [f"song_{i:02d}" for i in range(n_songs)]
    n = int(seconds * SR)
    t = np.arange(n) / SR
    for i, song in enumerate(names):
        folder = os.path.join(root, "train", song)
        os.makedirs(folder, exist_ok=True)
        for k, stem in enumerate(STEMS):
            noise = rng.standard_normal((2, n))
            if stem == "drums":  # decaying bursts twice a second: strong peaks
                envelope = np.exp(-8.0 * ((t * 2.0 + 0.25 * i) % 1.0))
                audio = noise * envelope * 0.5
            elif stem == "bass":
                audio = np.sin(2 * np.pi * (55.0 + 10 * i) * t) * 0.2 + 0.01 * noise
            else:
                audio = 0.04 * noise * (1.0 + 0.5 * np.sin(2 * np.pi * (0.5 + k) * t))
            audio[1] *= 0.8 + 0.1 * k  # channels differ, so a swap is visible
            sf.write(os.path.join(folder, f"{stem}.wav"), audio.T.astype(np.float32), SR,
                     subtype=subtype)
    return names


def music(seconds, rate=SR, channels=2, seed=0):
    """A tone with a beat and noise, peak 0.8: enough like music for loudness and limiting."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    beat = 0.3 + 0.7 * (np.sin(2 * np.pi * 2 * t) > 0.6)
    x = np.stack([np.sin(2 * np.pi * (110 + 40 * c) * t) * beat for c in range(channels)])
    x = x + 0.2 * rng.standard_normal(x.shape) * beat
    return (0.8 * x / np.abs(x).max()).astype(np.float32)


def make_small_dataset(base, seed=3, n_segments=SMALL_XL_SEGMENTS, workers=1):
    """4 songs x 6 s of stems (song_03 held out) and a dataset of 1 s segments, 3 rows per CSV.
    Returns (stems root, dataset root, make_dataset's summary)."""
    from prepro.make_musdb_XL_train import make_dataset

    root, output = os.path.join(base, "stems"), os.path.join(base, "xl")
    if not os.path.isdir(root):
        write_stems(root, n_songs=4, seconds=6.0, seed=seed)
    summary = make_dataset(root, output, n_segments, seed, workers=workers, rows_per_csv=3,
                           seq_dur=SMALL_XL_SEQ, n_valid=1)
    return root, output, summary
