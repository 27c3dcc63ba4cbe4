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
from cartoonlab.metrics import content
from cartoonlab.metrics.backbone import InceptionFeatures
from cartoonlab.metrics.content import ContentMetrics
from cartoonlab.metrics.feature_cache import reference_features, to_uint8_tensor
from cartoonlab.metrics.fid import FIDKID

PER_IMAGE = content.KEYS  # the columns of `per_image_scores`


class TranslationScores:
    """FID/KID against reference sets plus content metrics, for one split.

    Args:
        backbone: the Inception feature network (`load_backbone`).
        references: held-out sets to compute FID/KID against ("cartoon", "photo").
        per_image: also keep every image's content scores and Inception features
            (`per_image_scores`), for statistics paired per image across runs and for
            resampling the split (the ablation report's confidence intervals).
    """

    def __init__(
        self,
        backbone: InceptionFeatures,
        references: tuple[str, ...] = ("cartoon",),
        per_image: bool = False,
    ) -> None:
        self.backbone = backbone
        self.per_image = per_image
        self._rows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # index -> (scores [K], features)
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
        # the photos' and true cartoons' features for the content scores, from the same disk
        # cache (the same files and size give the same features as their eval batches)
        photos = datamodule.files[f"photo_{split}"]
        pairs = [("photo", photos, photos)]
        truths = datamodule.truths(split)
        if truths is not None:
            pairs.append(("truth", truths, photos))
        for kind, files, keys in pairs:
            if any(f"{kind}|{p}" not in self._feats for p in keys):
                feats = reference_features(self.backbone, files, size, device=device).to(device)
                self._feats.update({f"{kind}|{p}": f for p, f in zip(keys, feats)})

    def reset(self) -> None:
        for m in self.fid.values():
            m.reset()
        self.content.reset()
        self._rows = {}

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
    def update(self, fakes: torch.Tensor | str, batch: EvalBatch, gather=None) -> None:
        """Score one batch of translations `fakes` of `batch["photo"]` (valid items only),
        or, given "photo" or "truth", those images of the batch as if they were the
        translations (the ablation's identity and ground-truth rows; their features come
        from the cache). `gather` (e.g. `LightningModule.all_gather`): under DDP, FID/KID
        features are gathered from every rank, so each rank holds the full set and the same value."""
        valid = batch["photo_valid"].bool()
        if isinstance(fakes, str):
            images: torch.Tensor = (batch["truth"] if fakes == "truth" else batch["photo"]).float()
            feats = self._cached(fakes, images, list(batch["photo_path"]))
            fakes = images
        else:
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
        args = dict(
            fake_feats=feats,
            photo_feats=self._cached("photo", photo, paths),
            truth_feats=None if truth is None else self._cached("truth", truth, paths),
        )
        self.content.update(fakes, photo, truth, **args)
        if self.per_image:
            self._keep(batch["index"][valid], self.content.values(fakes, photo, truth, **args), feats, gather)

    def _keep(self, index: torch.Tensor, values: dict, feats: torch.Tensor, gather) -> None:
        """Each image's scores (`PER_IMAGE` order, NaN where absent) and features, by
        dataset index; under DDP gathered from every rank."""
        flat = {k: v for group in values.values() for k, v in group.items()}
        nan = torch.full_like(index, float("nan"), dtype=torch.float32)
        scores = torch.stack([flat.get(k, nan).float() for k in PER_IMAGE], dim=1)
        index = index.to(scores.device)
        if gather is not None:  # ranks may hold different counts: pad to the batch, mark padding -1
            n = torch.tensor(len(index), device=scores.device)
            b = int(gather(n).max())
            pad = b - len(index)
            index = torch.cat([index, index.new_full((pad,), -1)])
            scores = torch.cat([scores, scores.new_zeros(pad, scores.shape[1])])
            feats = torch.cat([feats, feats.new_zeros(pad, feats.shape[1])])
            index, scores, feats = (gather(t).reshape(-1, *t.shape[1:]) for t in (index, scores, feats))
        for i, s, f in zip(index.tolist(), scores.cpu(), feats.float().cpu()):
            if i >= 0:
                self._rows[i] = (s, f)

    def per_image_scores(self) -> tuple[list[int], dict[str, list[float]], torch.Tensor]:
        """Dataset indices (sorted), {score: per-image values} (`PER_IMAGE`, the keys seen)
        and the translations' Inception features `[N, 2048]`, of the images kept
        since `reset` (`per_image=True`)."""
        order = sorted(self._rows)
        if not order:
            return [], {}, torch.empty(0, self.backbone.num_features)
        scores = torch.stack([self._rows[i][0] for i in order])
        cols = {k: scores[:, j].tolist() for j, k in enumerate(PER_IMAGE) if not scores[:, j].isnan().all()}
        return order, cols, torch.stack([self._rows[i][1] for i in order])

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
