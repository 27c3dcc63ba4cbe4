"""The "identity" row: untranslated test photos scored like a cell, and the test photos
that the sample grids show. Both read one DataModule, built once (`datamodule_of`) from
the data settings of a finished run's config."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from cartoonlab.ablation.matrix import Run
from cartoonlab.metrics.backbone import FidBackbone


def datamodule_of(runs: list[Run]):
    from cartoonlab.data import UnpairedImageDataModule

    for r in runs:  # the first run whose config builds a DataModule; a broken one is named and passed over
        cfg = r.dir / "config.yaml"
        if not cfg.exists():
            continue
        try:
            data = yaml.safe_load(cfg.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
                raise ValueError("no `data` section")
            dm = UnpairedImageDataModule(**{**data["data"], "num_workers": 0})
            if dm.synthetic and not (Path(dm.root) / ".complete").is_file():  # read, never generate
                raise FileNotFoundError(
                    f"its synthetic dataset {dm.root} is not in the cache "
                    "(`cartoonlab ablation run` writes it)"
                )
            dm.prepare_data()
            dm.setup("test")
            return dm
        except (OSError, ValueError, TypeError, yaml.YAMLError) as e:
            print(f"ablation report: passed over {cfg}: {type(e).__name__}: {e}", file=sys.stderr)
    return None


def identity_row(dm, backbone: FidBackbone = "auto") -> dict | None:
    """Every test score of the untranslated photos (fakes = photos) of `dm`
    (`datamodule_of`; None: no row), computed by the same `TranslationScores` as the
    runs' own test figures: the row to beat on style, perfect on fidelity to the input."""
    import torch

    from cartoonlab.metrics import load_backbone
    from cartoonlab.metrics.translation import TranslationScores

    if dm is None:
        return None
    scores = TranslationScores(load_backbone(backbone), ("cartoon", "photo"))
    scores.load_references(dm, "test")
    with torch.no_grad():
        for batch in dm.test_dataloader():
            scores.update(batch["photo"], batch)
    return scores.compute()


def reference_photos(dm) -> tuple[list[Path], list[Path] | None, int]:
    """The test photos of `dm` (`datamodule_of`; None: none), their true cartoons on paired
    data (else None), and the image size."""
    return (dm.files["photo_test"], dm.truths("test"), dm.hparams.image_size) if dm else ([], None, 0)
