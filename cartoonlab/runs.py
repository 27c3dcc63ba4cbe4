"""Run bookkeeping: loggers that never block, and `metrics.json` in the run directory."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger, Logger

from cartoonlab.utils import atomic_write_text, check_name, machine_info, regular_file

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10: the same behaviour (a str, printed and formatted as its value)

    class StrEnum(str, Enum):
        __str__ = str.__str__
        __format__ = str.__format__


class RunStatus(StrEnum):
    """A run's status: the one vocabulary of `metrics.json`'s "status" (written as the plain
    string, e.g. "finished", and compared equal to it: files on disk read as before), of a
    system's `status` and of the ablation runner. "corrupt" is never written: `read_record`
    reports a metrics.json it cannot use that way, so one bad file never stops a whole matrix.
    Whether a run is done is `is_done(record)`, nowhere else."""

    RUNNING = "running"  # a system's status while it trains (not written to metrics.json)
    FINISHED = "finished"  # fit (and test) ended normally
    DIVERGED = "diverged"  # a non-finite loss stopped it (done: rerunning would diverge again)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM (resumable)
    FAILED = "failed"  # an exception, or the runner saw a nonzero exit code
    CORRUPT = "corrupt"  # read_record: an unusable metrics.json


STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus)
DONE_METRIC = "test/fid_cartoon"  # a run with test scores is done
_NUMBER: tuple[type, ...] = (int, float)
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "status": str,
    "error": str,
    "train_seconds": _NUMBER,
    "train_images": int,
    "batches": int,
    "epochs": int,
    "images_per_second": (*_NUMBER, type(None)),
    "metrics": dict,
    "best_val": dict,
}


def read_record(path: str | Path) -> dict:
    """A run's metrics.json; {} when there is none. Never raises: an unreadable, truncated
    or foreign file, or one with wrong types, reads as `{"status": "corrupt", "error": ...}`
    naming the file, so the caller marks that run and goes on."""
    path = Path(path)
    try:
        data = json.loads(regular_file(path).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {"status": RunStatus.CORRUPT, "error": f"unreadable {path}: {type(e).__name__}: {e}"}
    if not isinstance(data, dict):
        return {"status": RunStatus.CORRUPT, "error": f"{path} is not a JSON object"}
    bad = [k for k, t in _FIELDS.items() if k in data and (not isinstance(data[k], t) or data[k] is True)]
    bad += ["status"] if data.get("status") not in STATUSES else []
    metrics = data.get("metrics", {})
    if isinstance(metrics, dict):
        bad += [
            f"metrics.{k}" for k, v in metrics.items() if not isinstance(v, _NUMBER) or isinstance(v, bool)
        ]
    if bad:
        return {
            "status": RunStatus.CORRUPT,
            "error": f"{path}: unexpected value for {', '.join(sorted(set(bad)))}",
        }
    return data


def is_done(record: dict) -> bool:
    """Whether a run is done, from its record (`read_record`; for an ablation run,
    `ablation.runner.run_state`): diverged (rerunning would diverge again), or finished
    with test scores (`DONE_METRIC`). The only definition: every caller asks this."""
    status = record.get("status")
    return status == RunStatus.DIVERGED or (
        status == RunStatus.FINISHED and DONE_METRIC in record.get("metrics", {})
    )


# after a test (`callbacks.TranslationMetrics`): each test photo's content scores, one row per
# photo file name, and the translations' Inception features in the same order
TEST_IMAGES, TEST_FEATURES = "test_images.csv", "test_features.npy"


# during fit (`Progress`): epoch / epochs, batch / batches, elapsed and ETA, rewritten
# every few seconds; read by `ablation run` and `ablation status`
PROGRESS = "progress.json"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5940 else f"{seconds / 3600:.1f} h"


def progress_line(progress: dict) -> str:
    """`epoch 3/20, batch 12/40 (14%), 4.1 min elapsed, ETA 25.3 min` from a PROGRESS record."""
    line = f"epoch {progress['epoch']}/{progress['epochs']}, batch {progress['batch']}/{progress['batches']}"
    line += f" ({progress['percent']:.0f}%), {_minutes(progress['elapsed_s'])} elapsed"
    if progress.get("eta_s") is not None:
        line += f", ETA {_minutes(progress['eta_s'])}"
    return line


def read_progress(run_dir: str | Path, fresh_s: float | None = None) -> dict | None:
    """A run's PROGRESS record, or None when there is none, it is unreadable, or it was
    last written more than `fresh_s` seconds ago (the run is not training now)."""
    path = Path(run_dir) / PROGRESS
    try:
        progress = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return None
    return None if fresh_s is not None and age > fresh_s else progress


class Progress(L.Callback):
    """Training progress a person can follow without a progress bar: `<run>/progress.json`
    (atomically, at most every `every_s` seconds and at each epoch end) and, when the
    progress bar is off (the ablation profiles), the same as one printed line every
    `print_every_s` seconds. The ETA extrapolates this process's pace over the epochs left
    (validation included, the final test not)."""

    def __init__(self, run_dir: str | Path, every_s: float = 10.0, print_every_s: float = 60.0) -> None:
        self.path = Path(run_dir) / PROGRESS
        self.every_s, self.print_every_s = every_s, print_every_s
        self._t0 = self._start = 0.0
        self._written = self._printed = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = self._written = self._printed = time.monotonic()
        self._start = self._fraction(trainer, 0)

    def _fraction(self, trainer, batch: int) -> float:
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        batches = max(1, int(trainer.num_training_batches))
        return min(1.0, (trainer.current_epoch + batch / batches) / epochs)

    def _report(self, trainer, batch: int, force: bool = False) -> None:
        now = time.monotonic()
        if not trainer.is_global_zero or (not force and now - self._written < self.every_s):
            return
        done = self._fraction(trainer, batch)
        elapsed = now - self._t0
        pace = (done - self._start) / elapsed if elapsed > 0 else 0.0
        progress = {
            "epoch": trainer.current_epoch + 1,
            "epochs": trainer.max_epochs,
            "batch": batch,
            "batches": int(trainer.num_training_batches),
            "percent": round(100 * done, 1),
            "elapsed_s": round(elapsed, 1),
            "eta_s": round((1 - done) / pace, 1) if pace > 0 else None,
        }
        atomic_write_text(self.path, json.dumps(progress))
        self._written = now
        if trainer.progress_bar_callback is None and now - self._printed >= self.print_every_s:
            print(progress_line(progress), flush=True)
            self._printed = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._report(trainer, batch_idx + 1)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._report(trainer, int(trainer.num_training_batches), force=True)


# a run's checkpoints: `checkpoints/last.ckpt` after every epoch (`checkpointing.LastCheckpoint`,
# what `--ckpt_path last` resumes) and `checkpoints/best.ckpt` at the best validation FID
# (`callbacks.TranslationMetrics`)
CHECKPOINTS, LAST, BEST = "checkpoints", "last.ckpt", "best.ckpt"


def last_checkpoint(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS / LAST


def scored_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a finished run's test figures come from: `best.ckpt` when it exists,
    else `last.ckpt`."""
    best = Path(run_dir) / CHECKPOINTS / BEST
    return best if best.is_file() else last_checkpoint(run_dir)


