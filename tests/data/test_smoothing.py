import numpy as np
import pytest

from cartoonlab.data.edges import EdgeParams, edge_smooth
from cartoonlab.data.folders import load_rgb
from cartoonlab.data.smoothing import MANIFEST, smooth_folder, smooth_path

from .badfiles import write_good


def test_cache_written_once_then_reused(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    paths = write_good(src / "sub", 5)
    (src / "broken.png").write_bytes(b"\x89PNG broken")

    first = smooth_folder(src, dst, workers=1)
    assert first.written == 5 and first.reused == 0 and list(first.failed) == ["broken.png"]
    out = smooth_path(dst, "sub/good_000.png")
    assert np.array_equal(load_rgb(out), edge_smooth(load_rgb(paths[0])))

    second = smooth_folder(src, dst, workers=1)
    assert second.written == 0 and second.reused == 5

    # new content for one file: only that file is redone
    write_good(tmp_path / "other", 1, domain="photo")[0].replace(paths[2])
    third = smooth_folder(src, dst, workers=1)
    assert third.written == 1 and third.reused == 4
    assert np.array_equal(load_rgb(smooth_path(dst, "sub/good_002.png")), edge_smooth(load_rgb(paths[2])))

    # an output corrupted since (a disk error, an editor): smoothed again, not reused
    smooth_path(dst, "sub/good_004.png").write_bytes(b"garbage")
    fourth = smooth_folder(src, dst, workers=1)
    assert fourth.written == 1 and fourth.reused == 4
    assert np.array_equal(load_rgb(smooth_path(dst, "sub/good_004.png")), edge_smooth(load_rgb(paths[4])))

    # other parameters: everything is redone
    assert smooth_folder(src, dst, EdgeParams(mode="blur"), workers=1).written == 5


def test_jpeg_names_get_png_twins(tmp_path):
    from PIL import Image

    (tmp_path / "src").mkdir()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(tmp_path / "src" / "a.jpg")
    smooth_folder(tmp_path / "src", tmp_path / "dst", workers=1)
    assert (tmp_path / "dst" / "a.jpg.png").exists()
    assert not list((tmp_path / "dst").glob("*.tmp*")), "no temporary files left behind"


@pytest.mark.parametrize("text", ['{"params": {"mode": "ed', "[1, 2]", '{"files": 3}'])
def test_a_corrupt_manifest_is_named_and_rebuilt(tmp_path, text):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_good(src, 3)
    smooth_folder(src, dst, workers=1)
    (dst / MANIFEST).write_text(text)  # truncated, a list, the wrong shape
    redo = smooth_folder(src, dst, workers=1)
    assert redo.written == 3 and redo.reused == 0 and str(dst / MANIFEST) in redo.manifest_ignored
    again = smooth_folder(src, dst, workers=1)
    assert again.reused == 3 and again.manifest_ignored is None, "the manifest was rewritten"


def test_two_sources_with_one_smoothed_name_are_refused_before_writing(tmp_path):
    """`x.JPG` and `x.JPG.png` would both become `x.JPG.png`: refused, nothing written."""
    (good,) = write_good(tmp_path / "src", 1)
    from PIL import Image

    Image.open(good).convert("RGB").save(tmp_path / "src" / "x.JPG", format="JPEG")
    good.rename(tmp_path / "src" / "x.JPG.png")
    with pytest.raises(ValueError, match=r"x.JPG and x.JPG.png would both be smoothed into .*x.JPG.png"):
        smooth_folder(tmp_path / "src", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
