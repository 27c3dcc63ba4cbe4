"""`cartoonize` translates at the scale the generator was trained at."""

import torch
from torch import nn

from cartoonlab.inference import translate_at


class Recorder(nn.Module):
    """An identity 'generator' that records the sizes it was run at."""

    stride = 4

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return x


def test_translates_at_the_training_short_side_and_returns_the_input_size():
    net, x = Recorder(), torch.rand(1, 3, 128, 192) * 2 - 1
    y = translate_at(net, x, work_side=32)
    assert net.seen == [(32, 48)], "G runs with the short side at the training size"
    assert y.shape == x.shape, "the output has the input's size"
    smooth = torch.linspace(-1, 1, 128).view(1, 1, 128, 1).expand(1, 3, 128, 192)
    assert (translate_at(net, smooth, 32) - smooth).abs().mean() < 0.02, "resize there and back keeps a smooth image"


def test_native_and_already_at_scale_run_unresized():
    net, x = Recorder(), torch.rand(1, 3, 37, 50) * 2 - 1
    assert torch.equal(translate_at(net, x, None), x)
    assert net.seen == [(40, 52)], "native: only padded to the stride"
    net.seen.clear()
    translate_at(net, torch.zeros(1, 3, 32, 64), 32)
    assert net.seen == [(32, 64)]