@dataclass
class RunConfig:
    """Where a run lives and how it is tracked.

    Args:
        name: run name; the run directory is `root/name`.
        root: parent of run directories.
        project / group / tags: W&B project, group and tags.
        wandb: "offline" (default: writes `root/name/wandb/offline-run-*`, never
            touches the network), "online" (only if W&B credentials are
            configured and the server answers within `wandb_timeout` seconds; else
            falls back to offline with one warning and the run goes on), "disabled".
        wandb_timeout: seconds to wait for the W&B server before logging offline.
        test_after_fit: run `test` at the end of `fit` (one process for a whole ablation
            cell), on the checkpoint chosen on validation (`checkpoints/best.ckpt`, see
            `TranslationMetrics`), else on the final weights.
        overwrite: let a `fit` that resumes nothing (no `--ckpt_path`, or `last` with no
            `last.ckpt`) start afresh in a run directory that already holds checkpoints,
            replacing them and the earlier run's metrics.csv and metrics.json. Without it
            such a fit is refused (`check_fresh_fit`), so repeating a command never throws
            away a trained run.
    """

    name: str = "run"
    root: str = "runs"
    project: str = "cartoonlab"
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    wandb: Literal["offline", "online", "disabled"] = "offline"
    wandb_timeout: float = 10.0
    test_after_fit: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_name(self.name, "run.name")

    @property
    def dir(self) -> Path:
        return Path(self.root) / self.name

    @property
    def last_checkpoint(self) -> Path:
        """What `--ckpt_path last` resumes."""
        return last_checkpoint(self.dir)

    def check_fresh_fit(self) -> None:
        """Refuse a fit that resumes nothing into a run directory holding checkpoints,
        unless `overwrite`: it would replace a trained run's weights and record."""
        folder = self.last_checkpoint.parent
        found = sorted(p.name for p in folder.glob("*.ckpt")) if folder.is_dir() else []
        if found and not self.overwrite:
            resume = "last" if self.last_checkpoint.is_file() else folder / found[0]
            raise ValueError(
                f"{folder} already holds a trained run ({', '.join(found)}): resume it with "
                f"--ckpt_path {resume}, choose another --run.name, or pass --run.overwrite true to "
                "replace it"
            )


