"""Every score of a translation, on both axes, from one pass over an eval split.

Style: FID/KID of the translations against the held-out cartoons (and, at test,
against the held-out photos: how photo-like they still are). Content: SSIM, PSNR
and an Inception-feature distance to the input photo, and on paired data (the
synthetic benchmark) the same against the ground-truth cartoon (`*_truth`).

`TranslationScores` is fed `(fakes, batch)` per eval batch. The training
callback (`cartoonlab.callbacks.TranslationMetrics`) and the ablation's identity
row (fakes = the photos themselves) both use it, so the untranslated photos are
scored exactly like a cell.
"""

from __future__ import annotations

import torch

from cartoonlab.data.batches import EvalBatch
from cartoonlab.metrics.backbone import InceptionFeatures
from cartoonlab.metrics.content import ContentMetrics
from cartoonlab.metrics.features import reference_features, to_uint8_tensor
from cartoonlab.metrics.fid import FIDKID


class TranslationScores:
    """FID/KID against reference sets plus content metrics, for one split.

    Args:
        backbone: the Inception feature network (`load_backbone`).
        references: held-out sets to compute FID/KID against ("cartoon", "photo").
    """

    def __init__(self, backbone: InceptionFeatures, references: tuple[str, ...] = ("cartoon",)) -> None:
        self.backbone = backbone
        self.fid = {ref: FIDKID() for ref in references}
        for m in self.fid.values():  # features are all-gathered in `update`: no metric sync
            for metric in (m.fid, m.kid):
                metric.sync_on_compute = False
        self.content = ContentMetrics()  # per-rank sums, reduced by torchmetrics under DDP
        self.counts: dict[str, int] = {}
        self._feats: dict[str, torch.Tensor] = {}  # photo / truth features by path: fixed across epochs

    def load_references(self, datamodule, split: str, device: torch.device | str = "cpu") -> None:
        """Reference features of `split`'s held-out files (cached on disk), once."""
        self.backbone.to(device)
        self.content.to(device)
        size = datamodule.hparams.image_size
        for ref, m in self.fid.items():
            m.to(device)
            if not m.has_reference:
                feats = reference_features(
                    self.backbone, datamodule.files[f"{ref}_{split}"], size, device=device
                )
                m.set_reference(feats.to(device))
                self.counts[f"{ref}_reference"] = len(feats)

    def reset(self) -> None:
        for m in self.fid.values():
            m.reset()
        self.content.reset()

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(to_uint8_tensor(x))

    def _cached(self, kind: str, x: torch.Tensor, paths: list[str]) -> torch.Tensor:
        keys = [f"{kind}|{p}" for p in paths]
        missing = [i for i, k in enumerate(keys) if k not in self._feats]
        if missing:
            for i, f in zip(missing, self.features(x[missing])):
                self._feats[keys[i]] = f
        return torch.stack([self._feats[k] for k in keys])

    @torch.no_grad()
    def update(self, fakes: torch.Tensor, batch: EvalBatch, gather=None) -> None:
        """Score one batch of translations `fakes` of `batch["photo"]` (valid items only).
        `gather` (e.g. `LightningModule.all_gather`): under DDP, FID/KID features are
        gathered from every rank, so each rank holds the full set and the same value."""
        valid = batch["photo_valid"].bool()
        fakes = fakes.float()
        feats = self.features(fakes)
        all_feats, all_valid = (feats, valid) if gather is None else (gather(feats), gather(valid))
        all_feats = all_feats.reshape(-1, feats.shape[-1])[all_valid.reshape(-1)]
        for m in self.fid.values():
            m.update(all_feats)
        if not valid.any():
            return
        paths = [p for p, v in zip(batch["photo_path"], valid.tolist()) if v]
        photo, fakes, feats = batch["photo"][valid].float(), fakes[valid], feats[valid]
        truth = batch["truth"][valid].float() if "truth" in batch else None
        self.content.update(
            fakes,
            photo,
            truth,
            fake_feats=feats,
            photo_feats=self._cached("photo", photo, paths),
            truth_feats=None if truth is None else self._cached("truth", truth, paths),
        )

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for ref, m in self.fid.items():
            res = m.compute()
            out[f"fid_{ref}"], out[f"kid_{ref}"] = float(res["fid"]), float(res["kid"])
            out[f"kid_std_{ref}"] = float(res["kid_std"])
            self.counts["translated"] = int(res["n_fake"])
        content = self.content.compute()
        self.counts["content"] = int(content.pop("n_images", 0))
        if "n_truth" in content:
            self.counts["truth"] = int(content.pop("n_truth"))
        out.update({k: float(v) for k, v in content.items()})
        return out
