"""Evaluation callbacks: sample grids and the two-axis scores, with a small stand-in
for Inception (a fixed random projection of 8x8 colour thumbnails; same interface)."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cartoonlab.metrics
from cartoonlab.callbacks import SampleGrid, TranslationMetrics
from cartoonlab.data.transforms import to_uint8_hwc
from cartoonlab.metrics import InceptionFeatures
from cartoonlab.metrics.translation import TranslationScores
from cartoonlab.runs import TEST_FEATURES, TEST_IMAGES

from .systems.helpers import tiny_cyclegan, tiny_data, trainer


class Thumbnails(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3 * 8 * 8, 2048)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))
        torch.nn.init.zeros_(self.proj.bias)  # fixed, like Inception: the feature cache keys on the name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)))


def fake_backbone(name: str = "auto") -> InceptionFeatures:
    return InceptionFeatures(Thumbnails(), "thumbnails", feeds_uint8=False)


@pytest.fixture
def thumbnails(monkeypatch):
    monkeypatch.setattr(cartoonlab.metrics, "load_backbone", fake_backbone)


def fit(tmp_path, root, callbacks, epochs=2):
    t = trainer(tmp_path, max_epochs=epochs, callbacks=callbacks, limit_val_batches=None)
    system = tiny_cyclegan()
    t.fit(system, tiny_data(root))
    return t, system


def test_sample_grid_rows_photo_translation_truth(tmp_path, synth_root):
    fit(tmp_path, synth_root, [SampleGrid(n=2)], epochs=1)
    grid = Image.open(tmp_path / "samples" / "epoch_0000.png")
    # make_grid: 32 px tiles with 2 px padding; paired data -> 3 rows (photo, G(photo), truth)
    assert grid.size == (2 * 34 + 2, 3 * 34 + 2)


def test_sample_grid_of_the_test_split_shows_the_scored_translations(tmp_path, synth_root):
    t, system = fit(tmp_path, synth_root, [SampleGrid(n=2)], epochs=1)
    dm = tiny_data(synth_root)
    t.test(system, dm)
    grid = np.asarray(Image.open(tmp_path / "samples" / "test.png").convert("RGB"))
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        fakes = system.translate(batch["photo"][:2])
    for row, images in enumerate([batch["photo"][:2], fakes, batch["truth"][:2]]):
        for col, img in enumerate(images):  # tiles of 32 px after 2 px of padding
            tile = grid[2 + 34 * row : 34 * (row + 1), 2 + 34 * col : 34 * (col + 1)]
            assert np.abs(tile.astype(int) - to_uint8_hwc(img).astype(int)).max() <= 1, (row, col)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_0000.png", "test.png"]


def test_translation_metrics_on_validation_and_test(tmp_path, synth_root, thumbnails):
    cb = TranslationMetrics(every_n_epochs=2)
    t, system = fit(tmp_path, synth_root, [cb], epochs=4)
    val = {k for k in t.logged_metrics if k.startswith("val/")}
    assert {
        "val/fid",
        "val/kid",
        "val/kid_std",
        "val/ssim_photo",
        "val/psnr_photo",
        "val/perc_photo",
        "val/l1_truth",
        "val/ssim_truth",
        "val/perc_truth",
    } <= val
    assert cb.best["epoch"] in (1, 3), "scored at the end of every 2nd epoch only"
    assert system.run_info["best_val"] == cb.best and cb.best["fid"] <= t.logged_metrics["val/fid"].item()
    assert system.run_info["fid_images"]["cartoon_reference"] == 6, "validation uses the val split (6 images)"
    t.test(system, tiny_data(synth_root))
    for k in ("fid_cartoon", "kid_cartoon", "fid_photo", "kid_photo", "kid_std_cartoon", "l1_truth"):
        assert f"test/{k}" in t.logged_metrics, k
    assert cb.state_dict()["best"] == cb.best, "the best epoch survives a resume"
    # per test image, for statistics paired across runs: the rows average to the logged means
    with open(tmp_path / TEST_IMAGES, newline="") as f:
        per_image = list(csv.DictReader(f))
    photos = tiny_data(synth_root)
    photos.setup("test")
    assert [r["image"] for r in per_image] == [p.name for p in photos.files["photo_test"]]
    for k in ("l1_truth", "ssim_truth", "ssim_photo", "perc_photo"):
        mean = np.mean([float(r[k]) for r in per_image])
        assert mean == pytest.approx(t.logged_metrics[f"test/{k}"].item(), rel=1e-4), k
    feats = np.load(tmp_path / TEST_FEATURES)
    assert feats.shape == (len(per_image), 2048) and np.isfinite(feats).all()


def test_identity_is_perfectly_faithful_and_a_constant_is_not(synth_root):
    dm = tiny_data(synth_root)
    dm.setup("test")

    def score(make_fake):
        s = TranslationScores(fake_backbone(), ("cartoon", "photo"))
        s.load_references(dm, "test")
        for batch in dm.test_dataloader():
            s.update(make_fake(batch), batch)
        return s.compute()

    ident = score(lambda b: b["photo"])
    const = score(lambda b: torch.zeros_like(b["photo"]))
    truth = score(lambda b: b["truth"])
    assert ident["ssim_photo"] == pytest.approx(1.0) and ident["perc_photo"] == pytest.approx(0.0, abs=1e-6)
    assert ident["fid_photo"] < 0.05 * truth["fid_photo"], "the photos are their own reference"
    assert const["ssim_photo"] < 0.5 and const["perc_photo"] > 0.01
    assert truth["l1_truth"] == 0.0 and ident["l1_truth"] > 0.05, "the truth is what the photos are not"
    assert truth["fid_cartoon"] < ident["fid_cartoon"], "the true cartoons are closer in style"
    json.dumps(ident)  # plain floats: written to metrics.json and ablation.csv


def test_items_repeated_by_the_distributed_sampler_are_scored_once():
    """5 val items on 2 ranks: DistributedSampler (no shuffle) gives rank 0 items 0, 2, 4
    and rank 1 items 1, 3 and 0 again; only the repeat is dropped."""
    per_rank = {0: [0, 2, 4], 1: [1, 3, 0]}

    class Rank:
        def __init__(self, r):
            self.global_rank, self.trainer = r, type("T", (), {"world_size": 2})()

        def all_gather(self, t):
            return torch.stack([torch.tensor(per_rank[0]), torch.tensor(per_rank[1])])

    kept = {}
    for r in (0, 1):
        cb = TranslationMetrics(every_n_epochs=0)
        cb._seen = set()
        batch = {"index": torch.tensor(per_rank[r]), "photo_valid": torch.tensor([True, True, True])}
        kept[r] = cb._first_seen(Rank(r), batch)["photo_valid"].tolist()
    assert kept == {0: [True, True, True], 1: [True, True, False]}
    single = {"index": torch.tensor([0, 0]), "photo_valid": torch.tensor([True, False])}
    one = Rank(0)
    one.trainer.world_size = 1
    assert TranslationMetrics(every_n_epochs=0)._first_seen(one, single) is single, "one process: untouched"
