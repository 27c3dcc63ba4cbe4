"""`cartoonlab ablation run|show|status|report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cartoonlab.cli.args import positive_int, words
from cartoonlab.cli.exits import EXIT_FAILED, EXIT_OK

HELP = "run the ablation matrix (resumable), show its progress, write tables and plots"


def default_matrix() -> str:
    """`experiments/ablation.yaml` of the current folder, else of the checkout cartoonlab is
    installed from (editable install), so `ablation` works from any folder."""
    here = Path("experiments/ablation.yaml")
    checkout = Path(__file__).resolve().parents[2] / here
    return str(here if here.is_file() or not checkout.is_file() else checkout)


def _profiles(matrix: str) -> str:
    try:
        import yaml

        return ", ".join(yaml.safe_load(Path(matrix).read_text())["profiles"])
    except Exception:  # a broken matrix file is reported when it is loaded, not in --help
        return "see the matrix file"


def _common(p: argparse.ArgumentParser) -> None:
    matrix = default_matrix()
    p.add_argument("--matrix", default=matrix, help=f"the matrix file (default {matrix})")
    p.add_argument(
        "--profile",
        default="quick",
        help=f"one of the matrix's profiles: {_profiles(matrix)} (default quick)",
    )
    p.add_argument("--out", default=None, help="results folder (default results/<profile>)")
    p.add_argument("--data", default=None, help="a CycleGAN-layout folder (default: the profile's data)")
    p.add_argument("--seeds", nargs="+", default=None, help="seeds, e.g. 0 1 2 (default: the profile's)")
    p.add_argument("--tables", nargs="+", default=None, help="subset of tables, e.g. T1 T3")
    p.add_argument("--cells", nargs="+", default=None, help="subset of cells, e.g. cyclegan cartoongan")


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "run",
        help="run every (cell, seed) not done yet, then write the report",
        description="Runs each (cell, seed) as `cartoonlab fit`; finished runs are skipped, "
        "interrupted ones resume from their last checkpoint. Ctrl-C is safe.",
    )
    _common(p)
    p.add_argument("--jobs", type=positive_int, default=1, help="parallel runs on CPU (default 1)")
    p.add_argument(
        "--gpus", nargs="+", default=None, help="GPU ids, one run per GPU in parallel, e.g. 0 1 2 3"
    )
    p.add_argument("--dry-run", action="store_true", help="print the `cartoonlab fit` commands and stop")
    p.add_argument(
        "--launcher",
        choices=["local", "slurm", "submitit-local"],
        default="local",
        help="local: processes on this machine (default); slurm: one SLURM job array, one task "
        "per run not done (submitit; returns once submitted); submitit-local: the same tasks as "
        "local processes through submitit",
    )
    s = p.add_argument_group("SLURM (--launcher slurm)")
    s.add_argument("--partition", default=None, help="the partition (default: the cluster's)")
    s.add_argument("--gpus-per-run", type=int, default=1, help="GPUs per run (default 1; 0: CPU runs)")
    s.add_argument("--cpus-per-run", type=positive_int, default=4, help="CPU cores per run (default 4)")
    s.add_argument("--mem-gb", type=positive_int, default=None, help="memory per run in GB")
    s.add_argument(
        "--time",
        default="24:00:00",
        help="time limit per task (HH:MM:SS or D-HH:MM:SS); a "
        "task at its limit is requeued and resumes from its last epoch",
    )
    s.add_argument("--array-parallelism", type=positive_int, default=16, help="runs at a time (default 16)")
    p.set_defaults(func=run)
    p = sub.add_parser(
        "show",
        help="a run's resolved configuration, each setting with the file that set it",
        description="Prints the files a run composes (in order, later winning) and every "
        "resolved setting with its source: a config file, the runner, or a class default.",
    )
    p.add_argument("run", help="a run (CELL-sSEED, e.g. cyclegan_unet-s0) or a cell (its first seed)")
    _common(p)
    p.add_argument("--defaults", action="store_true", help="also list the settings left at class defaults")
    p.set_defaults(func=show)
    p = sub.add_parser("status", help="which runs are done, failed or left")
    _common(p)
    p.set_defaults(func=status)
    p = sub.add_parser("report", help="write ablation.csv, tables.md, bar plots and sample grids")
    _common(p)
    p.add_argument(
        "--survey",
        default=None,
        help="a survey folder whose tally goes into tables.md "
        "(default: RESULTS/survey when it holds answers)",
    )
    p.set_defaults(func=report)


def _seed(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"--seeds: {text!r} is not a seed; give non-negative integers, e.g. --seeds 0 1 2")
    return int(text)


def _matrix(args):
    from cartoonlab.ablation.matrix import Matrix

    seeds = [_seed(s) for s in words(args.seeds)] if args.seeds else None
    m = Matrix.load(
        args.matrix, args.profile, seeds=seeds, tables=words(args.tables), cells=words(args.cells)
    )
    return m, Path(args.out or f"results/{args.profile}")


def show(args: argparse.Namespace) -> int:
    from cartoonlab.ablation.show import cell_of, find_run, render

    args.cells = args.cells or [cell_of(args.run)]  # any cell, whether or not the profile's tables have it
    m, out = _matrix(args)
    print(render(m, find_run(m, args.run, out, args.data), defaults=args.defaults))
    return EXIT_OK


def submit(args: argparse.Namespace) -> int:
    """`--launcher slurm|submitit-local`: submit every run not done; status and report
    follow the jobs from the results folder."""
    from cartoonlab.ablation.runner import lock_results, pending
    from cartoonlab.ablation.slurm import SlurmOptions
    from cartoonlab.ablation.slurm import submit as submit_runs

    m, out = _matrix(args)
    options = SlurmOptions(
        args.partition, args.gpus_per_run, args.cpus_per_run, args.mem_gb, args.time, args.array_parallelism
    )
    options.minutes()  # a bad --time is refused before anything is submitted
    with lock_results(out):  # one submitter at a time; the tasks lock their runs themselves
        _, unique, todo = pending(m, out, args.data)
        done = len(unique) - len(todo)
        print(f"ablation {m.profile}: {len(unique)} runs, {done} already done, {len(todo)} to submit")
        jobs = submit_runs(
            todo, out, options, cluster="local" if args.launcher == "submitit-local" else "slurm"
        )
    if args.launcher == "submitit-local":  # local tasks end with this process: wait for them
        for job in jobs:
            job.exception()
        report(args)
    else:
        print(f"follow them with `cartoonlab ablation status --profile {m.profile} --out {out}`")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from cartoonlab.ablation.runner import run_matrix, run_state
    from cartoonlab.runs import is_done

    if args.launcher != "local" and not args.dry_run:
        return submit(args)
    m, out = _matrix(args)
    runs = run_matrix(
        m,
        out,
        data=args.data,
        jobs=args.jobs,
        gpus=words(args.gpus),
        dry_run=args.dry_run,
    )
    if not args.dry_run:
        report(args)
    return EXIT_OK if args.dry_run or all(is_done(run_state(r)) for r in runs) else EXIT_FAILED


# what `ablation status` shows besides a `RunStatus`: no metrics.json yet, training now
# (its progress written within the last 2 minutes), stopped with no record, or trained
# ("finished") without test scores yet (`is_done` false)
NOT_STARTED, TRAINING, STOPPED, TESTING = "not started", "training", "stopped", "testing"


def _status(run) -> tuple[str, str]:
    """A run's status and, for one that is not done, where it stands."""
    from cartoonlab.ablation.runner import run_state
    from cartoonlab.runs import RunStatus, is_done, progress_line, read_progress

    state = run_state(run)
    status = state.get("status", NOT_STARTED)
    if is_done(state):
        return status, ""
    if status == RunStatus.CORRUPT:
        return status, state.get("error", "")
    if status == RunStatus.FINISHED:
        return TESTING, ""
    progress = read_progress(run.dir)
    if progress is None:
        return status, ""
    if read_progress(run.dir, fresh_s=120) is not None:
        return TRAINING, progress_line(progress)
    # killed without a record (SIGKILL, power loss): `ablation run` resumes it
    return STOPPED if status == NOT_STARTED else status, f"in epoch {progress['epoch']}/{progress['epochs']}"


