import os

import numpy as np
import pytest
import torch

from dataloader import OnTheFlyDataset, ValidDataset, build_datasets
from tests.test_mixing import SR, write_stems
from utils.config import defaults
from utils.errors import DelimitError
from utils.loudness import integrated_loudness
from utils.mixing import mix_song

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


def test_on_the_fly_coherent_window_is_one_song(stems):
    dataset = on_the_fly(stems, use_fixed=1.0, limiter_variety="reference")
    mix = dataset.draw_mix(np.random.default_rng(0), coherent=True)
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
