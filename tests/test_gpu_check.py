"""The prepared GPU check (benchmarks/gpu_check.py): its configurations resolve on a CPU,
so a typo cannot waste the few minutes a GPU is lent for."""

import sys
from pathlib import Path

import pytest

from cartoonlab.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
gpu_check = pytest.importorskip("gpu_check")


@pytest.mark.parametrize("system", ["cyclegan", "cartoongan"])
def test_every_configuration_of_the_gpu_check_resolves(system, tmp_path, capsys):
    args, weights = gpu_check.check_args(system, tmp_path, "r", 20, "16-mixed", True, False)
    assert main([*args, "--print_config"]) == 0
    config = capsys.readouterr().out
    assert "image_size: 256" in config and "synthetic_size: 256" in config and "pool_size: 0" in config
    assert "precision: 16-mixed" in config and "channels_last: true" in config
    assert (weights == "-") == (system == "cyclegan")
    if weights.startswith("random"):
        assert "weights: null" in config


@pytest.mark.cuda
def test_fid_and_kid_on_the_gpu_equal_the_cpu():
    """The same features scored on the GPU and the CPU: FID and KID within 0.1 %."""
    import torch

    from cartoonlab.metrics import FIDKID

    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 2048, generator=gen), torch.randn(300, 2048, generator=gen) * 1.2 + 0.1
    scores = {}
    for dev in ("cpu", "cuda"):
        m = FIDKID(kid_subset_size=100).to(dev)
        m.set_reference(real.to(dev))
        m.update(fake.to(dev))
        scores[dev] = {k: float(v) for k, v in m.compute().items() if k in ("fid", "kid")}
    for k in ("fid", "kid"):
        assert abs(scores["cuda"][k] - scores["cpu"][k]) <= 1e-3 * abs(scores["cpu"][k]), (k, scores)


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_a_gan_system_trains_on_the_gpu_in_mixed_precision(precision, tmp_path):
    """A short CartoonGAN fit on the GPU (BatchNorm, both optimizers, the GradScaler's
    skipped steps under 16-mixed) ends finished with finite losses."""
    import json

    from tests.cli.test_fit import fit_args

    args = [
        *fit_args("cartoongan", tmp_path),
        "--trainer.accelerator=gpu",
        f"--trainer.precision={precision}",
    ]
    assert main([*args, "--trainer.max_epochs=2"]) == 0
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "finished" and record["peak_gpu_memory_mb"] > 0


def test_the_gpu_check_refuses_to_run_without_a_gpu(monkeypatch):
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["gpu_check.py"])
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu_check.main()
