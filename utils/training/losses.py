"""Training losses: the reference's pairwise negative SI-SDR, a per-channel SI-SDR with a soft
cap (for data that includes unlimited items), and an optional multi-resolution STFT loss
(auraloss)."""
import torch

EPS = 1e-8


def pairwise_si_sdr(estimate, target, eps=EPS):
    """SI-SDR in dB of every (estimate channel, target channel) pair.

    Zero-mean signals, target projection, 10*log10 of the energy ratio, eps 1e-8, as the
    reference computes it with the two channels as "sources".
    Shapes: (batch, channels, time), (batch, channels, time) -> (batch, channels, channels).
    """
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    target = target - target.mean(dim=-1, keepdim=True)
    est = estimate.unsqueeze(2)  # (batch, est_ch, 1, time)
    tgt = target.unsqueeze(1)  # (batch, 1, tgt_ch, time)
    dot = (est * tgt).sum(-1, keepdim=True)
    projection = dot * tgt / (tgt.pow(2).sum(-1, keepdim=True) + eps)
    noise = est - projection
    ratio = projection.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps)
    return 10 * torch.log10(ratio + eps)


def neg_si_sdr_loss(estimate, target):
    """The reference's training loss: minus the mean of the 2x2 pairwise SI-SDR matrix."""
    return -pairwise_si_sdr(estimate, target).mean()


def channel_si_sdr(estimate, target):
    """SI-SDR per channel (each estimate channel against its own target), averaged over
    channels: the evaluation metric. Shapes: (batch, ch, time) x2 -> (batch,)."""
    return torch.diagonal(pairwise_si_sdr(estimate, target), dim1=1, dim2=2).mean(-1)


def capped_si_sdr(estimate, target, cap_db=30.0, eps=EPS):
    """Per-channel SI-SDR with a soft cap: 10 log10(|s|^2 / (|e|^2 + tau |s|^2)), tau =
    10^(-cap_db / 10), s the target's projection and e the rest. It never exceeds cap_db, and
    is close to the plain SI-SDR well below it.

    Why: an item the limiter left alone scores ~80 dB when the model leaves it alone, so with
    the plain SI-SDR any change to it costs tens of dB and swamps the 1-2 dB to win on limited
    items (measured: the model collapsed to "do nothing" within 700 steps). The cap bounds
    what a near-perfect item can contribute.
    Shapes: (batch, channels, time) x2 -> (batch,), averaged over channels.
    """
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    target = target - target.mean(dim=-1, keepdim=True)
    dot = (estimate * target).sum(-1, keepdim=True)
    projection = dot * target / (target.pow(2).sum(-1, keepdim=True) + eps)
    signal = projection.pow(2).sum(-1)
    noise = (estimate - projection).pow(2).sum(-1)
    tau = 10.0 ** (-cap_db / 10.0)
    return (10 * torch.log10((signal + eps) / (noise + tau * signal + eps))).mean(-1)


class MultiResolutionSTFTLoss(torch.nn.Module):
    """auraloss's multi-resolution STFT loss (spectral convergence + log magnitude) at the
    reference's evaluation resolutions: n_fft 2048/1024/512, hops 512/256/128."""

    def __init__(self):
        super().__init__()
        import auraloss  # imported here: only configs that ask for it pay for it

        self.loss = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=[2048, 1024, 512], hop_sizes=[512, 256, 128], win_lengths=[2048, 1024, 512])

    def forward(self, estimate, target):
        # Scale-invariant like SI-SDR: the target is at -14 LUFS, the estimate at the input's
        # level times the gain, so match the estimate's scale to the target first.
        scale = (estimate * target).sum((-1, -2), keepdim=True) / (
            estimate.pow(2).sum((-1, -2), keepdim=True) + EPS)
        return self.loss(estimate * scale.detach(), target)


class CombinedLoss(torch.nn.Module):
    """Weighted sum of the losses named in a config's `*_loss_func` / `*_loss_scales`."""

    def __init__(self, names, scales, si_sdr_cap_db=30.0):
        super().__init__()
        self.names, self.scales = list(names), list(scales)
        self.si_sdr_cap_db = si_sdr_cap_db
        self.terms = torch.nn.ModuleDict(
            {"mrstft": MultiResolutionSTFTLoss()} if "mrstft" in self.names else {})

    def forward(self, estimate, target):
        total = 0.0
        for name, scale in zip(self.names, self.scales):
            if name == "si_sdr":
                total = total + scale * neg_si_sdr_loss(estimate, target)
            elif name == "si_sdr_capped":
                total = total - scale * capped_si_sdr(estimate, target, self.si_sdr_cap_db).mean()
            else:
                total = total + scale * self.terms[name](estimate, target)
        return total
