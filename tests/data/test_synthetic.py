import numpy as np

from cartoonlab.data.synthetic import render, write_dataset


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
    for split, n in (("trainA", 10), ("trainB", 10), ("testA", 3), ("testB", 3)):
        files = sorted((a / split).iterdir())
        assert len(files) == n
        assert all(f.read_bytes() == (b / split / f.name).read_bytes() for f in files)
    # test images are different scenes from train images
    assert (a / "testA/00000.png").read_bytes() != (a / "trainA/00000.png").read_bytes()
    assert (a / ".complete").exists()
