"""`UnpairedImageDataModule`: the one data pipeline every cartoonlab system trains on."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader

from cartoonlab.data.datasets import EvalDataset, UnpairedSampler, UnpairedTrainDataset
from cartoonlab.data.edges import EdgeParams
from cartoonlab.data.folders import list_images, usable_images
from cartoonlab.data.smoothing import smooth_folder, smooth_path
from cartoonlab.data.synthetic import write_dataset
from cartoonlab.data.transforms import Preset, eval_transform, train_transform
from cartoonlab.utils import cache_dir


def holdout_split(paths: list[Path], root: Path, percent: float) -> tuple[list[Path], list[Path]]:
    """Split into (train, held out): a file is held out when the SHA-1 of its path
    relative to `root` falls in the lowest `percent` of the hash range. The split
    depends only on file names, so it is the same on every machine and run; at
    least one file is held out."""
    def h(p: Path) -> float:
        return int(hashlib.sha1(p.relative_to(root).as_posix().encode()).hexdigest()[:12], 16) / 16**12

    held = {p for p in paths if h(p) < percent / 100}
    if not held and len(paths) > 1:
        held = {min(paths, key=h)}
    return [p for p in paths if p not in held], [p for p in paths if p in held]


class UnpairedImageDataModule(L.LightningDataModule):
    """Unpaired photo / cartoon / edge-smoothed-cartoon batches in [-1, 1].

    Train batches are `{"photo", "cartoon", "cartoon_smooth"}`, each
    `[B, 3, size, size]` float32 (no `cartoon_smooth` when `smooth="none"`).
    Photos and cartoons are drawn independently by a seeded sampler; an epoch has
    `epoch_length` pairs (default `max(#photos, #cartoons)`).

    Where the data come from, in order of precedence:
      - `photo_dir`/`cartoon_dir` (and `photo_test_dir`/`cartoon_test_dir`);
      - `root` in CycleGAN layout: `trainA/` photos, `trainB/` cartoons,
        optional `testA/`, `testB/`;
      - neither: the embedded synthetic dataset, generated on first use under
        `$CARTOONLAB_CACHE/synthetic` (`synthetic_n` images per domain).
    A domain without a test folder holds out `holdout_percent` of its files,
    chosen by a hash of their names (see `holdout_split`) and never trained on.

    Smoothing (`smooth`): `edge` is CartoonGAN's edge promoting, `blur` seed
    001's whole-image Gaussian blur, `none` skips it. The smoothed cartoons are
    computed once into `smooth_dir` (default: a cache folder keyed by the
    cartoon folder and parameters) and reused.
    """

    def __init__(
        self,
        root: str | None = None,
        photo_dir: str | None = None,
        cartoon_dir: str | None = None,
        photo_test_dir: str | None = None,
        cartoon_test_dir: str | None = None,
        image_size: int = 256,
        preset: Preset = "cartoongan",
        smooth: Literal["edge", "blur", "none"] = "edge",
        smooth_dir: str | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = min(4, os.cpu_count() or 1),
        seed: int = 0,
        epoch_length: int | None = None,
        holdout_percent: float = 10.0,
        val_images: int | None = None,
        synthetic_n: int = 1000,
        synthetic_size: int = 128,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.synthetic = root is None and photo_dir is None and cartoon_dir is None
        self._optional_tests: set[str] = set()
        if self.synthetic:
            root = str(cache_dir() / "synthetic" / f"n{synthetic_n}-s{synthetic_size}-seed0")
        if root is not None:
            r = Path(root)
            photo_dir, cartoon_dir = photo_dir or str(r / "trainA"), cartoon_dir or str(r / "trainB")
            # testA/testB are optional: used when they exist at setup time
            self._optional_tests = {k for k, v in (("photo_test", photo_test_dir),
                                                   ("cartoon_test", cartoon_test_dir)) if v is None}
            photo_test_dir = photo_test_dir or str(r / "testA")
            cartoon_test_dir = cartoon_test_dir or str(r / "testB")
        if photo_dir is None or cartoon_dir is None:
            raise ValueError("give `root` (CycleGAN layout) or both `photo_dir` and `cartoon_dir`")
        self.root = root
        self.dirs = {"photo": Path(photo_dir), "cartoon": Path(cartoon_dir),
                     "photo_test": photo_test_dir and Path(photo_test_dir),
                     "cartoon_test": cartoon_test_dir and Path(cartoon_test_dir)}
        self.edge_params = EdgeParams(mode=smooth) if smooth != "none" else None
        if self.edge_params and smooth_dir is None:
            key = f"{self.dirs['cartoon'].resolve()}|{self.edge_params.key()}"
            smooth_dir = str(cache_dir() / "smooth" / hashlib.sha1(key.encode()).hexdigest()[:16])
        self.smooth_dir = smooth_dir and Path(smooth_dir)
        self.files: dict[str, list[Path]] = {}
        self.skipped: dict[Path, str] = {}

    # ---- preparation (rank 0 only): synthetic data and the smoothing cache ----
    def prepare_data(self) -> None:
        if self.synthetic and not (Path(self.root) / ".complete").exists():
            # write aside, then rename: parallel runs never see a half-written dataset
            tmp = f"{self.root}.tmp-{os.getpid()}"
            write_dataset(tmp, n=self.hparams.synthetic_n, size=self.hparams.synthetic_size)
            try:
                os.rename(tmp, self.root)
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        for key in ("photo", "cartoon", "photo_test", "cartoon_test"):
            if self.dirs[key] and key not in self._optional_tests and not self.dirs[key].is_dir():
                raise FileNotFoundError(f"{key} folder not found: {self.dirs[key]}")
        if self.edge_params:
            stats = smooth_folder(self.dirs["cartoon"], self.smooth_dir, self.edge_params)
            if stats.written:
                print(f"cartoonlab: smoothed {stats.written} cartoons into {self.smooth_dir}")

    # ---- setup (every rank): file lists, hold-out, bad-file scan ----
    def setup(self, stage: str | None = None) -> None:
        if self.files:
            return
        for domain in ("photo", "cartoon"):
            paths = list_images(self.dirs[domain])
            test_dir = self.dirs[f"{domain}_test"]
            if test_dir is not None and test_dir.is_dir():
                train, test = paths, list_images(test_dir)
            else:
                train, test = holdout_split(paths, self.dirs[domain], self.hparams.holdout_percent)
            self.files[domain] = self._usable(train, domain)
            self.files[f"{domain}_test"] = self._usable(test, f"{domain} test")
        if self.skipped:
            listed = "\n  ".join(f"{p}: {e}" for p, e in list(self.skipped.items())[:20])
            warnings.warn(f"skipped {len(self.skipped)} unusable image file(s) "
                          f"(run `cartoonlab data check` for details):\n  {listed}", stacklevel=2)
        if self.edge_params:
            root = self.dirs["cartoon"]
            self.files["cartoon_smooth"] = [
                smooth_path(self.smooth_dir, p.relative_to(root).as_posix()) for p in self.files["cartoon"]]
            missing = [p for p in self.files["cartoon_smooth"] if not p.exists()]
            if missing:
                raise FileNotFoundError(f"{len(missing)} smoothed cartoons missing in {self.smooth_dir} "
                                        f"(e.g. {missing[0]}); did prepare_data run?")

    def _usable(self, paths: list[Path], what: str) -> list[Path]:
        good, bad = usable_images(paths)
        self.skipped.update(bad)
        if not good:
            raise ValueError(f"no usable {what} images ({len(paths)} files, {len(bad)} unreadable)")
        return good

    # ---- loaders ----
    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        n_p, n_c = len(self.files["photo"]), len(self.files["cartoon"])
        ds = UnpairedTrainDataset(self.files["photo"], self.files["cartoon"],
                                  self.files.get("cartoon_smooth"), train_transform(hp.preset, hp.image_size))
        sampler = UnpairedSampler(n_p, n_c, hp.epoch_length or max(n_p, n_c), seed=hp.seed)
        return self._loader(ds, hp.batch_size, sampler=sampler, drop_last=True)

    def _eval_loader(self, limit: int | None = None) -> DataLoader:
        photos = self.files["photo_test"][:limit] if limit else self.files["photo_test"]
        ds = EvalDataset(photos, self.files["cartoon_test"], eval_transform(self.hparams.image_size))
        return self._loader(ds, self.hparams.eval_batch_size or self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.hparams.val_images)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader()

    def _loader(self, ds, batch_size: int, **kw) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(ds, batch_size=batch_size, num_workers=workers,
                          persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(), **kw)
