import os

import numpy as np
import pytest
import soundfile as sf
from scipy.ndimage import median_filter

from prepro.make_stems import (
    PEAK_LIMIT,
    STEMS,
    generated_song_seed,
    main,
    make_stems,
    render_song,
    song_name,
)
from prepro.synth.song import make_melody, make_plan
from prepro.synth.voice import render_vocals
from utils.errors import DelimitError
from utils.loudness import integrated_loudness

SR = 44100


@pytest.fixture(scope="module")
def songs():
    """A few short songs, rendered once for the whole module."""
    return {seed: render_song(seed, 6.0) for seed in (0, 1, 2)}


def frame_db(x, frame):
    """RMS in dB of consecutive frames of x (channels, time) averaged over channels."""
    x = x.mean(axis=0)
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    return 20 * np.log10(rms + 1e-12)


def test_stems_are_stereo_float32_of_the_requested_length(songs):
    for stems in songs.values():
        assert set(stems) == set(STEMS)
        for audio in stems.values():
            assert audio.dtype == np.float32
            assert audio.shape == (2, 6 * SR)
            assert np.all(np.isfinite(audio))


def test_same_seed_same_song_and_other_seed_other_song(songs):
    again = render_song(1, 6.0)
    for name in STEMS:
        np.testing.assert_array_equal(again[name], songs[1][name])
        assert not np.allclose(songs[1][name], songs[2][name])


def test_unclipped_and_in_the_loudness_range(songs):
    for stems in songs.values():
        mix = sum(stems.values())
        assert np.max(np.abs(mix)) <= PEAK_LIMIT + 1e-6
        for audio in stems.values():
            assert np.max(np.abs(audio)) <= PEAK_LIMIT + 1e-6
        lufs = integrated_loudness(mix, SR)
        # -20..-14 LUFS, or quieter where the peak limit scaled the song down.
        assert -30.0 < lufs <= -14.0 + 0.1
        peak = max(np.max(np.abs(a)) for a in list(stems.values()) + [mix])
        if peak < PEAK_LIMIT - 1e-3:
            assert lufs >= -20.0 - 0.1


def test_every_stem_has_sound(songs):
    for stems in songs.values():
        for audio in stems.values():
            assert np.sqrt(np.mean(audio ** 2)) > 1e-3


def onset_contrast_db(x):
    """98th percentile of how far 5 ms frames stand above the median level around them (0.5 s)."""
    frames = frame_db(x, int(0.005 * SR))
    local = median_filter(frames, size=101, mode="nearest")
    live = frames > frames.max() - 50.0
    return np.percentile((frames - local)[live], 98)


def test_drums_are_transient(songs):
    assert onset_contrast_db(np.random.default_rng(0).standard_normal((2, 6 * SR))) < 2.0
    for stems in songs.values():
        drums = stems["drums"]
        crest_db = 20 * np.log10(np.max(np.abs(drums)) / np.sqrt(np.mean(drums ** 2)))
        assert crest_db > 12.0
        # Energy comes in hits: onset frames stand well above the level around them.
        assert onset_contrast_db(drums) > 8.0


@pytest.mark.parametrize("seed", [7, 8])
def test_sections_change_the_level(seed):
    stems = render_song(seed, 20.0)
    plan = make_plan(np.random.default_rng(np.random.SeedSequence(seed).spawn(6)[0]), 20.0, SR)
    mix = sum(stems.values())
    seconds = frame_db(mix, SR)
    assert seconds.max() - seconds.min() > 6.0
    rms = []
    for s in plan.sections:
        a = plan.sample_of(plan.time_of(s.start_bar))
        b = min(plan.sample_of(plan.time_of(s.start_bar + s.n_bars)), mix.shape[1])
        if b - a > SR:
            rms.append((s.intensity, 10 * np.log10(np.mean(mix[:, a:b] ** 2))))
    rms.sort()
    assert len(rms) >= 2
    assert rms[-1][1] - rms[0][1] > 4.0  # the most intense section is clearly louder


