"""Run bookkeeping: loggers that never block, and `metrics.json` in the run directory."""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger, Logger

from cartoonlab.utils import atomic_write_text, check_name

# A run's status in metrics.json. "corrupt" is never written: `read_record` reports a
# metrics.json it cannot use that way, so one bad file never stops a whole matrix.
Status = Literal["running", "finished", "diverged", "interrupted", "failed", "corrupt"]
STATUSES: tuple[str, ...] = Status.__args__
DONE_METRIC = "test/fid_cartoon"  # a run with test scores is done
_NUMBER = (int, float)
_FIELDS = {"status": str, "error": str, "train_seconds": _NUMBER, "train_images": int, "batches": int,
           "epochs": int, "images_per_second": (*_NUMBER, type(None)), "metrics": dict, "best_val": dict}


def read_record(path: str | Path) -> dict:
    """A run's metrics.json; {} when there is none. Never raises: an unreadable, truncated
    or foreign file, or one with wrong types, reads as `{"status": "corrupt", "error": ...}`
    naming the file, so the caller marks that run and goes on."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {"status": "corrupt", "error": f"unreadable {path}: {type(e).__name__}: {e}"}
    if not isinstance(data, dict):
        return {"status": "corrupt", "error": f"{path} is not a JSON object"}
    bad = [k for k, t in _FIELDS.items() if k in data and (not isinstance(data[k], t) or data[k] is True)]
    bad += ["status"] if data.get("status") not in STATUSES else []
    metrics = data.get("metrics", {})
    if isinstance(metrics, dict):
        bad += [f"metrics.{k}" for k, v in metrics.items() if not isinstance(v, _NUMBER) or isinstance(v, bool)]
    if bad:
        return {"status": "corrupt", "error": f"{path}: unexpected value for {', '.join(sorted(set(bad)))}"}
    return data


def is_done(record: dict) -> bool:
    """Done: diverged (rerunning would diverge again), or finished with test scores."""
    status = record.get("status")
    return status == "diverged" or (status == "finished" and DONE_METRIC in record.get("metrics", {}))


def scored_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a finished run's test figures come from: `checkpoints/best.ckpt`
    (best validation FID, `callbacks.TranslationMetrics`) when it exists, else `last.ckpt`."""
    best = Path(run_dir) / "checkpoints" / "best.ckpt"
    return best if best.is_file() else Path(run_dir) / "checkpoints" / "last.ckpt"


@dataclass
class RunConfig:
    """Where a run lives and how it is tracked.

    Args:
        name: run name; the run directory is `root/name`.
        root: parent of run directories.
        project / group / tags: W&B project, group and tags.
        wandb: "offline" (default: writes `root/name/wandb/offline-run-*`, never
            touches the network), "online" (only if W&B credentials are
            configured; else falls back to offline with a warning), "disabled".
        test_after_fit: run `test` on the final weights at the end of `fit`
            (one process for a whole ablation cell).
    """

    name: str = "run"
    root: str = "runs"
    project: str = "cartoonlab"
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    wandb: Literal["offline", "online", "disabled"] = "offline"
    test_after_fit: bool = False

    def __post_init__(self) -> None:
        check_name(self.name, "run.name")

    @property
    def dir(self) -> Path:
        return Path(self.root) / self.name


def _wandb_credentials() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return bool(os.environ.get("WANDB_API_KEY")) or (netrc.exists() and "api.wandb.ai" in netrc.read_text())


def _csv_logger(run: RunConfig, resume: bool) -> CSVLogger:
    """Lightning's CSV logger deletes an existing `metrics.csv` when it starts; a resumed
    run keeps its earlier rows and appends to them."""
    path = run.dir / "metrics.csv"
    kept = path.read_text() if resume and path.is_file() else None
    logger = CSVLogger(save_dir=run.root, name=run.name, version="")
    if kept and rank_zero_only.rank == 0:
        writer = logger.experiment  # created now: it removes the file
        atomic_write_text(path, kept)
        writer.metrics_keys = next(csv.reader([kept.splitlines()[0]]), [])
    return logger


