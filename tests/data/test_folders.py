import numpy as np
import pytest
from PIL import Image

from cartoonlab.data.folders import check_folder, list_images, load_rgb, usable_images

from .badfiles import write_bad_zoo, write_good


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    return folder, write_bad_zoo(folder)


def test_check_reports_every_kind(zoo):
    folder, kinds = zoo
    report = check_folder(folder, min_size=32).as_dict()
    assert report["total"] == len(kinds)
    for name, kind in kinds.items():
        assert any(item.startswith(name) for item in report["problems"][kind]), (name, kind, report)
    flagged = {item.split(" ")[0].rstrip(":") for items in report["problems"].values() for item in items}
    assert flagged == set(kinds), "no file is reported for a problem it does not have"


def test_check_clean_folder(tmp_path):
    from .badfiles import write_good

    write_good(tmp_path, 3, size=64)
    report = check_folder(tmp_path, min_size=64)
    assert report.total == 3 and report.as_dict()["problems"] == {}


def test_load_converts_every_mode_to_rgb(zoo):
    folder, _ = zoo
    for name in ("gray.png", "alpha.png", "palette.png", "cmyk.jpg", "deep16.png"):
        img = load_rgb(folder / name)
        assert img.dtype == np.uint8 and img.shape == (40, 40, 3), name
    assert (load_rgb(folder / "alpha.png")[:5, :5] == 255).all(), "alpha composited on white"
    gray8, gray16 = load_rgb(folder / "gray.png"), load_rgb(folder / "deep16.png")
    assert np.abs(gray8.astype(int) - gray16.astype(int)).max() <= 1, "16-bit scaled to 8-bit"


def test_exif_orientation_applied(zoo):
    folder, _ = zoo
    img = load_rgb(folder / "rotated.jpg")
    assert img.shape == (80, 40, 3), "stored 40x80, displayed 80 tall after a 90 degree turn"
    assert img[:30].mean() > 200 and img[-30:].mean() < 50  # the white half is now on top


def test_usable_images_splits_out_corrupt_files(zoo):
    folder, kinds = zoo
    good, bad = usable_images(list_images(folder))
    assert {p.name for p in bad} == {"truncated.jpg", "fake.jpg"}
    assert "notes.txt" not in {p.name for p in good}  # not an image extension: never listed
    assert len(good) == len(kinds) - 3


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        list_images(tmp_path / "nope")


def test_deep_images_are_converted_by_mode_not_by_values(tmp_path):
    """A 0..1 float TIFF is not black, and a 16-bit image whose values are all <= 255
    is dark (not read as 8-bit); `data check` says which conversion each file gets."""
    ramp = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(ramp).save(tmp_path / "float.tif")  # mode F
    Image.fromarray(ramp * 300).save(tmp_path / "float_big.tif")
    low16 = np.rint(ramp * 255).astype(np.uint16)
    Image.fromarray(low16).save(tmp_path / "low16.png")  # mode I;16, every value <= 255

    def gray(name):
        img = load_rgb(tmp_path / name)
        assert img.dtype == np.uint8 and (img == img[..., :1]).all()
        return img[..., 0].astype(int)

    assert (gray("float.tif") == np.rint(ramp * 255)).all()
    assert (gray("float_big.tif") == np.clip(np.rint(ramp * 300), 0, 255)).all()
    assert (gray("low16.png") == np.rint(low16 / 257)).all() and gray("low16.png").max() == 1
    problems = check_folder(tmp_path, min_size=8).problems
    assert problems["float"] == [
        "float.tif (F, max <= 1: x255)",
        "float_big.tif (F, max > 1: clipped to 0..255)",
    ]
    assert problems["16_bit"] == ["low16.png (I;16)"]


