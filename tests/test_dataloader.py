import os

import numpy as np
import pytest
import torch

from dataloader import (
    BassAlone,
    InvertedPolarity,
    MusdbXLTrainDataset,
    OnTheFlyDataset,
    ValidDataset,
    build_datasets,
)
from tests.helpers import SR, make_small_dataset, write_stems
from utils.data.mixing import mix_song
from utils.errors import DelimitError
from utils.evaluation.metrics import crest_factor
from utils.loudness import integrated_loudness
from utils.training.config import defaults

SEQ = 0.5
N = int(SEQ * SR)


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("stems"))
    write_stems(root, n_songs=4, seconds=3.0, seed=5)
    return root


def on_the_fly(stems, **kwargs):
    kwargs = {"seq_dur": SEQ, "samples_per_track": 3, "n_valid": 1, **kwargs}
    return OnTheFlyDataset(stems, **kwargs)


def test_on_the_fly_items_shapes_loudness_and_length(stems):
    dataset = on_the_fly(stems, use_fixed=0.0)
    assert len(dataset) == 3 * 3  # samples_per_track * training songs (1 held out)
    assert "song_03" not in dataset.songs
    limited, target = dataset[0]
    for audio in (limited, target):
        assert isinstance(audio, torch.Tensor) and audio.dtype == torch.float32
        assert audio.shape == (2, N) and torch.isfinite(audio).all()
    assert abs(integrated_loudness(target.numpy(), SR) - -14.0) < 0.1
    assert limited.abs().max() <= 1.0  # the maximizer's ceiling
    # limited and target are the same mix: strongly correlated, not equal
    correlation = np.corrcoef(limited.numpy().ravel(), target.numpy().ravel())[0, 1]
    assert 0.5 < correlation < 0.99999


def test_on_the_fly_deterministic_per_seed_epoch_index(stems):
    dataset = on_the_fly(stems)
    first = dataset[4]
    again = on_the_fly(stems)[4]  # a fresh object (as in a loader worker)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(dataset[5][1], first[1])  # another index
    dataset.set_epoch(1)
    assert not torch.equal(dataset[4][1], first[1])  # another epoch
    dataset.set_epoch(0)
    assert torch.equal(dataset[4][1], first[1])
    assert not torch.equal(on_the_fly(stems, seed=1)[4][1], first[1])  # another seed


def test_on_the_fly_mix_bus_prob_sends_that_share_of_mixes_through_the_bus(stems, monkeypatch):
    import dataloader.on_the_fly as on_the_fly_module
    from utils.limiters.compressor import random_bus_params

    calls = []
    real_mix_bus = on_the_fly_module.mix_bus
    monkeypatch.setattr(on_the_fly_module, "mix_bus",
                        lambda *a, **k: calls.append(k) or real_mix_bus(*a, **k))
    every = on_the_fly(stems, mix_bus=True, mix_bus_prob=1.0, samples_per_track=40,
                       unlimited_prob=1.0)
    for i in range(len(every)):
        every[i]
    assert len(calls) == len(every) == 120
    # probability 1 draws nothing more: item 7's bus settings come straight after its mix, as
    # they did in runs made before the option (so that those runs resume with the same items)
    rng = np.random.default_rng([every.seed, 0, 7])
    every.draw_mix(rng, rng.random() < every.use_fixed)
    assert calls[7] == random_bus_params(rng)
    calls.clear()
    half = on_the_fly(stems, mix_bus=True, mix_bus_prob=0.5, samples_per_track=40,
                      unlimited_prob=1.0)
    for i in range(len(half)):
        half[i]
    assert 40 <= len(calls) <= 80  # binomial(120, 0.5): mean 60, sd 5.5
    calls.clear()
    none = on_the_fly(stems, mix_bus=True, mix_bus_prob=0.0, unlimited_prob=1.0)
    for i in range(len(none)):
        none[i]
    assert not calls


def test_on_the_fly_premastered_mixes_are_the_target(stems):
    plain = on_the_fly(stems, unlimited_prob=1.0)
    mastered = on_the_fly(stems, unlimited_prob=1.0, premaster_prob=1.0,
                          premaster_lufs=(-8.0, -7.0))
    for index in range(3):
        before, after = plain[index][1].numpy(), mastered[index][1].numpy()
        assert crest_factor(after) < crest_factor(before) - 1.0  # the same mix, crushed
        limited = mastered[index][0].double().numpy()
        gain = np.dot(limited.ravel(), after.ravel()) / np.dot(after.ravel(), after.ravel())
        np.testing.assert_allclose(limited, gain * after, atol=1e-5)
    # limited once more, to about -8 LUFS, from the crushed record: the target stays the record
    again = on_the_fly(stems, premaster_prob=1.0, premaster_lufs=(-13.0, -12.0))[0][1].numpy()
    assert crest_factor(again) < crest_factor(plain[0][1].numpy())


