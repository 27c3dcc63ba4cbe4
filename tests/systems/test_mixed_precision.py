"""16-mixed with manual optimization and two optimizers: an overflow skips only its optimizer."""

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
