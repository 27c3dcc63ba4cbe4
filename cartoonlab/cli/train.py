"""`cartoonlab fit|validate|test|predict`: the Lightning CLI over cartoonlab's systems.

    cartoonlab fit --config experiments/base.yaml --config experiments/models/cyclegan.yaml

Any `LightningModule` (`model.class_path`) trains on the shared
`UnpairedImageDataModule` (`data.*`). The `run` group names the run directory
(`run.root/run.name`: config.yaml, metrics.csv, metrics.json, checkpoints/,
samples/) and the W&B settings (offline unless configured and asked for). The
`eval` group configures FID/KID and content scores (`TranslationMetrics`), the
`samples` group the validation and test grids (`SampleGrid`). `--ema_decay D` (0 < D < 1;
default 0: off) keeps an exponential moving average of the weights (Lightning's
`EMAWeightAveraging`; not in the papers, common GAN practice since Karras et al.
2018): validation, the test and every checkpoint's `state_dict` (so `cartoonize`)
use the averaged G; the training weights ride along for `--ckpt_path last`.

Checkpoints are written atomically and `last.ckpt` after every epoch
(`cartoonlab.checkpointing`), so `--ckpt_path last` resumes a killed run from
its last finished epoch. Every checkpoint is loaded with
`torch.load(weights_only=True)` (`--weights_only` defaults to true): one that
holds other pickled objects stops the command with a one-line error.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import yaml
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import EMAWeightAveraging, WeightAveraging
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.trainer.states import TrainerStatus

from cartoonlab.callbacks import PredictionWriter, SampleGrid, TranslationMetrics
from cartoonlab.checkpointing import AtomicCheckpointIO
from cartoonlab.cli.exits import EXIT_OK
from cartoonlab.data import UnpairedImageDataModule
from cartoonlab.distributed import AverageBatchNormStats
from cartoonlab.runs import Progress, RunConfig, RunRecorder, finish_wandb, make_loggers
from cartoonlab.safe_load import NotACheckpointError, read_checkpoint
from cartoonlab.systems.base import scheduled_epochs
from cartoonlab.utils import regular_file


class CartoonLabCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_class_arguments(RunConfig, "run")
        # evaluation callbacks, configured as `eval.*` and `samples.*`
        parser.add_lightning_class_args(TranslationMetrics, "eval")
        parser.add_lightning_class_args(SampleGrid, "samples")
        parser.add_argument(
            "--ema_decay",
            type=float,
            default=0.0,
            help="EMA of the weights for evaluation and checkpoints (e.g. 0.995; 0: off)",
        )

    # Only LightningCLI's public hooks are overridden (`__init__`, `parse_arguments`,
    # `before_instantiate_classes`, `instantiate_trainer`, `after_fit`), so a new Lightning
    # release cannot silently change what `fit` does; tests/cli/test_lightning_contract.py
    # checks it.

    def __init__(self, *args, **kwargs) -> None:
        try:
            super().__init__(*args, **kwargs)
        except SystemExit:  # Lightning ends a Ctrl-C'd run with exit(1), after its graceful shutdown
            trainer = getattr(self, "trainer", None)
            if trainer is not None and trainer.interrupted:
                raise KeyboardInterrupt from None  # the CLI's exit code 130
            raise

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        # Lightning reads a --ckpt_path file's hyperparameters next (torch.load, weights_only=True);
        # a file that is unreadable or not a Lightning checkpoint (a list, a foreign dict) is named first
        section = self.config.get(self.config.get("subcommand") or "", self.config)
        path = section.get("ckpt_path")
        if not (path and Path(path).is_file()):
            return
        state = read_checkpoint(path)
        if "pytorch-lightning_version" not in state:
            raise NotACheckpointError(path, "no pytorch-lightning_version: not written by Lightning")
        trained = (state.get("hyper_parameters") or {}).get("_class_path")
        model = section.get("model")
        wanted = model.get("class_path") if model is not None and hasattr(model, "get") else None
        if trained and wanted and trained != wanted:
            raise ValueError(
                f"{path} is a {trained.rsplit('.', 1)[-1]} checkpoint but the config builds "
                f"{wanted.rsplit('.', 1)[-1]}: give the config it was trained with "
                "(its run's config.yaml) or a checkpoint of this system"
            )

    def _section(self, key: str, default=None):
        """`key` of the running subcommand's instantiated config."""
        config = self.config_init
        return config.get(str(self.subcommand), config).get(key, default)

    def before_instantiate_classes(self) -> None:
        cfg = self.config.get(self.subcommand) if self.subcommand else None
        max_steps = cfg and cfg.get("trainer", {}).get("max_steps")
        if max_steps not in (None, -1):
            raise SystemExit(
                f"cartoonlab: trainer.max_steps={max_steps} is refused: under manual optimization Lightning "
                "counts every optimizer step (2 per batch for a G/D system), so it would train "
                f"{max_steps // 2} batches. Give trainer.max_epochs (with data.epoch_length) or "
                "trainer.limit_train_batches (batches per epoch) instead."
            )
        if self.subcommand == "predict" and not cfg.get("ckpt_path"):
            raise ValueError(
                "predict needs --ckpt_path: a trained run's checkpoint (e.g. "
                "RUN/checkpoints/last.ckpt, or `last` with the run's --run.name); "
                "without one it would translate with an untrained generator"
            )
        if self.subcommand == "fit":
            run = RunConfig(**cfg.run.as_dict())
            # `last` with no last.ckpt is a fresh start too (Lightning warns and trains from scratch)
            if not cfg.get("ckpt_path") or (cfg.ckpt_path == "last" and not run.last_checkpoint.is_file()):
                run.check_fresh_fit()
        trainer = cfg.get("trainer") if cfg is not None else None
        model = cfg.get("model") if cfg is not None else None
        if (
            self.subcommand == "fit"
            and trainer is not None
            and trainer.get("max_epochs") is None
            and trainer.get("max_time") is None
            and hasattr(model, "get")
            and model.get("init_args") is not None
            and model.init_args.get("n_epochs") is not None  # a GANSystem: its schedule says how long
        ):
            schedule = model.init_args
            trainer["max_epochs"] = scheduled_epochs(
                schedule.get("init_epochs") or 0, schedule.n_epochs, schedule.get("n_epochs_decay") or 0
            )
        if cfg is not None and "weights_only" in cfg and cfg["weights_only"] is None:
            cfg["weights_only"] = True  # explicit, whatever torch's default (lightning >= 2.6)

    def instantiate_trainer(self, **kwargs):
        run = self._section("run")
        # `fit` writes the run directory; validate / test / predict on a trained run write
        # their own folder inside it (`<run>/test/`: config.yaml, metrics.csv, metrics.json,
        # samples, predictions) and leave the training files byte-identical
        out = run.dir if self.subcommand == "fit" else run.dir / self.subcommand
        trainer_cfg = self._section("trainer", default={})
        if trainer_cfg.get("logger") in (None, True):
            resume = self.subcommand == "fit" and bool(self.config[self.subcommand].get("ckpt_path"))
            kwargs["logger"] = make_loggers(run, resume=resume, folder=out)
        kwargs.setdefault("default_root_dir", str(out))
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # not a user's own plugin
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        trainer.callbacks.append(RunRecorder(out))
        trainer.callbacks.append(AverageBatchNormStats())
        if self.subcommand == "fit":
            trainer.callbacks.append(Progress(out))
        decay = self._section("ema_decay", default=0.0) or 0.0
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0: off; e.g. 0.995), got {decay}")
        if decay and self.subcommand == "fit":
            trainer.callbacks.append(EMAWeightAveraging(decay=decay))
        if self.subcommand == "predict":
            trainer.callbacks.append(PredictionWriter())
        return trainer

    def after_fit(self) -> None:
        run = self._section("run")
        finished = self.trainer.state.status == TrainerStatus.FINISHED and not self.trainer.interrupted
        if run.test_after_fit and finished:
            # the checkpoint chosen on validation (TranslationMetrics.save_best), else the final weights
            evals = [cb for cb in self.trainer.callbacks if isinstance(cb, TranslationMetrics)]
            chosen, epoch = (
                evals[0].test_checkpoint(self.trainer) if evals else (None, self.trainer.current_epoch - 1)
            )
            if hasattr(self.model, "run_info"):
                self.model.run_info["test_epoch"] = epoch
            # the chosen checkpoint's state_dict holds the averaged weights; with the callback
            # still attached, Lightning would load the training weights kept beside them
            self.trainer.callbacks = [
                cb for cb in self.trainer.callbacks if not isinstance(cb, WeightAveraging)
            ]
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=chosen)