def test_hidden_files_skipped_alike_by_check_and_datamodule(tmp_path):
    """A macOS `._good_000.png` (AppleDouble) and a hidden folder are not images of the
    dataset: `data check` and the DataModule list the same files and skip nothing."""
    from .test_datamodule import make_dm

    for split in ("trainB", "trainA"):
        good = write_good(tmp_path / split, 6)
        (tmp_path / split / "._good_000.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(74))
        (tmp_path / split / ".thumbs").mkdir()
        (tmp_path / split / ".thumbs" / "x.png").write_bytes(good[0].read_bytes())
    assert list_images(tmp_path / "trainA") == good
    assert check_folder(tmp_path / "trainA", min_size=8).total == 6
    dm = make_dm(tmp_path)
    assert dm.skipped == {}
    assert sum(len(v) for k, v in dm.files.items() if k.startswith("photo")) == 6


def test_symlinked_folders_are_followed_once(tmp_path):
    """trainA/batch1 -> ../real_photos is listed and checked; a second link to the
    same folder and link cycles do not list anything twice."""
    real = write_good(tmp_path / "real_photos", 3, domain="photo")
    train = tmp_path / "trainA"
    write_good(train, 1)
    (train / "batch1").symlink_to("../real_photos")
    (train / "batch2").symlink_to(tmp_path / "real_photos")
    (tmp_path / "real_photos" / "self").symlink_to(".")
    (tmp_path / "real_photos" / "up").symlink_to(train)
    names = [p.relative_to(train).as_posix() for p in list_images(train)]
    assert names == [f"batch1/{p.name}" for p in real] + ["good_000.png"]
    report = check_folder(train, min_size=8)
    assert report.total == 4 and "duplicate" not in report.as_dict()["problems"]


def test_file_hashing_streams_in_chunks(tmp_path, monkeypatch):
    """`data check` on a folder with a (sparse) 64 MiB video neither reads any file
    whole nor holds it in memory, and its hashes are SHA-256 of the content."""
    import hashlib
    import tracemalloc
    from pathlib import Path

    from cartoonlab.data.folders import file_sha256

    write_good(tmp_path, 2)
    (tmp_path / "copy.png").write_bytes((tmp_path / "good_001.png").read_bytes())
    video = tmp_path / "holiday_video.mp4"
    with open(video, "wb") as f:
        f.truncate(64 << 20)

    def whole(self):
        raise AssertionError(f"{self} read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    tracemalloc.start()
    try:
        report = check_folder(tmp_path, min_size=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak >> 20} MiB while hashing a 64 MiB file"
    assert report.problems["duplicate"] == ["good_001.png == copy.png"]
    assert file_sha256(video) == hashlib.sha256(bytes(64 << 20)).hexdigest()
    png = tmp_path / "good_000.png"
    assert file_sha256(png) == hashlib.sha256(open(png, "rb").read()).hexdigest()


def test_large_jpegs_decode_reduced_and_huge_images_are_refused(tmp_path, monkeypatch):
    import cartoonlab.data.folders as folders

    rng = np.random.default_rng(0)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(big, quality=90)
    assert load_rgb(big, min_side=64).shape == (300, 400, 3), "ordinary sizes decode as always"
    monkeypatch.setattr(folders, "DRAFT_PIXELS", 1000)  # 120,000 px counts as large now
    small = load_rgb(big, min_side=64)
    assert small.shape == (75, 100, 3), "1/4 DCT scaling: the smallest that keeps the 64 px asked for"
    assert load_rgb(big).shape == (300, 400, 3), "no size asked for: full decode"

    monkeypatch.setattr(folders, "MAX_PIXELS", 50_000)
    png = tmp_path / "huge.png"
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(png)
    with pytest.raises(
        ValueError,
        match=r"huge.png is 400x300 \(0 Mpx\), over the 0 Mpx cartoonlab decodes: "
        r"downscale it to about 258x193",
    ):
        load_rgb(png)
    assert load_rgb(big, min_side=64).shape == (75, 100, 3), (
        "a JPEG that decodes reduced under the cap is read"
    )
    good, bad = usable_images([png, big], min_side=64)
    assert good == [big] and "over the" in bad[png]
    report = check_folder(tmp_path, min_size=64)  # `data check` agrees with what loading does
    assert [p.split(":")[0] for p in report.problems["unreadable"]] == ["huge.png"], report.problems
    assert "over the 0 Mpx" in report.problems["unreadable"][0] and report.n_fatal == 1


def test_check_and_the_datamodule_agree_on_gifs(tmp_path):
    """A GIF decodes, but training never lists it: `data check` says it is not read (and
    counts it among the unusable files) instead of calling it usable."""
    good = write_good(tmp_path / "trainA", 3)
    Image.open(good[0]).convert("P").save(tmp_path / "trainA" / "anim.gif")
    report = check_folder(tmp_path / "trainA", min_size=8)
    assert report.problems["ignored_format"] == ["anim.gif"] and report.n_fatal == 1
    assert tmp_path / "trainA" / "anim.gif" not in list_images(tmp_path / "trainA")
