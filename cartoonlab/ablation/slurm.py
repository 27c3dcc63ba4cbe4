"""The ablation matrix past one machine: every run that is not done, as one SLURM job array
(one array task per run), through submitit (the engine behind Hydra's SLURM launcher).

- Results land in the usual `<out>/runs/<run>/` on the shared filesystem, so `ablation
  status` and `ablation report` work unchanged while the jobs run and after.
- A task runs `cartoonlab fit` for its run, resuming from `last.ckpt` when there is one
  (the command is built when the task starts, not when it was submitted). When SLURM
  preempts it or its time limit nears, submitit calls `FitTask.checkpoint` and requeues
  it; the fit was stopped by SIGTERM after its last finished epoch, so nothing is lost.
- A run is never trained by two tasks at once: a task takes an exclusive lock on
  `<run>/.fit.lock` (flock: released if the task dies) and leaves at once, saying so, when
  another task holds it. A re-submitted matrix skips finished runs.
- The job id of each run is written to `<out>/slurm/jobs.json`; `ablation status` shows it
  with SLURM's state of the task.

`cluster="local"` runs the same tasks as local processes through submitit's local
executor (the tests, and a machine without SLURM).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cartoonlab.ablation.matrix import Run
from cartoonlab.runs import is_done
from cartoonlab.utils import atomic_write_text

JOBS = "jobs.json"  # <out>/slurm/jobs.json: run name -> job id


@dataclass
class SlurmOptions:
    """What each array task asks SLURM for (`ablation run --launcher slurm ...`)."""

    partition: str | None = None
    gpus_per_run: int = 1
    cpus_per_run: int = 4
    mem_gb: int | None = None
    time: str = "24:00:00"  # HH:MM:SS, or D-HH:MM:SS
    array_parallelism: int = 16

    def minutes(self) -> int:
        days, _, clock = self.time.rpartition("-")
        parts = clock.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in [*parts, days or "0"]):
            raise ValueError(f"--time {self.time!r}: give HH:MM:SS or D-HH:MM:SS, e.g. 24:00:00")
        hours, minutes, seconds = map(int, parts)
        return (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)


class FitTask:
    """One run's `cartoonlab fit` in a job array task; requeued on preemption or time-out."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def __call__(self) -> str:
        from cartoonlab.ablation.runner import command, run_state

        run = self.run
        if is_done(run_state(run)):
            return f"{run.name}: already done"
        run.dir.mkdir(parents=True, exist_ok=True)
        with open(run.dir / ".fit.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return f"{run.name}: another task is training it; this one leaves it alone"
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            with open(run.dir.parent / f"{run.name}.log", "a") as log:
                code = subprocess.call(command(run), stdout=log, stderr=subprocess.STDOUT, env=env)
        if code != 0:
            raise RuntimeError(f"{run.name}: cartoonlab fit exited with {code} (see {run.name}.log)")
        return f"{run.name}: done"

    def checkpoint(self):  # submitit: called on preemption or near the time limit
        import submitit

        return submitit.helpers.DelayedSubmission(FitTask(self.run))


def executor(out: Path, options: SlurmOptions, cluster: str = "slurm"):
    """A submitit executor whose logs go to `<out>/slurm/`."""
    import submitit

    ex = submitit.AutoExecutor(folder=out / "slurm" / "%j", cluster=cluster)
    params: dict = {
        "timeout_min": options.minutes(),
        "cpus_per_task": options.cpus_per_run,
        "tasks_per_node": 1,
    }
    if cluster == "slurm":
        params.update(
            slurm_array_parallelism=options.array_parallelism,
            slurm_gpus_per_node=options.gpus_per_run or None,
            slurm_signal_delay_s=120,  # SIGUSR2 two minutes before the limit: requeue in time
        )
        if options.partition:
            params["slurm_partition"] = options.partition
        if options.mem_gb:
            params["slurm_mem"] = f"{options.mem_gb}G"
    ex.update_parameters(**params)
    return ex


def submit(todo: list[Run], out: Path, options: SlurmOptions, cluster: str = "slurm", echo=print) -> list:
    """Submit `todo` (the runs not done) as one job array; the submitted jobs."""
    if not todo:
        return []
    ex = executor(out, options, cluster)
    jobs = []
    with ex.batch():
        for run in todo:
            jobs.append(ex.submit(FitTask(run)))
    ids = read_jobs(out)
    ids.update({run.name: job.job_id for run, job in zip(todo, jobs)})
    atomic_write_text(out / "slurm" / JOBS, json.dumps(ids, indent=2, sort_keys=True))
    array = jobs[0].job_id.split("_")[0]
    echo(f"submitted {len(jobs)} run(s) as job array {array} ({cluster}); logs in {out / 'slurm'}")
    return jobs


def read_jobs(out: Path) -> dict[str, str]:
    """Run name -> job id of the runs submitted from `out` (empty when none were)."""
    try:
        return json.loads((out / "slurm" / JOBS).read_text())
    except (OSError, ValueError):
        return {}


def job_state(job_id: str) -> str:
    """SLURM's state of a job: squeue's while it is queued or running, else sacct's (where
    accounting is on), else "not queued"; "unknown" where SLURM cannot be asked."""
    for cmd in (
        ["squeue", "-h", "-j", job_id, "-o", "%T"],
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id],
    ):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        if out.returncode == 0 and out.stdout.split():
            return out.stdout.split()[-1]
    return "not queued"
