import os
import stat

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
