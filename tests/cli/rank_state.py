"""A test callback: each rank writes its model's parameters and buffers to `<run>/rank<N>.pt`
at the end of fit ("end"), with the state after its last training batch ("last_batch"),
before anything at the epoch's end touched it, so a test can compare the ranks of a DDP run."""

from pathlib import Path

import lightning as L
import torch


def _state(pl_module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}


class RankState(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.last_batch = _state(pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        states = {"end": _state(pl_module), "last_batch": self.last_batch}
        torch.save(states, Path(trainer.default_root_dir) / f"rank{trainer.global_rank}.pt")
