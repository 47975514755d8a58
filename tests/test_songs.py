"""Training on whole songs: the song folder builder, the decoded cache, the datasets, mixed
sources, and the real-music evaluation sets."""
import csv
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from dataloader import WeightedSources, build_datasets
from dataloader.songs import (
    SongCache,
    SongDataset,
    SongValidDataset,
    build_song_cache,
    split_song_list,
)
from prepro import debian_music
from prepro.make_real_eval_sets import excerpts, make_real_eval_sets
from tests.helpers import SR, music, write_stems
from utils.errors import DelimitError
from utils.evaluation.metrics import crest_factor
from utils.loudness import integrated_loudness
from utils.training.config import defaults, validate


@pytest.fixture(scope="module")
def song_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    os.makedirs(root / "album")
    sf.write(root / "a.wav", music(6.0).T, SR)
    sf.write(root / "album" / "b.flac", music(5.0, rate=48000, seed=1).T, 48000)
    sf.write(root / "album" / "c.ogg", music(4.5, channels=1, seed=2).T, SR)
    sf.write(root / "short.wav", music(1.0, seed=3).T, SR)
    (root / "broken.mp3").write_bytes(b"not audio at all")
    return str(root)


@pytest.fixture(scope="module")
def cache(song_root, tmp_path_factory):
    cache_root = str(tmp_path_factory.mktemp("cache"))
    return SongCache(cache_root, build_song_cache(song_root, cache_root, workers=1))


def test_cache_decodes_every_readable_song_to_stereo_44k(song_root, cache):
    assert sorted(cache.frames) == ["a.wav", "album/b.flac", "album/c.ogg", "short.wav"]
    assert cache.frames["a.wav"] == 6 * SR
    assert abs(cache.frames["album/b.flac"] - 5 * SR) <= 2  # resampled from 48 kHz
    original = sf.read(os.path.join(song_root, "a.wav"), dtype="float32")[0].T
    np.testing.assert_allclose(cache.window("a.wav", 1000, 500), original[:, 1000:1500],
                               atol=1 / 32767)
    mono = cache.window("album/c.ogg", 0, SR)
    assert np.array_equal(mono[0], mono[1])  # mono becomes dual-mono
    tail = cache.window("short.wav", SR - 10, 100)
    assert tail.shape == (2, 100) and not tail[:, 10:].any()  # zero past the end


def test_cache_skips_done_songs_and_redoes_changed_ones(tmp_path):
    songs, cache_root = tmp_path / "songs", str(tmp_path / "cache")
    os.makedirs(songs)
    sf.write(songs / "a.wav", music(1.0).T, SR)
    sf.write(songs / "b.wav", music(1.0, seed=1).T, SR)
    build_song_cache(str(songs), cache_root, workers=1)
    done = os.path.getmtime(os.path.join(cache_root, "a.wav.s16"))
    sf.write(songs / "b.wav", music(2.0, seed=2).T, SR)
    os.utime(songs / "b.wav", (1e9, 1e9))  # a different size and time: decoded again
    frames = build_song_cache(str(songs), cache_root, workers=1)
    assert frames == {"a.wav": SR, "b.wav": 2 * SR}
    assert os.path.getmtime(os.path.join(cache_root, "a.wav.s16")) == done


def test_an_empty_song_folder_is_an_error(tmp_path):
    with pytest.raises(DelimitError, match="no songs"):
        build_song_cache(str(tmp_path), str(tmp_path / "cache"))


def test_split_is_stable_when_songs_are_added():
    songs = [f"pkg/track{i}.ogg" for i in range(200)]
    train, valid = split_song_list(songs)
    assert 5 <= len(valid) <= 40 and not set(train) & set(valid)
    _, valid_more = split_song_list(songs + [f"new/{i}.ogg" for i in range(50)])
    assert set(valid) <= set(valid_more)
    reencoded = [os.path.splitext(s)[0] + ".opus" for s in songs]
    assert split_song_list(reencoded)[1] == [os.path.splitext(s)[0] + ".opus" for s in valid]
    few = ["a.wav", "b.wav", "c.wav"]  # too few for the hash to pick one: one is held back
    assert len(split_song_list(few)[1]) == 1 and split_song_list(["a.wav"]) == (["a.wav"], [])


