"""CartoonGAN (Chen, Lai, Liu; CVPR 2018) as a LightningModule.

Algorithm (paper Sec. 3, author's training code):

    for epoch < init_epochs:                         # initialization phase
        G <- min_G  w_con * L_con(G)                  # content loss only
    then, per batch (p photos, c cartoons, e edge-smoothed cartoons):
        D <- min_D  L_adv(D(c), 1) + L_adv(D(e), 0) + L_adv(D(G(p)), 0)
        G <- min_G  L_adv(D(G(p)), 1) + w_con * L_con(G)
    with L_con = || VGG19_conv4_4(G(p)) - VGG19_conv4_4(p) ||_1 and w_con = 10.
"""

from __future__ import annotations

from typing import Literal

import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from cartoonlab.data.batches import EvalBatch, TrainBatch
from cartoonlab.losses import (
    ContentLoss,
    GANLoss,
    GANMode,
    ImagePool,
    gradient_penalty,
    l1,
    total_variation,
)
from cartoonlab.nets.discriminators import CartoonGANDiscriminator
from cartoonlab.nets.features import ContentExtractor
from cartoonlab.nets.generators import CartoonGANGenerator
from cartoonlab.systems.base import GANSystem, adam


class CartoonGAN(GANSystem):
    """CartoonGAN with every choice of the paper and its ports as a switch.

    Args:
        generator / discriminator / content_net: the networks (injected; default
            the paper's: BatchNorm G, 32-channel patch D, VGG19 conv4_4 ImageNet).
        optimizer_g / optimizer_d: optimizer factories (default Adam 2e-4, beta1 0.5).
        gan_mode: "vanilla" (paper text, default) | "lsgan" (author's code) |
            "hinge" | "wgangp". `gan_on_probabilities`: the DIYA "LSGAN" (MSE on
            sigmoid outputs).
        content_weight: w_con (10, paper). `content_normalize`: divide by the mean
            target feature magnitude (not in the paper; used by the quick profile).
        smooth_weight: weight of the edge-smoothed negatives in D's loss; 0
            disables them (ablation). Batches without "cartoon_smooth" get them
            computed on the fly (kornia, on the batch's device). Which smoothing
            (edge promoting or post 001's whole blur) is the data's `smooth`.
        d_reduction: "mean" of D's terms (author's code, default) | "sum" (DIYA).
        pool_size: history of fakes for D (author's code: 50; paper: none, 0).
        gp_weight / n_critic: WGAN-GP penalty and D steps per G step.
        identity_weight: w_idt of an identity term w_idt * |G(c) - c|_1 on cartoons
            (CycleGAN's, not in CartoonGAN; default 0: off). An absolute weight, unlike
            CycleGAN's `lambda_identity`, which the reference scales by lambda_cycle:
            identity_weight 5 is CycleGAN's lambda_identity 0.5 at lambda_cycle 10. It keeps G able to pass
            shapes through, so the GAN phase cannot paint small objects over.
        tv_weight: w_tv of a total-variation term on G(p) (`losses.total_variation`;
            AnimeGANv2's and White-box Cartoonization's, not in CartoonGAN; default 0:
            off). Not yet measured in this system (docs/real_data_experiments.md).
    """

    injected = (*GANSystem.injected, "content_net")

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        content_net: nn.Module | None = None,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        gan_mode: GANMode = "vanilla",
        gan_on_probabilities: bool = False,
        content_weight: float = 10.0,
        content_normalize: bool = False,
        smooth_weight: float = 1.0,
        d_reduction: Literal["mean", "sum"] = "mean",
        pool_size: int = 0,
        gp_weight: float = 10.0,
        n_critic: int = 1,
        identity_weight: float = 0.0,
        tv_weight: float = 0.0,
        init_epochs: int = 10,
        **kwargs,
    ) -> None:
        super().__init__(init_epochs=init_epochs, **kwargs)
        self.G = generator or CartoonGANGenerator()
        self.D = discriminator or CartoonGANDiscriminator()
        self.phi = content_net or ContentExtractor(arch="vgg19")
        self.optimizer_g, self.optimizer_d = optimizer_g or adam, optimizer_d or adam
        self.gan = GANLoss(gan_mode, on_probabilities=gan_on_probabilities)
        self.content = ContentLoss(normalize=content_normalize)
        self.pools = {"fake": ImagePool(pool_size)}

    def configure_optimizers(self):
        return self.with_schedulers(
            self.optimizer_g(self.G.parameters()), self.optimizer_d(self.D.parameters())
        )

    # ---- the algorithm ----
    def training_step(self, batch: TrainBatch, batch_idx: int) -> None:
        p, c = self.to_memory_format(batch["photo"]), self.to_memory_format(batch["cartoon"])
        opt_g, opt_d = self.optimizers()
        if self.in_init_phase:  # Sec. 3.3: reconstruct content only
            self.init_step(opt_g, p)
        else:
            g_turn = batch_idx % self.hparams.n_critic == 0
            with torch.set_grad_enabled(g_turn):  # no graph for G on critic-only steps
                fake = self.G(p)
            self.d_step(opt_d, c, self.smoothed(batch, c, self.hparams.smooth_weight), fake.detach())
            if g_turn:
                self.g_step(opt_g, p, fake, c)
        self.log_throughput(p.size(0))

    def init_step(self, opt_g, p: torch.Tensor) -> None:
        with self.toggled_optimizer(opt_g):
            terms = {"g_content": self.content(self.phi, self.G(p), p)}
            if self.finite_or_stop(terms):
                self.optimize(opt_g, self.hparams.content_weight * terms["g_content"])
        self.log_terms("train", terms, batch_size=len(p))

    def d_step(self, opt_d, c: torch.Tensor, e: torch.Tensor | None, fake: torch.Tensor) -> None:
        hp = self.hparams
        with self.toggled_optimizer(opt_d):
            fake = self.pools["fake"].query(fake)
            terms = {"d_real": self.gan(self.D(c), True), "d_fake": self.gan(self.D(fake), False)}
            weights = {"d_real": 1.0, "d_fake": 1.0}
            if e is not None:
                terms["d_smooth"], weights["d_smooth"] = self.gan(self.D(e), False), hp.smooth_weight
            loss = sum(weights[k] * v for k, v in terms.items())
            if hp.d_reduction == "mean":
                loss = loss / len(terms)
            if hp.gan_mode == "wgangp":
                terms["d_gp"] = gradient_penalty(self.D, c, fake)
                loss = loss + hp.gp_weight * terms["d_gp"]
            terms["d_adv"] = loss
            if self.finite_or_stop(terms):
                self.optimize(opt_d, loss)
        self.log_terms("train", terms, batch_size=len(fake))

    def g_step(self, opt_g, p: torch.Tensor, fake: torch.Tensor, c: torch.Tensor) -> None:
        hp = self.hparams
        with self.toggled_optimizer(opt_g):
            terms = {
                "g_adv": self.gan(self.D(fake), True, for_d=False),
                "g_content": self.content(self.phi, fake, p),
            }
            terms["g_total"] = terms["g_adv"] + hp.content_weight * terms["g_content"]
            if hp.identity_weight:
                terms["g_identity"] = l1(self.G(c), c)
                terms["g_total"] = terms["g_total"] + hp.identity_weight * terms["g_identity"]
            if hp.tv_weight:
                terms["g_tv"] = total_variation(fake)
                terms["g_total"] = terms["g_total"] + hp.tv_weight * terms["g_tv"]
            if self.finite_or_stop(terms):
                self.optimize(opt_g, terms["g_total"])
        self.log_terms("train", terms, batch_size=len(fake))

    # ---- evaluation ----
    def val_losses(self, batch: EvalBatch, fakes: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"g_content": self.content(self.phi, fakes, self.to_memory_format(batch["photo"]))}
