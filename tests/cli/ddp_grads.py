"""`python -m tests.cli.ddp_grads OUT DEVICES BATCH`: one training batch of a tiny CycleGAN
(InstanceNorm, no image pool: nothing depends on the shard) on DEVICES CPU processes with
BATCH images each, the same 8 photo/cartoon pairs in order; rank 0 saves the gradients of
every optimizer step to OUT. Run with (2, B) and (1, 2B), they must agree: DDP averages
gradients, and the mean of two half-batch means is the full batch's mean."""

import sys

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tests.systems.helpers import tiny_cyclegan


class Pairs(Dataset):
    def __init__(self, n: int = 8, size: int = 32) -> None:
        g = torch.Generator().manual_seed(0)
        self.photos = torch.rand(n, 3, size, size, generator=g) * 2 - 1
        self.cartoons = torch.rand(n, 3, size, size, generator=g) * 2 - 1

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"photo": self.photos[i], "cartoon": self.cartoons[i]}


class Gradients(L.Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        named = {id(p): n for n, p in pl_module.named_parameters()}
        grads = {
            named[id(p)]: p.grad.detach().clone()
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        }
        self.steps.append(grads)


def main(out: str, devices: int, batch: int) -> None:
    L.seed_everything(0)
    model = tiny_cyclegan(pool_size=0)
    grads = Gradients()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp_find_unused_parameters_true" if devices > 1 else "auto",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[grads],
        use_distributed_sampler=False,  # Lightning's would shuffle the training set
    )
    # rank r takes images r, r + devices, ...: together the single process's first batch
    sampler = DistributedSampler(Pairs(), num_replicas=devices, rank=trainer.global_rank, shuffle=False)
    trainer.fit(model, DataLoader(Pairs(), batch_size=batch, sampler=sampler))
    if trainer.global_rank == 0:
        torch.save(grads.steps, out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