CONFIG_SECTIONS = ("trainer", "model", "data", "run", "eval", "samples", "optimizer", "lr_scheduler")


def check_config_files(args: list[str]) -> None:
    """Refuse a `--config` file that is empty, not YAML, or whose sections are not
    mappings, naming the file and the key (jsonargparse would answer with a usage
    screen or a TypeError about functools.partial)."""
    files = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    files += [b for a, b in zip(args, args[1:]) if a == "--config"]
    for f in files:
        path = regular_file(f)
        if not path.is_file():
            continue  # jsonargparse names a missing file itself
        try:
            cfg = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ValueError(f"config {path} is not valid YAML: {' '.join(str(err).split())}") from err
        if cfg is None:
            raise ValueError(f"config {path} is empty: give settings such as `trainer: {{max_epochs: 10}}`")
        if not isinstance(cfg, dict):
            raise ValueError(
                f"config {path} must be a mapping of sections (trainer, model, data, ...), "
                f"not {type(cfg).__name__}"
            )
        for key in CONFIG_SECTIONS:
            if cfg.get(key) is not None and not isinstance(cfg[key], (dict, str)):  # a str: a class path
                raise ValueError(
                    f"config {path}: `{key}` must be a mapping of its settings, got {cfg[key]!r}"
                )


class _NoAdvert(logging.Filter):
    """Drops Lightning's "Tip: ... try installing litlogger" line, printed on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdvert())


def run_cli(args: list[str] | None = None) -> int:
    """`cartoonlab fit|validate|test|predict ARGS`; its exit code (0: failures raise)."""
    if args:
        check_config_files(args)
    try:
        with warnings.catch_warnings():  # `args` holds sys.argv[1:] when run as `cartoonlab`: no mistake
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            CartoonLabCLI(
                LightningModule,
                UnpairedImageDataModule,
                subclass_mode_model=True,
                args=args,
                save_config_kwargs={"overwrite": True},
                auto_configure_optimizers=False,
                parser_kwargs={"description": __doc__},
            )
    finally:
        finish_wandb()
    return EXIT_OK
