"""How a training item is limited: which of the project's training designs, how hard, or not at
all. Shared by every dataset that limits live (generated stems, real songs), so that they draw
the same distribution.

Training designs (utils.limiters.alt_limiter and utils.limiters.multiband are kept out, for
evaluation):
    maximizer              the look-ahead maximizer (utils.limiters.maximizer), settings drawn
                           per item;
    compressor_maximizer   a bus compressor (utils.limiters.compressor) into the maximizer;
    clipper_maximizer      a hard clipper shaving the top 1-6 dB into the maximizer;
    saturator_maximizer    a full-range cubic soft clipper (odd harmonics at every level, not
                           only on the peaks) into the maximizer;
    two_band_maximizer     a two-band compressor (LR4 crossover at 120 Hz-2 kHz, each band
                           compressed with its own settings) into the maximizer: its gain, like
                           multiband_maximizer's, depends on frequency. The held-out multiband
                           limiter is a different design (three bands, brickwall band gains, a
                           clamp).
    multiband_maximizer    a multiband maximizer of this project's own: the mix driven into 3
                           or 4 bands at random crossovers (linear phase), each squeezed by a
                           fast high-ratio compressor under the ceiling, then the maximizer as
                           a brickwall; the drive sets the loudness, so the bands do most of
                           the limiting. Unlike the held-out three-band limiter it has no fixed
                           crossovers, no instant band gains and no clamp.
    compressor_clipper     no look-ahead, and no maximizer after it: a deep, slow bus compressor
                           (threshold 6-18 dB under the peak, ratio 2-8, release 50-1000 ms) takes
                           the loudness of whole passages, then a hard clip at the ceiling, driven
                           to the target loudness. Its gain moves over hundreds of milliseconds,
                           which the designs that end in the maximizer's fast gain hardly show;
                           it is of the held-out alt limiter's family (a compressor into a
                           clipper), though none of that design's code or settings is used.
    fast_limiter           no look-ahead, and no maximizer after it: a peak-following limiter
                           (attack 0.05-2 ms, release 5-150 ms) and a clamp at the ceiling for
                           the onsets it lets through, driven to the target loudness. Every
                           other design ends in the maximizer's smooth look-ahead gain; both
                           held-out designs end in a fast gain and a clip, which the model
                           undid poorly.
    multiband_clipper      no look-ahead, and no maximizer after it: the mix split into 3 or 4
                           bands at drawn crossovers (linear phase), each band through its own
                           peak-following limiter (fast_limiter's, attack 0.02-1 ms, release
                           5-150 ms, threshold 1-8 dB under the ceiling), and their sum
                           clamped at the ceiling, driven to the target loudness. It is of the
                           held-out three-band limiter's family (band gains that follow the
                           peaks, then a clip), as compressor_clipper is of the alt limiter's;
                           its crossovers, attacks and thresholds are drawn, and none of the
                           held-out design's code is used. multiband_maximizer's bands are
                           compressed, then caught by the look-ahead maximizer.
"""
import numpy as np
from scipy.signal import butter, sosfiltfilt

from utils.errors import DelimitError
from utils.limiters.compressor import compress
from utils.limiters.maximizer import (
    clamp_to_ceiling,
    drive_to_loudness,
    limit,
    maximize_to_loudness,
    random_limiter_params,
)
from utils.limiters.multiband import linkwitz_riley
from utils.loudness import integrated_loudness

LIMITER_VARIETIES = ("wide", "reference")
TRAINING_DESIGNS = ("maximizer", "compressor_maximizer", "clipper_maximizer",
                    "saturator_maximizer", "two_band_maximizer", "fast_limiter",
                    "multiband_maximizer", "compressor_clipper", "multiband_clipper")


