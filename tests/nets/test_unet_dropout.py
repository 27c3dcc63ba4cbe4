"""`UnetGenerator(dropout=...)`: CycleGAN's `--no_dropout` off, i.e. Dropout(0.5) in the
decoder of the `num_downs - 5` intermediate ngf*8 blocks (`networks.UnetGenerator`:
`for i in range(num_downs - 5): UnetSkipConnectionBlock(ngf*8, ngf*8, use_dropout=...)`),
after the block's up-conv and norm, active in training only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cartoonlab.nets import UnetGenerator


def dropouts(net: nn.Module) -> list[tuple[int, nn.Dropout]]:
    """(decoder index, layer) of every Dropout: up[k] is the decoder of depth num_downs-1-k."""
    return [(k, m) for k, up in enumerate(net.up) for m in up if isinstance(m, nn.Dropout)]


def test_no_dropout_by_default_and_deterministic_in_training():
    torch.manual_seed(0)
    net = UnetGenerator(ngf=2, num_downs=5).train()
    assert dropouts(net) == []
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(net(x), net(x))


def test_unet_256_dropout_layers_are_the_references():
    net = UnetGenerator(ngf=2, num_downs=8, dropout=True)
    found = dropouts(net)
    assert [k for k, _ in found] == [1, 2, 3], "decoders of the 3 ngf*8 blocks below the innermost"
    assert all(m.p == 0.5 for _, m in found)
    for k, _ in found:  # after the up-conv and its norm, as in the reference's block
        kinds = [type(m) for m in net.up[k]]
        assert kinds[1] is nn.ConvTranspose2d and kinds[-1] is nn.Dropout
        assert issubclass(kinds[-2], nn.modules.batchnorm._BatchNorm)


def test_dropout_is_random_in_training_and_off_in_eval():
    torch.manual_seed(0)
    net = UnetGenerator(ngf=2, num_downs=8, dropout=True)
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    net.train()
    assert not torch.equal(net(x), net(x)), "a new mask each forward"
    net.eval()
    plain = UnetGenerator(ngf=2, num_downs=8).eval()
    plain.load_state_dict(net.state_dict())  # Dropout has no weights: the same keys
    assert torch.equal(net(x), net(x))
    assert torch.equal(net(x), plain(x)), "in eval the dropout net is the plain net"


@pytest.mark.parametrize("num_downs", [5, 6, 7])
def test_dropout_count_follows_the_reference_for_other_depths(num_downs):
    net = UnetGenerator(ngf=2, num_downs=num_downs, dropout=True)
    assert len(dropouts(net)) == num_downs - 5
