"""The DIYA post's "improved CartoonGAN": CartoonGAN with four changes at once.

1. InstanceNorm instead of BatchNorm in G;  2. LeakyReLU (slope 0.01) in G;
3. content features from ResNet-101 `layer2` (512 ch, stride 8) instead of
VGG19 conv4_4;  4. LSGAN instead of the log loss.

Each change is also a switch of `CartoonGAN` (G's `norm`/`activation`, the
`content_net`, `gan_mode`), which is how the ablation cells turn them on one at
a time. In the DIYA code D keeps BatchNorm and gains a sigmoid, so their
"LSGAN" is MSE on probabilities: `gan_on_probabilities: true` reproduces it.
"""

from __future__ import annotations

from torch import nn

from cartoonlab.losses import GANMode
from cartoonlab.nets.features import ContentExtractor
from cartoonlab.nets.generators import CartoonGANGenerator
from cartoonlab.systems.cartoongan import CartoonGAN


class ImprovedCartoonGAN(CartoonGAN):
    """`CartoonGAN` whose defaults are the DIYA bundle (see the module docstring)."""

    def __init__(
        self,
        generator: nn.Module | None = None,
        content_net: nn.Module | None = None,
        gan_mode: GANMode = "lsgan",
        **kwargs,
    ) -> None:
        generator = generator or CartoonGANGenerator(norm="instance", activation="leaky_relu", slope=0.01)
        content_net = content_net or ContentExtractor(arch="resnet101", layer="layer2")
        super().__init__(generator=generator, content_net=content_net, gan_mode=gan_mode, **kwargs)
