"""File names that are not valid UTF-8 (e.g. Latin-1 names copied from an old camera or
archive) are read, split, smoothed and printed like any other: never a crash."""

import os
import shutil
import subprocess
import sys

import pytest

from cartoonlab.data.smoothing import smooth_folder

from .test_datamodule import first_batch, make_dm

LATIN1 = os.fsdecode(b"caf\xe9")  # a surrogate-escaped str, as Python gives for such names


@pytest.fixture
def latin1_root(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    for split in ("trainA", "trainB", "testA", "testB"):
        first = sorted((root / split).glob("*.png"))[0]
        first.rename(first.with_name(f"-{LATIN1}-{first.name}"))  # sorts first
    return root


def test_fit_batches_smoothing_and_check_with_latin1_names(latin1_root, tmp_path):
    dm = make_dm(latin1_root, smooth="edge", preset="cartoongan")
    assert any(LATIN1 in p.name for p in dm.files["photo"] + dm.files["photo_test"])
    assert first_batch(dm)["cartoon_smooth"].shape == (4, 3, 32, 32)

    stats = smooth_folder(latin1_root / "trainB", tmp_path / "smoothed", workers=1)
    assert not stats.failed and any(LATIN1 in p.name for p in (tmp_path / "smoothed").iterdir())

    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}  # as under an en_US.UTF-8 locale
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cartoonlab",
            "data",
            "check",
            str(latin1_root / "trainA"),
            "--min-size",
            "64",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0 and "-caf\\udce9-" in proc.stdout, proc.stderr  # listed as too small
