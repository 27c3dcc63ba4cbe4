import shutil
from pathlib import Path

import pytest
import torch

from cartoonlab.data.batches import EvalBatch, TrainBatch
from cartoonlab.data.datamodule import UnpairedImageDataModule, holdout_split
from cartoonlab.data.folders import list_images

from .badfiles import write_bad_zoo, write_good


def make_dm(root, **kw):
    kw = {"image_size": 32, "batch_size": 4, "num_workers": 0, "preset": "cyclegan", **kw}
    dm = UnpairedImageDataModule(root=str(root), **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def first_batch(dm):
    return next(iter(dm.train_dataloader()))


def test_train_batch_keys_shapes_range(synth_root):
    batch = first_batch(make_dm(synth_root))
    assert set(batch) == {"photo", "cartoon", "cartoon_smooth"}
    assert set(batch) == TrainBatch.__required_keys__ | TrainBatch.__optional_keys__, "the declared contract"
    for x in batch.values():
        assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.5 and x.max() > 0.5


def test_no_smoothing_means_no_smooth_key(synth_root):
    assert set(first_batch(make_dm(synth_root, smooth="none"))) == {"photo", "cartoon"}


def test_epoch_length_and_unpaired_sampling(synth_root):
    dm = make_dm(synth_root)
    loader = dm.train_dataloader()
    assert len(loader) == 24 // 4
    sampler = loader.sampler
    pairs = list(sampler)
    assert sorted(p for p, _, _ in pairs) == list(range(24)), "every photo once per epoch"
    assert sorted(c for _, c, _ in pairs) == list(range(24))
    assert [p for p, _, _ in pairs] != [c for _, c, _ in pairs], "photos and cartoons shuffled independently"
    sampler.set_epoch(1)
    assert list(sampler) != pairs, "a new order each epoch"
    dm2 = make_dm(synth_root, epoch_length=10, batch_size=5)
    assert len(dm2.train_dataloader()) == 2


def test_seeded_reproducibility_across_workers(synth_root):
    a = first_batch(make_dm(synth_root, seed=3))
    b = first_batch(make_dm(synth_root, seed=3, num_workers=2))
    c = first_batch(make_dm(synth_root, seed=4))
    for k in a:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["photo"], c["photo"])


def test_cartoon_and_smooth_share_the_crop(synth_root):
    batch = first_batch(make_dm(synth_root, image_size=40, seed=1))
    same = (batch["cartoon"] - batch["cartoon_smooth"]).abs().amax(1) < 1e-6
    assert same.float().mean() > 0.5, "outside edges the twin is identical, so crops must match"
    assert not same.all(), "edges were smoothed"


def test_smoothed_at_the_training_size(tmp_path):
    """Large cartoons trained small: the twin is smoothed after the resize, so it still
    differs clearly from its cartoon (smoothing at 256 px then resizing to 32 px left
    them nearly equal, and D nothing to learn from)."""
    from cartoonlab.data.edges import edge_smooth
    from cartoonlab.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "big", n=8, size=256, seed=0, n_test=2, workers=1)
    batch = first_batch(make_dm(root, image_size=32, preset="cartoongan", seed=0))
    c, e = batch["cartoon"], batch["cartoon_smooth"]
    per_image = (c - e).abs().mean((1, 2, 3)) * 127.5  # grey levels
    assert (per_image > 2.0).all(), per_image
    # exactly the edge promoting of the 32 px crop
    crop = ((c[0] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    expected = torch.from_numpy(edge_smooth(crop)).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(e[0], expected, atol=1e-5)


def test_paired_held_out_splits_carry_the_truth(synth_root):
    dm = make_dm(synth_root)
    for loader, split in ((dm.val_dataloader(), "val"), (dm.test_dataloader(), "test")):
        batch = next(iter(loader))
        assert batch["truth"].shape == batch["photo"].shape
        names = [p.rsplit("/", 1)[-1] for p in batch["photo_path"]]
        assert all(f"/{split}A/" in p for p in batch["photo_path"])
        assert names == sorted(names)
    # the truth is the cartoon of the photo's own scene: closer to it than another photo's truth
    ph, tr = batch["photo"], batch["truth"]
    own = (ph - tr).abs().mean((1, 2, 3))
    other = (ph - tr.roll(1, 0)).abs().mean((1, 2, 3))
    assert (own < other).all()


def test_synthetic_default_generated_on_first_use(monkeypatch, tmp_path):
    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path))
    dm = UnpairedImageDataModule(image_size=32, num_workers=0, synthetic_n=12, synthetic_size=32)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.files["photo"]) == 12 and len(dm.files["photo_test"]) == 8
    assert dm.files["photo_test"][0].parent.name == "testA"


