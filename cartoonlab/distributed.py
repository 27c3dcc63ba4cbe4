"""Every DDP rank holds the same model.

DDP averages gradients, so parameters stay identical on every rank; BatchNorm's running
statistics are buffers that each rank updates from its own shard of the batch (DDP only
broadcasts rank 0's buffers before each forward pass, so a checkpoint's statistics would
be rank 0's alone). `AverageBatchNormStats` averages them over the ranks before every
validation and at the end of every training epoch (before `last.ckpt` is written), as
timm's `distribute_bn(reduce=True)` does: validation, checkpoints and `cartoonize` then see
statistics of the whole batch, and every rank is identical. The running variance is the
mean of the ranks' variances (the spread between the ranks' means is left out; both are
moving averages anyway).

Exact alternative, on GPUs only (PyTorch's `SyncBatchNorm` refuses CPU modules):
`--trainer.sync_batchnorm true` normalizes every training batch with the statistics of all
ranks, as one process with the whole batch would, at the cost of one all-reduce per
BatchNorm layer and forward pass. InstanceNorm networks (CycleGAN, the improved
CartoonGAN's G) have no running statistics: nothing to do.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


def batchnorm_buffers(module: nn.Module) -> list[torch.Tensor]:
    """The running means and variances of every BatchNorm layer that keeps them."""
    return [
        t
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not isinstance(m, nn.SyncBatchNorm)
        and m.track_running_stats
        for t in (m.running_mean, m.running_var)
        if t is not None
    ]


class AverageBatchNormStats(L.Callback):
    """Under DDP, BatchNorm running statistics averaged over the ranks (see the module)."""

    def _average(self, trainer, pl_module) -> None:
        if trainer.world_size < 2:
            return
        for t in batchnorm_buffers(pl_module):
            t.copy_(trainer.strategy.reduce(t.clone(), reduce_op="mean"))

    @torch.no_grad()
    def on_validation_start(self, trainer, pl_module) -> None:
        self._average(trainer, pl_module)

    @torch.no_grad()
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._average(trainer, pl_module)
