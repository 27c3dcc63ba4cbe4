"""A run resumed at an epoch boundary ends with the same weights as an uninterrupted one."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from .helpers import tiny_cartoongan, tiny_cyclegan, tiny_data, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run(make, root, tmp_path, epochs, ckpt_path=None):
    L.seed_everything(0)
    system = make()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0, every_n_epochs=1)
    t = trainer(tmp_path, max_epochs=epochs, enable_checkpointing=True, callbacks=[ckpt])
    t.fit(system, tiny_data(root, epoch_length=4), ckpt_path=ckpt_path)
    return system, t


@pytest.mark.parametrize(
    "make",
    [
        lambda: tiny_cartoongan(init_epochs=1, pool_size=3, n_epochs=1, n_epochs_decay=2),
        lambda: tiny_cyclegan(pool_size=3, n_epochs=1, n_epochs_decay=2),
    ],
    ids=["cartoongan", "cyclegan"],
)
def test_resume_equals_uninterrupted(make, synth_root, tmp_path):
    straight, _ = run(make, synth_root, tmp_path / "a", epochs=3)
    run(make, synth_root, tmp_path / "b", epochs=2)
    resumed, t = run(make, synth_root, tmp_path / "b", epochs=3, ckpt_path="last")
    assert t.current_epoch == 3
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"
    for name, pool in straight.pools.items():
        assert len(pool.images) == len(resumed.pools[name].images)
        assert all(torch.equal(x, y) for x, y in zip(pool.images, resumed.pools[name].images))
    assert [o.param_groups[0]["lr"] for o in t.optimizers] == pytest.approx(
        [
            g
            for g in (
                straight.optimizers()[0].param_groups[0]["lr"],
                straight.optimizers()[1].param_groups[0]["lr"],
            )
        ]
    )
