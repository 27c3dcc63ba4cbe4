"""`ablation run --launcher slurm` through submitit: the tasks themselves, run by submitit's
local executor (a real SLURM cluster is the job of `make test-slurm`)."""

import fcntl
import json

import pytest

from cartoonlab.ablation.matrix import Matrix
from cartoonlab.ablation.runner import run_state
from cartoonlab.ablation.slurm import FitTask, SlurmOptions, read_jobs, submit
from cartoonlab.cli import main
from cartoonlab.runs import is_done

from .tiny_matrix import write_tiny_matrix

pytest.importorskip("submitit")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_matrix_submitted_through_submitit_completes_and_resubmits_nothing(tmp_path, capsys):
    path, out = write_tiny_matrix(tmp_path), tmp_path / "out"
    args = f"ablation run --matrix {path} --profile tiny --out {out} --tables T6".split()
    assert main([*args, "--launcher", "submitit-local", "--gpus-per-run", "0", "--cpus-per-run", "1"]) == 0
    said = capsys.readouterr().out
    assert "2 runs, 0 already done, 2 to submit" in said and "submitted 2 run(s) as job array" in said
    runs = Matrix.load(path, "tiny", tables=["T6"]).runs(out)
    assert all(is_done(run_state(r)) for r in runs)
    assert set(read_jobs(out)) == {r.name for r in runs}, "each run's job id is kept for `ablation status`"
    assert "cyclegan_no_pool" in (out / "ablation.csv").read_text(), "the report follows"

    assert main([*args, "--launcher", "submitit-local", "--gpus-per-run", "0"]) == 0
    assert "2 already done, 0 to submit" in capsys.readouterr().out
    assert main(["ablation", "status", "--matrix", str(path), "--profile", "tiny", "--out", str(out)]) == 0
    assert "2 finished" in capsys.readouterr().out


def test_a_run_is_never_trained_by_two_tasks_at_once(tmp_path):
    """A second task of a run whose lock is held leaves it alone; a finished run is not
    trained again; a requeued task builds a fresh task of the same run."""
    (run,) = [
        r
        for r in Matrix.load(write_tiny_matrix(tmp_path), "tiny").runs(tmp_path / "o")
        if r.cell == "cyclegan"
    ]
    run.dir.mkdir(parents=True)
    with open(run.dir / ".fit.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert "another task is training it" in FitTask(run)()
    assert not (run.dir / "metrics.json").exists()
    (run.dir / "metrics.json").write_text(
        json.dumps({"status": "finished", "metrics": {"test/fid_cartoon": 1.0}})
    )
    assert FitTask(run)() == "cyclegan-s0: already done"
    again = FitTask(run).checkpoint()
    assert isinstance(again.function, FitTask) and again.function.run == run


@pytest.mark.parametrize("time, minutes", [("24:00:00", 1440), ("1-02:30:00", 1590), ("00:00:30", 1)])
def test_time_limits_are_read_as_slurm_writes_them(time, minutes):
    assert SlurmOptions(time=time).minutes() == minutes


def test_a_bad_time_limit_is_refused_before_submitting(tmp_path, capsys):
    path = write_tiny_matrix(tmp_path)
    args = f"ablation run --matrix {path} --profile tiny --out {tmp_path / 'o'} --launcher slurm".split()
    code = main([*args, "--time", "a day"])
    assert code == 2 and "--time 'a day'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "slurm").exists()


def test_nothing_to_submit_submits_nothing(tmp_path):
    assert submit([], tmp_path, SlurmOptions(), cluster="local") == []
