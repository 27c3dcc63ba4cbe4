"""The rows that frame every table: untranslated test photos ("identity") and their
true cartoons ("ground truth") scored like a cell, and the test photos that the sample
grids show. Both read one DataModule, built once (`datamodule_of`) from
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


def identity_row(dm, backbone: FidBackbone = "auto", source: str = "photo") -> dict | None:
    """Every test score of `dm`'s (`datamodule_of`; None: no row) untranslated photos
    (`source="photo"`: the row to beat on style, perfect on fidelity to the input) or, on
    paired data, of their true cartoons (`"truth"`: the ground-truth row, what a perfect
    translation scores; its FID/KID are 0 since the true cartoons are the reference set),
    computed by the same `TranslationScores` as the runs' own test figures."""
    import torch

    from cartoonlab.metrics import load_backbone
    from cartoonlab.metrics.translation import TranslationScores

    if dm is None or (source == "truth" and dm.truths("test") is None):
        return None
    scores = TranslationScores(load_backbone(backbone), ("cartoon", "photo"))
    scores.load_references(dm, "test")
    with torch.no_grad():
        for batch in dm.test_dataloader():
            scores.update(source, batch)
    return scores.compute()


def reference_photos(dm) -> tuple[list[Path], list[Path] | None, int]:
    """The test photos of `dm` (`datamodule_of`; None: none), their true cartoons on paired
    data (else None), and the image size."""
    return (dm.files["photo_test"], dm.truths("test"), dm.hparams.image_size) if dm else ([], None, 0)


def truth_features(dm, backbone: FidBackbone = "auto"):
    """The test cartoons' Inception features `[N, 2048]` as a numpy array (the disk cache
    the runs filled), in the order of the test photos' true cartoons; None without paired
    test data."""
    from cartoonlab.metrics import load_backbone
    from cartoonlab.metrics.feature_cache import reference_features

    truths = dm.truths("test") if dm is not None else None
    if not truths:
        return None
    return reference_features(load_backbone(backbone), truths, dm.hparams.image_size).numpy()
