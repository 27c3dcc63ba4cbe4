import os

import pytest

# Tests never touch the network or the user's cache.
os.environ.setdefault("WANDB_MODE", "offline")


def pytest_collection_modifyitems(config, items):
    """`cuda` tests skip, saying why, where no CUDA device is visible."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: run by benchmarks/gpu_check.py on the GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CARTOONLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small synthetic dataset in CycleGAN layout, made once per session."""
    from cartoonlab.data.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synth"), n=24, size=48, seed=0, n_test=6, workers=1)
