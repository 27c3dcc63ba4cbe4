"""Behaviour tests of DataModule options no other test used (issue 12): explicit val/test
folders, `eval_batch_size`, `val_images`."""

from __future__ import annotations

import pytest
import torch

from cartoonlab.data.datamodule import UnpairedImageDataModule

from .badfiles import write_good

SPLITS = ("photo", "cartoon", "photo_val", "cartoon_val", "photo_test", "cartoon_test")


def ready(**kw) -> UnpairedImageDataModule:
    kw = {"image_size": 32, "batch_size": 2, "num_workers": 0, "smooth": "none", **kw}
    dm = UnpairedImageDataModule(**kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture
def folders(tmp_path):
    """Six flat folders (not the CycleGAN layout), of 12 / 10 train and 3-5 held-out images."""
    sizes = {"photo": 12, "cartoon": 10, "photo_val": 3, "cartoon_val": 4, "photo_test": 5, "cartoon_test": 4}
    out = {}
    for key, n in sizes.items():
        write_good(tmp_path / key, n, domain=key.split("_")[0])
        out[key] = tmp_path / key
    return out


def test_explicit_val_and_test_folders_are_used_as_is_and_nothing_is_held_out(folders):
    dm = ready(**{f"{k}_dir": str(v) for k, v in folders.items()})
    for key in SPLITS:
        assert [p.parent for p in dm.files[key]] == [folders[key]] * len(dm.files[key]), key
    assert [len(dm.files[k]) for k in SPLITS] == [12, 10, 3, 4, 5, 4], "train keeps every file"
    batch = next(iter(dm.val_dataloader()))
    assert all(p.startswith(str(folders["photo_val"])) for p in batch["photo_path"])
    batch = next(iter(dm.test_dataloader()))
    assert all(p.startswith(str(folders["photo_test"])) for p in batch["photo_path"])


def test_one_explicit_folder_the_others_held_out_by_name(folders):
    dm = ready(
        photo_dir=str(folders["photo"]),
        cartoon_dir=str(folders["cartoon"]),
        photo_test_dir=str(folders["photo_test"]),
    )
    assert len(dm.files["photo_test"]) == 5
    assert {p.parent for p in dm.files["photo_test"]} == {folders["photo_test"]}
    # the photos' val split and both of the cartoons' held-out splits come out of train
    for key in ("photo_val", "cartoon_val", "cartoon_test"):
        domain = key.split("_")[0]
        assert dm.files[key] and {p.parent for p in dm.files[key]} == {folders[domain]}, key
        assert not set(dm.files[key]) & set(dm.files[domain]), "never trained on"
    assert len(dm.files["photo"]) + len(dm.files["photo_val"]) == 12


def test_explicit_val_folder_overrides_the_layouts_valA(tmp_path, folders):
    root = tmp_path / "layout"
    for sub, n in (("trainA", 8), ("trainB", 8), ("valA", 2), ("valB", 2)):
        write_good(root / sub, n, domain="photo" if sub.endswith("A") else "cartoon")
    dm = ready(
        root=str(root), photo_val_dir=str(folders["photo_val"]), cartoon_val_dir=str(folders["cartoon_val"])
    )
    assert {p.parent for p in dm.files["photo_val"]} == {folders["photo_val"]}
    assert {p.parent for p in dm.files["cartoon_val"]} == {folders["cartoon_val"]}
    assert len(dm.files["photo"]) + len(dm.files["photo_test"]) == 8, "no test folder: held out"


def test_a_missing_explicit_held_out_folder_is_an_error_not_a_hold_out(tmp_path, folders):
    for key in ("photo_val", "cartoon_val", "photo_test", "cartoon_test"):
        dm = UnpairedImageDataModule(
            photo_dir=str(folders["photo"]),
            cartoon_dir=str(folders["cartoon"]),
            **{f"{key}_dir": str(tmp_path / "nowhere")},
        )
        with pytest.raises(FileNotFoundError, match=f"data.{key}_dir not found: .*nowhere"):
            dm.prepare_data()


def test_eval_batch_size_sets_val_test_and_predict_batches_not_train(folders):
    dirs = {f"{k}_dir": str(v) for k, v in folders.items()}
    dm = ready(eval_batch_size=3, **dirs)
    assert dm.train_dataloader().batch_size == 2
    assert [dl.batch_size for dl in (dm.val_dataloader(), dm.test_dataloader(), dm.predict_dataloader())] == [
        3,
        3,
        3,
    ]
    assert len(next(iter(dm.val_dataloader()))["photo"]) == 3
    dm = ready(**dirs)
    assert dm.val_dataloader().batch_size == dm.test_dataloader().batch_size == 2, "default"
    with pytest.raises(ValueError, match="eval_batch_size must be at least 1"):
        UnpairedImageDataModule(eval_batch_size=0)


def test_val_images_limits_the_validation_photos_not_the_test_split(synth_root):
    full = ready(root=str(synth_root), batch_size=4)
    n_val = len(full.files["photo_val"])
    assert n_val > 2, "the synthetic set has a few val photos to cut"
    dm = ready(root=str(synth_root), batch_size=4, val_images=2)

    def photos(loader):
        items = [(p, v) for b in loader for p, v in zip(b["photo_path"], b["photo_valid"].tolist())]
        return [p for p, v in items if v], items

    kept, items = photos(dm.val_dataloader())
    assert kept == [str(p) for p in full.files["photo_val"][:2]], "the first val_images photos"
    assert all(p in kept for p, _ in items), "padding items repeat kept photos only"
    # paired data: each photo still carries its own truth
    batch, ref = next(iter(dm.val_dataloader())), next(iter(full.val_dataloader()))
    assert batch["photo_path"][:2] == ref["photo_path"][:2]
    assert torch.equal(batch["truth"][:2], ref["truth"][:2])
    assert len(photos(dm.test_dataloader())[0]) == len(full.files["photo_test"]), "test untouched"
    assert len(photos(full.val_dataloader())[0]) == n_val, "default: all"
    with pytest.raises(ValueError, match="val_images must be at least 1"):
        UnpairedImageDataModule(val_images=0)