def test_dead_writers_tmp_datasets_are_removed(monkeypatch, tmp_path):
    """`<name>.tmp-<pid>` folders of a killed or failed generation do not stay in the
    cache forever; one whose process is alive is still being written and is kept."""
    import os
    import subprocess
    import sys

    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale, live = (
        tmp_path / "synthetic" / f"{name}.tmp-{pid}"
        for name, pid in (("n-4-s32-seed0", gone.pid), ("other", os.getpid()))
    )
    for d in (stale, live):
        (d / "trainA").mkdir(parents=True)

    def fails(out, **kw):
        (Path(out) / "trainA").mkdir(parents=True)
        raise OSError("No space left on device")

    monkeypatch.setattr("cartoonlab.data.datamodule.write_dataset", fails)
    dm = UnpairedImageDataModule(image_size=32, num_workers=0, synthetic_n=4, synthetic_size=16)
    with pytest.raises(OSError, match="No space"):
        dm.prepare_data()
    assert [p.name for p in (tmp_path / "synthetic").iterdir()] == [live.name], "the failed write's own too"


def test_holdout_by_name_hash_never_trained_on(tmp_path):
    write_good(tmp_path / "photos", 30, domain="photo")
    write_good(tmp_path / "cartoons", 30)
    dm = UnpairedImageDataModule(
        photo_dir=str(tmp_path / "photos"),
        cartoon_dir=str(tmp_path / "cartoons"),
        image_size=32,
        num_workers=0,
        smooth="none",
    )
    dm.setup("fit")
    train, val, test = (set(dm.files[k]) for k in ("photo", "photo_val", "photo_test"))
    assert test and val and not (train & test) and not (train & val) and not (val & test)
    assert len(train | val | test) == 30
    again = holdout_split(list_images(tmp_path / "photos"), tmp_path / "photos", 10.0)
    assert set(again[1]) == test, "the split is a function of the names"
    batch = next(iter(dm.val_dataloader()))
    assert set(batch) == {"photo", "cartoon", "photo_valid", "cartoon_valid", "photo_path", "index"}, (
        "unpaired: no truth"
    )
    assert set(batch) == EvalBatch.__required_keys__, "the declared contract (truth: paired data only)"
    assert {p for p in batch["photo_path"]} <= {str(p) for p in val}, "validation never sees the test split"
    batch = next(iter(dm.test_dataloader()))
    assert {p for p in batch["photo_path"]} <= {str(p) for p in test}


def test_bad_files_are_skipped_with_one_counted_warning(tmp_path):
    write_good(tmp_path / "trainA", 6, domain="photo")
    kinds = write_bad_zoo(tmp_path / "trainB")
    with pytest.warns(UserWarning, match=r"skipped 2 unusable image file\(s\)") as rec:
        dm = make_dm(tmp_path, image_size=32, batch_size=2)
    assert sum("unusable" in str(w.message) for w in rec) == 1
    n_ok = len([k for k in kinds.values() if k not in ("unreadable", "not_an_image")])
    assert sum(len(dm.files[k]) for k in ("cartoon", "cartoon_val", "cartoon_test")) == n_ok
    batches = list(dm.train_dataloader())  # a whole epoch, converted files included
    assert len(batches) == max(len(dm.files["photo"]), len(dm.files["cartoon"])) // 2
    assert all(torch.isfinite(b["cartoon"]).all() for b in batches)


