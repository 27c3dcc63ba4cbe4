import os
import stat

import pytest

from cartoonlab.utils import atomic_write_text


def test_atomic_write_gives_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "metrics.json", "{}")
        with open(tmp_path / "plain.json", "w") as f:
            f.write("{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o644
    assert (tmp_path / "metrics.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_every_atomic_writer_takes_a_unique_temporary_name_that_fits_any_file_name(tmp_path):
    """A legal 250-byte file name is written (its temporary name would otherwise pass the 255-byte
    limit), and two writers of one file never share a temporary name."""
    import numpy as np

    from cartoonlab.data.folders import write_image
    from cartoonlab.utils import NAME_MAX, replacing, temp_path

    long = tmp_path / ("é" * 60 + "x" * 126 + ".png")  # 246 bytes + ".png": legal
    assert len(long.name.encode()) == 250
    names = {temp_path(long).name for _ in range(50)}
    assert len(names) == 50 and all(len(n.encode()) <= NAME_MAX for n in names)
    assert all(n.startswith(".é") and n.endswith(".tmp") for n in names), "hidden, whole characters"
    write_image(long, np.zeros((4, 4, 3), np.uint8))
    atomic_write_text(long.with_suffix(".txt"), "kept")
    assert long.is_file() and long.with_suffix(".txt").read_text() == "kept"
    with pytest.raises(RuntimeError), replacing(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed midway")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long.name, long.with_suffix(".txt").name])


def test_named_pipes_are_refused_where_a_file_is_read_never_waited_on(tmp_path):
    """A named pipe given as an image, a checkpoint, a config or a run's metrics.json is
    refused at once with one line naming it (reading one blocks until a writer comes)."""
    import subprocess
    import sys

    from cartoonlab.data.folders import load_rgb
    from cartoonlab.runs import read_record

    for name in ("in.png", "model.ckpt", "config.yaml", "metrics.json"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(OSError, match="a named pipe, not a regular file"):
        load_rgb(tmp_path / "in.png")
    record = read_record(tmp_path / "metrics.json")
    assert record["status"] == "corrupt" and "named pipe" in record["error"]
    (tmp_path / "photo.png").write_bytes(b"")  # never read: the model is refused first
    for args in (
        [
            "cartoonize",
            "--ckpt",
            str(tmp_path / "model.ckpt"),
            str(tmp_path / "photo.png"),
            str(tmp_path / "o.png"),
        ],
        ["fit", "--config", str(tmp_path / "config.yaml")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cartoonlab", *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2 and "a named pipe, not a regular file" in done.stderr, done.stderr[-500:]