def test_on_the_fly_coherent_window_is_one_song(stems):
    dataset = on_the_fly(stems, use_fixed=1.0, limiter_variety="reference")
    mix, _ = dataset.draw_mix(np.random.default_rng(0), coherent=True)
    # some song's plain stem sum (gain 1, no swap) at some start
    matches = []
    for song in dataset.songs:
        whole = mix_song(stems, song, 0.0, None, SR)
        for start in np.flatnonzero(whole[0] == mix[0, 0]):
            if np.array_equal(whole[:, start:start + N], mix):
                matches.append((song, start))
    assert len(matches) == 1
    limited, target = dataset[0]
    assert limited.shape == target.shape == (2, N)


def test_on_the_fly_rejects_bad_arguments(stems):
    with pytest.raises(DelimitError, match="limiter_variety"):
        on_the_fly(stems, limiter_variety="gentle")
    with pytest.raises(DelimitError, match="split"):
        on_the_fly(stems, split="test")


def test_on_the_fly_valid_split_and_explicit_valid_songs(stems):
    assert on_the_fly(stems, split="valid").songs == ["song_03"]
    dataset = on_the_fly(stems, valid_songs=["song_00"])
    assert dataset.songs == ["song_01", "song_02", "song_03"]


def test_valid_dataset_deterministic_cached_and_per_song(stems):
    valid = ValidDataset(stems, ["song_02", "song_03"], max_seconds=1.0, seed=3)
    assert len(valid) == 2
    limited, target, name = valid[1]
    assert name == "song_03"
    assert limited.shape == target.shape == (2, SR) and limited.dtype == torch.float32
    assert valid[1][0] is limited  # cached
    assert abs(integrated_loudness(target.numpy(), SR) - -14.0) < 0.1
    # a song's processing does not depend on the other songs in the set
    alone = ValidDataset(stems, ["song_03"], max_seconds=1.0, seed=3)
    assert torch.equal(alone[0][0], limited)
    assert not torch.equal(ValidDataset(stems, ["song_03"], max_seconds=1.0, seed=4)[0][0],
                           limited)
    # max_seconds past the end: the whole song, not padded
    assert ValidDataset(stems, ["song_03"], max_seconds=10.0)[0][0].shape == (2, 3 * SR)


def test_valid_dataset_limits_with_the_designs_it_is_given(stems):
    """Stem validation takes the config's designs (valid_limiter_designs, else the training
    ones); with the maximizer alone it is the maximizer's draws from the song's generator."""
    from utils.data.mixing import song_name_hash
    from utils.limiters.maximizer import maximize_to_loudness
    from utils.limiters.training import draw_limiter_params

    plain = ValidDataset(stems, ["song_03"], max_seconds=1.0, seed=3)
    rng = np.random.default_rng([3, song_name_hash("song_03")])
    target_lufs = rng.normal(-8.0, 1.0)
    mix = mix_song(stems, "song_03", 0.0, SR, SR)
    expected, _, _ = maximize_to_loudness(mix, SR, target_lufs, **draw_limiter_params(rng, "wide"))
    torch.testing.assert_close(plain[0][0], torch.from_numpy(expected))
    fast = ValidDataset(stems, ["song_03"], max_seconds=1.0, seed=3, designs=("fast_limiter",))
    assert not torch.allclose(fast[0][0], plain[0][0])
    torch.testing.assert_close(fast[0][1], plain[0][1])  # the same target
    cfg = defaults()
    cfg["dir_params"].update(root=stems, ozone_root=None)
    cfg["data_params"].update(n_valid_songs=1, valid_max_seconds=1.0, seq_dur=SEQ,
                              valid_limiter_designs=["fast_limiter"])
    _, valid = build_datasets(cfg)
    assert valid.designs == ("fast_limiter",)
    with pytest.raises(DelimitError, match="choose from"):
        ValidDataset(stems, ["song_03"], designs=("ozone",))


def test_inverted_polarity_negates_input_and_target_of_each_item():
    items = [(torch.rand(2, 8), torch.rand(2, 8), f"song#{k}") for k in range(3)]
    inverted = InvertedPolarity(items)
    assert len(inverted) == 3
    for (limited, target, name), (neg_limited, neg_target, neg_name) in zip(items, inverted):
        assert torch.equal(neg_limited, -limited) and torch.equal(neg_target, -target)
        assert neg_name == name