def status(args: argparse.Namespace) -> int:
    from cartoonlab.ablation.slurm import job_state, read_jobs

    m, out = _matrix(args)
    runs = m.runs(out, args.data)
    jobs = read_jobs(out)
    counts: dict[str, int] = {}
    for r in runs:
        s, where = _status(r)
        counts[s] = counts.get(s, 0) + 1
        job = jobs.get(r.name)
        slurm = f"  [job {job}: {job_state(job)}]" if job and s not in ("finished", "diverged") else ""
        print(f"  {r.name:32s} {s}" + (f" ({where})" if where else "") + slurm)
    for cell in m.cell_names(include_untestable=True):
        if cell in m.untestable:
            counts["untestable cells"] = counts.get("untestable cells", 0) + 1
            print(f"  {cell:32s} untestable, not run ({m.untestable[cell]})")
    print(f"{len(runs)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return EXIT_OK


def survey_section(folder: Path, required: bool) -> str:
    """The tally of a survey of these runs, as a markdown section ("" when there is none)."""
    if not required and not (folder / "answers.sqlite").is_file():
        return ""
    from cartoonlab.survey.tally import load, markdown

    t = load(folder)
    return f"\n## User study ({folder})\n\n" + (markdown(t) if t.answers else "No answers yet.\n")


def report(args: argparse.Namespace) -> int:
    from cartoonlab.ablation.effects import noise_summary
    from cartoonlab.ablation.identity import (
        datamodule_of,
        identity_row,
        reference_photos,
        truth_features,
    )
    from cartoonlab.ablation.report import (
        bar_plots,
        identity_csv_row,
        rows,
        sample_grids,
        tables_markdown,
        write_csv,
    )
    from cartoonlab.utils import atomic_write_text

    m, out = _matrix(args)
    runs = m.runs(out, args.data)
    table_rows = rows(runs)
    out.mkdir(parents=True, exist_ok=True)
    dm = datamodule_of(runs)  # built once: the framing rows and the sample grids' photos
    identity, truth = identity_row(dm), identity_row(dm, source="truth")
    framing = [
        identity_csv_row(s, name) for s, name in ((identity, "identity"), (truth, "ground truth")) if s
    ]
    write_csv(table_rows + framing, out / "ablation.csv")
    given = getattr(args, "survey", None)  # `ablation run` reports too, without the option
    survey = Path(given) if given else out / "survey"
    noise = noise_summary(table_rows, sorted({t.baseline for t in m.tables.values()}), truth_features(dm))
    atomic_write_text(
        out / "tables.md",
        tables_markdown(m, table_rows, identity, data=args.data, truth=truth, noise=noise)
        + survey_section(survey, required=bool(given)),
    )
    plots = bar_plots(m, table_rows, out)
    photos, truths, size = reference_photos(dm)
    grids = sample_grids(m, runs, photos, size, out, truths=truths) if photos else []
    print(
        f"wrote {out / 'ablation.csv'}, {out / 'tables.md'}, "
        f"{len(plots)} bar plots, {len(grids)} sample grids"
    )
    return EXIT_OK
