"""Run an ablation matrix: resumable, one subprocess per run, parallel, never half-written.

- A run that is done (`cartoonlab.runs.is_done` of its `run_state`: test metrics,
  or status diverged) is skipped; any other run is (re)started, from its `last.ckpt` when there is
  one, so killing the runner loses at most the work since the last checkpoint.
- A run that fails or diverges is recorded with its status and error; the others go on.
- `jobs` runs in parallel: one per GPU (CUDA_VISIBLE_DEVICES) when `gpus` are
  given, else CPU processes sharing the cores.
- Each run's output goes to `<run dir>.log`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cartoonlab.ablation.matrix import Matrix, Run
from cartoonlab.runs import RunStatus, is_done, last_checkpoint, progress_line, read_progress, read_record
from cartoonlab.utils import die_with_parent


def run_state(run: Run) -> dict:
    """The run's metrics.json (`read_record`: {"status": "corrupt", ...} for a bad file)."""
    return read_record(run.dir / "metrics.json")


def lock_results(out: Path):
    """An exclusive lock on `out` (a `.lock` file, flock: released when the process dies,
    even by SIGKILL). A second runner on the same folder is refused instead of writing
    into the same run directories."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    f = open(out / ".lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise ValueError(
            f"{out} is in use by another `ablation run` ({holder}); wait for it, stop it, "
            "or give another --out"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f


def command(run: Run) -> list[str]:
    resume = last_checkpoint(run.dir)
    return run.command() + ([f"--ckpt_path={resume}"] if resume.exists() else [])


@dataclass
class _Slot:
    run: Run
    proc: subprocess.Popen
    started: float
    log: object
    gpu: str | None
    seconds: float = 0.0  # wall time, once reaped


def _launch(run: Run, gpu: str | None, threads: int, echo) -> _Slot:
    """Start `cartoonlab fit` for one run (resuming from its last.ckpt), its output to a log."""
    run.dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    log = open(run.dir.parent / f"{run.name}.log", "a")
    proc = subprocess.Popen(
        command(run), stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
    )  # never writing behind a new runner's back
    echo(f"  start {run.name}" + (f" on GPU {gpu}" if gpu is not None else ""))
    return _Slot(run, proc, time.time(), log, gpu)


def _reap(slot: _Slot, durations: list[float]) -> str | None:
    """Close a finished run's log, record its duration, mark it failed on a non-zero exit;
    the slot (GPU) it frees."""
    slot.log.close()
    slot.seconds = time.time() - slot.started
    durations.append(slot.seconds)
    if slot.proc.returncode != 0:
        _mark_failed(slot.run, slot.proc.returncode)
    return slot.gpu


def _progress(
    slot: _Slot, unique: list[Run], queue: list[Run], running: list[_Slot], durations: list[float], free: int
) -> str:
    """One line after a run ends: counts, ETA from the mean duration so far over the slots,
    the run's status, wall time and test FID."""
    state = run_state(slot.run)
    left = len(queue) + len(running)
    eta = sum(durations) / len(durations) * left / max(1, free + len(running))
    fid = state.get("metrics", {}).get("test/fid_cartoon")
    done = sum(is_done(run_state(r)) for r in unique)
    status = state.get("status", RunStatus.FAILED)
    return (
        f"[{done}/{len(unique)} done, {len(running)} running, {len(queue)} left, "
        f"ETA {eta / 60:.1f} min] {slot.run.name}: {status} in {slot.seconds:.0f}s"
        + (f", FID vs cartoons {fid:.1f}" if fid is not None else "")
        + (f" ({state['error'][:120]})" if state.get("error") else "")
    )


def _mark_failed(run: Run, code: int) -> None:
    from cartoonlab.utils import atomic_write_text

    state = run_state(run)
    if is_done(state) and state["status"] == RunStatus.FINISHED:
        return
    if state.get("status") == RunStatus.CORRUPT:
        state = {}
    log = run.dir.parent / f"{run.name}.log"
    tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
    diverged = state.get("status") == RunStatus.DIVERGED
    state.update(
        status=RunStatus.DIVERGED.value if diverged else RunStatus.FAILED.value,
        error=f"exit code {code}: " + " | ".join(tail)[-600:],
    )
    atomic_write_text(run.dir / "metrics.json", json.dumps(state, indent=2, sort_keys=True))


def pending(matrix: Matrix, out: Path, data: str | None = None) -> tuple[list[Run], list[Run], list[Run]]:
    """The matrix's runs, those that execute (a reused run once), and those not done yet."""
    runs = matrix.runs(out, data)
    own = [r for r in runs if r.same_as is None]
    dirs = {r.dir for r in own}
    unique = own + [r for r in runs if r.same_as is not None and r.dir not in dirs]
    return runs, unique, [r for r in unique if not is_done(run_state(r))]


def run_matrix(
    matrix: Matrix,
    out: Path,
    data: str | None = None,
    jobs: int = 1,
    gpus: list[str] | None = None,
    dry_run: bool = False,
    echo=print,
    report_every_s: float = 60.0,
) -> list[Run]:
    """Run every run of `matrix` that is not done; a line per run start and end, and every
    `report_every_s` seconds one line per running run (`runs.progress_line`)."""
    lock = None if dry_run else lock_results(out)  # held until this process exits, however it exits
    runs, unique, todo = pending(matrix, out, data)
    echo(
        f"ablation {matrix.profile}: {len(unique)} runs ({len(matrix.cell_names())} cells x "
        f"{len(matrix.seeds)} seeds, {len(runs) - len(unique)} reused), "
        f"{len(unique) - len(todo)} already done, {len(todo)} to run"
    )
    if lock is None:  # dry run
        for r in todo:
            echo(shlex.join(["cartoonlab", *command(r)[3:]]))
        return runs
    slots_free = list(gpus) if gpus else [None] * max(1, jobs)
    threads = max(1, (os.cpu_count() or 1) // len(slots_free))
    running: list[_Slot] = []
    durations: list[float] = []
    queue = list(todo)
    reported = time.monotonic()
    try:
        while queue or running:
            while queue and slots_free:
                running.append(_launch(queue.pop(0), slots_free.pop(0), threads, echo))
            time.sleep(0.5)
            finished = [s for s in running if s.proc.poll() is not None]
            for slot in finished:  # every run reaped first, so that each line counts them all
                running.remove(slot)
                slots_free.append(_reap(slot, durations))
            for slot in finished:
                echo(_progress(slot, unique, queue, running, durations, len(slots_free)))
            if time.monotonic() - reported >= report_every_s:
                reported = time.monotonic()
                for slot in running:
                    progress = read_progress(slot.run.dir)
                    where = progress_line(progress) if progress else "starting (no epoch yet)"
                    echo(f"  {slot.run.name}: {where}")
    except KeyboardInterrupt:
        for slot in running:
            slot.proc.terminate()
        for slot in running:
            slot.proc.wait()
        echo("interrupted: finished runs are kept; run again to resume the others from their checkpoints")
        raise
    finally:
        lock.close()
    return runs