def test_song_items_are_deterministic_and_well_formed(cache):
    dataset = SongDataset(cache, list(cache.frames), seq_dur=0.5, items_per_song=2,
                          designs=("maximizer", "clipper_maximizer"), unlimited_prob=0.3)
    assert "short.wav" in dataset.songs and len(dataset) == 2 * len(dataset.songs)
    limited, target = dataset[3]
    assert limited.shape == target.shape == (2, SR // 2)
    assert limited.dtype == torch.float32 and limited.abs().max() <= 1.0
    assert abs(integrated_loudness(target.numpy(), SR) - -14.0) < 0.1
    again = dataset[3]
    assert torch.equal(limited, again[0]) and torch.equal(target, again[1])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[3][1], target)


def test_unlimited_song_items_are_their_target_up_to_a_gain(cache):
    dataset = SongDataset(cache, list(cache.frames), seq_dur=0.5, unlimited_prob=1.0)
    for index in range(4):
        limited, target = (a.double().numpy() for a in dataset[index])
        gain = np.dot(limited.ravel(), target.ravel()) / np.dot(target.ravel(), target.ravel())
        np.testing.assert_allclose(limited, gain * target, atol=1e-5)


def high_share_db(audio, above_hz=1000.0):
    """The energy above `above_hz`, in dB of the whole (Hann-windowed: no edge leakage)."""
    power = (np.abs(np.fft.rfft(audio * np.hanning(audio.shape[-1]), axis=-1)) ** 2).sum(0)
    freqs = np.fft.rfftfreq(audio.shape[-1], 1.0 / SR)
    return 10.0 * np.log10(power[freqs > above_hz].sum() / power.sum())


def test_bass_only_song_items_are_the_windows_bass_limited_or_not(cache):
    songs = ["a.wav", "album/b.flac"]
    plain = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0)
    bass = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0,
                       bass_only_prob=1.0, bass_only_hz=(100.0, 150.0))
    for index in range(3):
        whole, low = plain[index][1].double().numpy(), bass[index][1].double().numpy()
        assert high_share_db(whole) > -20.0 and high_share_db(low) < -60.0
        limited = bass[index][0].double().numpy()  # unlimited: the bass itself, up to a gain
        gain = np.dot(limited.ravel(), low.ravel()) / np.dot(low.ravel(), low.ravel())
        np.testing.assert_allclose(limited, gain * low, atol=1e-5)
    limited_bass = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30,
                               bass_only_prob=1.0, target_lufs_mean=-8.0, target_lufs_std=0.0)
    limited, target = (a.double().numpy() for a in limited_bass[0])
    assert high_share_db(target) < -30.0
    assert abs(integrated_loudness(limited, SR) + 8.0) < 1.0  # limited to the target loudness
    # bass_only_prob 0 draws nothing more: items as they were
    assert all(torch.equal(x, y) for x, y in zip(plain[5], SongDataset(
        cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0, bass_only_prob=0.0)[5]))


def test_bass_windows_take_their_own_unlimited_share(cache):
    songs = ["a.wav", "album/b.flac"]
    # whole windows always limited, bass windows never: each item is one or the other
    dataset = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=0.0,
                          bass_only_prob=0.5, bass_only_hz=(100.0, 150.0),
                          bass_only_unlimited_prob=1.0, target_lufs_mean=-8.0,
                          target_lufs_std=0.0)
    kinds = set()
    for index in range(12):
        limited, target = (a.double().numpy() for a in dataset[index])
        gain = np.dot(limited.ravel(), target.ravel()) / np.dot(target.ravel(), target.ravel())
        untouched = np.abs(limited - gain * target).max() < 1e-5
        bass_alone = high_share_db(target) < -60.0
        assert untouched == bass_alone
        kinds.add(bass_alone)
    assert kinds == {True, False}


