import pytest
import torch

from cartoonlab.systems import CartoonGAN, ImprovedCartoonGAN

from .helpers import moved, params, tiny_cartoongan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fit(system, tmp_path, root, epochs=1, **data_kw):
    t = trainer(tmp_path, max_epochs=epochs)
    t.fit(system, tiny_data(root, **data_kw))
    return t


def test_init_phase_trains_g_on_content_only(tmp_path, synth_root):
    s = tiny_cartoongan(init_epochs=1)
    g0, d0 = params(s.G), params(s.D)
    t = fit(s, tmp_path, synth_root)
    assert moved(g0, s.G) and not moved(d0, s.D)
    assert {k for k in t.logged_metrics if k.startswith("train/")} == {
        "train/g_content",
        "train/lr_g",
        "train/lr_d",
        "train/images_per_second",
        "train/epoch_seconds",
    }


def test_d_step_moves_only_d_and_g_step_only_g(tmp_path, synth_root, monkeypatch):
    s = tiny_cartoongan()
    monkeypatch.setattr(s, "g_step", lambda *a: None)
    g0, d0 = params(s.G), params(s.D)
    fit(s, tmp_path, synth_root)
    assert moved(d0, s.D) and not moved(g0, s.G)

    s = tiny_cartoongan()
    monkeypatch.setattr(s, "d_step", lambda *a: None)
    g0, d0 = params(s.G), params(s.D)
    fit(s, tmp_path, synth_root)
    assert moved(g0, s.G) and not moved(d0, s.D)


def test_logged_keys_of_the_gan_phase(tmp_path, synth_root):
    t = fit(tiny_cartoongan(), tmp_path, synth_root)
    terms = {
        "d_real",
        "d_fake",
        "d_smooth",
        "d_adv",
        "g_adv",
        "g_content",
        "g_total",
        "lr_g",
        "lr_d",
        "images_per_second",
        "epoch_seconds",
    }
    assert {k for k in t.logged_metrics if k.startswith("train/")} == {f"train/{k}" for k in terms}
    assert "val/g_content" in t.logged_metrics
    assert all(torch.isfinite(v) for v in t.logged_metrics.values())

    s = tiny_cartoongan(identity_weight=5.0)  # CycleGAN's identity term on cartoons
    m = fit(s, tmp_path, synth_root, epoch_length=2).logged_metrics
    assert m["train/g_identity"] > 0
    assert torch.isclose(
        m["train/g_total"],
        m["train/g_adv"] + s.hparams.content_weight * m["train/g_content"] + 5.0 * m["train/g_identity"],
    )

    s = tiny_cartoongan(tv_weight=2.0)  # AnimeGANv2's total variation on G(p)
    m = fit(s, tmp_path, synth_root, epoch_length=2).logged_metrics
    assert m["train/g_tv"] > 0
    assert torch.isclose(
        m["train/g_total"],
        m["train/g_adv"] + s.hparams.content_weight * m["train/g_content"] + 2.0 * m["train/g_tv"],
    )


def test_frozen_extractor_stays_frozen(tmp_path, synth_root):
    s = tiny_cartoongan()
    s.train()
    assert not s.phi.training and not any(p.requires_grad for p in s.phi.parameters())
    phi0 = {k: v.clone() for k, v in s.phi.state_dict().items()}
    fit(s, tmp_path, synth_root)
    assert not s.phi.training
    assert all(torch.equal(phi0[k], v) for k, v in s.phi.state_dict().items()), "BN stats frozen too"


def test_smoothing_switch_and_reduction(tmp_path, synth_root):
    t = fit(tiny_cartoongan(smooth_weight=0.0), tmp_path, synth_root)
    assert "train/d_smooth" not in t.logged_metrics
    t = fit(tiny_cartoongan(d_reduction="sum"), tmp_path, synth_root, epoch_length=2)
    m = t.logged_metrics
    assert torch.isclose(m["train/d_adv"], m["train/d_real"] + m["train/d_fake"] + m["train/d_smooth"])
    t = fit(tiny_cartoongan(d_reduction="mean"), tmp_path, synth_root, epoch_length=2)
    m = t.logged_metrics
    assert torch.isclose(m["train/d_adv"], (m["train/d_real"] + m["train/d_fake"] + m["train/d_smooth"]) / 3)


def test_smoothed_negatives_computed_on_the_fly_without_cache(tmp_path, synth_root):
    t = fit(tiny_cartoongan(), tmp_path, synth_root, smooth="none")
    assert torch.isfinite(t.logged_metrics["train/d_smooth"])


def test_wgangp_adds_a_nonzero_penalty_and_critic_steps(tmp_path, synth_root):
    s = tiny_cartoongan(gan_mode="wgangp", n_critic=3)
    calls = {"g": 0}
    g_step = s.g_step

    def counting(*a):
        calls["g"] += 1
        g_step(*a)

    s.g_step = counting
    t = fit(s, tmp_path, synth_root)
    assert t.logged_metrics["train/d_gp"] > 0
    assert calls["g"] == 1, "3 batches, 3 critic steps per G step"


def test_divergence_stops_and_keeps_weights(tmp_path, synth_root, monkeypatch):
    s = tiny_cartoongan()
    monkeypatch.setattr(s.gan, "forward", lambda *a, **k: torch.tensor(float("nan")))
    g0, d0 = params(s.G), params(s.D)
    t = fit(s, tmp_path, synth_root, epoch_length=20)
    assert s.status == "diverged" and t.global_step == 0
    assert not moved(g0, s.G) and not moved(d0, s.D)


def test_improved_defaults_are_the_diya_bundle():
    s = ImprovedCartoonGAN(content_net=torch.nn.Identity())
    assert s.hparams.gan_mode == "lsgan"
    assert s.G.config["init_args"]["norm"] == "instance"
    assert s.G.config["init_args"]["activation"] == "leaky_relu"
    assert isinstance(s, CartoonGAN)
