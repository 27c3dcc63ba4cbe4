"""Evaluation as callbacks: a system trains, these watch it.

Both read what the systems' `validation_step` / `test_step` return,
`{"fake": G(batch["photo"])}`, and the eval batch itself (see
`UnpairedImageDataModule`). The CLI adds them to every run (`eval.*`, `samples.*`).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torchvision

from cartoonlab.data.batches import EvalBatch
from cartoonlab.data.folders import write_image
from cartoonlab.data.transforms import to_uint8_hwc
from cartoonlab.metrics.backbone import FidBackbone
from cartoonlab.runs import BEST, TEST_FEATURES, TEST_IMAGES
from cartoonlab.utils import atomic_write_text


class TranslationMetrics(L.Callback):
    """Style and content scores of G's translations (`cartoonlab.metrics.translation`).

    - validation split, every `every_n_epochs` epochs (0: never) and at `validate`:
      `val/fid`, `val/kid`, `val/kid_std` against the held-out cartoons and the
      content metrics (`val/ssim_photo`, `val/perc_photo`, ... `val/l1_truth` on
      paired data). The best epoch by `val/fid` is kept in `run_info["best_val"]`
      (and so in `metrics.json`), and with `save_best` its weights in
      `checkpoints/best.ckpt`, which the test after fit (`run.test_after_fit`)
      scores: model selection reads validation, never test. GAN training
      oscillates, so the last epoch is often not the best one.
    - test split, always: `test/fid_cartoon`, `test/kid_cartoon`, `test/fid_photo`,
      `test/kid_photo` (and `kid_std_*`) and the content metrics.

    Args:
        every_n_epochs: validation scores at the end of every N-th epoch.
        backbone: Inception weights: auto | torch-fidelity | fid-helper (see
            `cartoonlab.metrics.load_backbone`).
        save_best: write `best.ckpt` beside `last.ckpt` whenever `val/fid` improves.
    """

    def __init__(
        self, every_n_epochs: int = 1, backbone: FidBackbone = "auto", save_best: bool = True
    ) -> None:
        self.every_n_epochs, self.backbone_name, self.save_best = every_n_epochs, backbone, save_best
        self.scores: dict = {}
        self.best: dict = {}
        self._active = self._improved = False

    @classmethod
    def best_path(cls, trainer) -> Path | None:
        """Where `best.ckpt` lives: beside the run's `last.ckpt` (None without a checkpoint callback)."""
        cb = trainer.checkpoint_callback
        return Path(cb.dirpath) / BEST if cb is not None and cb.dirpath else None

    def test_checkpoint(self, trainer) -> tuple[Path | None, int]:
        """What the test after fit scores: `best.ckpt` and its epoch, else (None, the last epoch)."""
        path = self.best_path(trainer)
        if self.best and path is not None and path.is_file():
            return path, self.best["epoch"]
        return None, trainer.current_epoch - 1

    def on_fit_start(self, trainer, pl_module) -> None:
        path = self.best_path(trainer)
        if trainer.ckpt_path is None and path is not None and trainer.is_global_zero:
            path.unlink(missing_ok=True)  # a fresh run in a reused folder: not the old run's best

    def _scores(self, stage: str):
        if stage not in self.scores:
            from cartoonlab.metrics import load_backbone
            from cartoonlab.metrics.translation import TranslationScores

            backbone = next((s.backbone for s in self.scores.values()), None) or load_backbone(
                self.backbone_name
            )
            refs = ("cartoon", "photo") if stage == "test" else ("cartoon",)
            self.scores[stage] = TranslationScores(backbone, refs, per_image=stage == "test")
        return self.scores[stage]

    def _start(self, trainer, pl_module, stage: str) -> None:
        n = self.every_n_epochs
        self._active = (
            stage == "test"
            or trainer.state.fn == "validate"
            or bool(n and trainer.current_epoch % n == n - 1)
        )
        if self._active:
            self._seen: set[int] = set()
            scores = self._scores(stage)
            scores.load_references(trainer.datamodule, stage, pl_module.device)
            scores.reset()

    def _update(self, pl_module, outputs, batch, stage: str) -> None:
        if self._active:
            self.scores[stage].update(
                outputs["fake"], self._first_seen(pl_module, batch), gather=pl_module.all_gather
            )

    def _first_seen(self, pl_module, batch: EvalBatch) -> EvalBatch:
        """Under DDP, DistributedSampler repeats a few items so that every rank gets as
        many: each dataset index is scored once (its first occurrence over the ranks)."""
        if pl_module.trainer.world_size == 1 or "index" not in batch:
            return batch
        gathered = pl_module.all_gather(batch["index"])  # (world, batch)
        first = []
        for i in gathered.reshape(-1).tolist():
            first.append(i not in self._seen)
            self._seen.add(i)
        mine = torch.tensor(first).reshape(gathered.shape)[pl_module.global_rank]
        return {**batch, "photo_valid": batch["photo_valid"] & mine.to(batch["photo_valid"].device)}

    def _end(self, trainer, pl_module, stage: str) -> dict[str, float]:
        if not self._active:
            return {}
        scores = self.scores[stage]
        res = scores.compute()
        if stage == "val":  # val/fid and val/kid: against cartoons, the only reference
            res = {k.removesuffix("_cartoon"): v for k, v in res.items()}
        pl_module.log_dict({f"{stage}/{k}": v for k, v in res.items()}, sync_dist=False)
        info = getattr(pl_module, "run_info", None)
        if info is not None:
            info.update(fid_backbone=scores.backbone.name, fid_images=dict(scores.counts))
        return res

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, pl_module, "val")

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._update(pl_module, outputs, batch, "val")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        res = self._end(trainer, pl_module, "val")
        self._improved = bool(
            res and trainer.state.fn == "fit" and res["fid"] < self.best.get("fid", float("inf"))
        )
        if self._improved:
            self.best = {"epoch": trainer.current_epoch, **res}
        if self.best and hasattr(pl_module, "run_info"):
            pl_module.run_info["best_val"] = dict(self.best)

    def on_validation_end(self, trainer, pl_module) -> None:
        path = self.best_path(trainer)
        if self._improved and self.save_best and path is not None and not trainer.sanity_checking:
            # full state, said explicitly (Lightning logs a line per save otherwise); atomic
            # (AtomicCheckpointIO); a collective under DDP
            trainer.save_checkpoint(path, weights_only=False)
        self._improved = False

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, pl_module, "test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(pl_module, outputs, batch, "test")

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._end(trainer, pl_module, "test")
        if self._active and trainer.is_global_zero:
            self._write_per_image(trainer, Path(trainer.log_dir or trainer.default_root_dir))

    def _write_per_image(self, trainer, out: Path) -> None:
        """`test_images.csv`: each test photo's content scores (one row per photo file
        name, so that runs pair up per image); `test_features.npy`: the translations'
        Inception features `[N, 2048]` float32 in the same order (FID of resampled test
        sets). Both written atomically."""
        import csv
        import io

        import numpy as np

        index, cols, feats = self.scores["test"].per_image_scores()
        files = getattr(trainer.datamodule, "files", {}).get("photo_test") or []
        names = [Path(files[i]).name if i < len(files) else str(i) for i in index]
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(["image", *cols])
        w.writerows([n, *(f"{cols[k][j]:.6g}" for k in cols)] for j, n in enumerate(names))
        atomic_write_text(out / TEST_IMAGES, text.getvalue())
        buf = io.BytesIO()
        np.save(buf, feats.numpy().astype(np.float32))
        atomic_write_text(out / TEST_FEATURES, buf.getvalue())

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = dict(state_dict.get("best", {}))