def test_bass_alone_keeps_the_bass_of_each_target_unlimited_at_minus_14_lufs():
    t = np.arange(SR) / SR
    bass = 0.3 * np.sin(2 * np.pi * 60.0 * t)
    treble = 0.3 * np.sin(2 * np.pi * 3000.0 * t)
    mix = torch.from_numpy(np.stack([bass + treble, bass + treble]).astype(np.float32))
    no_bass = torch.from_numpy(np.stack([treble, treble]).astype(np.float32))
    items = [(0.5 * mix, mix, "song#0"), (0.5 * no_bass, no_bass, "song#1")]
    alone = BassAlone(items, crossover_hz=150.0)
    assert len(alone) == 1  # the target without bass is left out
    limited, target, name = alone[0]
    assert torch.equal(limited, target) and name == "song#0 bass"
    assert integrated_loudness(target.numpy(), SR) == pytest.approx(-14.0, abs=0.05)
    # the 3 kHz tone is gone, the 60 Hz one kept: the target is a scaled 60 Hz sine
    middle = target[0, SR // 4: 3 * SR // 4].numpy()
    reference = bass[SR // 4: 3 * SR // 4]
    scale = np.dot(middle, reference) / np.dot(reference, reference)
    assert np.abs(middle - scale * reference).max() < 0.01 * np.abs(middle).max()


def test_valid_both_polarities_appends_each_items_inverted_copy(stems):
    cfg = defaults()
    cfg["dir_params"].update(root=stems, ozone_root=None)
    cfg["data_params"].update(n_valid_songs=2, valid_max_seconds=0.5, seq_dur=SEQ)
    _, plain = build_datasets(cfg)
    cfg["data_params"]["valid_both_polarities"] = True
    _, both = build_datasets(cfg)
    assert len(plain) == 2 and len(both) == 4
    for k in range(2):
        for half, sign in ((0, 1), (2, -1)):
            limited, target, name = both[half + k]
            torch.testing.assert_close(limited, sign * plain[k][0])
            torch.testing.assert_close(target, sign * plain[k][1])
            assert name == plain[k][2]


def test_valid_dataset_missing_stem_fails_at_start(stems, tmp_path):
    root = str(tmp_path / "s")
    write_stems(root, n_songs=1, seconds=0.5)
    os.remove(os.path.join(root, "train", "song_00", "other.wav"))
    with pytest.raises(DelimitError, match="other.wav"):
        ValidDataset(root, ["song_00"])


def test_build_datasets_on_the_fly_from_config(stems):
    cfg = defaults()
    cfg["dir_params"].update(root=stems, ozone_root=None)
    cfg["data_params"].update(seq_dur=SEQ, samples_per_track=2, n_valid_songs=2,
                              valid_max_seconds=0.5, limitaug_custom_target_lufs=-10.0)
    cfg["sys_params"]["seed"] = 11
    train, valid = build_datasets(cfg)
    assert isinstance(train, OnTheFlyDataset) and isinstance(valid, ValidDataset)
    assert train.songs == ["song_00", "song_01"] and valid.songs == ["song_02", "song_03"]
    assert len(train) == 4 and train.seed == 11 and train.target_lufs_mean == -10.0
    assert train.target_lufs_std == 1.0 and train.limiter_variety == "wide"
    assert valid[0][0].shape == (2, N)
    # the loader the training uses
    loader = torch.utils.data.DataLoader(train, batch_size=2, num_workers=0)
    limited, target = next(iter(loader))
    assert limited.shape == target.shape == (2, 2, N)


@pytest.fixture(scope="module")
def xl(tmp_path_factory):
    """A tiny musdb-XL-train (7 segments of 1 s, 3 fixed songs) and its rebuilt wavs."""
    from prepro.save_musdb_XL_train_wave import main as rebuild

    base = str(tmp_path_factory.mktemp("xl"))
    root, npy_root, _ = make_small_dataset(base)
    wav_root = os.path.join(base, "wav")
    assert rebuild(["--root", root, "--musdb_XL_train_npy_root", npy_root,
                    "--output", wav_root]) == 0
    return root, npy_root, wav_root


def musdb_xl(xl, **kwargs):
    root, npy_root, _ = xl
    kwargs = {"seq_dur": 1.0, "samples_per_track": 4, "n_valid": 1, **kwargs}
    return MusdbXLTrainDataset(root, npy_root, **kwargs)


def test_musdb_xl_items_from_ratio_equal_rebuilt_wavs(xl):
    from_ratio = musdb_xl(xl, use_fixed=0.3)
    from_wav = musdb_xl(xl, use_fixed=0.3, from_ratio=False, wav_root=xl[2])
    assert len(from_ratio) == 4 * 3 and from_ratio.fixed_songs == ["song_00", "song_01", "song_02"]
    for index in range(len(from_ratio)):
        (limited, target), (limited_wav, target_wav) = from_ratio[index], from_wav[index]
        assert limited.shape == target.shape == (2, SR) and limited.dtype == torch.float32
        assert torch.equal(target, target_wav)
        # the wavs hold the same samples rounded to 16 bits
        assert (limited - limited_wav).abs().max() <= 2.0 ** -16 + 1e-7
        assert abs(integrated_loudness(target.numpy(), SR) - -14.0) < 0.1


def test_musdb_xl_item_is_the_stored_segment_and_its_mix(xl):
    from utils.data.mixing import apply_ratio, load_ratio, mix_from_row

    root, npy_root, _ = xl
    dataset = musdb_xl(xl, use_fixed=0.0)
    segment = dataset.segment_for(0, 2)
    row = dataset.row(segment)
    mix = mix_from_row(root, row, 1.0, SR)
    ratio = load_ratio(os.path.join(npy_root, "np_ratio", "ozone_train_random",
                                    f"{row['song_name']}.npy"))
    limited, target = dataset[2]
    np.testing.assert_array_equal(limited.numpy(), apply_ratio(mix, ratio))
    gain = target.numpy()[mix != 0] / mix[mix != 0]
    np.testing.assert_allclose(gain, gain[0], rtol=1e-5)  # target = mix * one gain


def test_musdb_xl_deterministic_and_visits_every_segment(xl):
    dataset = musdb_xl(xl)
    first = dataset[3]
    assert all(torch.equal(a, b) for a, b in zip(first, musdb_xl(xl)[3]))
    assert not torch.equal(dataset[4][1], first[1])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[3][1], first[1])
    # consecutive positions of the (seed)-permutation sequence: all 7 segments before a repeat
    visited = [dataset.segment_for(epoch, i) for epoch in range(2) for i in range(len(dataset))]
    assert sorted(visited[:7]) == list(range(7)) and sorted(visited[7:14]) == list(range(7))


def test_musdb_xl_fixed_windows_exclude_validation_songs(xl, tmp_path):
    import shutil

    root, npy_root, _ = xl
    leaky = str(tmp_path / "npy")
    shutil.copytree(npy_root, leaky)
    with open(os.path.join(leaky, "ozone_train_fixed.csv"), "a") as f:
        f.write("song_03,-3.0,2.0\n")  # the reference's fixed set held validation songs
    dataset = MusdbXLTrainDataset(root, leaky, seq_dur=1.0, use_fixed=1.0, n_valid=1)
    assert dataset.fixed_songs == ["song_00", "song_01", "song_02"]
    limited, target = dataset[0]
    assert limited.shape == (2, SR) and torch.isfinite(limited).all()


def test_musdb_xl_errors(xl, tmp_path):
    root, npy_root, _ = xl
    with pytest.raises(DelimitError, match="wav_root"):
        musdb_xl(xl, from_ratio=False)
    with pytest.raises(DelimitError, match="no ozone_train_random"):
        MusdbXLTrainDataset(root, str(tmp_path), n_valid=1)
    dataset = musdb_xl(xl, use_fixed=0.0, from_ratio=False, wav_root=str(tmp_path))
    with pytest.raises(DelimitError, match="no such file"):
        dataset[0]


def test_build_datasets_with_ozone_root(xl):
    root, npy_root, _ = xl
    cfg = defaults()
    cfg["dir_params"].update(root=root, ozone_root=npy_root)
    cfg["data_params"].update(seq_dur=1.0, samples_per_track=2, n_valid_songs=1,
                              valid_max_seconds=1.0)
    train, valid = build_datasets(cfg)
    assert isinstance(train, MusdbXLTrainDataset) and len(train) == 6
    assert valid.songs == ["song_03"] and train[0][0].shape == (2, SR)


def test_build_datasets_reads_rebuilt_wavs_when_configured(xl):
    root, npy_root, wav_root = xl
    cfg = defaults()
    cfg["dir_params"].update(root=root, ozone_root=npy_root, ozone_wav_root=wav_root)
    cfg["data_params"].update(seq_dur=1.0, samples_per_track=2, n_valid_songs=1, use_fixed=0.0)
    from_wavs, _ = build_datasets(cfg)
    cfg["dir_params"]["ozone_wav_root"] = None
    from_ratios, _ = build_datasets(cfg)
    assert from_wavs.wav_root == wav_root and from_ratios.wav_root is None
    limited_wav, target_wav = from_wavs[0]
    limited_ratio, target_ratio = from_ratios[0]
    torch.testing.assert_close(limited_wav, limited_ratio, atol=2 ** -15, rtol=0)
    torch.testing.assert_close(target_wav, target_ratio)