def log_uniform(rng, low, high):
    """One draw, uniform in log between low and high (> 0): times, frequencies."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def check_variety(variety):
    if variety not in LIMITER_VARIETIES:
        raise DelimitError(f"limiter_variety must be one of {LIMITER_VARIETIES}, got {variety!r}")


def draw_limiter_params(rng, variety):
    """`limit` keyword arguments: "wide" = utils.limiters.maximizer.random_limiter_params;
    "reference" = musdb-XL-train's character min(Gamma(2, 1), 10) with the maximizer's other
    defaults."""
    check_variety(variety)
    if variety == "reference":
        return {"character": float(min(rng.gamma(2.0, 1.0), 10.0))}
    return random_limiter_params(rng)


def check_designs(designs):
    unknown = [d for d in designs if d not in TRAINING_DESIGNS]
    if unknown or not designs:
        raise DelimitError(f"limiter designs {list(designs)!r}: choose from "
                           f"{', '.join(TRAINING_DESIGNS)}")


def premaster(mix, sample_rate, rng, designs=("maximizer",), variety="wide",
              lufs_range=(-13.0, -7.0)):
    """The mix as a loud record is released: through one of `designs` to a loudness drawn from
    U(lufs_range) LUFS. Returns (mastered float32 (channels, time), its loudness in LUFS).

    Records in the world often come out of their mastering crushed already (a crest factor of
    6-8 dB); training music is mostly dynamic. A mastered window used as the original teaches
    the model that a crushed record left alone, or limited a little more, is not to be
    expanded back to a dynamic mix: the target is the record as mastered.
    """
    mastered = limit_for_training(mix, sample_rate, rng, float(rng.uniform(*lufs_range)),
                                  designs, variety)
    return mastered, integrated_loudness(mastered, sample_rate)


def low_band(mix, sample_rate, rng, hz_range=(80.0, 250.0)):
    """The part of the mix below a crossover drawn log-uniform from hz_range (split_bands' low
    band), float32: the bass alone, with the level movements it has in the song.

    An unlimited bass passage whose level swells and falls is what the shipped models expand
    most (the do-no-harm set's worst excerpt); training music seldom holds one without the rest
    of the mix on top. Used as the original, limited or not, it shows the model such passages.
    (Stage 34, with seven in ten of them limited, made the model expand that excerpt more:
    docs/experiments.md.)
    """
    hz = log_uniform(rng, *hz_range)
    return split_bands(mix, sample_rate, [min(hz, 0.4 * sample_rate)])[0].astype(np.float32)


def limit_for_training(mix, sample_rate, rng, target_lufs, designs=("maximizer",),
                       variety="wide", unlimited_prob=0.0):
    """The limited input of a training item, float32 (channels, time).

    With probability unlimited_prob the mix is left unlimited (its level moved by U(-6, 6) dB,
    its peak kept <= 1): the model must learn to leave alone what no limiter touched. Otherwise
    one of `designs` (drawn uniformly when there are several) limits the mix to target_lufs.
    With the defaults the draws from rng are exactly the maximizer's of earlier versions.
    """
    if mix.shape[-1] == 0:  # nothing to limit; several designs' filters and peaks need samples
        return mix.astype(np.float32)
    if unlimited_prob and rng.random() < unlimited_prob:
        peak = float(np.abs(mix).max())
        gain = 10.0 ** (rng.uniform(-6.0, 6.0) / 20.0)
        if peak * gain > 1.0:
            gain = 1.0 / peak
        return (mix * gain).astype(np.float32)
    design = designs[int(rng.integers(len(designs)))] if len(designs) > 1 else designs[0]
    if design == "fast_limiter":
        return _random_fast_limiting(mix, sample_rate, rng, target_lufs)
    if design == "multiband_maximizer":
        return _random_multiband_maximizing(mix, sample_rate, rng, target_lufs, variety)
    if design == "compressor_clipper":
        return _random_compressor_clipping(mix, sample_rate, rng, target_lufs)
    if design == "multiband_clipper":
        return _random_multiband_clipping(mix, sample_rate, rng, target_lufs)
    params = draw_limiter_params(rng, variety)
    if design == "compressor_maximizer":
        mix = _random_compression(mix, sample_rate, rng)
    elif design == "clipper_maximizer":
        top = float(np.abs(mix).max()) * 10.0 ** (-rng.uniform(1.0, 6.0) / 20.0)
        mix = np.clip(mix, -top, top)
    elif design == "saturator_maximizer":
        # u - u^3/3 up to |u| = 1, flat beyond; the peak lands at u = 0.6 (1.1 dB rounded off)
        # to 1.6 (flat-topped)
        u = mix.astype(np.float64) * (rng.uniform(0.6, 1.6) / max(float(np.abs(mix).max()), 1e-9))
        u = np.clip(u, -1.0, 1.0)
        mix = (u - u ** 3 / 3.0).astype(np.float32)
    elif design == "two_band_maximizer":
        crossover_hz = log_uniform(rng, 120.0, 2000.0)
        low = linkwitz_riley(mix, crossover_hz, sample_rate, "lowpass")
        # thresholds deeper than compressor_maximizer's: its peak envelope sits well under the
        # sample peak, so 3-12 dB often leaves a band untouched
        mix = (_random_compression(low, sample_rate, rng, (8.0, 20.0))
               + _random_compression(mix - low, sample_rate, rng, (8.0, 20.0))).astype(np.float32)
    limited, _, _ = maximize_to_loudness(mix, sample_rate, target_lufs, **params)
    return limited


def _random_compression(audio, sample_rate, rng, below_peak_db=(3.0, 12.0), ratio=(2.0, 6.0),
                        attack_ms=(1.0, 30.0), release_ms=(30.0, 300.0)):
    """A bus compressor with settings drawn per item from the ranges given, its threshold
    below_peak_db under the peak (times drawn uniform in log)."""
    peak_db = 20.0 * np.log10(max(float(np.abs(audio).max()), 1e-9))
    return compress(audio, sample_rate, peak_db - rng.uniform(*below_peak_db),
                    ratio=rng.uniform(*ratio),
                    attack_ms=log_uniform(rng, *attack_ms),
                    release_ms=log_uniform(rng, *release_ms))


def split_bands(audio, sample_rate, crossovers_hz):
    """Bands (low to high) that sum back to `audio` exactly: a linear-phase crossover, each band
    the zero-phase Butterworth low-pass (order 4, run forwards and backwards) of what is left
    above the previous crossover, the rest the top band. Zero phase keeps the subtraction
    clean: with a minimum-phase low-pass, "the rest" would still carry the lows."""
    bands, rest = [], np.asarray(audio, np.float64)
    for hz in sorted(crossovers_hz):
        sos = butter(4, hz, fs=sample_rate, output="sos")
        if rest.shape[-1] < 2:  # nothing to filter: all of it is the lowest band
            low = rest.copy()
        else:  # scipy's default edge padding, shortened for inputs shorter than it
            low = sosfiltfilt(sos, rest, axis=-1, padlen=min(3 * (2 * len(sos) + 1),
                                                              rest.shape[-1] - 1))
        bands.append(low)
        rest = rest - low
    return bands + [rest]


# crossover ranges (Hz) of the multiband designs: low/low-mid, mid, presence
_CROSSOVER_RANGES = ((80.0, 400.0), (600.0, 2500.0), (3000.0, 9000.0))


def _draw_crossovers(rng, sample_rate):
    """The crossovers (Hz) of 3 or 4 bands, drawn uniform in log from _CROSSOVER_RANGES."""
    ranges = _CROSSOVER_RANGES if rng.integers(3, 5) == 4 else [_CROSSOVER_RANGES[i]
                                                               for i in (0, 2)]
    return [min(log_uniform(rng, lo, hi), 0.4 * sample_rate)
            for lo, hi in ranges]  # the cap only matters below 22.5 kHz sampling


def _random_multiband_maximizing(mix, sample_rate, rng, target_lufs, variety):
    """multiband_maximizer, settings drawn per item: the mix is driven into 3 or 4 bands, each
    squeezed by a compressor (ratio 8-30, attack 0.2-5 ms, release 20-250 ms) whose threshold
    sits 1-6 dB under the ceiling, and the sum into the maximizer as a brickwall at the ceiling.
    The drive is searched for the target loudness, so the bands do most of the work, as in a
    multiband maximizer."""
    crossovers = _draw_crossovers(rng, sample_rate)
    params = draw_limiter_params(rng, variety)
    ceiling_db = params["ceiling_db"]
    squeezers = [{"threshold_db": ceiling_db - float(rng.uniform(1.0, 6.0)),
                  "ratio": float(rng.uniform(8.0, 30.0)),
                  "attack_ms": log_uniform(rng, 0.2, 5.0),
                  "release_ms": log_uniform(rng, 20.0, 250.0)}
                 for _ in range(len(crossovers) + 1)]
    bands = split_bands(mix, sample_rate, crossovers)  # linear: split once, drive each band

    def limit_at(drive_db):
        drive = 10.0 ** (drive_db / 20.0)
        squeezed = sum(compress(band * drive, sample_rate, **settings)
                       for band, settings in zip(bands, squeezers))
        return limit(squeezed, sample_rate, threshold_db=0.0, **params)[0]

    limited, _ = drive_to_loudness(limit_at, mix, sample_rate, target_lufs, tolerance_lu=0.5,
                                   max_drive_db=40.0, max_iterations=12)
    return limited


def fast_limit(audio, sample_rate, drive_db, ceiling_db=-0.3, attack_ms=0.5, release_ms=40.0):
    """Drive `audio` into a limiter without look-ahead: the peak-following compressor at ratio
    50 with its threshold at the ceiling, then a clamp at the ceiling (what the attack lets
    through is clipped). Returns float32 (channels, time), |sample| <= 10 ** (ceiling_db / 20)."""
    driven = np.asarray(audio, np.float32) * np.float32(10.0 ** (drive_db / 20.0))
    out = compress(driven, sample_rate, ceiling_db, ratio=50.0, attack_ms=attack_ms,
                   release_ms=release_ms)
    return clamp_to_ceiling(out, 10.0 ** (ceiling_db / 20.0))


def _random_compressor_clipping(mix, sample_rate, rng, target_lufs):
    """compressor_clipper, settings drawn per item: the mix compressed once (its threshold under
    its own peak, so the drive does not move it), then driven into a hard clip at the ceiling
    until it reaches the target loudness; the compressor sets how much of the loudness is slow
    gain and how much is clipped."""
    squeezed = _random_compression(mix, sample_rate, rng, (6.0, 18.0), ratio=(2.0, 8.0),
                                   attack_ms=(0.5, 30.0), release_ms=(50.0, 1000.0))
    ceiling = 10.0 ** (rng.uniform(-1.0, -0.1) / 20.0)

    def limit_at(drive_db):
        return clamp_to_ceiling(squeezed * np.float32(10.0 ** (drive_db / 20.0)), ceiling)

    limited, _ = drive_to_loudness(limit_at, squeezed, sample_rate, target_lufs, tolerance_lu=0.5,
                                   max_drive_db=40.0, max_iterations=12)
    return limited


def _random_multiband_clipping(mix, sample_rate, rng, target_lufs):
    """multiband_clipper, settings drawn per item (see the module's docstring)."""
    crossovers = _draw_crossovers(rng, sample_rate)
    ceiling_db = float(rng.uniform(-1.0, -0.1))
    limiters = [{"ceiling_db": ceiling_db - float(rng.uniform(1.0, 8.0)),
                 "attack_ms": log_uniform(rng, 0.02, 1.0),
                 "release_ms": log_uniform(rng, 5.0, 150.0)}
                for _ in range(len(crossovers) + 1)]
    bands = split_bands(mix, sample_rate, crossovers)

    def limit_at(drive_db):
        limited = sum(fast_limit(band, sample_rate, drive_db, **settings)
                      for band, settings in zip(bands, limiters))
        return clamp_to_ceiling(limited, 10.0 ** (ceiling_db / 20.0))

    limited, _ = drive_to_loudness(limit_at, mix, sample_rate, target_lufs, tolerance_lu=0.5,
                                   max_drive_db=40.0, max_iterations=12)
    return limited


def _random_fast_limiting(mix, sample_rate, rng, target_lufs):
    settings = {"ceiling_db": float(rng.uniform(-1.0, -0.1)),
                "attack_ms": log_uniform(rng, 0.05, 2.0),
                "release_ms": log_uniform(rng, 5.0, 150.0)}

    def limit_at(drive_db):
        return fast_limit(mix, sample_rate, drive_db, **settings)

    limited, _ = drive_to_loudness(limit_at, mix, sample_rate, target_lufs, tolerance_lu=0.5,
                                   max_drive_db=40.0, max_iterations=12)
    return limited
