"""Unpaired photo / cartoon / edge-smoothed data. `UnpairedImageDataModule` is imported on
first use (PEP 562), so that `cartoonlab data ...` and the folder tools do not pay for
importing Lightning."""

__all__ = ["UnpairedImageDataModule"]


def __getattr__(name: str):
    if name == "UnpairedImageDataModule":
        from cartoonlab.data.datamodule import UnpairedImageDataModule

        return UnpairedImageDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
