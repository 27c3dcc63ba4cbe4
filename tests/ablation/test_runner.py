import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cartoonlab.ablation import runner
from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.runner import run_matrix, run_state
from cartoonlab.runs import PROGRESS, is_done

from .tiny_matrix import write_tiny_matrix

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_runs_skips_done_and_records_failures(tmp_path):
    matrix = Matrix.load(write_tiny_matrix(tmp_path), "tiny")
    out, log = tmp_path / "out", []
    runs = run_matrix(matrix, out, jobs=2, echo=log.append)
    by_cell = {r.cell: r for r in runs}
    assert is_done(run_state(by_cell["cyclegan"])) and is_done(run_state(by_cell["cyclegan_no_pool"]))
    broken = json.loads((by_cell["broken"].dir / "metrics.json").read_text())
    assert broken["status"] == "failed" and "no_such_option" in broken["error"]
    assert any("broken-s0: failed" in line for line in log)
    assert (out / "runs" / "cyclegan-s0.log").exists()

    log.clear()
    run_matrix(matrix, out, jobs=1, echo=log.append)
    assert "2 already done, 1 to run" in log[0], "finished runs are skipped; the failed one is retried"


class _FakeRun:
    """A `cartoonlab fit` process that ends on its `polls`-th poll, done (test scores
    written) when `code` is 0, else failed."""

    def __init__(self, run, polls: int, code: int):
        self.run, self.polls, self.code, self.returncode = run, polls, code, None

    def poll(self):
        self.polls -= 1
        if self.polls == 0:
            if self.code == 0:
                self.run.dir.mkdir(parents=True, exist_ok=True)
                (self.run.dir / "metrics.json").write_text(
                    json.dumps({"status": "finished", "epochs": 1, "metrics": {"test/fid_cartoon": 100.0}})
                )
            self.returncode = self.code
        return self.returncode


def test_progress_lines_count_reaped_runs_as_done_not_running(tmp_path, monkeypatch):
    """Two runs end at the same poll: both lines say 0 running (the reaped runs are
    counted as done or failed, never as still running), then the last one starts."""
    ends = {"cyclegan": (1, 0), "cyclegan_no_pool": (1, 0), "broken": (2, 1)}

    def launch(run, gpu, threads, echo):
        run.dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(run.dir.parent / f"{run.name}.log", "a")
        echo(f"  start {run.name}")
        return runner._Slot(run, _FakeRun(run, *ends[run.cell]), time.time(), log, gpu)

    monkeypatch.setattr(runner, "_launch", launch)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    log = []
    run_matrix(Matrix.load(write_tiny_matrix(tmp_path), "tiny"), tmp_path / "out", jobs=2, echo=log.append)
    progress = [line for line in log if line.startswith("[")]
    assert len(progress) == 3, log
    assert progress[0].startswith("[2/3 done, 0 running, 1 left") and "cyclegan-s0: finished" in progress[0]
    assert progress[1].startswith("[2/3 done, 0 running, 1 left") and "no_pool-s0: finished" in progress[1]
    assert progress[2].startswith("[2/3 done, 0 running, 0 left") and "broken-s0: failed" in progress[2]
    assert log.index("  start broken-s0") > log.index(progress[1]), "started once a slot was free"


def test_running_runs_report_their_progress_at_a_steady_pace(tmp_path, monkeypatch):
    """Between starts and ends, `ablation run` prints each running run's epoch / total and
    ETA from its progress file (every `report_every_s`; 0 here: every poll)."""
    ends = {"cyclegan": (3, 0), "cyclegan_no_pool": (3, 0), "broken": (3, 1)}

    def launch(run, gpu, threads, echo):
        run.dir.mkdir(parents=True, exist_ok=True)
        if run.cell == "cyclegan":
            progress = {
                "epoch": 2,
                "epochs": 4,
                "batch": 5,
                "batches": 10,
                "percent": 37.5,
                "elapsed_s": 90.0,
                "eta_s": 150.0,
            }
            (run.dir / PROGRESS).write_text(json.dumps(progress))
        log = open(run.dir.parent / f"{run.name}.log", "a")
        return runner._Slot(run, _FakeRun(run, *ends[run.cell]), time.time(), log, gpu)

    monkeypatch.setattr(runner, "_launch", launch)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    log = []
    matrix = Matrix.load(write_tiny_matrix(tmp_path), "tiny")
    run_matrix(matrix, tmp_path / "out", jobs=2, echo=log.append, report_every_s=0)
    assert "  cyclegan-s0: epoch 2/4, batch 5/10 (38%), 1.5 min elapsed, ETA 2.5 min" in log
    assert "  cyclegan_no_pool-s0: starting (no epoch yet)" in log


def test_kill_and_resume(tmp_path):
    """Kill the runner mid-run: nothing half-written, and the rerun resumes from the checkpoint."""
    path = write_tiny_matrix(tmp_path, epochs=6)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "cartoonlab",
        "ablation",
        "run",
        "--matrix",
        str(path),
        "--profile",
        "tiny",
        "--cells",
        "cyclegan",
        "--out",
        str(out),
    ]
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
    # a SIGKILL mid-save leaves a stray temp file, never a torn checkpoint
    torch.load(ckpt, weights_only=True)

    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert not list(out.rglob("*.tmp")), "no half-written files left once the run resumed"
    final = json.loads(state.read_text())
    assert final["status"] == "finished" and final["epochs"] == 6
    assert "test/fid_cartoon" in final["metrics"]
    assert "Restoring states from the checkpoint" in (out / "runs" / "cyclegan-s0.log").read_text()
    assert (out / "ablation.csv").exists() and (out / "tables.md").exists()
