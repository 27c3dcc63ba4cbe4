"""Engineering switches under manual optimization: 16-mixed skips only the overflowing
optimizer's step; channels_last and compile train the same generator as the default layout."""

import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from .helpers import moved, params, tiny_cyclegan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_fp16_overflow_in_the_g_step_skips_only_g_and_the_scale_recovers(tmp_path, synth_root):
    s = tiny_cyclegan()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    scales, update = [], scaler.update
    scaler.update = lambda *a, **k: (update(*a, **k), scales.append(scaler.get_scale()))
    armed = {"on": True}  # the first G backward overflows: its gradient becomes inf
    next(s.G.parameters()).register_hook(lambda g: g * float("inf") if armed.pop("on", False) else g)

    g0, f0, d0 = params(s.G), params(s.F), params(s.D_Y)
    t = trainer(tmp_path, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    t.fit(s, tiny_data(synth_root, epoch_length=2))  # one batch: G step, then D step
    assert not moved(g0, s.G) and not moved(f0, s.F), "the overflowing G/F step was skipped"
    assert moved(d0, s.D_Y), "D's step in the same batch went through"
    assert scales == [2.0**9, 2.0**10], "halved by G's overflow, grown back after D's good step"
    assert s.status == "running", "an overflow is the scaler's business, not a divergence"

    g1 = params(s.G)
    t = trainer(tmp_path, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    t.fit(s, tiny_data(synth_root, epoch_length=2))
    assert moved(g1, s.G), "the next G step trains again"


def _overflowing_g_loss(s, times: float) -> None:
    """G's adversarial loss is +inf for its first `times` evaluations (a forward overflow)."""
    gan, left = s.gan.forward, {"n": times}

    def forward(pred, real, for_d=True):
        if not for_d and left["n"] > 0:
            left["n"] -= 1
            return torch.tensor(float("inf"))
        return gan(pred, real, for_d=for_d)

    s.gan.forward = forward


def _fp16_trainer(tmp_path):
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)  # the default 2**16 overflows tiny nets
    return trainer(tmp_path, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])


def test_fp16_forward_overflow_skips_that_step_and_persistent_overflow_diverges(tmp_path, synth_root):
    s = tiny_cyclegan()
    _overflowing_g_loss(s, times=1)
    g0, d0 = params(s.G), params(s.D_Y)
    t = _fp16_trainer(tmp_path)
    t.fit(s, tiny_data(synth_root, epoch_length=2))  # one batch: its G step overflows
    assert s.status == "running", "one overflowing forward is skipped, not a divergence"
    assert not moved(g0, s.G) and moved(d0, s.D_Y), "G's step skipped, D's went through"
    g1 = params(s.G)
    t = _fp16_trainer(tmp_path)
    t.fit(s, tiny_data(synth_root, epoch_length=2))
    assert moved(g1, s.G), "the next G step trains"

    s = tiny_cyclegan()
    s.max_skipped_steps = 2
    _overflowing_g_loss(s, times=float("inf"))
    g0 = params(s.G)
    t = _fp16_trainer(tmp_path)
    t.fit(s, tiny_data(synth_root, epoch_length=10))  # 5 batches: G skipped twice, the 3rd stops
    assert s.status == "diverged" and not moved(g0, s.G)
    assert t.global_step == 3, "only D stepped, in 3 of the 5 batches: the run stopped at the 3rd"


def _translate_after(tmp_path, root, batches: int, **switches) -> torch.Tensor:
    """G(x) on a fixed input after `batches` training batches from a seeded init. Outputs,
    not weights: Adam's first steps move every weight by about lr x sign(grad), so the
    biases InstanceNorm cancels (gradient ~0, sign noise) differ without changing G."""
    import lightning as L

    L.seed_everything(0)
    s = tiny_cyclegan(**switches)
    if batches:
        trainer(tmp_path).fit(s, tiny_data(root, epoch_length=2 * batches))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        return s.G.eval()(s.to_memory_format(x)).float()


def _same_generator_as_eager(tmp_path, root, batches: int, **switch) -> None:
    start, eager = _translate_after(tmp_path, root, 0), _translate_after(tmp_path, root, batches)
    other = _translate_after(tmp_path, root, batches, **switch)
    moved = (eager - start).abs().max().item()
    worst = (eager - other).abs().max().item()
    assert moved > 1e-3, f"{batches} batch(es) changed G"
    assert worst < moved / 100, f"{switch}: G(x) differs from eager by {worst:g} (training moved {moved:g})"


def test_channels_last_trains_the_same_generator_as_eager(tmp_path, synth_root):
    _same_generator_as_eager(tmp_path, synth_root, 2, channels_last=True)


def test_compile_trains_the_same_generator_as_eager(tmp_path, synth_root):
    # inductor compiles the four networks forward and backward: about 75 s on a busy 2-core CPU
    from torch._dynamo.utils import counters

    counters.clear()
    _same_generator_as_eager(tmp_path, synth_root, 1, compile=True)
    assert counters["stats"]["unique_graphs"] > 0, "dynamo compiled the networks"
