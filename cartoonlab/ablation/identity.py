"""The "identity" row: untranslated test photos scored like a cell, and the test photos
that the sample grids show. Both read the data settings from a finished run's config."""

from __future__ import annotations

from pathlib import Path

import yaml

from cartoonlab.ablation.matrix import Run


def _datamodule(runs: list[Run]):
    from cartoonlab.data import UnpairedImageDataModule

    for r in runs:
        cfg = r.dir / "config.yaml"
        if cfg.exists():
            data = yaml.safe_load(cfg.read_text())["data"]
            dm = UnpairedImageDataModule(**{**data, "num_workers": 0})
            dm.prepare_data()
            dm.setup("test")
            return dm
    return None


def identity_row(runs: list[Run], backbone: str = "auto") -> dict | None:
    """FID/KID of the untranslated test photos against the test cartoons."""
    from cartoonlab.metrics import FIDKID, load_backbone, reference_features

    dm = _datamodule(runs)
    if dm is None:
        return None
    net, size = load_backbone(backbone), dm.hparams.image_size
    metric = FIDKID()
    metric.set_reference(reference_features(net, dm.files["cartoon_test"], size))
    metric.update(reference_features(net, dm.files["photo_test"], size))
    res = metric.compute()
    return {"fid": float(res["fid"]), "kid": float(res["kid"])}


def reference_photos(runs: list[Run]) -> tuple[list[Path], int]:
    dm = _datamodule(runs)
    return (dm.files["photo_test"], dm.hparams.image_size) if dm else ([], 0)
