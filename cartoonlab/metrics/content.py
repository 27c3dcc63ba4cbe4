"""Content metrics: how much of the input photo a translation keeps, and, where
the ground-truth cartoon is known (the synthetic benchmark's paired held-out
splits), how close it comes to it.

`ContentMetrics` is a torchmetrics `Metric`: every state is a sum with
`dist_reduce_fx="sum"`, so it accumulates over batches and synchronizes across
DDP ranks, and `compute()` returns per-image means.

Conventions (all per image, then averaged over images):

* Images come in [-1, 1] (`[B, 3, H, W]`, as everywhere in cartoonlab); they are
  clamped to [-1, 1] and mapped to [0, 1] before any pixel metric, so SSIM,
  PSNR and L1 are all in [0, 1] units (data range 1). [0, 1] rather than
  [-1, 1] with range 2 because SSIM's luminance term is not shift invariant:
  the usual SSIM is defined on non-negative intensities.
* SSIM: torchmetrics' functional SSIM on the RGB channels (averaged over
  channels and pixels; not on luma), K1 = 0.01, K2 = 0.03, with a Gaussian
  window of sigma 0.75, which torchmetrics truncates to 7x7 taps
  (2 * int(3.5 sigma + 0.5) + 1). The usual sigma 1.5 (11x11) would span a third
  of a 32 px image; 7 taps keep SSIM local from 16 px up (torchmetrics pads by
  reflection, so any size >= 4 px runs, and the map is averaged over the whole
  image).
* PSNR: 10 log10(1 / MSE) with MSE over the image's C x H x W values, capped at
  `PSNR_CAP` = 60 dB (i.e. MSE floored at 1e-6), so an identical image gives a
  finite 60 instead of inf and one such image cannot swamp the mean.
* L1 (truth only): mean absolute error in [0, 1] units.
* Perceptual distance `perc_*`: 1 - cos(f(a), f(b)) between 2048-d Inception
  pool3 features that the caller passes (`InceptionFeatures(to_uint8_tensor(x))`, the
  very features FID/KID use, so no extra forward pass). It stands in for LPIPS,
  whose weights cannot be fetched here. Pool3 features are non-negative, so it
  lies in [0, 1]; 0 for identical features. It is a *different network* from a
  run's content (perceptual) loss network (EfficientNet-Lite0 / VGG / ResNet),
  so a model cannot score well on it simply by minimizing its own loss; it is
  also a global (pooled) descriptor, nearly blind to where things are (a
  mirrored photo scores ~0.04), which SSIM, PSNR and L1 are not.

Read them together. SSIM rewards flat outputs on flat scenes: on 64 px
synthetic pairs a constant grey image scores `ssim_truth` 0.69 against the true
cartoons, above the untranslated photo (0.57), and `ssim_photo` 0.58, above
the photo with noise of std 0.05 (0.51 in [0, 1] units), while its PSNR, L1 and
perceptual distance rank it last.

Keys of `compute()`:

* always: `n_images`, `ssim_photo`, `psnr_photo` (against the input photo);
* `perc_photo` when `fake_feats` and `photo_feats` were passed;
* `n_truth`, `ssim_truth`, `psnr_truth`, `l1_truth` when `truth` was passed, and
  `perc_truth` when `truth_feats` (with `fake_feats`) was passed too.

Each group keeps its own image count, and its keys are averaged over the images
that had it: if truth (or features) came with only some batches, the truth
(perceptual) means are over those images only, `n_truth` says how many, and
`compute()` warns that the groups cover different images. A group never seen
leaves its keys out (no NaN).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.utilities import rank_zero_warn

PSNR_CAP = 60.0
SSIM_SIGMA = 0.75
SSIM_KERNEL = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1  # torchmetrics' Gaussian window size for SSIM_SIGMA: 7

_GROUPS = {  # group -> the per-image sums it keeps
    "photo": ("ssim_photo", "psnr_photo"),
    "perc_photo": ("perc_photo",),
    "truth": ("ssim_truth", "psnr_truth", "l1_truth"),
    "perc_truth": ("perc_truth",),
}
KEYS = tuple(k for keys in _GROUPS.values() for k in keys)  # every per-image score, in one order


def _unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], float32, clamped."""
    return (x.detach().float().clamp(-1, 1) + 1) / 2


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM `[B]` of [0, 1] images (see the module docstring)."""
    out = structural_similarity_index_measure(
        a,
        b,
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_KERNEL,
        data_range=1.0,
        reduction="none",
    )
    assert isinstance(out, torch.Tensor)  # a tuple only with return_full_image / return_contrast_sensitivity
    return out


def psnr(a: torch.Tensor, b: torch.Tensor, cap: float = PSNR_CAP) -> torch.Tensor:
    """Per-image PSNR `[B]` in dB of [0, 1] images, capped at `cap`."""
    mse = (a - b).square().flatten(1).mean(1)
    return (-10 * torch.log10(mse.clamp_min(10 ** (-cap / 10)))).clamp_max(cap)


def cosine_distance(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """Per-row 1 - cos(fa, fb) `[B]`, clamped at 0 (rounding)."""
    cos = torch.nn.functional.cosine_similarity(fa.detach().float(), fb.detach().float(), dim=1, eps=1e-8)
    return (1 - cos).clamp_min(0)


class ContentMetrics(Metric):
    """SSIM / PSNR / perceptual distance of translations to their input photos,
    and SSIM / PSNR / L1 / perceptual distance to the ground truth when given.

    See the module docstring for the conventions and the keys of `compute()`.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for group, keys in _GROUPS.items():
            self.add_state(f"n_{group}", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
            for key in keys:
                self.add_state(f"sum_{key}", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def _add(self, group: str, **values: torch.Tensor) -> None:
        n = next(iter(values.values())).numel()
        setattr(self, f"n_{group}", getattr(self, f"n_{group}") + n)
        for key, v in values.items():
            setattr(self, f"sum_{key}", getattr(self, f"sum_{key}") + v.double().sum())

    def update(
        self,
        fake: torch.Tensor,
        photo: torch.Tensor,
        truth: torch.Tensor | None = None,
        fake_feats: torch.Tensor | None = None,
        photo_feats: torch.Tensor | None = None,
        truth_feats: torch.Tensor | None = None,
    ) -> None:
        """`fake` = G(`photo`), `truth` its ground-truth cartoon: `[B, 3, H, W]` in
        [-1, 1]. `*_feats`: `[B, 2048]` Inception pool3 features of the same images."""
        if fake.ndim != 4 or fake.shape != photo.shape:
            raise ValueError(
                f"`fake` and `photo` must be [B, C, H, W] of one shape, got "
                f"{tuple(fake.shape)} and {tuple(photo.shape)}"
            )
        if truth is not None and truth.shape != fake.shape:
            raise ValueError(
                f"`truth` must have the shape of `fake` {tuple(fake.shape)}, got {tuple(truth.shape)}"
            )
        if fake_feats is None and (photo_feats is not None or truth_feats is not None):
            raise ValueError("perceptual distances need `fake_feats` too")
        if fake_feats is not None and photo_feats is None and truth_feats is None:
            raise ValueError("`fake_feats` without `photo_feats` or `truth_feats` has nothing to compare to")
        if truth_feats is not None and truth is None:
            raise ValueError("`truth_feats` without `truth`: pass the truth images too")
        b = fake.shape[0]
        for name, f in (
            ("fake_feats", fake_feats),
            ("photo_feats", photo_feats),
            ("truth_feats", truth_feats),
        ):
            if f is not None and (f.ndim != 2 or f.shape[0] != b):
                raise ValueError(f"`{name}` must be [B, D] with B = {b}, got {tuple(f.shape)}")
        if b == 0:
            return
        for group, values in self.values(fake, photo, truth, fake_feats, photo_feats, truth_feats).items():
            self._add(group, **values)

    @staticmethod
    def values(
        fake: torch.Tensor,
        photo: torch.Tensor,
        truth: torch.Tensor | None = None,
        fake_feats: torch.Tensor | None = None,
        photo_feats: torch.Tensor | None = None,
        truth_feats: torch.Tensor | None = None,
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Per-image values `[B]` by group (the keys of `compute()`), unchecked: `update`
        checks its arguments and adds these up; a caller may keep them per image."""
        fake_u, photo_u = _unit(fake), _unit(photo)
        out = {"photo": {"ssim_photo": ssim(fake_u, photo_u), "psnr_photo": psnr(fake_u, photo_u)}}
        if fake_feats is not None and photo_feats is not None:
            out["perc_photo"] = {"perc_photo": cosine_distance(fake_feats, photo_feats)}
        if truth is not None:
            truth_u = _unit(truth)
            out["truth"] = {
                "ssim_truth": ssim(fake_u, truth_u),
                "psnr_truth": psnr(fake_u, truth_u),
                "l1_truth": (fake_u - truth_u).abs().flatten(1).mean(1),
            }
            if fake_feats is not None and truth_feats is not None:
                out["perc_truth"] = {"perc_truth": cosine_distance(fake_feats, truth_feats)}
        return out

    def compute(self) -> dict[str, float | int]:
        counts = {g: int(getattr(self, f"n_{g}")) for g in _GROUPS}
        out: dict[str, float | int] = {"n_images": counts["photo"]}
        if counts["truth"]:
            out["n_truth"] = counts["truth"]
        for group, keys in _GROUPS.items():
            n = counts[group]
            if not n:
                continue
            for key in keys:
                out[key] = float(getattr(self, f"sum_{key}") / n)
        partial = [f"{g} ({counts[g]})" for g in _GROUPS if 0 < counts[g] < counts["photo"]]
        if partial:
            rank_zero_warn(
                f"ContentMetrics: only some of the {counts['photo']} images had "
                f"{', '.join(partial)}; those means are over these images only"
            )
        return out
