import json
import subprocess
import sys

from cartoonlab.cli import main
from tests.data.badfiles import write_bad_zoo, write_good


def run(*argv):
    return main(list(argv))


def test_synth_smooth_check_roundtrip(tmp_path, capsys):
    assert run("data", "synth", str(tmp_path / "ds"), "--n", "6", "--size", "32", "--n-test", "2") == 0
    assert len(list((tmp_path / "ds" / "trainB").glob("*.png"))) == 6
    assert run("data", "smooth", str(tmp_path / "ds" / "trainB"), str(tmp_path / "sm"), "--workers", "1") == 0
    assert "smoothed 6, reused 0" in capsys.readouterr().out
    assert run("data", "smooth", str(tmp_path / "ds" / "trainB"), str(tmp_path / "sm")) == 0
    assert "smoothed 0, reused 6" in capsys.readouterr().out
    assert run("data", "check", str(tmp_path / "ds"), "--min-size", "32", "--strict") == 0
    assert "no problems found" in capsys.readouterr().out


def test_check_exit_status_and_json(tmp_path, capsys):
    write_good(tmp_path, 2)
    kinds = write_bad_zoo(tmp_path)
    assert run("data", "check", str(tmp_path)) == 0
    text = capsys.readouterr().out
    assert "unreadable: 1 (skipped by the DataModule)" in text
    unusable = sum(kind in ("unreadable", "not_an_image", "ignored_format") for kind in kinds.values())
    assert f"  {unusable} of {len(kinds) + 2} files unusable (skipped); the rest are usable" in text
    assert run("data", "check", str(tmp_path), "--strict") == 1
    capsys.readouterr()
    assert run("data", "check", str(tmp_path), "--json", "--min-size", "32") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == len(kinds) + 2
    assert set(report["problems"]) == set(kinds.values())


def test_module_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "cartoonlab", "data", "smooth", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "edge-smoothed twin" in out and "--mode" in out


def test_smooth_and_synth_never_overwrite_their_data(tmp_path, capsys):
    assert run("data", "synth", str(tmp_path / "ds"), "--n", "4", "--size", "32", "--n-test", "2") == 0
    src = tmp_path / "ds" / "trainB"
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    for dst in (src, src / "smoothed"):
        assert run("data", "smooth", str(src), str(dst)) == 2
        assert "source folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before, "sources untouched"
    assert run("data", "synth", str(tmp_path / "ds"), "--n", "6", "--size", "48") == 2
    assert "not empty" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before, "no stale mix of two datasets"


def test_empty_folders_and_names_are_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    assert run("data", "smooth", str(tmp_path / "empty"), str(tmp_path / "out")) == 2
    assert "no image files in" in capsys.readouterr().err and not (tmp_path / "out").exists()
    monkeypatch.chdir(tmp_path / "empty")
    assert run("data", "synth", "", "--n", "2") == 2  # "" would be the current directory
    assert "empty string" in capsys.readouterr().err and not any((tmp_path / "empty").iterdir())


def test_check_says_how_deep_images_are_converted(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(tmp_path / "float.tif")
    Image.fromarray(np.full((16, 16), 200, np.uint16)).save(tmp_path / "low16.png")
    assert run("data", "check", str(tmp_path), "--min-size", "8") == 0
    out = capsys.readouterr().out
    assert "float: 1 (scaled by 255 on load when its maximum is at most 1, else clipped to 0..255)" in out
    assert "float.tif (F, max <= 1: x255)" in out
    assert "16_bit: 1 (divided by 257 to 8 bits on load)" in out
    assert "converted/handled" not in out


def test_an_interrupted_synth_is_refused_by_check_and_by_synth(tmp_path, capsys, monkeypatch):
    from tests.data.test_synthetic import interrupted_dataset

    root = interrupted_dataset(tmp_path / "D", monkeypatch)
    for argv in (("check", str(root)), ("synth", str(root), "--n", "6", "--size", "16", "--n-test", "2")):
        assert run("data", *argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{root} is an unfinished dataset" in err[0], err
        assert "re-run `cartoonlab data synth` into a new or empty folder" in err[0]
    assert run("data", "synth", str(tmp_path / "E"), "--n", "6", "--size", "16", "--n-test", "2") == 0
    assert run("data", "check", str(tmp_path / "E"), "--min-size", "16", "--strict") == 0


def test_check_and_smooth_report_a_file_they_cannot_read_and_go_on(tmp_path, capsys, monkeypatch):
    """An I/O error on one file (EIO, permissions) is that file's problem, counted; the rest is
    checked and smoothed, and `smooth` exits non-zero when any file failed."""
    import errno

    from cartoonlab.data import folders, smoothing

    assert run("data", "synth", str(tmp_path / "ds"), "--n", "4", "--size", "32", "--n-test", "2") == 0
    cartoons = tmp_path / "ds" / "trainB"
    bad = sorted(cartoons.glob("*.png"))[1]
    real = folders.file_sha256

    def sha(path):
        if str(path) == str(bad):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path)

    monkeypatch.setattr(folders, "file_sha256", sha)
    monkeypatch.setattr(smoothing, "file_sha256", sha)
    capsys.readouterr()
    assert run("data", "check", str(cartoons), "--min-size", "32", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"]["unreadable"] == [f"{bad.name}: Input/output error"], report
    assert run("data", "smooth", str(cartoons), str(tmp_path / "sm"), "--workers", "1") == 1
    out, err = capsys.readouterr()
    assert "smoothed 3, reused 0, failed 1" in out and f"failed: {bad.name}: cannot read" in err
    assert len(list((tmp_path / "sm").glob("*.png"))) == 3


def test_smooth_fails_when_its_writes_fail(tmp_path, capsys, monkeypatch):
    from cartoonlab.data import smoothing

    assert run("data", "synth", str(tmp_path / "ds"), "--n", "3", "--size", "32", "--n-test", "2") == 0

    def full_disk(path, img):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(smoothing, "write_image", full_disk)
    assert run("data", "smooth", str(tmp_path / "ds" / "trainB"), str(tmp_path / "sm"), "--workers", "1") == 1
    assert "smoothed 0, reused 0, failed 3" in capsys.readouterr().out


def test_commands_that_do_not_train_start_without_lightning(tmp_path):
    """`data check`, and the loaders behind `cartoonize` and `export`, never import Lightning
    (seconds of start-up on a loaded machine; `UnpairedImageDataModule` is imported lazily)."""
    write_good(tmp_path / "trainA", 2)
    code = (
        "import sys; from cartoonlab.cli import main; "
        f"main(['data', 'check', {str(tmp_path)!r}]); "
        "import cartoonlab.inference, cartoonlab.export, cartoonlab.data; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