class SampleGrid(L.Callback):
    """The first eval batch as a grid: photos, their translations and, on paired data,
    the true cartoons, one row each. Validation: `<run>/samples/epoch_XXXX.png` at every
    validation; test: `<run>/samples/test.png`, the test photos through the G that was
    scored (after fit, the best validation epoch's: `TranslationMetrics`). Written
    atomically, and logged to W&B (`val/samples`, `test/samples`) when it is a logger.

    Args:
        n: photos per grid (0: no grids).
        zoom: enlarge the written grid this many times, nearest neighbour, so that small
            images can be looked at (`make first`: 4, 128 px tiles for 32 px images).
    """

    def __init__(self, n: int = 8, zoom: int = 1) -> None:
        if zoom < 1:
            raise ValueError(f"samples.zoom must be a whole number >= 1, got {zoom}")
        self.n, self.zoom = n, zoom

    def _write(
        self, trainer, outputs, batch, batch_idx: int, dataloader_idx: int, name: str, key: str
    ) -> None:
        if batch_idx or dataloader_idx or not self.n:
            return
        # trainer.log_dir is a collective under DDP: every rank asks for it
        out = Path(trainer.log_dir or trainer.default_root_dir) / "samples"
        if not trainer.is_global_zero:
            return
        n = min(self.n, len(outputs["fake"]))
        rows = [batch["photo"][:n], outputs["fake"][:n]] + ([batch["truth"][:n]] if "truth" in batch else [])
        grid = to_uint8_hwc(
            torchvision.utils.make_grid(
                torch.cat([r.detach().float().cpu() for r in rows]), nrow=n, pad_value=-1
            )
        )
        if self.zoom > 1:
            grid = grid.repeat(self.zoom, axis=0).repeat(self.zoom, axis=1)
        write_image(out / name, grid)
        for lg in trainer.loggers:
            if hasattr(lg, "log_image"):
                lg.log_image(key=key, images=[grid], step=trainer.global_step)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._write(
            trainer,
            outputs,
            batch,
            batch_idx,
            dataloader_idx,
            f"epoch_{trainer.current_epoch:04d}.png",
            "val/samples",
        )

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._write(trainer, outputs, batch, batch_idx, dataloader_idx, "test.png", "test/samples")


class PredictionWriter(L.Callback):
    """`cartoonlab predict`: each translation written to `<run>/predictions/<photo stem>.png`
    (the photos of the predict split, at the evaluation size); the count is printed at
    the end, and a predict that writes nothing fails instead of exiting 0."""

    def __init__(self) -> None:
        self.written: dict[str, str] = {}

    def _dir(self, trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir) / "predictions"

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        for img, src in zip(outputs["cartoon"], outputs["photo_path"]):
            name = Path(src).stem + ".png"
            if name in self.written:
                raise ValueError(
                    f"{self.written[name]} and {src} would both be written to {name}; rename one"
                )
            write_image(self._dir(trainer) / name, to_uint8_hwc(img))
            self.written[name] = src

    def on_predict_end(self, trainer, pl_module) -> None:
        if not self.written:
            raise RuntimeError("predict translated no photo: the predict split (the test photos) is empty")
        print(f"wrote {len(self.written)} translation(s) to {self._dir(trainer)}")
