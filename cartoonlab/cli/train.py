"""`cartoonlab fit|validate|test|predict`: the Lightning CLI over cartoonlab's systems.

    cartoonlab fit --config experiments/base.yaml --config experiments/models/cyclegan.yaml

Any `LightningModule` (`model.class_path`) trains on the shared
`UnpairedImageDataModule` (`data.*`). The `run` group names the run directory
(`run.root/run.name`: config.yaml, metrics.csv, metrics.json, checkpoints/,
samples/) and the W&B settings (offline unless configured and asked for).
"""

from __future__ import annotations

from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LightningCLI

from cartoonlab.data import UnpairedImageDataModule
from cartoonlab.runs import RunConfig, RunRecorder, make_loggers


class CartoonLabCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_class_arguments(RunConfig, "run")

    def instantiate_trainer(self, **kwargs):
        run = self._get(self.config_init, "run")
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        if trainer_cfg.get("logger") in (None, True):
            kwargs["logger"] = make_loggers(run)
        kwargs.setdefault("default_root_dir", str(run.dir))
        trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.append(RunRecorder(run.dir))
        return trainer

    def after_fit(self) -> None:
        run = self._get(self.config_init, "run")
        if run.test_after_fit and self.trainer.state.status == "finished" and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule)


def run_cli(args: list[str] | None = None) -> None:
    CartoonLabCLI(
        LightningModule,
        UnpairedImageDataModule,
        subclass_mode_model=True,
        args=args,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={"description": __doc__},
    )
