"""Losses. Weight-free: the systems own the loss weights.

Notation: D(x) are raw discriminator outputs (logits), G the generator,
p a photo, c a cartoon, e an edge-smoothed cartoon.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

GANMode = Literal["vanilla", "lsgan", "hinge", "wgangp"]


class GANLoss(nn.Module):
    """Adversarial loss on patch outputs, `loss(D(x), real, for_d)`.

    - vanilla: BCE on logits, -[t log s(D) + (1-t) log(1-s(D))] (Goodfellow 2014;
      CartoonGAN paper, Eq. 2). The generator uses the non-saturating form.
    - lsgan: (D - t)^2 (Mao et al. 2017; CycleGAN, CartoonGAN author's code).
      `on_probabilities=True` applies a sigmoid first: the DIYA post's "LSGAN"
      (MSE on sigmoid outputs); with vanilla it is their D's sigmoid + BCELoss
      (the same loss, less stable numerically).
    - hinge: D: relu(1 - D) real, relu(1 + D) fake; G: -D (Lim & Ye 2017).
    - wgangp: D: -D real, +D fake; G: -D (Gulrajani et al. 2017); add
      `gradient_penalty` for the critic.
    """

    def __init__(self, mode: GANMode = "lsgan", on_probabilities: bool = False) -> None:
        super().__init__()
        if mode not in ("vanilla", "lsgan", "hinge", "wgangp"):
            raise ValueError(f"unknown GAN mode {mode!r}")
        if on_probabilities and mode in ("hinge", "wgangp"):
            raise ValueError(
                f"on_probabilities (a sigmoid on D's output) is for vanilla and lsgan, not {mode}"
            )
        self.mode, self.on_probabilities = mode, on_probabilities

    def forward(self, pred: torch.Tensor, real: bool, for_d: bool = True) -> torch.Tensor:
        pred = pred.float()  # losses in fp32 under mixed precision
        if self.mode == "vanilla":
            target = torch.full_like(pred, float(real))
            if self.on_probabilities:
                return F.binary_cross_entropy(torch.sigmoid(pred), target)
            return F.binary_cross_entropy_with_logits(pred, target)
        if self.mode == "lsgan":
            x = torch.sigmoid(pred) if self.on_probabilities else pred
            return F.mse_loss(x, torch.full_like(x, float(real)))
        if self.mode == "hinge" and for_d:
            return F.relu(1 - pred).mean() if real else F.relu(1 + pred).mean()
        return -pred.mean() if real else pred.mean()  # wgangp, and hinge for G


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat = a real + (1 - a) fake (WGAN-GP, Eq. 3)."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).float().norm(2, dim=1) - 1) ** 2).mean()


class ContentLoss(nn.Module):
    """L_con = || phi(G(p)) - phi(p) ||_1  (CartoonGAN, Eq. 3), phi a frozen extractor.

    The target features are computed without gradient. `normalize=True` divides by
    the mean |phi(p)| (not in the paper): the loss then has the same scale for any extractor (VGG vs ResNet,
    ImageNet vs random weights), so one content weight fits all.
    """

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, phi: nn.Module, generated: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = phi(source)
        out = phi(generated)
        loss = F.l1_loss(out.float(), target.float())
        if self.normalize:
            loss = loss / target.float().abs().mean().clamp(min=1e-8)
        return loss


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean |dy| + |dx| between neighbouring pixels, per channel (kornia's L1 total
    variation, reduction "mean"). AnimeGANv2 and White-box Cartoonization add a
    total-variation term to G's loss to suppress high-frequency artefacts; theirs
    squares the differences, the L1 form here favours the flat regions of cartoons."""
    import kornia

    return kornia.losses.total_variation(x, reduction="mean").mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cycle ||F(G(x)) - x||_1 and identity ||G(y) - y||_1 losses (CycleGAN, Eq. 2)."""
    return F.l1_loss(a.float(), b.float())


class ImagePool:
    """History of generated images (Shrivastava et al. 2017; CycleGAN's ImagePool).

    `size=0` returns the new images. Otherwise, until full, each new image is
    stored and returned; once full, with p=0.5 a random stored image is returned
    and replaced by the new one ("swap", the reference), else the new image is
    returned. `mode="sample"` is the DIYA reading: store the new image, return a
    random stored one (with replacement). Its own seeded generator and contents
    go into checkpoints via `state_dict`, so a resumed run continues exactly.
    A non-finite image (a 16-mixed forward that overflowed) is returned, so that its
    step sees it and is skipped (`GANSystem.finite_or_stop`), but never stored: the
    history would otherwise hand it back to later steps and make them fail too.
    """

    def __init__(self, size: int = 50, mode: Literal["swap", "sample"] = "swap", seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool_size must be at least 0 (0: no pool), got {size}")
        if mode not in ("swap", "sample"):
            raise ValueError(f"pool_mode must be swap (CycleGAN's) or sample (DIYA's), got {mode!r}")
        self.size, self.mode = size, mode
        self.images: list[torch.Tensor] = []
        self.gen = torch.Generator().manual_seed(seed)

    def _rand(self) -> float:
        return torch.rand((), generator=self.gen).item()

    def _index(self) -> int:
        return int(torch.randint(len(self.images), (), generator=self.gen))

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        finite = torch.isfinite(images.detach().flatten(1)).all(1).tolist()  # one device sync
        for img, ok in zip(images.detach(), finite):
            img = img.unsqueeze(0)
            if not ok:
                out.append(img)
            elif len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img if self.mode == "swap" else self.images[self._index()])
            elif self.mode == "sample":
                self.images[self._index()] = img.clone()
                out.append(self.images[self._index()])
            elif self._rand() > 0.5:
                i = self._index()
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"images": [i.cpu() for i in self.images], "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        self.images = [i.to(device) for i in state["images"]]
        self.gen.set_state(state["gen"])