def test_vocal_phrases_are_separated_by_gaps():
    plan = make_plan(np.random.default_rng(3), 12.0, SR)
    for s in plan.sections:
        s.vocals, s.harmony = True, False
    notes = make_melody(plan, np.random.default_rng(4), plan.sections, 55, 72)
    by_phrase = {}
    for t0, dur, _, ph in notes:
        a, b = by_phrase.get(ph, (t0, t0 + dur))
        by_phrase[ph] = (min(a, t0), max(b, t0 + dur))
    spans = sorted(by_phrase.values())
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    assert len(gaps) >= 2 and min(gaps) >= 0.5 * plan.beat_sec - 1e-6

    vocals = render_vocals(plan, np.random.default_rng(5))
    frames = frame_db(vocals, int(0.05 * SR))
    quiet = frames < np.percentile(frames, 95) - 30.0
    assert 0.05 < np.mean(quiet) < 0.9


def test_cli_writes_musdb_layout_and_skips_complete_songs(tmp_path):
    out = tmp_path / "gen"
    assert main(["--output", str(out), "--n_songs", "2", "--seconds", "2", "--seed", "5"]) == 0
    names = sorted(os.listdir(out / "train"))
    assert names == [song_name(5, 0), song_name(5, 1)]
    for name in names:
        assert sorted(os.listdir(out / "train" / name)) == sorted(f"{s}.wav" for s in STEMS)
        for stem in STEMS:
            info = sf.info(str(out / "train" / name / f"{stem}.wav"))
            assert ((info.channels, info.samplerate, info.frames, info.subtype)
                    == (2, SR, 2 * SR, "FLOAT"))
    assert not (out / ".partial").exists()
    data, _ = sf.read(str(out / "train" / names[1] / "drums.wav"), dtype="float32")
    np.testing.assert_array_equal(data.T, render_song(generated_song_seed(5, 1), 2.0)["drums"])

    # A complete song is left alone; an incomplete one is rendered again, identically.
    kept = out / "train" / names[0] / "bass.wav"
    mtime = os.stat(kept).st_mtime_ns
    os.remove(out / "train" / names[1] / "vocals.wav")
    assert make_stems(str(out), 2, 2.0, seed=5, progress=False) == (1, 1)
    assert os.stat(kept).st_mtime_ns == mtime
    data2, _ = sf.read(str(out / "train" / names[1] / "drums.wav"), dtype="float32")
    np.testing.assert_array_equal(data, data2)
    assert (out / "train" / names[1] / "vocals.wav").exists()


def test_cli_pcm16_and_mixture(tmp_path):
    make_stems(str(tmp_path), 1, 1.5, seed=2, subtype="PCM_16", mixture=True, progress=False)
    folder = tmp_path / "train" / song_name(2, 0)
    assert sf.info(str(folder / "mixture.wav")).subtype == "PCM_16"
    parts = sum(sf.read(str(folder / f"{s}.wav"))[0] for s in STEMS)
    mix = sf.read(str(folder / "mixture.wav"))[0]
    assert np.max(np.abs(parts - mix)) < 4 * 2.0 ** -15


def test_song_names_and_seeds_are_unique_per_run_and_index():
    pairs = [(k, i) for k in (0, 1, 10, 11) for i in (0, 1, 10, 100)]
    assert len({song_name(k, i) for k, i in pairs}) == len(pairs)
    assert len({generated_song_seed(k, i) for k, i in pairs}) == len(pairs)


@pytest.mark.parametrize("kwargs", [dict(n_songs=0), dict(seconds=0.0), dict(workers=0),
                                    dict(subtype="MP3")])
def test_bad_arguments_raise_delimit_error(tmp_path, kwargs):
    args = dict(output=str(tmp_path), n_songs=1, seconds=1.0)
    args.update(kwargs)
    with pytest.raises(DelimitError):
        make_stems(**args, progress=False)


def test_cli_reports_bad_output_in_one_line(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("x")
    assert main(["--output", str(path), "--n_songs", "1", "--seconds", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
