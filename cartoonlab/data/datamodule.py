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
from cartoonlab.data.folders import list_images, refuse_unfinished, usable_images
from cartoonlab.data.synthetic import PAIRED_MARKER, write_dataset
from cartoonlab.data.transforms import Preset, eval_transform, load_size, train_transform
from cartoonlab.utils import cache_dir


def holdout_split(
    paths: list[Path], root: Path, percent: float, offset: float = 0.0
) -> tuple[list[Path], list[Path]]:
    """Split into (kept, held out): a file is held out when the SHA-1 of its path
    relative to `root`, as a fraction of the hash range, falls in
    [offset, offset + percent) / 100. The split depends only on file names, so it
    is the same on every machine and run; at least one file is held out."""

    def h(p: Path) -> float:
        # fsencode: the name's own bytes, also for names that are not valid UTF-8
        return (
            int(hashlib.sha1(os.fsencode(p.relative_to(root).as_posix())).hexdigest()[:12], 16) / 16**12
            - offset / 100
        ) % 1.0

    held = {p for p in paths if h(p) < percent / 100}
    if not held and len(paths) > 1:
        held = {min(paths, key=h)}
    return [p for p in paths if p not in held], [p for p in paths if p in held]


def remove_stale_tmp(folder: Path) -> None:
    """Delete the `<name>.tmp-<pid>` datasets in `folder` whose writing process is
    gone (killed mid-write); those of live processes are still being written."""
    for tmp in folder.glob("*.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1]
        if not pid.isdecimal() or int(pid) == 0:
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except (ProcessLookupError, OverflowError):
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


class UnpairedImageDataModule(L.LightningDataModule):
    """Unpaired photo / cartoon / edge-smoothed-cartoon batches in [-1, 1].

    Train batches are `batches.TrainBatch`: `{"photo", "cartoon", "cartoon_smooth"}`,
    each `[B, 3, size, size]` float32 (no `cartoon_smooth` when `smooth="none"`).
    Photos and cartoons are drawn independently by a seeded sampler; an epoch has
    `epoch_length` pairs (default `max(#photos, #cartoons)`).

    Where the data come from, in order of precedence:
      - `photo_dir`/`cartoon_dir` (and `photo_test_dir`/`cartoon_test_dir`);
      - `root` in CycleGAN layout: `trainA/` photos, `trainB/` cartoons,
        optional `valA/`, `valB/`, `testA/`, `testB/`;
      - neither: the embedded synthetic dataset, generated on first use under
        `$CARTOONLAB_CACHE/synthetic` (`synthetic_n` training images per domain;
        `synthetic_test_n` paired test scenes, default a tenth of `synthetic_n`: held-out
        images are free, and a larger test split makes differences between cells
        measurable; the training and validation scenes do not depend on it).
    Three disjoint splits: train, validation (model selection, `val/*`) and test
    (the reported figures, `test/*`). A domain without a test folder holds out
    `holdout_percent` of its files for test, one without a val folder another
    `holdout_percent` for validation, chosen by a hash of their names (see
    `holdout_split`) and never trained on. When `root` holds a `.paired` file
    (the synthetic dataset does), the held-out cartoons are the ground truth of
    the photos of the same name and eval batches carry it as `truth`.

    `val_images`: validate on the first N held-out photos and cartoons only (faster
    model selection; FID's reference set stays every held-out cartoon); None: all.

    Smoothing (`smooth`): `edge` is CartoonGAN's edge promoting, `blur` seed
    001's whole-image Gaussian blur, `none` skips it. It is computed on the
    loader workers from the augmented cartoon, at the training size.

    Eval batches are `batches.EvalBatch`: `{"photo", "cartoon", "photo_valid",
    "cartoon_valid", "photo_path", "index"[, "truth"]}`, at `image_size`; `work_side` is
    the short side at which G saw whole training images, the scale the systems
    translate them at.
    """

    def __init__(
        self,
        root: str | None = None,
        photo_dir: str | None = None,
        cartoon_dir: str | None = None,
        photo_test_dir: str | None = None,
        cartoon_test_dir: str | None = None,
        photo_val_dir: str | None = None,
        cartoon_val_dir: str | None = None,
        image_size: int = 256,
        preset: Preset = "cartoongan",
        smooth: Literal["edge", "blur", "none"] = "edge",
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = min(4, os.cpu_count() or 1),
        seed: int = 0,
        epoch_length: int | None = None,
        holdout_percent: float = 10.0,
        val_images: int | None = None,
        synthetic_n: int = 1000,
        synthetic_size: int = 128,
        synthetic_test_n: int | None = None,
    ) -> None:
        super().__init__()
        least = {
            "image_size": 8,
            "batch_size": 1,
            "eval_batch_size": 1,
            "num_workers": 0,
            "seed": 0,
            "epoch_length": 1,
            "val_images": 1,
            "synthetic_n": 1,
            "synthetic_size": 8,
            "synthetic_test_n": 2,
        }
        for name, low in least.items():
            value = locals()[name]
            if value is not None and value < low:
                raise ValueError(f"data.{name} must be at least {low}, got {value}")
        if not 0 < holdout_percent < 50:
            raise ValueError(
                f"data.holdout_percent must be between 0 and 50 (test and val take it each), "
                f"got {holdout_percent}"
            )
        self.save_hyperparameters()
        self.synthetic = root is None and photo_dir is None and cartoon_dir is None
        self._optional_tests: set[str] = set()
        if self.synthetic:
            tests = f"-t{synthetic_test_n}" if synthetic_test_n is not None else ""
            root = str(cache_dir() / "synthetic" / f"v2-n{synthetic_n}-s{synthetic_size}-seed0{tests}")
        given = {
            "photo": photo_dir,
            "cartoon": cartoon_dir,
            "photo_val": photo_val_dir,
            "cartoon_val": cartoon_val_dir,
            "photo_test": photo_test_dir,
            "cartoon_test": cartoon_test_dir,
        }
        if root is not None:
            r = Path(root)
            # held-out folders from the layout are optional: used when they exist at setup time
            self._optional_tests = {
                k for k, v in given.items() if v is None and k not in ("photo", "cartoon")
            }
            layout = {
                "photo": "trainA",
                "cartoon": "trainB",
                "photo_val": "valA",
                "cartoon_val": "valB",
                "photo_test": "testA",
                "cartoon_test": "testB",
            }
            given = {k: v or str(r / layout[k]) for k, v in given.items()}
        if given["photo"] is None or given["cartoon"] is None:
            raise ValueError("give `root` (CycleGAN layout) or both `photo_dir` and `cartoon_dir`")
        self.root = root
        self.dirs = {k: v and Path(v) for k, v in given.items()}
        _refuse_shared_folders(self.dirs)
        self.edge_params = EdgeParams(mode=smooth) if smooth != "none" else None
        self.paired = False
        self.files: dict[str, list[Path]] = {}
        self.skipped: dict[Path, str] = {}

    # ---- preparation (rank 0 only): the synthetic data ----
    def prepare_data(self) -> None:
        if self.synthetic:
            remove_stale_tmp(Path(self.root).parent)
        if self.synthetic and not (Path(self.root) / ".complete").exists():
            # write aside, then rename: parallel runs never see a half-written dataset
            tmp = f"{self.root}.tmp-{os.getpid()}"
            try:
                n = self.hparams.synthetic_n
                write_dataset(
                    tmp,
                    n=n,
                    size=self.hparams.synthetic_size,
                    n_test=self.hparams.synthetic_test_n,
                    n_val=max(8, n // 10),  # the validation scenes stay those of the default split
                )
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            try:
                os.rename(tmp, self.root)
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        for key, folder in self.dirs.items():
            if folder is None:
                continue
            refuse_unfinished(folder)
            if key not in self._optional_tests and not folder.is_dir():
                if self.hparams.get(f"{key}_dir") is not None:
                    raise FileNotFoundError(f"data.{key}_dir not found: {folder}")
                if not Path(self.root).is_dir():
                    raise FileNotFoundError(f"data.root not found: {self.root}")
                raise FileNotFoundError(
                    f"{key} folder not found: {folder}: data.root is read in the CycleGAN layout "
                    "(trainA/ photos, trainB/ cartoons, optional valA/ valB/ testA/ testB/); move the "
                    "images there, or give data.photo_dir and data.cartoon_dir"
                )

    # ---- setup (every rank): file lists, hold-out, bad-file scan ----
    def setup(self, stage: str | None = None) -> None:
        if self.files:
            return
        pct = self.hparams.holdout_percent
        for domain in ("photo", "cartoon"):
            train, held, source = list_images(self.dirs[domain]), {}, {}
            for split, offset in (("test", 0.0), ("val", pct)):
                folder = self.dirs[f"{domain}_{split}"]
                if folder is not None and folder.is_dir():
                    held[split], source[split] = list_images(folder), (folder, "")
                else:
                    train, held[split] = holdout_split(train, self.dirs[domain], pct, offset=offset)
                    source[split] = (
                        self.dirs[domain],
                        f" held out by name hash (data.holdout_percent={pct})",
                    )
            n_held = sum(len(held[s]) for s, (_, how) in source.items() if how)
            note = (
                f" left after holding out {n_held} for val/test (data.holdout_percent={pct})"
                if n_held
                else ""
            )
            self.files[domain] = self._usable(train, domain, self.dirs[domain], note)
            for split, paths in held.items():
                self.files[f"{domain}_{split}"] = self._usable(paths, f"{domain} {split}", *source[split])
        if self.skipped:
            listed = "\n  ".join(f"{p}: {e}" for p, e in list(self.skipped.items())[:20])
            warnings.warn(
                f"skipped {len(self.skipped)} unusable image file(s) "
                f"(run `cartoonlab data check` for details):\n  {listed}",
                stacklevel=2,
            )
        self.paired = self.root is not None and (Path(self.root) / PAIRED_MARKER).is_file()

    @property
    def work_side(self) -> int:
        return load_size(self.hparams.preset, self.hparams.image_size)

    def truths(self, split: str) -> list[Path] | None:
        """On paired data, the true cartoon of each held-out photo of `split` (same name)."""
        if not self.paired:
            return None
        photos, cartoons = self.dirs[f"photo_{split}"], self.dirs[f"cartoon_{split}"]
        return [cartoons / p.relative_to(photos) for p in self.files[f"photo_{split}"]]

    def _usable(self, paths: list[Path], what: str, folder: Path, note: str = "") -> list[Path]:
        good, bad = usable_images(paths, min_side=self.work_side)
        self.skipped.update(bad)
        if not good:
            why = f", all unreadable (e.g. {next(iter(bad))})" if bad else ""
            raise ValueError(
                f"no usable {what} images in {folder}: {len(paths)} image file(s){note}{why}; "
                f"add images, or see `cartoonlab data check {folder}`"
            )
        return good

    # ---- loaders ----
    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        n_p, n_c = len(self.files["photo"]), len(self.files["cartoon"])
        ds = UnpairedTrainDataset(
            self.files["photo"],
            self.files["cartoon"],
            self.edge_params,
            train_transform(hp.preset, hp.image_size),
            min_side=self.work_side,
        )
        length = hp.epoch_length or max(n_p, n_c)
        if (
            length < hp.batch_size
        ):  # drop_last would make every epoch empty: a "finished" run that never trained
            raise ValueError(
                f"an epoch of {length} photo/cartoon pairs is smaller than one batch of "
                f"{hp.batch_size}: add images, or lower data.batch_size or raise data.epoch_length"
            )
        sampler = UnpairedSampler(n_p, n_c, length, seed=hp.seed)
        return self._loader(ds, hp.batch_size, sampler=sampler, drop_last=True)

    def _eval_loader(self, split: str, limit: int | None = None) -> DataLoader:
        photos, cartoons, truths = (
            self.files[f"photo_{split}"],
            self.files[f"cartoon_{split}"],
            self.truths(split),
        )
        if limit:
            photos, cartoons, truths = photos[:limit], cartoons[:limit], truths and truths[:limit]
        ds = EvalDataset(
            photos, cartoons, eval_transform(self.hparams.image_size), truths, min_side=self.work_side
        )
        return self._loader(ds, self.hparams.eval_batch_size or self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val", self.hparams.val_images)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def _loader(self, ds, batch_size: int, **kw) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            ds,
            batch_size=batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            **kw,
        )


def _refuse_shared_folders(dirs: dict[str, Path | None]) -> None:
    """Two roles given one folder (photos and cartoons, or training and test photos) would
    train on nonsense or test on training images: refused, naming both roles."""
    seen: dict[Path, str] = {}
    for role, folder in dirs.items():
        if folder is None:
            continue
        real = Path(os.path.realpath(folder))
        if real in seen:
            raise ValueError(
                f"data: the {seen[real]} and {role} folders are the same folder ({folder}): give each "
                "its own (photos in trainA/, cartoons in trainB/, ...)"
            )
        seen[real] = role
