import math

import pytest
import torch

from utils.training.losses import (
    CombinedLoss,
    capped_si_sdr,
    channel_si_sdr,
    neg_si_sdr_loss,
    pairwise_si_sdr,
)


def test_si_sdr_matches_the_snr_of_added_orthogonal_noise():
    torch.manual_seed(0)
    clean = torch.randn(1, 2, 20000)
    noise = torch.randn(1, 2, 20000)
    # make the noise exactly orthogonal to each clean channel, at 10 dB below it
    noise = noise - ((noise * clean).sum(-1, keepdim=True)
                     / clean.pow(2).sum(-1, keepdim=True) * clean)
    noise = (noise * (clean.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True))
             / math.sqrt(10))
    torch.testing.assert_close(channel_si_sdr(clean + noise, clean), torch.tensor([10.0]),
                               atol=1e-3, rtol=0)


def test_si_sdr_is_scale_and_offset_invariant():
    torch.manual_seed(0)
    target = torch.randn(2, 2, 5000)
    estimate = target + 0.3 * torch.randn(2, 2, 5000)
    base = channel_si_sdr(estimate, target)
    torch.testing.assert_close(channel_si_sdr(0.1 * estimate + 0.5, target), base,
                               atol=1e-3, rtol=0)


def test_pairwise_matrix_holds_cross_channel_pairs_and_loss_is_its_negative_mean():
    torch.manual_seed(0)
    left, right = torch.randn(1, 1, 8000), torch.randn(1, 1, 8000)
    target = torch.cat([left, right], 1)
    estimate = torch.cat([left, right], 1) + 0.01 * torch.randn(1, 2, 8000)
    matrix = pairwise_si_sdr(estimate, target)
    assert matrix.shape == (1, 2, 2)
    assert matrix[0, 0, 0] > 30 and matrix[0, 1, 1] > 30  # matched pairs
    assert matrix[0, 0, 1] < 0 and matrix[0, 1, 0] < 0  # independent cross pairs
    torch.testing.assert_close(neg_si_sdr_loss(estimate, target), -matrix.mean())


def test_combined_loss_adds_weighted_terms_and_mrstft_is_scale_invariant():
    torch.manual_seed(0)
    target = torch.randn(2, 2, 8192)
    estimate = target + 0.1 * torch.randn(2, 2, 8192)
    sdr_only = CombinedLoss(["si_sdr"], [1.0])
    both = CombinedLoss(["si_sdr", "mrstft"], [1.0, 0.5])
    mrstft = CombinedLoss(["mrstft"], [1.0])
    torch.testing.assert_close(both(estimate, target),
                               sdr_only(estimate, target) + 0.5 * mrstft(estimate, target))
    torch.testing.assert_close(mrstft(4.0 * estimate, target), mrstft(estimate, target),
                               rtol=1e-4, atol=1e-5)
    assert mrstft(estimate, target) < mrstft(torch.randn(2, 2, 8192), target)


def test_loss_gradient_flows_to_the_estimate():
    target = torch.randn(1, 2, 4000)
    estimate = (target + torch.randn(1, 2, 4000)).requires_grad_()
    neg_si_sdr_loss(estimate, target).backward()
    assert estimate.grad is not None and torch.isfinite(estimate.grad).all()
    assert estimate.grad.abs().sum() > 0


def test_capped_si_sdr_never_exceeds_the_cap_and_tracks_si_sdr_below_it():
    torch.manual_seed(0)
    target = torch.randn(3, 2, 4000)
    perfect = capped_si_sdr(target * 0.5, target, cap_db=30.0)
    assert torch.all(perfect <= 30.0) and torch.all(perfect > 29.9)
    noisy = target + 0.3 * torch.randn(3, 2, 4000)  # about 10 dB
    assert torch.allclose(capped_si_sdr(noisy, target), channel_si_sdr(noisy, target),
                          atol=0.05)


def test_capped_loss_still_pulls_a_near_perfect_item():
    """The point of the cap: a perfect item gives a bounded, finite loss and gradient."""
    target = torch.randn(1, 2, 2000)
    estimate = target.clone().requires_grad_(True)
    loss = CombinedLoss(["si_sdr_capped"], [1.0], si_sdr_cap_db=30.0)(estimate, target)
    loss.backward()
    assert loss.item() == pytest.approx(-30.0, abs=0.01)
    assert torch.isfinite(estimate.grad).all()