def test_file_broken_after_setup_does_not_kill_the_epoch(tmp_path):
    for split in ("train", "val", "test"):  # held-out folders: every train file stays in train
        write_good(tmp_path / f"{split}A", 8, domain="photo")
        write_good(tmp_path / f"{split}B", 8)
    dm = make_dm(tmp_path, smooth="none", batch_size=2)
    assert len(dm.files["photo"]) == 8
    victim = dm.files["photo"][0]
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        batches = list(dm.train_dataloader())
    assert len(batches) == len(dm.files["photo"]) // 2


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root not found: .*missing"):
        make_dm(tmp_path / "missing")
    write_good(tmp_path / "flat" / "photos", 3)  # not the CycleGAN layout: the message shows it
    with pytest.raises(
        FileNotFoundError,
        match=r"photo folder not found: .*trainA: .*CycleGAN layout "
        r"\(trainA/ photos, trainB/ cartoons.*data.photo_dir",
    ):
        make_dm(tmp_path / "flat")
    with pytest.raises(FileNotFoundError, match="data.cartoon_dir not found: .*nowhere"):
        UnpairedImageDataModule(
            photo_dir=str(tmp_path / "flat" / "photos"), cartoon_dir=str(tmp_path / "nowhere")
        ).prepare_data()
    write_good(tmp_path / "trainA", 3)
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no usable cartoon images"):
        make_dm(tmp_path, smooth="none")
    shutil.rmtree(tmp_path / "trainB")
    with pytest.raises(ValueError, match="photo_dir"):
        UnpairedImageDataModule(photo_dir=str(tmp_path / "trainA"))


def test_one_folder_in_two_roles_is_refused(tmp_path):
    """Photos and cartoons from one folder (or training photos tested on) are refused,
    naming both roles, whatever path spells the folder."""
    write_good(tmp_path / "imgs", 3)
    with pytest.raises(ValueError, match="the photo and cartoon folders are the same folder"):
        UnpairedImageDataModule(
            photo_dir=str(tmp_path / "imgs"), cartoon_dir=str(tmp_path / "x" / ".." / "imgs")
        )
    write_good(tmp_path / "trainA", 3)
    write_good(tmp_path / "trainB", 3)
    with pytest.raises(ValueError, match="the photo and photo_test folders"):
        UnpairedImageDataModule(root=str(tmp_path), photo_test_dir=str(tmp_path / "trainA"))


def test_a_dataset_smaller_than_one_batch_is_refused_not_trained_for_zero_steps(synth_root):
    dm = make_dm(synth_root, batch_size=64)  # 24 training pairs per epoch
    with pytest.raises(ValueError, match="smaller than one batch of 64"):
        dm.train_dataloader()
    assert len(make_dm(synth_root, batch_size=64, epoch_length=128).train_dataloader()) == 2


def test_a_domain_without_usable_images_names_its_folder_and_the_hold_out(tmp_path):
    write_good(tmp_path / "trainB", 6)
    photos = tmp_path / "trainA"
    photos.mkdir()
    for i in range(3):
        (photos / f"bad{i}.png").write_bytes(b"junk")
    with pytest.raises(ValueError) as err:
        make_dm(tmp_path, smooth="none")
    text = str(err.value)
    assert "no usable photo" in text and str(photos) in text and "all unreadable" in text
    assert f"cartoonlab data check {photos}" in text

    for p in photos.iterdir():  # three good photos, but a hold-out that takes them
        p.unlink()
    write_good(photos, 3)
    with pytest.raises(ValueError) as err:
        make_dm(tmp_path, smooth="none", holdout_percent=49)
    assert "holdout_percent=49" in str(err.value) and str(photos) in str(err.value), err.value
