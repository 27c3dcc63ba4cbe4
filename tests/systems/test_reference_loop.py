"""CartoonGAN's GAN phase, bit for bit, against a plain PyTorch loop written from the paper
(Sec. 3: D on cartoons / smoothed cartoons / fakes, then G on adversarial + content) and
CycleGAN's identity and AnimeGANv2's total-variation terms: same initial weights, same
batches, same final weights."""

import copy

import pytest
import torch
import torch.nn.functional as F

from .helpers import tiny_cartoongan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def plain_tv(x):  # mean |dy| + |dx| per image and channel (AnimeGANv2's term, L1), averaged
    dy, dx = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
    return (dy.abs().flatten(-2).mean(-1) + dx.abs().flatten(-2).mean(-1)).mean()


def plain_loop(G, D, phi, batches, w_con: float, w_idt: float, w_tv: float):
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    G.train(), D.train()
    for b in batches:
        p, c, e = b["photo"], b["cartoon"], b["cartoon_smooth"]
        fake = G(p)
        real_out, fake_out, smooth_out = D(c), D(fake.detach()), D(e)
        d_loss = (
            bce(real_out, torch.ones_like(real_out))
            + bce(fake_out, torch.zeros_like(fake_out))
            + bce(smooth_out, torch.zeros_like(smooth_out))
        ) / 3  # the author's mean
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        out = D(fake)
        with torch.no_grad():
            target = phi(p)
        g_loss = (
            bce(out, torch.ones_like(out))
            + w_con * (phi(fake) - target).abs().mean()
            + w_idt * (G(c) - c).abs().mean()
        )
        if w_tv:
            g_loss = g_loss + w_tv * plain_tv(fake)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()


@pytest.mark.parametrize("w_idt, w_tv", [(0.0, 0.0), (5.0, 0.0), (5.0, 2.0)])
def test_cartoongan_gan_phase_equals_a_plain_loop(tmp_path, synth_root, w_idt, w_tv):
    torch.manual_seed(0)
    s = tiny_cartoongan(identity_weight=w_idt, tv_weight=w_tv)
    G0, D0 = copy.deepcopy(s.G), copy.deepcopy(s.D)
    batches, step = [], s.training_step

    def recording(batch, batch_idx):
        batches.append({k: v.clone() for k, v in batch.items() if torch.is_tensor(v)})
        return step(batch, batch_idx)

    s.training_step = recording
    trainer(tmp_path, limit_val_batches=0).fit(s, tiny_data(synth_root))
    assert len(batches) == 3

    def same_as_system(w_con: float) -> bool:
        G, D = copy.deepcopy(G0), copy.deepcopy(D0)
        plain_loop(G, D, s.phi, batches, w_con, w_idt, w_tv)
        pairs = [*zip(s.G.parameters(), G.parameters()), *zip(s.D.parameters(), D.parameters())]
        return all(torch.equal(a, b) for a, b in pairs)

    assert same_as_system(s.hparams.content_weight)
    assert not same_as_system(s.hparams.content_weight + 1.0), "the comparison can fail"
