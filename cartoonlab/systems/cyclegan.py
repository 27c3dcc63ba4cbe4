"""CycleGAN (Zhu, Park, Isola, Efros; ICCV 2017) as a LightningModule.

X = photos, Y = cartoons; G: X -> Y, F: Y -> X; D_Y judges cartoons, D_X photos.
Per batch, as in the reference implementation (G step first, then D):

    G, F <- min  L_gan(D_Y(G(x)), 1) + L_gan(D_X(F(y)), 1)
                 + l_cyc (|F(G(x)) - x|_1 + |G(F(y)) - y|_1)
                 + l_cyc l_idt (|G(y) - y|_1 + |F(x) - x|_1)
    D_Y     <- min  0.5 [L_gan(D_Y(y), 1) + L_gan(D_Y(pool(G(x))), 0)]
    D_X     <- min  0.5 [L_gan(D_X(x), 1) + L_gan(D_X(pool(F(y))), 0)]
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from cartoonlab.augment import DiffAugment
from cartoonlab.data.batches import EvalBatch, TrainBatch
from cartoonlab.losses import GANLoss, GANMode, ImagePool, gradient_penalty, l1, total_variation
from cartoonlab.nets.blocks import init_weights
from cartoonlab.nets.discriminators import PatchGANDiscriminator
from cartoonlab.nets.generators import ResnetGenerator
from cartoonlab.systems.base import GANSystem, adam


class CycleGAN(GANSystem):
    """CycleGAN with the reference defaults and the seed posts' variants as switches.

    Args:
        generator / discriminator: G: X->Y and D_Y (injected; default ResNet-9
            InstanceNorm and 70x70 PatchGAN). F and D_X are copies of the same
            architectures with their own random initialization.
        optimizer_g / optimizer_d: one optimizer for G and F, one for D_X and D_Y
            (reference; Adam 2e-4, beta1 0.5).
        gan_mode: "lsgan" (reference, default) | "vanilla" | "hinge" | "wgangp".
        lambda_cycle: 10 (reference). lambda_identity: relative to lambda_cycle
            (reference 0.5, i.e. 5); the DIYA post's absolute 0.5 is 0.05 here.
        pool_size: 50 (reference) or 0; pool_mode: "swap" (reference) | "sample" (DIYA).
        smooth_weight: DIYA's edge-smoothing loss, L_gan(D_Y(e), 0) added to D_Y
            only (weight, 0 = off, default).
        init_epochs: DIYA's init phase: G and F trained on cycle + identity only.
        tv_weight: a total-variation term on G(x) and F(y) (`losses.total_variation`,
            AnimeGANv2's; not in CycleGAN, default 0: off), against the high-frequency
            patterns by which G hides the photo for the cycle: on selfie2anime-mini at
            64 px, weights 2 and 5 made them fainter, not gone (docs/real_data_experiments.md).
        gp_weight / n_critic: WGAN-GP (use `norm: none` in D for a proper critic).
        diffaug: DiffAugment policies applied to every image D_X and D_Y see, real and
            fake (`cartoonlab.augment`; Zhao et al. 2020, not in CycleGAN, default "": off),
            e.g. "color,translation,cutout": for small datasets, where D memorises the
            real images.
    """

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        gan_mode: GANMode = "lsgan",
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        pool_mode: Literal["swap", "sample"] = "swap",
        smooth_weight: float = 0.0,
        gp_weight: float = 10.0,
        n_critic: int = 1,
        init_epochs: int = 0,
        tv_weight: float = 0.0,
        diffaug: str = "",
        **kwargs,
    ) -> None:
        super().__init__(init_epochs=init_epochs, **kwargs)
        self.G = generator or ResnetGenerator()
        self.D_Y = discriminator or PatchGANDiscriminator()
        self.F, self.D_X = _fresh_copy(self.G), _fresh_copy(self.D_Y)
        self.optimizer_g, self.optimizer_d = optimizer_g or adam, optimizer_d or adam
        self.gan = GANLoss(gan_mode)
        self.augment = DiffAugment(diffaug)
        self.pools = {
            "fake_y": ImagePool(pool_size, pool_mode, seed=1),
            "fake_x": ImagePool(pool_size, pool_mode, seed=2),
        }

    def configure_optimizers(self):
        return self.with_schedulers(
            self.optimizer_g([*self.G.parameters(), *self.F.parameters()]),
            self.optimizer_d([*self.D_X.parameters(), *self.D_Y.parameters()]),
        )

    # ---- the algorithm ----
    def training_step(self, batch: TrainBatch, batch_idx: int) -> None:
        x, y = self.to_memory_format(batch["photo"]), self.to_memory_format(batch["cartoon"])
        opt_g, opt_d = self.optimizers()
        g_turn = self.in_init_phase or batch_idx % self.hparams.n_critic == 0
        with torch.set_grad_enabled(g_turn):  # no graph for G, F on critic-only steps
            fake_y, fake_x = self.G(x), self.F(y)
        if self.in_init_phase:  # DIYA: cycle + identity only, no discriminators
            self.g_step(opt_g, x, y, fake_y, fake_x, adversarial=False)
        else:
            if g_turn:
                self.g_step(opt_g, x, y, fake_y, fake_x, adversarial=True)
            self.d_step(
                opt_d,
                x,
                y,
                self.smoothed(batch, y, self.hparams.smooth_weight),
                fake_y.detach(),
                fake_x.detach(),
            )
        self.log_throughput(x.size(0))

    def g_step(self, opt_g, x, y, fake_y, fake_x, adversarial: bool) -> None:
        hp = self.hparams
        with self.toggled_optimizer(opt_g):
            terms = {"g_cycle": l1(self.F(fake_y), x) + l1(self.G(fake_x), y)}
            if hp.lambda_identity:
                terms["g_identity"] = l1(self.G(y), y) + l1(self.F(x), x)
            loss = hp.lambda_cycle * (terms["g_cycle"] + hp.lambda_identity * terms.get("g_identity", 0))
            if hp.tv_weight:
                terms["g_tv"] = total_variation(fake_y) + total_variation(fake_x)
                loss = loss + hp.tv_weight * terms["g_tv"]
            if adversarial:
                terms["g_adv"] = self.gan(self.D_Y(self.augment(fake_y)), True, for_d=False) + self.gan(
                    self.D_X(self.augment(fake_x)), True, for_d=False
                )
                loss = loss + terms["g_adv"]
            terms["g_total"] = loss
            if self.finite_or_stop(terms):
                self.optimize(opt_g, loss)
        self.log_terms("train", terms, batch_size=len(x))

    def d_step(self, opt_d, x, y, e, fake_y, fake_x) -> None:
        with self.toggled_optimizer(opt_d):
            terms = {
                "d_y": self.d_loss(self.D_Y, y, self.pools["fake_y"].query(fake_y)),
                "d_x": self.d_loss(self.D_X, x, self.pools["fake_x"].query(fake_x)),
            }
            if e is not None:
                terms["d_smooth"] = 0.5 * self.gan(self.D_Y(self.augment(e)), False)
            loss = terms["d_y"] + terms["d_x"] + self.hparams.smooth_weight * terms.get("d_smooth", 0)
            terms["d_adv"] = loss
            if self.finite_or_stop(terms):
                self.optimize(opt_d, loss)
        self.log_terms("train", terms, batch_size=len(x))

    def d_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss = 0.5 * (self.gan(D(self.augment(real)), True) + self.gan(D(self.augment(fake)), False))
        if self.hparams.gan_mode == "wgangp":
            loss = loss + self.hparams.gp_weight * gradient_penalty(D, real, fake)
        return loss

    # ---- evaluation ----
    def val_losses(self, batch: EvalBatch, fakes: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = self.to_memory_format(batch["photo"]), self.to_memory_format(batch["cartoon"])
        return {"g_cycle": l1(self.F(fakes), x) + l1(self.G(self.F(y)), y)}


def _fresh_copy(net: nn.Module) -> nn.Module:
    clone = copy.deepcopy(net)
    init_weights(clone)
    return clone
