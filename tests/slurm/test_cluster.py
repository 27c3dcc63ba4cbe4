"""`ablation run --launcher slurm` against a real single-node SLURM cluster
(`tests/slurm/cluster.sh start`; `make test-slurm` does it, and CI). Skipped, saying why,
where no SLURM answers."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.runner import run_state
from cartoonlab.runs import is_done

from ..ablation.tiny_matrix import write_tiny_matrix

pytestmark = [pytest.mark.slurm, pytest.mark.filterwarnings("ignore::UserWarning")]


def _slurm_up() -> str | None:
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not found): run tests/slurm/cluster.sh install && start"
    for _ in range(30):  # a node may still be completing an earlier job
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc")):
            return None
        time.sleep(2)
    return f"SLURM does not answer or has no usable node: {(out.stderr or out.stdout).strip()[:200]}"


def _wait(until, what: str, timeout: float = 900) -> None:
    end = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(2)


def _queued(prefix: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True).stdout.split()
    return [j for j in out if j.startswith(prefix)]


def _cartoonlab(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "cartoonlab", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_a_matrix_on_slurm_survives_a_cancelled_task(tmp_path):
    """2 cells x 2 seeds as one job array; one task is cancelled mid-run (scancel); a
    re-submission trains only that run, from its last finished epoch; the table completes."""
    if why := _slurm_up():
        pytest.skip(why)
    path, out = write_tiny_matrix(tmp_path, epochs=4), tmp_path / "out"
    where = f"--matrix {path} --profile tiny --tables T6 --seeds 0 1 --out {out}".split()
    options = "--launcher slurm --gpus-per-run 0 --cpus-per-run 1 --time 00:30:00 --array-parallelism 2"
    args = ["ablation", "run", *where, *options.split()]
    said = _cartoonlab(*args)
    assert "4 to submit" in said and "submitted 4 run(s)" in said
    runs = {r.name: r for r in Matrix.load(path, "tiny", seeds=[0, 1], tables=["T6"]).runs(out)}
    jobs = json.loads((out / "slurm" / "jobs.json").read_text())
    array = jobs["cyclegan-s0"].split("_")[0]

    victim = runs["cyclegan-s0"]
    _wait(lambda: (victim.dir / "checkpoints" / "last.ckpt").is_file(), "a first epoch of cyclegan-s0")
    subprocess.run(["scancel", jobs["cyclegan-s0"]], check=True)
    _wait(lambda: not _queued(array), "the job array to end")
    assert not is_done(run_state(victim)), "the cancelled run stopped before its end"
    assert all(is_done(run_state(r)) for n, r in runs.items() if n != "cyclegan-s0")
    status = _cartoonlab("ablation", "status", *where)
    assert f"job {jobs['cyclegan-s0']}" in status

    said = _cartoonlab(*args)
    assert "3 already done, 1 to submit" in said
    again = json.loads((out / "slurm" / "jobs.json").read_text())["cyclegan-s0"]
    _wait(lambda: not _queued(again.split("_")[0]), "the re-submitted task")
    assert is_done(run_state(victim))
    log = (victim.dir.parent / f"{victim.name}.log").read_text()
    assert "Restoring states from the checkpoint" in log or "Restored all states" in log, (
        "resumed, not restarted"
    )
    assert run_state(victim)["epochs"] == 4
    _cartoonlab("ablation", "report", *where)
    rows = (out / "ablation.csv").read_text()
    assert all(f"{c},{s}," in rows for c in ("cyclegan", "cyclegan_no_pool") for s in (0, 1))