def make_loggers(run: RunConfig, resume: bool = False) -> list[Logger]:
    """A CSV logger (always; its directory is the run directory; appended to when
    `resume`) and W&B (unless disabled)."""
    loggers: list[Logger] = [_csv_logger(run, resume)]
    if run.wandb == "disabled":
        return loggers
    online = run.wandb == "online"
    if online and not _wandb_credentials():
        warnings.warn("W&B online mode asked for but no credentials are configured "
                      "(WANDB_API_KEY or ~/.netrc): logging offline instead", stacklevel=2)
        online = False
    if not online:
        os.environ["WANDB_MODE"] = "offline"  # also for wandb's service process: never prompt
    from lightning.pytorch.loggers import WandbLogger

    run.dir.mkdir(parents=True, exist_ok=True)
    import wandb

    # no system-stats thread, no pip freeze / git / console capture: seconds saved per run
    settings = wandb.Settings(x_disable_stats=True, x_disable_meta=True, x_save_requirements=False,
                              disable_git=True, console="off", silent=True)
    loggers.append(WandbLogger(name=run.name, project=run.project, group=run.group, tags=run.tags or None,
                               save_dir=str(run.dir), offline=not online, settings=settings))
    return loggers


class RunRecorder(L.Callback):
    """Writes `metrics.json` (atomically) in the run directory at the end of fit and
    test, and when a run fails: status (finished | diverged | interrupted |
    failed), epochs, steps, training seconds, images/s, peak GPU memory (on CUDA) and
    the last metrics.
    Training time and image counts add up across resumed runs (`--ckpt_path`);
    a `fit` that resumes nothing starts a fresh record, even in a reused run
    directory, so no metric of an earlier run (e.g. its test FID) is kept."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / "metrics.json"
        self._t0, self._images, self._batches, self._prev = None, 0, 0, {}

    def read(self) -> dict:
        record = read_record(self.path)
        if record.get("status") == "corrupt":  # rewritten from what this process knows
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

    def _write(self, trainer, pl_module, status: Status, **extra) -> None:
        if not trainer.is_global_zero:
            return
        data = self.read()
        if self._t0 is not None:
            seconds = self._prev.get("train_seconds", 0.0) + time.perf_counter() - self._t0
            images = self._prev.get("train_images", 0) + self._images
            # batches (iterations), not Lightning's global_step: under manual optimization
            # that counts every optimizer step, two per batch for a G/D system
            batches = self._prev.get("batches", 0) + self._batches
            data.update(train_seconds=round(seconds, 3), train_images=images, batches=batches,
                        images_per_second=round(images / seconds, 3) if seconds else None,
                        epochs=trainer.current_epoch)
            if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
                data.update(peak_gpu_memory_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if not isinstance(v, torch.Tensor) or v.numel() == 1}
        dm = getattr(trainer, "datamodule", None)
        seeds = {"seed_everything": os.environ.get("PL_GLOBAL_SEED"),
                 "data": getattr(getattr(dm, "hparams", None), "seed", None)}
        data.update(status=status, metrics={**data.get("metrics", {}), **metrics}, seeds=seeds,
                    **getattr(pl_module, "run_info", {}), **extra)
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True))

    def on_fit_end(self, trainer, pl_module) -> None:
        diverged = getattr(pl_module, "status", None) == "diverged"
        self._write(trainer, pl_module, "diverged" if diverged else "finished")
        self._t0 = None

    def on_test_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module, self.read().get("status", "finished"))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException):  # `kill PID`, a scheduler's preemption
            self._write(trainer, pl_module, "interrupted", error="terminated (SIGTERM)")
            return
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self._write(trainer, pl_module, status, error=f"{type(exception).__name__}: {exception}")
