"""DiffAugment: what D sees is augmented per sample, differentiably; "" changes nothing."""

import pytest
import torch

from cartoonlab.augment import DiffAugment

from .systems.helpers import tiny_cyclegan, tiny_data, trainer


def images(n=6, size=32):
    torch.manual_seed(0)
    return (torch.rand(n, 3, size, size) * 2 - 1).requires_grad_(True)


def test_empty_policy_is_the_identity():
    x = images()
    assert DiffAugment("")(x) is x


def test_unknown_policy_is_named():
    with pytest.raises(ValueError, match="unknown DiffAugment policy zoom"):
        DiffAugment("color,zoom")


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_each_policy_changes_each_sample_its_own_way_and_lets_gradients_through(policy):
    x = images()
    y = DiffAugment(policy)(x)
    assert y.shape == x.shape and y.min() >= -1 - 1e-6 and y.max() <= 1 + 1e-6
    change = (y - x).detach().flatten(1)
    assert (change.abs().amax(1) > 0.05).all(), "every sample is augmented"
    assert not torch.allclose(change[0], change[1]), "each sample draws its own transform"
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0, "G's gradient flows through the augmentation"


def test_cutout_blanks_a_quarter_grey_and_translation_pads_grey():
    x = torch.ones(4, 3, 32, 32)  # white: the inserted grey (0) is easy to count
    cut = DiffAugment("cutout")(x)
    grey = (cut == 0).all(1).float().mean((1, 2))
    assert torch.allclose(grey, torch.full_like(grey, 0.25), atol=0.02), grey
    moved = DiffAugment("translation")(x)
    assert ((moved.abs() < 1e-6).all(1).float().mean((1, 2)) <= 0.25).all(), "at most 1/8 of each side"


def test_cyclegan_trains_with_diffaugment_and_its_d_sees_augmented_images(synth_root, tmp_path, monkeypatch):
    model = tiny_cyclegan(diffaug="translation,cutout")
    seen = []
    original = model.D_Y.forward
    monkeypatch.setattr(model.D_Y, "forward", lambda img: seen.append(img.detach().clone()) or original(img))
    trainer(tmp_path, limit_train_batches=2, limit_val_batches=0).fit(model, tiny_data(synth_root))
    assert seen and all(torch.isfinite(p).all() for p in model.parameters())
    assert any((s == 0).all(1).float().mean() >= 0.2 for s in seen), "D_Y's inputs carry the cutout"
