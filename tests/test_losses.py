import math

import pytest
import torch

from cartoonlab.losses import (
    ContentLoss,
    GANLoss,
    ImagePool,
    gradient_penalty,
    total_variation,
)
from cartoonlab.systems.base import lr_factor


def test_gan_losses_match_their_formulas():
    pred = torch.tensor([[0.0, 2.0]])
    assert GANLoss("lsgan")(pred, True) == pytest.approx(((0 - 1) ** 2 + (2 - 1) ** 2) / 2)
    assert GANLoss("vanilla")(pred, False) == pytest.approx((math.log(2) + math.log(1 + math.e**2)) / 2)
    s = torch.sigmoid(pred)
    assert GANLoss("lsgan", on_probabilities=True)(pred, True) == pytest.approx(float(((s - 1) ** 2).mean()))
    assert GANLoss("hinge")(pred, True) == pytest.approx((1 + 0) / 2)
    assert GANLoss("hinge")(pred, True, for_d=False) == pytest.approx(-1.0)
    assert GANLoss("wgangp")(pred, False) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        GANLoss("bce")


def test_gradient_penalty_zero_for_unit_gradient_critic():
    class Linear(torch.nn.Module):
        def forward(self, x):  # gradient w.r.t. x has norm 1 per sample
            return x.flatten(1)[:, :1]

    real, fake = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    assert gradient_penalty(Linear(), real, fake) == pytest.approx(0.0, abs=1e-6)
    assert gradient_penalty(lambda x: 3 * x.flatten(1)[:, :1], real, fake) == pytest.approx(4.0)


def test_content_loss_is_zero_for_identity_and_no_grad_to_target():
    phi = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert ContentLoss()(phi, x, x) == 0
    y = torch.randn(2, 3, 8, 8, requires_grad=True)
    ContentLoss(normalize=True)(phi, x, y).backward()
    assert x.grad is not None and y.grad is None


def test_pool_reference_semantics():
    pool = ImagePool(size=2, seed=0)
    first = torch.zeros(2, 1, 2, 2)
    assert torch.equal(pool.query(first), first), "until full, the new images come back"
    outs = [pool.query(torch.full((1, 1, 2, 2), float(i))) for i in range(1, 40)]
    assert any(o.sum() == 0 for o in outs), "with p=0.5 a stored (older) image comes back"
    assert any(o.mean() == i for i, o in enumerate(outs, 1)), "or the new one"
    assert torch.equal(ImagePool(0).query(first), first)
    state = pool.state_dict()
    clone = ImagePool(size=2, seed=99)
    clone.load_state_dict(state)
    x = torch.ones(4, 1, 2, 2) * 7
    assert torch.equal(pool.query(x), clone.query(x)), "state (images + RNG) round-trips"


@pytest.mark.parametrize("mode", ["swap", "sample"])
def test_pool_hands_back_a_non_finite_fake_but_never_stores_it(mode):
    pool = ImagePool(size=3, mode=mode, seed=0)
    bad = torch.tensor([float("nan"), float("inf")]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    out = pool.query(torch.cat([torch.zeros(1, 1, 2, 2), bad]))
    assert not torch.isfinite(out).all(), "the overflowed step sees its own fakes (and is skipped)"
    assert len(pool.images) == 1 and all(torch.isfinite(i).all() for i in pool.images)
    later = [pool.query(torch.full((2, 1, 2, 2), float(i))) for i in range(1, 30)]
    assert all(torch.isfinite(o).all() for o in later), "no later step gets the overflow back"


def test_lr_schedule():
    f = dict(init_epochs=2, init_factor=20.0, n_epochs=3, n_epochs_decay=3, milestones=[], gamma=0.1)
    assert [lr_factor(e, **f) for e in range(8)] == pytest.approx([20, 20, 1, 1, 1, 0.75, 0.5, 0.25])
    m = dict(init_epochs=0, init_factor=1.0, n_epochs=100, n_epochs_decay=0, milestones=[2, 4], gamma=0.1)
    assert [lr_factor(e, **m) for e in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_total_variation_is_zero_on_flat_images_and_counts_edges():
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert total_variation(flat) == 0
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1.0  # one vertical edge of height 1: |dx| is 1 in 4 of the 12 horizontal pairs
    assert torch.isclose(total_variation(step), torch.tensor(4 / 12))


def test_a_misspelt_pool_mode_or_a_sigmoid_on_a_critic_is_refused():
    with pytest.raises(ValueError, match="pool_mode must be swap"):
        ImagePool(4, "smaple")
    for mode in ("hinge", "wgangp"):
        with pytest.raises(ValueError, match=f"not {mode}"):
            GANLoss(mode, on_probabilities=True)
