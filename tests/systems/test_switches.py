"""Behaviour tests of system switches no config used (issue 12): each would fail if its
switch did nothing or did something other than its docstring says."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from cartoonlab.losses import ImagePool

from .helpers import tiny_cartoongan, tiny_cyclegan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Record(L.Callback):
    """Both optimizers' lr at each epoch start, and each training batch's photos."""

    def __init__(self) -> None:
        self.lrs, self.photos = [], []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.lrs.append([o.param_groups[0]["lr"] for o in trainer.optimizers])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.photos.append(batch["photo"].clone())


def fit(system, tmp_path, root, epochs=1, **data_kw):
    """Fit on the tiny data (one batch of 2 per epoch unless told); returns (trainer, record)."""
    rec = Record()
    t = trainer(tmp_path, max_epochs=epochs, callbacks=[rec])
    t.fit(system, tiny_data(root, **{"epoch_length": 2, **data_kw}))
    return t, rec


# ---- lr_milestones / lr_gamma (znxlwm's MultiStep schedule) ----


def test_lr_milestones_multiply_both_rates_by_gamma_at_each_milestone(tmp_path, synth_root):
    s = tiny_cartoongan(lr_milestones=[1, 2, 3], lr_gamma=0.5)
    t, rec = fit(s, tmp_path, synth_root, epochs=3)
    # [g, d] at each epoch start
    assert sum(rec.lrs, []) == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4, 5e-5, 5e-5])
    after = [o.param_groups[0]["lr"] for o in t.optimizers]
    assert after == pytest.approx([2.5e-5, 2.5e-5]), "stepped at the last epoch end too"


def test_lr_milestones_count_from_the_end_of_the_init_phase(tmp_path, synth_root):
    s = tiny_cartoongan(init_epochs=1, init_lr=1e-3, lr_milestones=[1], lr_gamma=0.1)
    _, rec = fit(s, tmp_path, synth_root, epochs=3)
    # init: G at init_lr, D at its own; GAN epoch 0: base rates; GAN epoch 1 (milestone 1): x0.1
    assert sum(rec.lrs, []) == pytest.approx([1e-3, 2e-4, 2e-4, 2e-4, 2e-5, 2e-5])


def test_lr_milestones_reach_cyclegan_optimizers():
    s = tiny_cyclegan(lr_milestones=[2], lr_gamma=0.25)
    opts, schedulers = s.configure_optimizers()
    seen = []
    for _ in range(4):
        seen.append([o.param_groups[0]["lr"] for o in opts])
        for sch in schedulers:
            sch.step()
    assert sum(seen, []) == pytest.approx([2e-4] * 4 + [5e-5] * 4)
    default = tiny_cyclegan()
    assert default.schedule(2e-4, generator=True)(50) == 1.0, "no milestones by default"


# ---- pool_mode (CycleGAN): "swap" (reference) | "sample" (DIYA) ----


def _single(value: float) -> torch.Tensor:
    return torch.full((1, 1, 1, 1), float(value))


def test_sample_pool_returns_stored_images_even_before_it_is_full():
    older = {"swap": 0, "sample": 0}
    for mode in older:
        for seed in range(10):
            pool = ImagePool(size=3, mode=mode, seed=seed)
            for i in range(1, 4):  # filling up
                out = pool.query(_single(i)).item()
                assert out in range(1, i + 1), "always a stored image"
                older[mode] += out < i
            assert len(pool.images) == 3
    assert older["swap"] == 0, "swap: until full, the new image comes back"
    assert older["sample"] > 0, "sample: a random stored one, often an older one"


def test_sample_pool_when_full_stores_the_new_image_and_returns_a_random_stored_one():
    counts = {}
    for mode in ("swap", "sample"):
        pool = ImagePool(size=4, mode=mode, seed=0)
        pool.query(torch.zeros(4, 1, 1, 1))  # full of zeros
        new = 0
        for i in range(1, 401):
            out = pool.query(_single(i)).item()
            stored = {img.item() for img in pool.images}
            assert len(pool.images) == 4
            if mode == "sample":
                assert i in stored, "the new image is always stored"
                assert out in stored, "what comes back is in the pool"
            new += out == i
        counts[mode] = new / 400
    assert 0.4 < counts["swap"] < 0.6, "swap: the new image with p=0.5"
    assert 0.15 < counts["sample"] < 0.35, "sample: the new image only as 1 of the 4 stored"


def test_sample_pool_draws_with_replacement_within_a_batch():
    pool = ImagePool(size=8, mode="sample", seed=0)
    pool.query(torch.arange(8.0).view(8, 1, 1, 1))
    batches = [
        pool.query(torch.arange(100.0, 108.0).view(8, 1, 1, 1) + 10 * k).flatten().tolist() for k in range(5)
    ]
    assert any(len(set(b)) < len(b) for b in batches), "the same stored image can come back twice"


def test_cyclegan_pool_mode_reaches_both_pools_and_training(tmp_path, synth_root):
    s = tiny_cyclegan(pool_size=3, pool_mode="sample")
    assert {p.mode for p in s.pools.values()} == {"sample"}
    assert {p.mode for p in tiny_cyclegan().pools.values()} == {"swap"}, "the reference by default"
    seen, answers = [], []
    s.D_Y.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    pool = s.pools["fake_y"]
    query = pool.query
    pool.query = lambda imgs: answers.append(query(imgs)) or answers[-1]
    t, _ = fit(s, tmp_path, synth_root, smooth="none", epoch_length=4)
    assert torch.isfinite(t.logged_metrics["train/d_y"])
    assert len(pool.images) == 3, "2 steps of 2 fakes: 3 kept"
    # D_Y's calls per step: G(x) in the G step, then real y and the pool's answer in the D step
    assert len(seen) == 3 * len(answers) == 6
    assert all(torch.equal(x, a) for x, a in zip(seen[2::3], answers)), "D judges the pool's answer"


# ---- the content loss: L1 of the features (paper), optionally normalized ----


def test_content_loss_is_the_l1_feature_error(tmp_path, synth_root):
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    s = tiny_cartoongan()
    fa, fb = s.phi(a), s.phi(b)
    assert s.content(s.phi, a, b) == pytest.approx(float((fa - fb).abs().mean()), rel=1e-5)
    norm = tiny_cartoongan(content_normalize=True)
    fa, fb = norm.phi(a), norm.phi(b)
    expected = (fa - fb).abs().mean() / fb.abs().mean()
    assert norm.content(norm.phi, a, b) == pytest.approx(float(expected), rel=1e-5)

    # and in training: the logged init-phase content term is the L1 of G's first step
    torch.manual_seed(1)
    s = tiny_cartoongan(init_epochs=1)
    g0 = copy.deepcopy(s.G).train()
    t, rec = fit(s, tmp_path, synth_root)
    p = rec.photos[0]
    with torch.no_grad():
        fg, fp = s.phi(g0(p)), s.phi(p)
    assert t.logged_metrics["train/g_content"] == pytest.approx(F.l1_loss(fg, fp).item(), rel=1e-4)


# ---- gan_on_probabilities: DIYA's "LSGAN", MSE on sigmoid(D) ----


class ConstantD(torch.nn.Module):
    """A discriminator whose every patch output is one learnable number `b`."""

    def __init__(self, b: float) -> None:
        super().__init__()
        self.b = torch.nn.Parameter(torch.tensor(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b + 0 * x[:, :1, :2, :2]


@pytest.mark.parametrize("on_probabilities", [True, False])
def test_gan_on_probabilities_is_mse_on_sigmoid_outputs(tmp_path, synth_root, on_probabilities):
    s = tiny_cartoongan(gan_mode="lsgan", gan_on_probabilities=on_probabilities)
    s.D = ConstantD(0.7)
    m = fit(s, tmp_path, synth_root)[0].logged_metrics
    b1 = s.D.b.item()  # after D's one step; G's step is judged by it
    assert b1 != pytest.approx(0.7)
    f = torch.sigmoid if on_probabilities else (lambda v: v)
    d0, d1 = f(torch.tensor(0.7)).item(), f(torch.tensor(b1)).item()
    assert m["train/d_real"].item() == pytest.approx((d0 - 1) ** 2, rel=1e-5)
    assert m["train/d_fake"].item() == pytest.approx(d0**2, rel=1e-5)
    assert m["train/d_smooth"].item() == pytest.approx(d0**2, rel=1e-5)
    assert m["train/d_adv"].item() == pytest.approx(((d0 - 1) ** 2 + 2 * d0**2) / 3, rel=1e-5)
    assert m["train/g_adv"].item() == pytest.approx((d1 - 1) ** 2, rel=1e-5)
