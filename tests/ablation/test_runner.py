import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.runner import is_done, run_matrix

from .tiny_matrix import write_tiny_matrix

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_runs_skips_done_and_records_failures(tmp_path):
    matrix = Matrix.load(write_tiny_matrix(tmp_path), "tiny")
    out, log = tmp_path / "out", []
    runs = run_matrix(matrix, out, jobs=2, echo=log.append)
    by_cell = {r.cell: r for r in runs}
    assert is_done(by_cell["cyclegan"]) and is_done(by_cell["cyclegan_no_pool"])
    broken = json.loads((by_cell["broken"].dir / "metrics.json").read_text())
    assert broken["status"] == "failed" and "no_such_option" in broken["error"]
    assert any("broken-s0: failed" in line for line in log)
    assert (out / "runs" / "cyclegan-s0.log").exists()

    log.clear()
    run_matrix(matrix, out, jobs=1, echo=log.append)
    assert "2 already done, 1 to run" in log[0], "finished runs are skipped; the failed one is retried"


def test_kill_and_resume(tmp_path):
    """Kill the runner mid-run: nothing half-written, and the rerun resumes from the checkpoint."""
    path = write_tiny_matrix(tmp_path, epochs=6)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cartoonlab", "ablation", "run", "--matrix", str(path), "--profile", "tiny",
           "--cells", "cyclegan", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = out / "runs" / "cyclegan-s0" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), "the run should have written a checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its run, at once
    proc.wait()
    state = out / "runs" / "cyclegan-s0" / "metrics.json"
    assert not state.exists() or "test/fid_cartoon" not in json.loads(state.read_text()).get("metrics", {})
    assert not list(out.rglob("*.tmp")), "no half-written files"

    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    final = json.loads(state.read_text())
    assert final["status"] == "finished" and final["epochs"] == 6
    assert "test/fid_cartoon" in final["metrics"]
    assert "Restoring states from the checkpoint" in (out / "runs" / "cyclegan-s0.log").read_text()
    assert (out / "ablation.csv").exists() and (out / "tables.md").exists()
