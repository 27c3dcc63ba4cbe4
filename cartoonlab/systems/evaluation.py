"""FID/KID inside runs: translated held-out photos against cached reference sets."""

from __future__ import annotations

import torch

from cartoonlab.metrics import FIDKID, load_backbone, reference_features, to_uint8


class TranslationEvaluator:
    """FID/KID of G(photos) against the held-out cartoons (and photos, at test).

    Fake features are all-gathered across DDP ranks and every rank holds the
    full reference, so each rank computes the same value without a metric sync.
    Kept outside the module's children: the Inception weights stay out of
    checkpoints.
    """

    def __init__(self, backbone: str = "auto", references: tuple[str, ...] = ("cartoon",)) -> None:
        self.backbone = load_backbone(backbone)
        self.metrics = {ref: FIDKID() for ref in references}
        for m in self.metrics.values():
            for metric in (m.fid, m.kid):
                metric.sync_on_compute = False
        self.counts: dict[str, int] = {}

    def prepare(self, module, datamodule) -> None:
        files = getattr(datamodule, "files", None)
        if not files:
            raise RuntimeError("FID/KID in runs needs cartoonlab's UnpairedImageDataModule (its held-out files)")
        self.backbone.to(module.device)
        size = datamodule.hparams.image_size
        for ref, m in self.metrics.items():
            m.to(module.device)
            if not m.has_reference:
                feats = reference_features(self.backbone, files[f"{ref}_test"], size, device=module.device)
                m.set_reference(feats.to(module.device))
                self.counts[f"{ref}_reference"] = len(feats)

    def reset(self) -> None:
        for m in self.metrics.values():
            m.reset()

    def update(self, module, fakes: torch.Tensor, valid: torch.Tensor) -> None:
        feats = self.backbone(to_uint8(fakes))
        feats, valid = module.all_gather(feats), module.all_gather(valid)
        feats = feats.reshape(-1, feats.shape[-1])[valid.reshape(-1).bool()]
        for m in self.metrics.values():
            m.update(feats)

    def compute(self) -> dict[str, float]:
        out = {}
        for ref, m in self.metrics.items():
            res = m.compute()
            out[f"fid_{ref}"], out[f"kid_{ref}"] = float(res["fid"]), float(res["kid"])
            self.counts["translated"] = res["n_fake"]
        return out
