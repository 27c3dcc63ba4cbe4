import pytest
import torch

from .helpers import moved, params, tiny_cyclegan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fit(system, tmp_path, root, epochs=1, **data_kw):
    t = trainer(tmp_path, max_epochs=epochs)
    t.fit(system, tiny_data(root, **data_kw))
    return t


def test_g_step_moves_g_and_f_only_d_step_moves_ds_only(tmp_path, synth_root, monkeypatch):
    s = tiny_cyclegan()
    monkeypatch.setattr(s, "d_step", lambda *a: None)
    before = {n: params(getattr(s, n)) for n in ("G", "F", "D_X", "D_Y")}
    fit(s, tmp_path, synth_root, smooth="none")
    assert [moved(before[n], getattr(s, n)) for n in ("G", "F", "D_X", "D_Y")] == [True, True, False, False]

    s = tiny_cyclegan()
    monkeypatch.setattr(s, "g_step", lambda *a, **k: None)
    before = {n: params(getattr(s, n)) for n in ("G", "F", "D_X", "D_Y")}
    fit(s, tmp_path, synth_root, smooth="none")
    assert [moved(before[n], getattr(s, n)) for n in ("G", "F", "D_X", "D_Y")] == [False, False, True, True]


def test_f_and_dx_are_independent_copies():
    s = tiny_cyclegan()
    assert type(s.F) is type(s.G) and s.F.config == s.G.config
    assert not torch.equal(next(s.F.parameters()), next(s.G.parameters()))


def test_logged_keys_and_identity_switch(tmp_path, synth_root):
    t = fit(tiny_cyclegan(), tmp_path, synth_root, smooth="none")
    train = {k for k in t.logged_metrics if k.startswith("train/")}
    assert train == {
        f"train/{k}"
        for k in (
            "g_cycle",
            "g_identity",
            "g_adv",
            "g_total",
            "d_x",
            "d_y",
            "d_adv",
            "lr_g",
            "lr_d",
            "images_per_second",
            "epoch_seconds",
        )
    }
    assert "val/g_cycle" in t.logged_metrics
    t = fit(tiny_cyclegan(lambda_identity=0.0), tmp_path, synth_root, smooth="none")
    assert "train/g_identity" not in t.logged_metrics
    s = tiny_cyclegan(lambda_identity=0.0, tv_weight=2.0)  # total variation on G(x) and F(y)
    m = fit(s, tmp_path, synth_root, smooth="none").logged_metrics
    assert m["train/g_tv"] > 0
    assert torch.isclose(
        m["train/g_total"],
        s.hparams.lambda_cycle * m["train/g_cycle"] + m["train/g_adv"] + 2.0 * m["train/g_tv"],
    )


def test_diya_init_phase_and_edge_negatives(tmp_path, synth_root):
    s = tiny_cyclegan(init_epochs=1, smooth_weight=1.0)
    d0 = {n: params(getattr(s, n)) for n in ("D_X", "D_Y")}
    t = fit(s, tmp_path, synth_root)
    assert not moved(d0["D_X"], s.D_X) and not moved(d0["D_Y"], s.D_Y)
    assert "train/g_adv" not in t.logged_metrics
    t = fit(s, tmp_path, synth_root, epochs=2)  # continues into the GAN phase
    assert t.logged_metrics["train/d_smooth"] > 0


def test_wgangp_penalty_changes_the_critic_loss(tmp_path, synth_root):
    torch.manual_seed(0)
    s = tiny_cyclegan(gan_mode="wgangp", gp_weight=10.0)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    with_gp = s.d_loss(s.D_Y, y, y.flip(0))
    s.hparams.gp_weight = 0.0
    torch.manual_seed(0)
    assert with_gp > s.d_loss(s.D_Y, y, y.flip(0))


def test_edge_negatives_computed_on_the_fly_without_cache(tmp_path, synth_root):
    t = fit(tiny_cyclegan(smooth_weight=1.0), tmp_path, synth_root, smooth="none")
    assert t.logged_metrics["train/d_smooth"] > 0


@pytest.mark.parametrize(("preset", "work_side"), [("cyclegan", 36), ("cartoongan", 32)])
def test_evaluation_translates_at_the_training_scale(tmp_path, synth_root, preset, work_side, monkeypatch):
    """The cyclegan preset trains on 32 px crops of images enlarged to 36 px: val/test
    run G at 36 px, so objects have their training size, and score at 32."""
    s = tiny_cyclegan()
    monkeypatch.setattr(s, "val_losses", lambda *a: {})  # G calls in eval mode are then translations only
    seen = []
    s.G.register_forward_hook(lambda m, inp, out: seen.append((m.training, tuple(inp[0].shape[-2:]))))
    t = fit(s, tmp_path, synth_root, smooth="none", preset=preset)
    assert {shape for training, shape in seen if training} == {(32, 32)}
    assert {shape for training, shape in seen if not training} == {(work_side, work_side)}
    out = s.validation_step(next(iter(t.datamodule.val_dataloader())), 0)["fake"]
    assert out.shape[-2:] == (32, 32)
