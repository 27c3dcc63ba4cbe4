from cartoonlab.data.datamodule import UnpairedImageDataModule

__all__ = ["UnpairedImageDataModule"]
