"""Make `golden_gain.npz`: the gain that the reference's own model code gives on a fixed input.

tests/test_reference.py checks that this project's model, loaded with the reference's
checkpoint, gives the same gain (within 1e-4). The reference's gain comes from the
`music-de-limiter` 0.1.1 wheel (the authors' model module and weights) over asteroid's
TDConvNet, run in a scratch environment, never the project's:

    pip download --no-deps music-de-limiter==0.1.1 -d /tmp/whl
    pip install --target /tmp/golden_env --no-deps asteroid==0.7.0 dotmap==1.3.30 \
        einops==0.8.2 /tmp/whl/music_de_limiter-0.1.1-py3-none-any.whl
    PYTHONPATH=/tmp/golden_env python tests/data/make_golden_gain.py

(asteroid imports without torchaudio; torch, numpy and asteroid-filterbanks are the
project's.) The input is generated here from a seed with numpy alone, so the test rebuilds it
without the reference. `golden_input` is all that the test imports from this file.
"""
import hashlib
import os
import sys
import tempfile

import numpy as np

RATE = 44100
# 4 s rounded up to whole encoder frames (kernel 128, hop 64): the reference zero-pads its
# decoder output otherwise and this project pads its input, which the comparison would see.
FRAMES = 128 + 2755 * 64  # 176,448
SEED = 1010
KEEP = 1024  # samples kept at the start, the middle and the end
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_gain.npz")


def golden_input():
    """A fixed loud stereo excerpt: drum-like bursts, bass and a chord, through a tanh
    clipper (a crude limiter). float32 `(2, FRAMES)`."""
    rng = np.random.default_rng(SEED)
    t = np.arange(FRAMES) / RATE
    beat = 0.25  # a slot for a hit every 0.25 s
    since = t % beat
    step = (t // beat).astype(int)
    accents = rng.random(step[-1] + 1)
    hits = (accents[step] > 0.35) * np.exp(-since * 30.0) * accents[step]
    noise = rng.standard_normal((2, FRAMES))
    kick = np.sin(2 * np.pi * (45.0 + 90.0 * np.exp(-since * 40.0)) * since) * (step % 4 == 0)
    roots = np.array([55.0, 73.42, 61.74, 82.41])[(t // 1.0).astype(int) % 4]
    bass = 0.5 * np.sin(2 * np.pi * np.cumsum(roots) / RATE)
    chord = sum(0.12 * np.sin(2 * np.pi * f * t + rng.random((2, 1)) * 6.28)
                for f in (220.0, 277.2, 329.6, 440.7))
    mix = 0.8 * hits * noise + kick * np.exp(-since * 12.0) + bass + chord
    mix = np.tanh(2.5 * mix) / np.tanh(2.5)
    return (0.9 * mix / np.abs(mix).max()).astype(np.float32)


def kept_starts():
    """Where the kept stretches of KEEP samples start: the start, the middle and the end."""
    return np.array([0, FRAMES // 2 - KEEP // 2, FRAMES - KEEP])


def main():
    from importlib import resources

    import asteroid
    import torch
    from music_de_limiter import load_pretrained_model

    weights = resources.files("music_de_limiter") / "pretrained" / "weights.pth"
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    torch.set_num_threads(1)
    model, rate = load_pretrained_model(device="cpu")
    assert rate == RATE
    model.eval()
    with torch.no_grad():
        gain, _ = model(torch.from_numpy(golden_input())[None])
    gain = gain[0, 0].numpy()
    starts = kept_starts()
    kept = np.stack([gain[s:s + KEEP] for s in starts])  # (3, KEEP)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(OUTPUT), suffix=".npz")
    os.chmod(tmp, 0o644)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, starts=starts, gain=kept,
                 made_with=np.array(f"music-de-limiter 0.1.1 (weights.pth sha256 {sha256}), "
                                    f"asteroid {asteroid.__version__}, torch {torch.__version__}"))
    os.replace(tmp, OUTPUT)
    print(f"{OUTPUT}: {kept.size} gain samples, range {kept.min():.4f}..{kept.max():.4f}")


if __name__ == "__main__":
    sys.exit(main())
