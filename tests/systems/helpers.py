"""Tiny systems and a CPU trainer for behaviour tests."""

from __future__ import annotations

import lightning as L
import torch

from cartoonlab.data import UnpairedImageDataModule
from cartoonlab.nets import (
    CartoonGANDiscriminator,
    CartoonGANGenerator,
    ContentExtractor,
    PatchGANDiscriminator,
    ResnetGenerator,
)
from cartoonlab.systems import CartoonGAN, CycleGAN


def tiny_cartoongan(**kw) -> CartoonGAN:
    kw = {"init_epochs": 0, **kw}
    return CartoonGAN(
        generator=CartoonGANGenerator(ngf=8, n_blocks=1),
        discriminator=CartoonGANDiscriminator(ndf=4),
        content_net=ContentExtractor(arch="resnet50", layer="layer2", weights=None),
        **kw,
    )


def tiny_cyclegan(**kw) -> CycleGAN:
    return CycleGAN(
        generator=ResnetGenerator(ngf=8, n_blocks=1),
        discriminator=PatchGANDiscriminator(ndf=8, n_layers=2),
        **kw,
    )


def tiny_data(root, **kw) -> UnpairedImageDataModule:
    kw = {"image_size": 32, "batch_size": 2, "num_workers": 0, "epoch_length": 6, **kw}
    return UnpairedImageDataModule(root=str(root), **kw)


def trainer(tmp_path, max_epochs: int = 1, **kw) -> L.Trainer:
    kw = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": max_epochs,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(tmp_path),
        **kw,
    }
    return L.Trainer(**kw)


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def moved(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())
