"""`GANSystem`: the plumbing every cartoonlab system shares, and nothing else.

Manual optimization; one `optimize` helper (zero_grad -> manual_backward ->
clip -> step); learning rates as a pure function of the epoch, stepped by hand
at the end of each epoch (before the epoch-end checkpoint is written);
non-finite losses stop the run as "diverged" without touching the weights;
validation losses; complete checkpoints (pools, RNG states, status, and the
generator's constructor arguments and training size for `cartoonize`).

Evaluation (FID/KID, content metrics, sample grids) is the callbacks' job
(`cartoonlab.callbacks`): `validation_step` and `test_step` return
`{"fake": G(photo)}` for them.
"""

from __future__ import annotations

import random
import time
import warnings

import lightning as L
import torch

from cartoonlab.data.batches import EvalBatch, TrainBatch
from cartoonlab.data.edges import edge_smooth_torch
from cartoonlab.losses import ImagePool
from cartoonlab.runs import RunStatus
from cartoonlab.tiles import translate_at


def adam(params) -> torch.optim.Adam:
    """The default optimizer of both papers: Adam, lr 2e-4, betas (0.5, 0.999)."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


def lr_factor(
    epoch: int,
    init_epochs: int,
    init_factor: float,
    n_epochs: int,
    n_epochs_decay: int,
    milestones: list[int],
    gamma: float,
) -> float:
    """LR multiplier for `epoch`: `init_factor` during the init phase, then constant
    for `n_epochs`, then linear decay to 0 over `n_epochs_decay` (CycleGAN's rule),
    times `gamma` per passed milestone (counted after the init phase)."""
    if epoch < init_epochs:
        return init_factor
    e = epoch - init_epochs
    decay = 1.0 - max(0, e + 1 - n_epochs) / float(n_epochs_decay + 1) if n_epochs_decay else 1.0
    return decay * gamma ** sum(e >= m for m in milestones)


def scheduled_epochs(init_epochs: int, n_epochs: int, n_epochs_decay: int) -> int:
    """The epochs a schedule spans: the init phase, the constant phase, the decay.
    `cartoonlab fit` trains this many when `trainer.max_epochs` is not given."""
    return init_epochs + n_epochs + n_epochs_decay


class GANSystem(L.LightningModule):
    """Base of the systems. Subclasses set `self.G` (used by `cartoonize`),
    `self.pools` ({name: ImagePool}) and implement the steps.

    Args (shared schedule and engineering switches):
        init_epochs: epochs of the initialization phase (generator only).
        init_lr: learning rate of the generator during the init phase.
        n_epochs / n_epochs_decay: constant epochs, then linear decay to 0
            (after the init phase).
        lr_milestones / lr_gamma: multiply the rate by gamma at these epochs
            (znxlwm's MultiStep schedule); empty for none.
        grad_clip: clip each optimizer's gradient norm to this value (0: off).
        channels_last: convert networks and inputs to channels-last memory.
        compile: `torch.compile` the networks (in place; checkpoint keys unchanged).
    """

    # __init__ arguments that are objects, not hyperparameters (a subclass adds its own)
    injected: tuple[str, ...] = ("generator", "discriminator", "optimizer_g", "optimizer_d", "kwargs")
    optimizer_names = ("g", "d")  # the optimizers' order in configure_optimizers, for logging

    def __init__(
        self,
        init_epochs: int = 0,
        init_lr: float = 2e-4,
        n_epochs: int = 100,
        n_epochs_decay: int = 0,
        lr_milestones: list[int] | None = None,
        lr_gamma: float = 0.1,
        grad_clip: float = 0.0,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("init_epochs", init_epochs),
            ("n_epochs", n_epochs),
            ("n_epochs_decay", n_epochs_decay),
        ):
            if value < 0:
                raise ValueError(f"model {name} must be at least 0, got {value}")
        # every __init__ argument up the subclass chain, except injected objects
        self.save_hyperparameters(ignore=list(self.injected))
        self.automatic_optimization = False
        self.pools: dict[str, ImagePool] = {}
        self.status: str = RunStatus.RUNNING
        self.run_info: dict = {}
        self._t_step = self._t_epoch = None
        self._nonfinite_streaks: dict[str, int] = {}  # consecutive non-finite losses per step

    def setup(self, stage: str) -> None:
        size, stride = self._crop_size(), getattr(self.G, "stride", 1)
        if size and size % stride:
            lower, upper = size - size % stride, size + stride - size % stride
            raise ValueError(
                f"data.image_size={size} is not a multiple of the generator's stride {stride} "
                f"(its output would not line up with its input): use {lower or upper} or {upper}"
            )

    # ---- engineering switches ----
    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            for m in self.children():
                if any(p.requires_grad for p in m.parameters()):
                    m.compile()

    def to_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in the memory format the model runs in: channels_last with `channels_last: true`."""
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    # ---- optimization helpers ----
    def schedule(self, base_lr: float, generator: bool):
        hp = self.hparams
        init_factor = hp.init_lr / base_lr if generator else 1.0

        def factor(epoch: int) -> float:
            return lr_factor(
                epoch,
                hp.init_epochs,
                init_factor,
                hp.n_epochs,
                hp.n_epochs_decay,
                list(hp.lr_milestones or []),
                hp.lr_gamma,
            )

        return factor

    def with_schedulers(self, opt_g, opt_d):
        """`configure_optimizers`' return value: both optimizers and their LambdaLRs."""
        for opt, name in ((opt_g, "optimizer_g"), (opt_d, "optimizer_d")):
            if not opt.defaults.get("lr", 1.0) > 0:  # the schedules are factors of it
                raise ValueError(
                    f"model.{name}.init_args.lr must be greater than 0, got {opt.defaults['lr']}"
                )
        schedulers = [
            torch.optim.lr_scheduler.LambdaLR(o, self.schedule(o.defaults["lr"], generator=g))
            for o, g in ((opt_g, True), (opt_d, False))
        ]
        return [opt_g, opt_d], schedulers

    @property
    def in_init_phase(self) -> bool:
        return self.current_epoch < self.hparams.init_epochs

    def smoothed(self, batch: TrainBatch, cartoons: torch.Tensor, weight: float) -> torch.Tensor | None:
        """Edge-smoothed cartoons for D when their loss `weight` is not 0: the batch's
        (cached by the DataModule), else computed on the fly on the batch's device."""
        if not weight:
            return None
        if "cartoon_smooth" in batch:
            return self.to_memory_format(batch["cartoon_smooth"])
        return edge_smooth_torch(cartoons)

    def optimize(self, opt, loss: torch.Tensor) -> None:
        """zero_grad -> manual_backward -> (clip) -> step, for one optimizer."""
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.hparams.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        opt.step()

    # under a gradient scaler (16-mixed), this many consecutive non-finite losses of one step
    # (G's or D's) are skipped like an overflowing backward before the run counts as diverged
    max_skipped_steps = 10

    def finite_or_stop(self, losses: dict[str, torch.Tensor]) -> bool:
        """True if every loss is finite. Otherwise False: the caller skips its optimizer's step.
        In fp32 and bf16 the run then stops as "diverged". Under 16-mixed a forward pass can
        overflow fp16 once without the weights being lost, so the step is only skipped, as
        the gradient scaler skips an overflowing backward; the run stops after
        `max_skipped_steps` consecutive skips of the same step."""
        bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
        step = next(iter(losses), "")  # the first term names the step (g_..., d_...)
        streaks = self._nonfinite_streaks
        streaks[step] = streaks.get(step, 0) + 1 if bad else 0
        if not bad:
            return True
        where = f"non-finite {', '.join(bad)} at epoch {self.current_epoch}, step {self.global_step}"
        scaled = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        if scaled and streaks[step] <= self.max_skipped_steps:
            self.print(f"cartoonlab: {where}: step skipped ({streaks[step]} in a row; fp16 overflow)")
            return False
        self.status = RunStatus.DIVERGED
        self.print(f"cartoonlab: {where}: stopping (status: diverged); weights are the last good ones")
        self.trainer.should_stop = True
        return False

    def log_terms(self, stage: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        on_step = stage == "train"
        self.log_dict(
            {f"{stage}/{k}": v.detach().float() for k, v in terms.items()},
            on_step=on_step,
            on_epoch=not on_step,
            sync_dist=not on_step,
            batch_size=batch_size,
        )

    def log_throughput(self, batch_size: int) -> None:
        """Log throughput (images/s over all ranks)."""
        now = time.perf_counter()
        if self._t_step is not None:
            ips = batch_size * self.trainer.world_size / (now - self._t_step)
            self.log("train/images_per_second", ips, on_step=True, on_epoch=False, batch_size=batch_size)
        self._t_step = now

    # ---- hooks ----
    def on_train_epoch_start(self) -> None:
        self._t_epoch, self._t_step = time.perf_counter(), None
        for i, opt in enumerate(self.optimizers()):
            self.log(
                f"train/lr_{self.optimizer_names[i]}", opt.param_groups[0]["lr"], on_epoch=True, on_step=False
            )

    def on_train_epoch_end(self) -> None:
        # by hand, before ModelCheckpoint's epoch-end save (monitoring callbacks run last)
        with warnings.catch_warnings():  # D's optimizer has not stepped yet in the init phase
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            for sch in self.lr_schedulers() or []:
                sch.step()
        if self._t_epoch is not None:
            self.log("train/epoch_seconds", time.perf_counter() - self._t_epoch, on_epoch=True, on_step=False)

    # ---- evaluation: G's translations for the callbacks, and validation losses ----
    def val_losses(self, batch: EvalBatch, fakes: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def translate(self, photo: torch.Tensor) -> torch.Tensor:
        """G(photo) at the scale G was trained at (the data's `work_side`: the
        `cyclegan` preset crops from images enlarged by 286/256, so its objects are
        that much larger in training), returned at the photo's size. `cartoonize`
        does the same from the checkpoint's `work_side`."""
        return translate_at(self.G, self.to_memory_format(photo), self._work_side())

    def validation_step(self, batch: EvalBatch, batch_idx: int) -> dict:
        fakes = self.translate(batch["photo"])
        self.log_terms("val", self.val_losses(batch, fakes), batch_size=len(fakes))
        return {"fake": fakes}

    def test_step(self, batch: EvalBatch, batch_idx: int) -> dict:
        return {"fake": self.translate(batch["photo"])}

    def predict_step(self, batch: EvalBatch, batch_idx: int) -> dict:
        return {
            "cartoon": self.translate(batch["photo"]).float().clamp(-1, 1),
            "photo_path": batch.get("photo_path"),
        }

    # ---- complete checkpoints ----
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["cartoonlab"] = {
            "generator": self.G.config if hasattr(self.G, "config") else None,
            "generator_prefix": "G.",
            "work_side": self._work_side(),
            "status": str(self.status),  # a plain str: checkpoints load with weights_only=True
            "pools": {k: p.state_dict() for k, p in self.pools.items()},
            "rng": {
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }

    def _datamodule(self):
        return getattr(self._trainer, "datamodule", None) if self._trainer else None

    def _crop_size(self) -> int | None:
        """The side of G's training crops."""
        return getattr(getattr(self._datamodule(), "hparams", None), "image_size", None)

    def _work_side(self) -> int | None:
        """The short side of whole images in training (`cartoonize` translates at this
        scale; None without a datamodule: as is)."""
        return getattr(self._datamodule(), "work_side", None)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._check_shapes(checkpoint.get("state_dict", {}))
        state = checkpoint.get("cartoonlab", {})
        self.status = state.get("status", RunStatus.RUNNING)
        for k, s in state.get("pools", {}).items():
            self.pools[k].load_state_dict(s, self.device)
        if "rng" in state:
            torch.set_rng_state(state["rng"]["torch"])
            random.setstate(state["rng"]["python"])
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def _check_shapes(self, weights: dict) -> None:
        """Name a checkpoint whose networks differ from the config's, before Lightning's
        `load_state_dict` answers with a screen of tensor sizes."""
        own = self.state_dict()
        wrong = [k for k, v in weights.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            path = getattr(self._trainer, "ckpt_path", None) if self._trainer else None
            k = wrong[0]
            where = f" {path}" if path else ""
            raise ValueError(
                f"checkpoint{where} does not fit the configured {type(self).__name__}: {len(wrong)} "
                f"tensor(s) differ in shape (e.g. {k}: {tuple(weights[k].shape)} in the checkpoint, "
                f"{tuple(own[k].shape)} configured); give the config it was trained with (its run's "
                "config.yaml)"
            )