def test_premastered_song_items_have_the_mastered_window_as_their_target(cache, monkeypatch):
    import dataloader.songs as songs_module

    calls = []
    real_premaster = songs_module.premaster
    monkeypatch.setattr(songs_module, "premaster",
                        lambda *a, **k: calls.append(1) or real_premaster(*a, **k))
    songs = ["a.wav", "album/b.flac"]
    plain = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0)
    mastered = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0,
                           premaster_prob=1.0, premaster_lufs=(-8.0, -7.0))
    for index in range(3):
        before, after = plain[index][1].numpy(), mastered[index][1].numpy()
        # the same window (the premaster draws come after it), crushed: a crest factor lower
        # by over 1 dB, and the limited input is that crushed record up to a gain
        assert crest_factor(after) < crest_factor(before) - 1.0
        assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.8
        limited = mastered[index][0].double().numpy()
        gain = np.dot(limited.ravel(), after.ravel()) / np.dot(after.ravel(), after.ravel())
        np.testing.assert_allclose(limited, gain * after, atol=1e-5)
    calls.clear()
    half = SongDataset(cache, songs, seq_dur=1.0, items_per_song=30, unlimited_prob=1.0,
                       premaster_prob=0.5)
    for index in range(len(half)):
        half[index]
    assert 18 <= len(calls) <= 42  # binomial(60, 0.5): mean 30, sd 3.9
    calls.clear()
    for index in range(len(plain)):
        plain[index]
    assert not calls


def test_validation_excerpts_are_fixed_and_some_are_unlimited(cache):
    songs = ["a.wav", "album/b.flac"]
    valid = SongValidDataset(cache, songs, seconds=1.0, excerpts_per_song=2,
                             unlimited_one_in=3)
    items = [valid[i] for i in range(len(valid))]
    assert [name for _, _, name in items] == ["a.wav#0", "a.wav#1", "album/b.flac#0",
                                              "album/b.flac#1"]
    limited, target, _ = items[2]  # one in three is left unlimited
    ratio = limited.double() / target.double()
    assert torch.allclose(ratio[target.abs() > 1e-3], ratio[target.abs() > 1e-3].mean(),
                          rtol=1e-3)
    assert integrated_loudness(items[0][0].numpy(), SR) > integrated_loudness(
        items[0][1].numpy(), SR) + 2  # limited to about -8 LUFS, louder than -14
    assert not torch.equal(items[0][1], items[1][1])  # two different excerpts of a.wav
    again = SongValidDataset(cache, songs, seconds=1.0, excerpts_per_song=2)
    assert torch.equal(valid[0][0], again[0][0])


def test_weighted_sources_draw_each_source_at_its_share():
    a = torch.utils.data.TensorDataset(torch.zeros(10, 1))
    b = torch.utils.data.TensorDataset(torch.ones(30, 1))
    mixed = WeightedSources([a, b], [0.8, 0.2], seed=1)
    assert len(mixed) == 40
    share = np.mean([mixed[i][0].item() for i in range(2000)])
    assert share == pytest.approx(0.2, abs=0.03)
    assert [mixed[i][0].item() for i in range(20)] == [mixed[i][0].item() for i in range(20)]


