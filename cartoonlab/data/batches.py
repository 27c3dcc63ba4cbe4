"""The batches `UnpairedImageDataModule` yields: the contract between data, systems and
callbacks. Images are float32 `[B, 3, H, W]` in [-1, 1]; a dataset item has the same keys
without the batch dimension (a bool, an int, a str for the scalars)."""

from __future__ import annotations

from typing import TypedDict

from torch import Tensor


class _TrainPair(TypedDict):
    photo: Tensor
    cartoon: Tensor


class TrainBatch(_TrainPair, total=False):
    """Unpaired training pairs (`UnpairedTrainDataset`)."""

    # the cartoon with its edges smoothed (CartoonGAN's extra negatives); absent with
    # `smooth="none"`, and then the systems that need it compute it on the fly
    cartoon_smooth: Tensor


class _EvalItems(TypedDict):
    photo: Tensor
    cartoon: Tensor
    photo_valid: Tensor  # [B] bool: first occurrence of this photo (metrics count it once)
    cartoon_valid: Tensor  # [B] bool: the same for the cartoon
    photo_path: list[str]  # each photo's file: feature caches and predict's output names
    index: Tensor  # [B] long: the item's index (DDP: drops the items DistributedSampler repeats)


class EvalBatch(_EvalItems, total=False):
    """Validation, test and predict items (`EvalDataset`): item i holds photo i and
    cartoon i, modulo their counts, so the shorter domain repeats."""

    truth: Tensor  # paired data (the synthetic benchmark): the photo's true cartoon
