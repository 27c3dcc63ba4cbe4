"""FID and KID of translated images against a fixed reference set.

Features come once per image from `InceptionFeatures`; torchmetrics'
`FrechetInceptionDistance` and `KernelInceptionDistance` accumulate them (and
synchronize across DDP ranks) through a pass-through feature module. FID's
matrix square root runs in float64 as Tr sqrt(S1 S2) = sum sqrt(eig(L^T S2 L)),
S1 = L L^T (one Cholesky and one symmetric eigensolve, about a second on a CPU
for 2048 features, instead of torchmetrics' general `eigvals`); it equals
torchmetrics' value (a test checks it). KID subsets are half the smaller set
(at most 1000) so that `kid_std` is a real spread (see `FIDKID`).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from cartoonlab.metrics.backbone import InceptionFeatures


def trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Tr sqrt(s1 @ s2) for symmetric PSD s1, s2 (float64)."""
    s1, s2 = s1.double(), s2.double()
    chol, info = torch.linalg.cholesky_ex(s1)
    if int(info) == 0:
        m = chol.T @ s2 @ chol  # similar to s1 @ s2, symmetric
    else:  # singular s1 (fewer images than features): symmetric square root instead
        w, v = torch.linalg.eigh(s1)
        root = (v * w.clamp(min=0).sqrt()) @ v.T
        m = root @ s2 @ root
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def frechet_distance(mu1, sigma1, mu2, sigma2) -> torch.Tensor:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))  (Heusel et al. 2017)."""
    return (
        (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    )


def frechet_distance_of_samples(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`frechet_distance` of two feature sets `[n, d]` (sample covariances), exactly, in the
    samples' space: with centred X, Y, S1 S2 = X^T X Y^T Y / (n-1)(m-1) has the non-zero
    eigenvalues of (X Y^T)(X Y^T)^T / (n-1)(m-1), so Tr sqrt(S1 S2) is the sum of the
    singular values of X Y^T / sqrt((n-1)(m-1)): one n x m SVD instead of d x d
    eigensolves (milliseconds for 500 images of 2048 features, where d x d takes seconds)."""
    x, y = x.double(), y.double()
    xc, yc = x - x.mean(0), y - y.mean(0)
    scale = ((len(x) - 1) * (len(y) - 1)) ** 0.5
    cross = torch.linalg.svdvals(xc @ yc.T).sum() / scale
    traces = xc.square().sum() / (len(x) - 1) + yc.square().sum() / (len(y) - 1)
    return (x.mean(0) - y.mean(0)).square().sum() + traces - 2 * cross


class _PassThrough(nn.Module):
    num_features = InceptionFeatures.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class FastFID(FrechetInceptionDistance):
    """torchmetrics' FID over precomputed features, with the fast float64 square root."""

    def compute(self) -> torch.Tensor:
        n_r, n_f = self.real_features_num_samples, self.fake_features_num_samples
        if n_r < 2 or n_f < 2:
            raise RuntimeError("FID needs at least two real and two fake images")
        mu_r, mu_f = self.real_features_sum / n_r, self.fake_features_sum / n_f
        cov_r = (self.real_features_cov_sum - n_r * torch.outer(mu_r, mu_r)) / (n_r - 1)
        cov_f = (self.fake_features_cov_sum - n_f * torch.outer(mu_f, mu_f)) / (n_f - 1)
        return frechet_distance(mu_r, cov_r, mu_f, cov_f).float()


def kid_subset_size_for(n_real: int, n_fake: int, cap: int = 1000) -> int:
    """KID subset size: half the smaller set (at least 2), at most `cap` (see `FIDKID`)."""
    return max(2, min(cap, min(n_real, n_fake) // 2))


KID_SEED = 0


class FIDKID(nn.Module):
    """FID and KID of fakes against reference features set once (`set_reference`).

    `reset()` forgets the fakes and keeps the reference.

    KID is the mean, over `kid_subsets` random subsets, of the unbiased
    polynomial-kernel MMD^2 between `m` real and `m` fake images, each subset
    drawn without replacement (torchmetrics' `randperm`), following Binkowski
    et al. 2018 and torch-fidelity. The subset size is
    `m = max(2, min(kid_subset_size, min(#real, #fake) // 2))` (see
    `kid_subset_size_for`): half the smaller set, capped at `kid_subset_size`
    (1000, the papers' value). A subset must be strictly smaller than the set:
    a subset of every image is a mere permutation of the whole set, so every
    subset gives the same MMD and the "std over subsets" is float rounding
    (~1e-7), not a spread. With half, `kid_std` is the std over subsets of a
    size-`m` estimate (torch `std(unbiased=False)`), i.e. the sampling spread at
    that subset size; it is larger than the uncertainty of an estimate over all
    images. Each subset's MMD^2 is unbiased, so the smaller subset leaves the
    expected KID unchanged, only its variance grows. `compute()` also returns
    the `kid_subset_size` it used. The subsets are drawn from a generator seeded
    with `KID_SEED`, so the same features give the same KID in any process, and
    scoring leaves the global RNG (hence training) as it was. With only 2 or 3 images `m` is 2 (the
    least an unbiased MMD^2 takes), which equals the set size when it is 2.
    """

    def __init__(self, kid_subsets: int = 100, kid_subset_size: int = 1000) -> None:
        super().__init__()
        self.fid = FastFID(feature=_PassThrough(), reset_real_features=False)
        with warnings.catch_warnings():  # "KID keeps all features in a buffer": intended
            warnings.simplefilter("ignore", UserWarning)
            self.kid = KernelInceptionDistance(
                feature=_PassThrough(),
                reset_real_features=False,
                subsets=kid_subsets,
                subset_size=kid_subset_size,
            )
        self.kid_subset_size, self.has_reference = kid_subset_size, False

    def set_reference(self, features: torch.Tensor) -> None:
        self.fid.update(features.to(self.fid.device), real=True)
        self.kid.update(features.to(self.fid.device), real=True)
        self.has_reference = True

    def update(self, features: torch.Tensor) -> None:
        if len(features):
            self.fid.update(features, real=False)
            self.kid.update(features, real=False)

    def compute(self) -> dict[str, torch.Tensor | int]:
        n_real = int(self.fid.real_features_num_samples)
        n_fake = int(self.fid.fake_features_num_samples)
        self.kid.subset_size = kid_subset_size_for(n_real, n_fake, self.kid_subset_size)
        with torch.random.fork_rng(
            devices=[]
        ):  # subsets of their own: the same every call, global RNG untouched
            torch.manual_seed(KID_SEED)
            kid_mean, kid_std = self.kid.compute()
        return {
            "fid": self.fid.compute(),
            "kid": kid_mean,
            "kid_std": kid_std,
            "n_real": n_real,
            "n_fake": n_fake,
            "kid_subset_size": self.kid.subset_size,
        }

    def reset(self) -> None:
        self.fid.reset()
        self.kid.reset()