def _wandb_credentials() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return bool(os.environ.get("WANDB_API_KEY")) or (netrc.exists() and "api.wandb.ai" in netrc.read_text())


def _csv_logger(folder: Path, resume: bool) -> CSVLogger:
    """Lightning's CSV logger deletes an existing `metrics.csv` when it starts; a resumed
    run keeps its earlier rows and appends to them. Its warning that "previous log files
    will be deleted" is kept only when that is true: a fresh run over an earlier run's
    `metrics.csv` (not for the config and W&B files written into a new run directory)."""
    path = folder / "metrics.csv"
    kept = path.read_text() if resume and path.is_file() else None
    logger = CSVLogger(save_dir=folder.parent, name=folder.name, version="")
    if rank_zero_only.rank != 0:  # type: ignore[attr-defined]  # set by Lightning
        return logger
    with warnings.catch_warnings():
        if kept is not None or not path.exists():  # no earlier rows would be lost
            warnings.filterwarnings("ignore", "Experiment logs directory .* is not empty", UserWarning)
        writer = logger.experiment  # created now: it removes an existing metrics.csv
    if kept:
        atomic_write_text(path, kept)
        writer.metrics_keys = next(csv.reader([kept.splitlines()[0]]), [])
    return logger


def wandb_reachable(timeout: float) -> bool:
    """Whether the W&B server (`WANDB_BASE_URL`, default https://api.wandb.ai) answers an
    HTTP request within `timeout` seconds; any HTTP answer counts, even an error status."""
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:
        urllib.request.urlopen(url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # refused, unresolvable, timed out, or not a URL
        return False
    return True


def make_loggers(run: RunConfig, resume: bool = False, folder: Path | None = None) -> list[Logger]:
    """A CSV logger (always; in `folder`, by default the run directory; appended to when
    `resume`) and W&B (unless disabled; its files go to `folder/wandb`). "online" falls
    back to offline, with one warning, when no credentials are configured or the server
    does not answer within `run.wandb_timeout` seconds: the run goes on either way."""
    folder = run.dir if folder is None else Path(folder)
    loggers: list[Logger] = [_csv_logger(folder, resume)]
    if run.wandb == "disabled":
        return loggers
    online = run.wandb == "online"
    why = None
    if online and not _wandb_credentials():
        why = "no credentials are configured (WANDB_API_KEY or ~/.netrc)"
    elif online and not wandb_reachable(run.wandb_timeout):
        url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
        why = f"{url} did not answer within {run.wandb_timeout:g} s (--run.wandb_timeout)"
    if why:
        warnings.warn(f"W&B online mode asked for but {why}: logging offline instead", stacklevel=2)
        online = False
    if not online:
        os.environ["WANDB_MODE"] = "offline"  # also for wandb's service process: never prompt
    from lightning.pytorch.loggers import WandbLogger

    folder.mkdir(parents=True, exist_ok=True)
    import wandb

    # no system-stats thread, no pip freeze / git / console capture: seconds saved per run
    settings = wandb.Settings(
        x_disable_stats=True,
        x_disable_meta=True,
        x_save_requirements=False,
        disable_git=True,
        console="off",
        silent=True,
    )
    wandb_logger = WandbLogger(
        name=run.name,
        project=run.project,
        group=run.group,
        tags=run.tags or None,
        save_dir=str(folder),
        offline=not online,
        settings=settings,
    )
    # Lightning always passes `anonymous` (None here), which wandb >= 0.19 answers with a
    # "has no effect" warning on every run
    wandb_logger._wandb_init.pop("anonymous", None)
    loggers.append(wandb_logger)
    return loggers


def finish_wandb() -> None:
    """Close the command's W&B run and service, if one was started: its files are complete
    when the command returns (not at interpreter exit), and a next command in the same
    process starts its own service instead of logging into this run's folder."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
        wandb.teardown()


class RunRecorder(L.Callback):
    """Writes `metrics.json` (atomically) in the run directory at the end of fit and
    test, and when a run fails: status (finished | diverged | interrupted |
    failed), epochs, steps, training seconds, images/s, peak GPU memory (on CUDA), the
    last metrics and the machine (`machine_info`: CPU, GPUs, versions; of the last
    process that trained or tested the run).
    Training time and image counts add up across resumed runs (`--ckpt_path`);
    a `fit` that resumes nothing (into a new directory, or with `run.overwrite`) starts a
    fresh record, so no metric of an earlier run (e.g. its test FID) is kept."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / "metrics.json"
        self._t0: float | None = None
        self._images, self._batches = 0, 0
        self._prev: dict = {}
        self.machine = machine_info()

    def read(self) -> dict:
        record = read_record(self.path)
        if record.get("status") == RunStatus.CORRUPT:  # rewritten from what this process knows
            warnings.warn(f"{record['error']}; starting a new record", stacklevel=2)
            return {}
        return record

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.ckpt_path is None and trainer.is_global_zero:  # a fresh run, not a resumed one
            self.path.unlink(missing_ok=True)
        self._prev = self.read() if trainer.ckpt_path is not None else {}
        self._t0, self._images, self._batches = time.perf_counter(), 0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += batch["photo"].size(0) * trainer.world_size
        self._batches += 1

    def _write(self, trainer, pl_module, status: RunStatus, **extra) -> None:
        if not trainer.is_global_zero:
            return
        data = self.read()
        if self._t0 is not None:
            seconds = self._prev.get("train_seconds", 0.0) + time.perf_counter() - self._t0
            images = self._prev.get("train_images", 0) + self._images
            # batches (iterations), not Lightning's global_step: under manual optimization
            # that counts every optimizer step, two per batch for a G/D system
            batches = self._prev.get("batches", 0) + self._batches
            data.update(
                train_seconds=round(seconds, 3),
                train_images=images,
                batches=batches,
                images_per_second=round(images / seconds, 3) if seconds else None,
                epochs=trainer.current_epoch,
            )
            if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
                data.update(peak_gpu_memory_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1))
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if not isinstance(v, torch.Tensor) or v.numel() == 1
        }
        dm = getattr(trainer, "datamodule", None)
        seeds = {
            "seed_everything": os.environ.get("PL_GLOBAL_SEED"),
            "data": getattr(getattr(dm, "hparams", None), "seed", None),
        }
        data.update(
            status=RunStatus(status).value,  # a plain string on disk, one of the vocabulary
            metrics={**data.get("metrics", {}), **metrics},
            seeds=seeds,
            machine=self.machine,
            **getattr(pl_module, "run_info", {}),
            **extra,
        )
        if status == RunStatus.FINISHED and "error" not in extra:
            data.pop("error", None)  # an interruption the run has since resumed from is over
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True))

    def on_fit_end(self, trainer, pl_module) -> None:
        diverged = getattr(pl_module, "status", None) == RunStatus.DIVERGED
        self._write(trainer, pl_module, RunStatus.DIVERGED if diverged else RunStatus.FINISHED)
        self._t0 = None

    def on_test_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module, self.read().get("status", RunStatus.FINISHED))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException):  # `kill PID`, a scheduler's preemption
            self._write(trainer, pl_module, RunStatus.INTERRUPTED, error="terminated (SIGTERM)")
            return
        status = RunStatus.INTERRUPTED if isinstance(exception, KeyboardInterrupt) else RunStatus.FAILED
        self._write(trainer, pl_module, status, error=f"{type(exception).__name__}: {exception}")
