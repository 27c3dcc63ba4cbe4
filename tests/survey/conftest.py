"""A results folder with two finished runs (tiny generators) and a CycleGAN-layout dataset."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cartoonlab.nets.generators import ResnetGenerator

CELLS = ("cyclegan", "cartoongan")


def _images(folder, n, seed):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")


@pytest.fixture
def results(tmp_path):
    data = tmp_path / "data"
    for i, split in enumerate(("trainA", "trainB", "valA", "valB", "testA", "testB")):
        _images(data / split, 4 if split.startswith("train") else 6, i)
    out = tmp_path / "results"
    for k, cell in enumerate(CELLS):
        run = out / "runs" / f"{cell}-s0"
        (run / "checkpoints").mkdir(parents=True)
        torch.manual_seed(k)
        net = ResnetGenerator(ngf=4, n_blocks=1)
        torch.save(
            {
                "state_dict": {f"G.{n}": v for n, v in net.state_dict().items()},
                "cartoonlab": {"generator": net.config, "work_side": 16},
            },
            run / "checkpoints" / "best.ckpt",
        )
        (run / "config.yaml").write_text(f"data: {{root: {data}, image_size: 16}}\n")
        (run / "metrics.json").write_text(
            json.dumps({"status": "finished", "metrics": {"test/fid_cartoon": 1.0}})
        )
    return out


@pytest.fixture
def survey(results, tmp_path):
    from cartoonlab.survey.build import build

    return build(results, list(CELLS), 3, tmp_path / "survey", seed=0)