def test_build_datasets_mixes_songs_and_stems_and_validates_on_songs(song_root, cache,
                                                                     tmp_path):
    stems = str(tmp_path / "stems")
    write_stems(stems, n_songs=3, seconds=2.0, seed=5)
    config = defaults()
    config["dir_params"].update(root=stems, song_root=song_root, song_cache=cache.cache_root)
    config["data_params"].update(seq_dur=0.5, samples_per_track=2, n_valid_songs=1,
                                 source_weights={"songs": 0.7, "stems": 0.3}, mix_bus=True,
                                 limiter_designs=["maximizer", "compressor_maximizer"],
                                 unlimited_prob=0.1, valid_max_seconds=1.0)
    train, valid = build_datasets(validate(config))
    assert isinstance(train, WeightedSources) and len(train.datasets) == 2
    assert isinstance(valid, SongValidDataset)
    limited, target = train[0]
    assert limited.shape == target.shape == (2, SR // 2)


def test_validation_can_limit_with_designs_kept_out_of_training(song_root, cache):
    config = defaults()
    config["dir_params"].update(song_root=song_root, song_cache=cache.cache_root)
    config["data_params"].update(source_weights={"songs": 1.0}, valid_max_seconds=1.0,
                                 limiter_designs=["maximizer"],
                                 valid_limiter_designs=["fast_limiter"])
    _, valid = build_datasets(validate(config))
    same = SongValidDataset(cache, [valid.excerpts[0][0]], seconds=1.0,
                            designs=("fast_limiter",), seed=config["sys_params"]["seed"])
    trained_on = SongValidDataset(cache, [valid.excerpts[0][0]], seconds=1.0,
                                  designs=("maximizer",), seed=config["sys_params"]["seed"])
    torch.testing.assert_close(valid[0][0], same[0][0])
    assert not torch.allclose(valid[0][0], trained_on[0][0])
    torch.testing.assert_close(valid[0][1], trained_on[0][1])  # the same excerpt, unlimited
    config["data_params"]["valid_limiter_designs"] = ["ozone"]
    with pytest.raises(DelimitError, match="choose from"):
        validate(config)


def test_config_refuses_sources_without_their_folders():
    config = defaults()
    config["data_params"]["source_weights"] = {"songs": 1.0}
    with pytest.raises(DelimitError, match="song_root"):
        validate(config)
    config["data_params"]["source_weights"] = {"tracks": 1.0}
    with pytest.raises(DelimitError, match="source_weights"):
        validate(config)


def test_debian_music_collects_audio_and_pk3_members_once(tmp_path, monkeypatch, capsys):
    share = tmp_path / "usr"
    os.makedirs(share)
    sf.write(share / "one.ogg", music(5.0).T, SR, format="OGG")
    sf.write(share / "beep.wav", music(1.0).T, SR)  # a sound effect, not a song
    with zipfile.ZipFile(share / "music.pk3", "w") as archive:
        archive.write(share / "one.ogg", "sound/one_again.ogg")  # one.ogg again
        sf.write(share / "two.wav", music(6.0, seed=1).T, SR)
        archive.write(share / "two.wav", "sound/two.wav")
        archive.writestr("maps/level.bsp", b"not music")
    (share / "readme.txt").write_text("hello")
    files = {"pkg-music": sorted(str(p) for p in share.iterdir() if p.name != "two.wav")}
    monkeypatch.setattr(debian_music, "PACKAGES", {"train": ["pkg-music"]})
    monkeypatch.setattr(debian_music, "install", lambda packages: None)
    monkeypatch.setattr(debian_music, "package_files", lambda package: files[package])
    rows = debian_music.build_song_folder("train", str(tmp_path / "out"))
    # files in sorted order, so one.ogg comes after the archive's copy of it and is skipped
    assert [r["path"] for r in rows] == ["pkg-music/music.pk3/sound/one_again.ogg",
                                         "pkg-music/music.pk3/sound/two.wav"]
    assert [r["seconds"] for r in rows] == [5.0, 6.0]
    assert "left out 1 files shorter than 4 s" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "out" / "train" / "pkg-music")) == ["music.pk3"]
    with open(tmp_path / "out" / "train" / "songs.csv") as f:
        assert [r["path"] for r in csv.DictReader(f)] == [r["path"] for r in rows]
    assert "total" in debian_music.summary(rows)[-1]


