import re

import numpy as np
import pytest

import cartoonlab.data.synthetic as synthetic
from cartoonlab.data.folders import IN_PROGRESS, check_folder
from cartoonlab.data.synthetic import (
    PAIRED_MARKER,
    _cartoon_style,
    _scene,
    render,
    render_pair,
    write_dataset,
)


def test_render_is_deterministic_and_seeded():
    a, b = render("photo", 3, 64, seed=1), render("photo", 3, 64, seed=1)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render("photo", 3, 64, seed=2))
    assert not np.array_equal(a, render("photo", 4, 64, seed=1))


def test_domains_have_their_style():
    """Cartoons: few flat colours and dark outlines; photos: many colours, no flat areas."""
    photos = [render("photo", i, 96, seed=0) for i in range(8)]
    cartoons = [render("cartoon", i, 96, seed=0) for i in range(8)]

    def n_colors(img):
        return len(np.unique(img.reshape(-1, 3), axis=0))

    assert max(n_colors(c) for c in cartoons) < 40
    assert min(n_colors(p) for p in photos) > 1000
    assert all((c.max(axis=2) < 40).mean() > 0.01 for c in cartoons)  # outlines


def test_write_dataset_layout_and_bytes(tmp_path):
    a = write_dataset(tmp_path / "a", n=10, size=32, seed=0, n_test=3, workers=1)
    b = write_dataset(tmp_path / "b", n=10, size=32, seed=0, n_test=3, workers=2)
    for split, n in (("trainA", 10), ("trainB", 10), ("valA", 3), ("valB", 3), ("testA", 3), ("testB", 3)):
        files = sorted((a / split).iterdir())
        assert len(files) == n
        assert all(f.read_bytes() == (b / split / f.name).read_bytes() for f in files)
    # test images are different scenes from train images
    assert (a / "testA/00000.png").read_bytes() != (a / "trainA/00000.png").read_bytes()
    assert (a / ".complete").exists() and (a / PAIRED_MARKER).exists() and not (a / IN_PROGRESS).exists()


def test_held_out_cartoons_are_the_photos_ground_truth(tmp_path):
    """valB/testB hold the cartoon rendering of the scene of valA/testA: same layout
    (label map), cartoon style; train cartoons are other scenes."""
    import cv2

    photo, truth = render_pair(7, 64, seed=0)
    assert np.array_equal(photo, render("photo", 7, 64, seed=0))
    assert not np.array_equal(truth, render("cartoon", 7, 64, seed=0))
    rng = np.random.default_rng([0, 0, 7])  # the photo's own scene
    assert np.array_equal(truth, _cartoon_style(*_scene(rng, 64)))
    root = write_dataset(tmp_path / "d", n=4, size=32, seed=0, n_test=2, n_val=2, workers=1)
    for split, offset in (("val", 4), ("test", 6)):
        for i in range(2):
            p, t = render_pair(offset + i, 32, seed=0)
            got = cv2.cvtColor(cv2.imread(str(root / f"{split}B/{i:05d}.png")), cv2.COLOR_BGR2RGB)
            assert np.array_equal(got, t)


class Killed(BaseException):
    """Stands for kill -9: nothing of `write_dataset` runs after it."""


def interrupted_dataset(folder, monkeypatch, after=5):
    """A `write_dataset` stopped dead after writing `after` images."""
    real, written = synthetic._write, []

    def write(job):
        if len(written) == after:
            raise Killed
        written.append(real(job))

    monkeypatch.setattr(synthetic, "_write", write)
    with pytest.raises(Killed):
        write_dataset(folder, n=6, size=16, n_test=2, workers=1)
    monkeypatch.setattr(synthetic, "_write", real)
    return folder


def test_an_interrupted_dataset_is_refused_until_written_anew(tmp_path, monkeypatch):
    from .test_datamodule import make_dm

    root = interrupted_dataset(tmp_path / "D", monkeypatch)
    assert len(list((root / "trainA").iterdir())) == 5 and not any((root / "testB").iterdir())
    refused = re.escape(
        f"{root} is an unfinished dataset (`cartoonlab data synth` was interrupted): "
        "re-run `cartoonlab data synth` into a new or empty folder"
    )
    for folder in (root, root / "trainA"):
        with pytest.raises(ValueError, match=refused):
            check_folder(folder, min_size=8)
    with pytest.raises(ValueError, match=refused):
        make_dm(root)
    with pytest.raises(ValueError, match=refused):  # the same command again
        write_dataset(root, n=6, size=16, n_test=2, workers=1)

    done = write_dataset(tmp_path / "new", n=6, size=16, n_test=2, workers=1)
    assert check_folder(done, min_size=8).total == 6 * 2 + 2 * 4
    assert len(make_dm(done).files["photo"]) == 6
