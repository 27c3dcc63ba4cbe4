"""Checkpoints a killed run can resume from, and that never run code when loaded.

- `LastCheckpoint` writes `last.ckpt` at the end of every `every_n_epochs`-th
  epoch. Lightning's `ModelCheckpoint(save_last=True, save_top_k=0)` writes
  `last.ckpt` only "whenever a checkpoint file gets saved", and with
  `save_top_k=0` none ever is: `last.ckpt` appears only in `on_train_end`, so a
  run killed (SIGKILL, OOM, a preempted node) before the end left nothing, and
  `--ckpt_path last` started again from epoch 0 (checked in Lightning 2.6).
- `AtomicCheckpointIO` writes every checkpoint to a temporary file beside the
  target, fsyncs it and renames it over the target (`os.replace`), so a kill
  during a save leaves the previous checkpoint intact. Lightning's own
  `_atomic_save` goes through an fsspec transaction whose temporary file lives
  in `$TMPDIR`: atomic only when that is on the run directory's filesystem,
  else `shutil.move` copies into the final path in place.
- Loading goes through `torch.load(weights_only=True)` unless a caller passes
  `weights_only=False` explicitly, with the checks of `cartoonlab.safe_load`.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import ModelCheckpoint

from cartoonlab.safe_load import checkpoint_errors
from cartoonlab.utils import atomic_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` with atomic local saves and safe loads (see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        import torch

        path = Path(path)
        if path.parent.is_dir():
            for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a save that was killed
                stale.unlink(missing_ok=True)
        try:
            with atomic_file(path, "wb") as f:
                torch.save(checkpoint, f)
        except (OSError, RuntimeError) as err:  # torch.save: "[enforce fail at inline_container.cc]"
            raise _write_error(path, err) from err

    def load_checkpoint(
        self, path, map_location: Any = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        with checkpoint_errors(path):
            return super().load_checkpoint(
                path, map_location=map_location, weights_only=True if weights_only is None else weights_only
            )


def _write_error(path: Path, err: BaseException) -> OSError:
    """A failed checkpoint write, named: the file, its filesystem's free space and, when that
    is what failed (torch.save says only "enforce fail at inline_container.cc"), a full disk."""
    free = shutil.disk_usage(path.parent).free
    if (isinstance(err, OSError) and err.errno == errno.ENOSPC) or free < 64 * 2**20:
        where = f"{path.parent} ({free / 2**20:.0f} MB free)"
        return OSError(errno.ENOSPC, f"no space left for a checkpoint on the disk of {where}", str(path))
    return OSError(getattr(err, "errno", None) or errno.EIO, f"cannot write checkpoint ({err})", str(path))


class LastCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` that also writes `last.ckpt` (with `save_last`) at the end of
    every `every_n_epochs`-th epoch, whatever `save_top_k` is, so `--ckpt_path last`
    resumes a killed run from its last finished epoch.

    It saves at the end of the training epoch (`save_on_train_epoch_end=True`),
    after validation and after the systems step their LR schedulers by hand in
    `on_train_epoch_end`, so the checkpoint holds the whole epoch; a run resumed
    from it ends with the same weights, LRs and image pools as an uninterrupted
    one (checked with Lightning 2.6.6). With `save_on_train_epoch_end=False` it
    is a plain `ModelCheckpoint`.
    """

    def __init__(self, *args, save_on_train_epoch_end: bool | None = True, **kwargs) -> None:
        super().__init__(*args, save_on_train_epoch_end=save_on_train_epoch_end, **kwargs)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # top-k, and last if a top-k file was saved
        if (
            self.save_last
            and self._every_n_epochs >= 1
            and (trainer.current_epoch + 1) % self._every_n_epochs == 0
            and self._should_save_on_train_epoch_end(trainer)
            and not self._should_skip_saving_checkpoint(trainer)
        ):  # e.g. saved at this step
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