def test_real_eval_sets_limit_excerpts_to_their_targets(song_root, tmp_path):
    rows, problems = make_real_eval_sets(song_root, str(tmp_path / "real"), seconds=2.0,
                                         progress=False)
    assert len(problems) == 1 and "broken.mp3" in problems[0]  # reported, the rest went on
    assert len(rows) == 2 * 3  # two excerpts from each track of at least 2 s (not short.wav)
    assert len({r["name"] for r in rows}) == len(rows)
    for row in rows:
        reference = sf.read(tmp_path / "real" / "references" / f"{row['name']}.wav")[0].T
        assert reference.shape == (2, 2 * SR)
        assert abs(integrated_loudness(reference, SR) - -14.0) < 0.1
        for set_name in ("alt_limiter", "multiband"):
            limited = sf.read(tmp_path / "real" / set_name / f"{row['name']}.wav")[0].T
            assert np.abs(limited).max() <= 1.0
            column = "alt_lufs" if set_name == "alt_limiter" else "multiband_lufs"
            assert abs(integrated_loudness(limited, SR) - row[column]) < 0.01
            assert abs(row[column] - row["target_lufs"]) <= 0.5


def test_excerpts_start_at_their_positions_and_a_confirmation_set_takes_other_music():
    ramp = np.tile(np.arange(30 * SR, dtype=np.float32) / (30 * SR), (2, 1))  # value = position
    n = 2 * SR
    default = [start for start, _ in excerpts(ramp, n)]
    assert default == [ramp.shape[1] // 3, ramp.shape[1] * 2 // 3]  # the sets built so far
    confirm = excerpts(ramp, n, (0.15, 0.5, 0.85))
    assert [start for start, _ in confirm] == [int(0.15 * 30 * SR), 15 * SR, int(0.85 * 30 * SR)]
    for start, excerpt in confirm:
        np.testing.assert_array_equal(excerpt, ramp[:, start:start + n])
        assert all(abs(start - other) >= n for other in default)  # no sample in common
    assert excerpts(ramp, n, (0.99,))[0][0] == ramp.shape[1] - n  # kept inside the track


def test_real_eval_sets_refuse_positions_outside_the_track(song_root, tmp_path):
    with pytest.raises(DelimitError, match="positions"):
        make_real_eval_sets(song_root, str(tmp_path / "real"), positions=(0.5, 1.2))


def test_excerpt_songs_keeps_the_middle_and_splits_like_the_original(tmp_path):
    from prepro.excerpt_songs import excerpt_folder, main, middle_excerpt

    songs = tmp_path / "songs"
    (songs / "pkg").mkdir(parents=True)
    ramp = np.linspace(-0.5, 0.5, 10 * SR, dtype=np.float32)  # the value tells the position
    sf.write(songs / "pkg" / "long.wav", np.stack([ramp, ramp]).T, SR)
    sf.write(songs / "short.flac", music(6.0).T, SR)
    sf.write(songs / "jingle.wav", music(1.0).T, SR)  # under 4 s: left out, not an error
    audio, rate = middle_excerpt(str(songs / "pkg" / "long.wav"), 4.0)
    assert rate == SR and audio.shape == (2, 4 * SR)
    np.testing.assert_allclose(audio[0], ramp[3 * SR:7 * SR], atol=1e-4)
    assert middle_excerpt(str(songs / "short.flac"), 8.0)[0].shape == (2, 6 * SR)

    out = tmp_path / "excerpts"
    seconds, size, failures = excerpt_folder(str(songs), str(out), 4.0)
    assert failures == 0 and seconds == pytest.approx(8.0, abs=0.01) and size > 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.opus"))
    assert written == ["pkg/long.opus", "short.opus"]
    assert sf.info(str(out / "pkg" / "long.opus")).samplerate == 48000
    frames = build_song_cache(str(out), str(tmp_path / "cache"), workers=1)
    assert frames["pkg/long.opus"] == pytest.approx(4 * SR, abs=SR // 50)  # back at 44.1 kHz

    (songs / "broken.ogg").write_bytes(b"not audio")
    sf.write(songs / "short.wav", music(5.0).T, SR)  # short.flac's name without its extension
    assert main(["--input", str(songs), "--output", str(tmp_path / "again")]) == 1
    assert (tmp_path / "again" / "pkg" / "long.opus").is_file()  # bad files stopped nothing
    assert sf.info(str(tmp_path / "again" / "short.opus")).duration == pytest.approx(6.0, abs=0.05)
