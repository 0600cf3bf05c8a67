"""Offline GAN training of every variant: ``python -m scmis_core.train``.

The loop of docs/design.md §1: per step one D update (eq. 2 + LabelMix, eq. 7-9) then one G update
(eq. 9: adversarial + perceptual + depth). Each run writes to its own folder:

``config.yaml`` (resolved config), ``metrics.jsonl`` (one JSON object per log line),
``tb/`` (TensorBoard scalars and sample images), ``samples/step_NNNNNNN.png`` (rows of
label | generated RGB | generated depth | real RGB | real depth), ``init.pt`` (the untrained
networks), ``step_NNNNNNN.pt`` (the last ``train.keep_last`` checkpoints), ``best.pt`` (lowest
FID), ``final.pt`` and ``summary.json``.

``--resume RUN_DIR|CHECKPOINT`` continues a run so that its losses equal those of an
uninterrupted run (same device and thread count). Under ``torchrun`` (WORLD_SIZE > 1) it
trains with DistributedDataParallel (NCCL on CUDA, gloo on CPU), SyncBatchNorm on CUDA, a
rank-sharded sampler and rank-0 logging.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .atomic_files import remove_stale_temp_files
from .checkpoint import (CheckpointError, check_compatible, list_step_checkpoints,
                         load_module_state)
from .cli import OneLineArgumentParser, add_config_arguments, entry_point, writable_folder
from .config import Config, apply_overrides, from_dict, load_config, save_config
from .data.transforms import TorchDataset, one_hot
from .depth_range import unit_to_metres
from .engine.batches import BatchStream
from .engine.checkpoints import GanCheckpoint
from .engine import split_passes
from .engine.run_log import RunLogger
from .engine.stop import StopRequest, TrainingInterrupted
from .losses import DiscriminatorTotalLoss, GeneratorLoss
from .models import build_discriminator, build_generator, variant_spec
from .models.noise import sample_z
from .runtime import (atomic_write_text, capture_rng_state, restore_rng_state,
                      seed_everything, select_device)
from .visualize import grid, rgbd_rows, save_png


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left intact."""


# --------------------------------------------------------------------------------------------
# The trainer.


@dataclass
class DistInfo:
    """Rank / world size of this process (1 process when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


class Trainer:
    """Builds data, networks, optimisers and losses from a :class:`Config` and trains them.

    ``sync_batchnorm``: train G and D with SyncBatchNorm (batch statistics over all ranks);
    None = on CUDA with more than one process. The EMA generator always keeps BatchNorm.
    """

    def __init__(self, cfg: Config, run_dir: str | Path, *, device: torch.device | None = None,
                 dist_info: DistInfo | None = None, progress: bool = True,
                 sync_batchnorm: bool | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = dist_info or DistInfo()
        self.device = device or select_device(cfg.train.device)
        self.progress = progress and self.dist.is_main
        seed_everything(cfg.train.seed + self.dist.rank)
        if cfg.train.threads and self.device.type == "cpu":
            torch.set_num_threads(cfg.train.threads)
        tc = cfg.train

        self.train_data = TorchDataset.from_config(cfg.data, cfg.data.train_split, train=True)
        self.class_names = list(self.train_data.dataset.class_names)
        self.num_classes = self.train_data.num_classes
        self.stream = BatchStream(self.train_data, tc.batch_size, tc.seed, cfg.data.num_workers,
                                  self.dist.rank, self.dist.world_size,
                                  pin_memory=self.device.type == "cuda")

        self.spec = variant_spec(cfg.model.variant)
        self.G = build_generator(cfg.model, self.num_classes)
        self.D = (build_discriminator(cfg.model, self.num_classes)
                  if self.spec.disc_input != "none" else None)
        memory_format = (torch.channels_last if tc.channels_last and self.device.type == "cuda"
                         else torch.contiguous_format)
        self.memory_format = memory_format
        self.G.to(self.device, memory_format=memory_format)
        if self.D is not None:
            self.D.to(self.device, memory_format=memory_format)
        # The EMA generator is copied before the SyncBatchNorm conversion and keeps plain
        # BatchNorm: its BN refresh, sample grids and evaluation run on rank 0 alone, where a
        # SyncBatchNorm in train mode would enter a collective the other ranks never join.
        self.G_ema = copy.deepcopy(self.G).eval() if tc.ema_decay > 0 else None
        if self.G_ema is not None:
            self.G_ema.requires_grad_(False)
        if sync_batchnorm is None:
            sync_batchnorm = self.device.type == "cuda" and self.dist.world_size > 1
        self.sync_batchnorm = bool(sync_batchnorm)
        if self.sync_batchnorm:
            self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            if self.D is not None:
                self.D = nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        betas = (tc.beta1, tc.beta2)
        fused = {"fused": True} if tc.fused_adam else {}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=tc.lr_g, betas=betas, **fused)
        self.opt_d = (torch.optim.Adam(self.D.parameters(), lr=tc.lr_d, betas=betas, **fused)
                      if self.D is not None else None)
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = nn.parallel.DistributedDataParallel(self.G, device_ids=ids)
            if self.D is not None:
                self.D = nn.parallel.DistributedDataParallel(self.D, device_ids=ids)
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16,
                          "fp16": torch.float16}[tc.amp] if self.device.type == "cuda" else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.g_forward = torch.compile(self.G) if tc.compile else self.G
        self.d_forward = (torch.compile(self.D) if tc.compile and self.D is not None
                          else self.D)
        self.g_loss = GeneratorLoss(cfg.loss, cfg.data.max_depth_m,
                                    real_features_only=tc.real_features_only).to(self.device)
        self.d_loss = DiscriminatorTotalLoss(cfg.loss)
        self._two_threads: split_passes.TwoThreads | None = None
        # Noise and LabelMix masks come from a generator of their own (saved in checkpoints),
        # so that data-loader workers and evaluation never shift the training randomness.
        self.noise_gen = torch.Generator(device=self.device).manual_seed(
            tc.seed * 7919 + self.dist.rank)
        self.step = 0
        self.best_fid = math.inf
        self._fixed_batch: dict[str, torch.Tensor] | None = None
        self._bn_labels: tuple[torch.Tensor, ...] | None = None
        self._ema_pairs: tuple[list[torch.Tensor], ...] | None = None
        #: the EMA's warm-up suits a random start; a fine-tune (--init-from) starts from
        #: trained weights, which the average keeps at ema_decay from the first step
        self.ema_warmup = True
        self._logger: RunLogger | None = None  # open during fit() on rank 0
        self._log_lines: int | None = None  # rows of metrics.jsonl the loaded state had

    # -- helpers ------------------------------------------------------------------------------

    @property
    def generator(self) -> nn.Module:
        """The raw (unwrapped) generator being trained."""
        return _unwrap(self.G)

    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for samples and evaluation (EMA when enabled)."""
        return self.G_ema if self.G_ema is not None else self.generator

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              enabled=self.amp_dtype is not None)

    def _to_device(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, non_blocking=True)
                if value.ndim == 4:
                    value = value.contiguous(memory_format=self.memory_format)
            out[key] = value
        return out

    def sample_noise(self, batch_size: int, height: int | None = None,
                     width: int | None = None) -> torch.Tensor:
        """Noise for one batch (``data.height`` x ``data.width`` unless given) from the
        trainer's own generator."""
        return sample_z(self.generator, batch_size, height or self.cfg.data.height,
                        width or self.cfg.data.width, self.noise_gen, device=self.device)

    def disc_view(self, rgb: torch.Tensor | None, depth: torch.Tensor | None) -> torch.Tensor:
        """What D sees: RGB, or cat(RGB, depth) for an RGB-D discriminator."""
        if _unwrap(self.D).in_channels == 4:
            return torch.cat([rgb, depth], dim=1)
        return rgb

    # -- one step -----------------------------------------------------------------------------

    def lr_scale(self, step: int | None = None) -> float:
        """Factor of the configured learning rates for the step after ``step`` (default: the
        current one): 1, or ``(steps - step) / lr_decay_steps`` in the last lr_decay_steps."""
        tc = self.cfg.train
        step = self.step if step is None else step
        if tc.lr_decay_steps <= 0:
            return 1.0
        return min(1.0, max(0.0, (tc.steps - step) / tc.lr_decay_steps))

    def _apply_optimizer_settings(self) -> None:
        """Learning rates (with the decay) and betas from the config, so a run resumed with
        other ``train.lr_*`` / ``train.beta*`` values uses them instead of the checkpoint's."""
        tc = self.cfg.train
        scale = self.lr_scale()
        for opt, base in ((self.opt_g, tc.lr_g), (self.opt_d, tc.lr_d)):
            if opt is None:
                continue
            for group in opt.param_groups:
                group["lr"] = base * scale
                group["betas"] = (tc.beta1, tc.beta2)

    def _split_d(self, batch_size: int) -> split_passes.TwoThreads | None:
        """The two threads of ``train.split_d`` where they apply (CPU, >= 2 intra-op threads,
        no compile / autocast / DDP, batch >= 2), else None (one pass on all threads)."""
        tc = self.cfg.train
        if not (tc.split_d and self.D is not None and self.device.type == "cpu"
                and not tc.compile and self.amp_dtype is None and self.dist.world_size == 1
                and batch_size >= 2 and torch.get_num_threads() >= 2):
            return None
        if self._two_threads is None:
            self._two_threads = split_passes.TwoThreads()
        return self._two_threads

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One D update then one G update; returns the loss terms as floats."""
        self._apply_optimizer_settings()
        batch = self._to_device(batch)
        labels = batch["labels"]
        two = self._split_d(labels.shape[0])
        onehot = one_hot(labels, self.num_classes, check=False).contiguous(
            memory_format=self.memory_format)  # (B, N, H, W)
        terms: dict[str, torch.Tensor] = {}
        self.G.train()
        self.opt_g.zero_grad(set_to_none=True)
        fake = None
        if self.cfg.train.share_fake:
            # One G forward serves both updates: the D update only changes D, so the images
            # G makes for the G update are the ones the D update saw (same G weights), only
            # from the same noise draw instead of a second one.
            with self._autocast():
                fake = self.g_forward(onehot, self.sample_noise(*labels.shape))
        if self.D is not None:
            self.D.train()
            if fake is None:
                with torch.no_grad(), self._autocast():
                    fake_d = self.g_forward(onehot, self.sample_noise(*labels.shape))
            else:
                fake_d = {k: v.detach() for k, v in fake.items()}
            real_view = self.disc_view(batch["rgb"], batch["depth"])
            fake_view = self.disc_view(fake_d.get("rgb"), fake_d.get("depth"))
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                if two is not None:  # gradients already in D's .grad
                    d_total, d_terms = split_passes.d_update(
                        two, self.D, self.d_loss, real_view, fake_view, labels,
                        self.num_classes, self.noise_gen, self.step)
                else:
                    d_total, d_terms = self.d_loss(self.d_forward, real_view,
                                                   fake_view.detach(), labels,
                                                   generator=self.noise_gen, step=self.step)
            self._check_finite(d_total, d_terms)
            if two is None:
                self.scaler.scale(d_total).backward()
            self.scaler.step(self.opt_d)
            terms.update(d_terms)
            self.D.requires_grad_(False)
        to_fake = None
        with self._autocast():
            if fake is None:
                fake = self.g_forward(onehot, self.sample_noise(*labels.shape))
            kwargs: dict[str, Any] = {}
            if self.D is not None:
                kwargs.update(fake=self.disc_view(fake.get("rgb"), fake.get("depth")),
                              real=real_view)  # the D update's view of the real images
            if "depth" in fake:
                kwargs.update(depth_fake=fake["depth"], depth_real_m=batch["depth_m"])
            if two is not None:
                d_outputs, to_fake = split_passes.g_d_outputs(
                    two, self.D, self.g_loss, kwargs["fake"], kwargs["real"])
                g_total, g_terms = self.g_loss.from_outputs(labels, d_outputs, **kwargs)
            else:
                if self.D is not None:
                    kwargs["discriminator"] = self.d_forward
                g_total, g_terms = self.g_loss(labels, **kwargs)
        self._check_finite(g_total, g_terms)
        if to_fake is not None:  # G's graph is walked once, from the loss and from D's input
            torch.autograd.backward([g_total, kwargs["fake"]], [None, to_fake(g_total)])
        else:
            self.scaler.scale(g_total).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.D is not None:
            self.D.requires_grad_(True)
        terms.update(g_terms)
        self._update_ema()
        self.step += 1
        return {k: float(v) for k, v in terms.items()}

    def _check_finite(self, total: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        if not torch.isfinite(total):
            bad = {k: float(v) for k, v in terms.items()}
            raise TrainingDiverged(f"step {self.step + 1}: loss is not finite ({bad}); "
                                   "stopping. The last checkpoint in "
                                   f"{self.run_dir} is intact; lower the learning rates or "
                                   "use train.amp=none and resume from it")

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early on the
        # average follows G closely instead of staying near the random init for ~1/(1-decay)
        # steps, which matters for short CPU runs; after a few hundred steps it is ema_decay.
        decay = self.cfg.train.ema_decay
        if self.ema_warmup:
            decay = min(decay, (1.0 + self.step) / (10.0 + self.step))
        if self._ema_pairs is None:  # the tensors never change identity: list them once
            self._ema_pairs = (list(self.G_ema.parameters()),
                               [p.detach() for p in self.generator.parameters()],
                               list(self.G_ema.buffers()), list(self.generator.buffers()))
        ema_params, params, ema_buffers, buffers = self._ema_pairs
        if self.cfg.train.fused_ema:
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
            torch._foreach_copy_(ema_buffers, buffers)
        else:
            for p_ema, p in zip(ema_params, params):
                p_ema.lerp_(p, 1.0 - decay)
            for b_ema, b in zip(ema_buffers, buffers):
                b_ema.copy_(b)

    @torch.no_grad()
    def refresh_bn_stats(self, num_batches: int = 4) -> None:
        """Recompute the BatchNorm statistics of the EMA generator (docs/design.md §1).

        EMA weights differ from the trained ones, so the running statistics copied from G do
        not fit them. They are re-estimated as a plain average over ``num_batches`` fixed
        training frames (no augmentation) with noise from a private generator, so training
        randomness is untouched.
        """
        gen = self.G_ema
        if gen is None:
            return
        norms = [m for m in gen.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and m.track_running_stats]
        if not norms:
            return
        if self._bn_labels is None:
            plain = TorchDataset(self.train_data.dataset, self.cfg.data.height,
                                 self.cfg.data.width, train=False,
                                 max_depth_m=self.cfg.data.max_depth_m,
                                 crop=self.cfg.data.random_crop)
            count = min(len(plain), num_batches * self.cfg.train.batch_size)
            labels = torch.stack([plain[i]["labels"] for i in range(count)])
            self._bn_labels = labels.split(self.cfg.train.batch_size)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the refresh batches
        gen.train()
        rng = torch.Generator().manual_seed(12345)
        for labels in self._bn_labels:
            labels = labels.to(self.device)
            z = sample_z(gen, len(labels), *labels.shape[-2:], rng, device=self.device)
            gen(one_hot(labels, self.num_classes, check=False), z)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        gen.eval()

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint(self) -> GanCheckpoint:
        """Everything needed to rebuild the networks and resume bit for bit."""
        models = {"G": self.generator.state_dict()}
        optimizers = {"G": self.opt_g.state_dict()}
        if self.D is not None:
            models["D"] = _unwrap(self.D).state_dict()
            optimizers["D"] = self.opt_d.state_dict()
        if self.G_ema is not None:
            models["G_ema"] = self.G_ema.state_dict()
        return GanCheckpoint(
            config=self.cfg.to_dict(), num_classes=self.num_classes,
            class_names=self.class_names, step=self.step, models=models,
            optimizers=optimizers, scaler=self.scaler.state_dict(), rng=capture_rng_state(),
            noise_gen=self.noise_gen.get_state(), best_fid=self.best_fid,
            world_size=self.dist.world_size,
            log_lines=self._logger.lines if self._logger is not None else None)

    def state_dict(self) -> dict[str, Any]:
        """:meth:`checkpoint` as the dict written to disk."""
        return self.checkpoint().to_dict()

    def load_state_dict(self, state: dict[str, Any] | GanCheckpoint, path: str | Path) -> None:
        """Restore a :meth:`checkpoint` (or its dict); errors name the checkpoint."""
        ckpt = state if isinstance(state, GanCheckpoint) else GanCheckpoint.from_dict(state,
                                                                                      path)
        nets = ("G", "D") if self.D is not None else ("G",)
        ckpt.require_resumable(path, nets)
        check_compatible(ckpt.to_dict(), path, num_classes=self.num_classes,
                         variant=self.cfg.model.variant)
        if self.D is not None and "D" not in ckpt.models:
            raise CheckpointError(f"checkpoint {path}: no 'D' weights to resume the "
                                  "discriminator from")
        load_module_state(self.generator, ckpt.models["G"], path, "G")
        self.opt_g.load_state_dict(ckpt.optimizers["G"])
        if self.D is not None:
            load_module_state(_unwrap(self.D), ckpt.models["D"], path, "D")
            self.opt_d.load_state_dict(ckpt.optimizers["D"])
        if self.G_ema is not None and "G_ema" in ckpt.models:
            load_module_state(self.G_ema, ckpt.models["G_ema"], path, "G_ema")
        self.scaler.load_state_dict(ckpt.scaler)
        restore_rng_state(ckpt.rng)
        self.noise_gen.set_state(ckpt.noise_gen)
        self.step = ckpt.step
        self.best_fid = ckpt.best_fid if ckpt.best_fid is not None else math.inf
        self._log_lines = ckpt.log_lines

    def save(self, name: str | None = None) -> Path | None:
        """Write ``step_NNNNNNN.pt`` (or ``name``) atomically; prune to ``keep_last``."""
        if not self.dist.is_main:
            return None
        path = self.run_dir / (name or f"step_{self.step:07d}.pt")
        self.refresh_bn_stats()
        if self._logger is not None:
            self._logger.flush()  # the rows and events the checkpoint's log_lines counts
        self.checkpoint().save(path)
        if name is None:
            for old in list_step_checkpoints(self.run_dir)[:-self.cfg.train.keep_last]:
                old.unlink(missing_ok=True)
        return path

    # -- samples ------------------------------------------------------------------------------

    def fixed_batch(self, count: int = 4) -> dict[str, torch.Tensor]:
        """The same test frames for every sample grid of the run."""
        if self._fixed_batch is None:
            test = TorchDataset.from_config(self.cfg.data, self.cfg.data.test_split,
                                            train=False)
            items = [test[i] for i in range(min(count, len(test)))]
            self._fixed_batch = {k: torch.stack([torch.as_tensor(it[k]) for it in items])
                                 for k in ("rgb", "depth_m", "labels")}
        return self._fixed_batch

    @torch.no_grad()
    def sample_grid(self, count: int = 4) -> np.ndarray:
        """label | generated RGB | generated depth | real RGB | real depth, one row a frame."""
        batch = self.fixed_batch(count)
        self.refresh_bn_stats()
        gen = self.eval_generator
        was_training = gen.training
        gen.eval()
        labels = batch["labels"].to(self.device)
        z = sample_z(gen, len(labels), *labels.shape[-2:], torch.Generator().manual_seed(0),
                     device=self.device)
        out = gen(one_hot(labels, self.num_classes, check=False), z)
        gen.train(was_training)
        columns: list[tuple[str, Any]] = []
        if "rgb" in out:
            columns.append(("rgb", out["rgb"].float().cpu()))
        if "depth" in out:
            columns.append(("depth", unit_to_metres(out["depth"].float().cpu(),
                                                    self.cfg.data.max_depth_m)))
        columns += [("rgb", batch["rgb"]), ("depth", batch["depth_m"])]
        palette = self.train_data.dataset.palette
        return grid(rgbd_rows(batch["labels"].numpy(), columns, palette,
                              self.cfg.data.max_depth_m))

    # -- the loop -----------------------------------------------------------------------------

    def fit(self, steps: int | None = None, evaluate_fn=None) -> dict[str, Any]:
        """Train up to ``train.steps`` (or ``steps``) and return the summary dict.

        SIGTERM / SIGINT (in the main thread) end the run after the current step with a
        checkpoint of it and :class:`~scmis_core.engine.stop.TrainingInterrupted`.
        """
        logger = None
        if self.dist.is_main:
            for folder in (self.run_dir, self.run_dir / "samples"):
                remove_stale_temp_files(folder)  # what a SIGKILLed run was writing
            # Rows written after the checkpoint this state came from (steps lost to a crash)
            # are cut, so a resumed run's log equals an uninterrupted run's.
            logger = RunLogger(self.run_dir, start_step=self.step,
                               keep_lines=0 if self.step == 0 else self._log_lines)
        self._logger = logger
        try:
            with StopRequest() as stop:
                return self._fit(self.cfg.train.steps if steps is None else steps,
                                 evaluate_fn, logger, stop)
        finally:
            self._logger = None
            if logger is not None:
                self._log_lines = logger.lines
                logger.close()

    def _fit(self, target: int, evaluate_fn, logger: RunLogger | None,
             stop: StopRequest) -> dict[str, Any]:
        start_step, t0 = self.step, time.perf_counter()
        if self.step == 0 and logger is not None:
            self.save("init.pt")  # the untrained state, for start-vs-end comparisons
            if evaluate_fn is not None:
                logger.log(self.step, {f"eval/{k}": v for k, v in evaluate_fn(self).items()})
        bar = tqdm(total=target, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc=f"train {self.cfg.name}")
        last: dict[str, float] = {}
        try:
            for batch in self.stream.from_step(self.step):
                if self.step >= target:
                    break
                last = self.train_step(batch)
                bar.update(1)
                saved = (self._after_step(last, target, evaluate_fn, logger, bar)
                         if logger is not None else False)
                signum = stop.agreed(self.device)  # every rank stops after the same step
                if signum:
                    path = (self.run_dir / f"step_{self.step:07d}.pt" if saved
                            else self.save())
                    raise TrainingInterrupted(signum, self.step, path, self.resume_command())
        finally:
            bar.close()
        result: dict[str, Any] = {"steps": self.step, "trained_steps": self.step - start_step,
                                  "seconds": round(time.perf_counter() - t0, 2),
                                  "last_losses": last}
        if logger is not None:
            if evaluate_fn is not None:
                result["eval"] = self._evaluate(evaluate_fn, logger)
            self.save()
            self.save("final.pt")
            result["final_checkpoint"] = str(self.run_dir / "final.pt")
            atomic_write_text(self.run_dir / "summary.json", json.dumps(result, indent=2))
        return result

    def _after_step(self, last: dict[str, float], target: int, evaluate_fn,
                    logger: RunLogger, bar: tqdm) -> bool:
        """Rank 0's log rows, samples, evaluation and checkpoint of the step just trained;
        returns whether a step checkpoint was written."""
        tc = self.cfg.train
        if self.step % tc.log_every == 0 or self.step == target:
            bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()
                             if k in ("d_total", "g_adv", "g_depth")})
            row = {f"loss/{k}": v for k, v in last.items()}
            if tc.lr_decay_steps:
                row["lr/g"] = tc.lr_g * self.lr_scale(self.step - 1)
            logger.log(self.step, row)
        if self.step % tc.sample_every == 0 or self.step == target:
            image = self.sample_grid()
            save_png(image, self.run_dir / "samples" / f"step_{self.step:07d}.png")
            logger.image(self.step, "samples", image)
        if evaluate_fn is not None and tc.eval_every and self.step % tc.eval_every == 0:
            self._evaluate(evaluate_fn, logger)
        if self.step % tc.ckpt_every == 0:
            self.save()
            return True
        return False

    def resume_command(self) -> str:
        """The command line that continues this run."""
        launcher = (f"torchrun --nproc_per_node {self.dist.world_size} -m"
                    if self.dist.world_size > 1 else "python -m")
        return f"{launcher} scmis_core.train --resume {self.run_dir}"

    def _evaluate(self, evaluate_fn, logger: "RunLogger") -> dict[str, float]:
        metrics = evaluate_fn(self)
        logger.log(self.step, {f"eval/{k}": v for k, v in metrics.items()})
        fid = metrics.get("fid")
        if fid is not None and fid < self.best_fid:
            self.best_fid = fid
            self.save("best.pt")
        return metrics


# --------------------------------------------------------------------------------------------
# Command line.


def init_distributed() -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local_rank)


def resolve_resume(resume: str) -> Path:
    """A run folder (its newest step checkpoint) or a checkpoint file."""
    path = Path(resume)
    if path.is_dir():
        steps = list_step_checkpoints(path)
        if not steps:
            raise CheckpointError(f"--resume {path}: no step_*.pt checkpoint in this folder")
        return steps[-1]
    if not path.exists():
        raise CheckpointError(f"--resume {path}: no such file or folder")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m scmis_core.train",
        description="Train a semantic RGB-D image synthesis model (SCMIS and the paper's "
                    "baselines). Writes a run folder with config, metrics.jsonl, TensorBoard "
                    "events, sample grids and checkpoints. SIGTERM or Ctrl-C stop it after "
                    "the current step with a checkpoint of that step (exit code 143 / 130); "
                    "--resume RUN_DIR continues it.",
        epilog="example: python -m scmis_core.train --config config/rooms_small.yaml "
               "train.steps=500 model.width=8   |   multi-GPU: torchrun --nproc_per_node 2 "
               "-m scmis_core.train --config ...")
    add_config_arguments(parser, "see config/; defaults if omitted")
    parser.add_argument("--resume", help="run folder or checkpoint to continue from (its "
                        "config is used; overrides may change train.steps and logging)")
    parser.add_argument("--run-dir", help="exact run folder (default: "
                        "<train.out_dir>/<name>-<timestamp>)")
    parser.add_argument("--no-eval", action="store_true",
                        help="skip FID / depth evaluation at start and end")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--init-from", metavar="NAME|CKPT",
                        help="fine-tune: start G and its EMA from a generator's (EMA) weights, "
                        "e.g. the shipped rooms (D starts from scratch; the model settings "
                        "must match). The random initialisation is kept as untrained.pt")
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m scmis_core.train``: expected failures are one ``error:``
    line with exit code 2; a stop by SIGTERM / SIGINT exits with 143 / 130 after saying how
    to resume."""
    args = build_parser().parse_args(argv)
    dist_info = init_distributed()
    try:
        return _train(args, dist_info)
    except TrainingInterrupted as exc:
        if dist_info.is_main:
            print(str(exc), file=sys.stderr)
        return exc.exit_code
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace, dist_info: DistInfo) -> int:
    state = None
    if args.resume:
        ckpt_path = resolve_resume(args.resume)
        state = GanCheckpoint.load(ckpt_path)
        cfg = from_dict(apply_overrides(copy.deepcopy(state.config), args.overrides))
        run_dir = Path(args.run_dir) if args.run_dir else ckpt_path.parent
    else:
        cfg = load_config(args.config, args.overrides)
        name = cfg.train.run_name or f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
        run_dir = Path(args.run_dir) if args.run_dir else Path(cfg.train.out_dir) / name
    if dist_info.is_main:
        writable_folder(run_dir, "--run-dir" if args.run_dir else "run folder")
        save_config(cfg, run_dir / "config.yaml")
    device = select_device(cfg.train.device)
    if device.type == "cuda" and dist_info.world_size > 1:
        device = torch.device("cuda", dist_info.local_rank)
    trainer = Trainer(cfg, run_dir, device=device, dist_info=dist_info,
                      progress=not args.no_progress)
    if state is not None:
        trainer.load_state_dict(state, ckpt_path)
        if dist_info.is_main:
            print(f"resumed {ckpt_path} at step {trainer.step}", file=sys.stderr)
    elif args.init_from:
        from .pretrained import init_generators
        trainer.save("untrained.pt")  # the random start, for untrained-vs-trained rows
        start = init_generators(args.init_from, cfg.model, trainer.num_classes,
                                [trainer.generator, trainer.G_ema])
        trainer.ema_warmup = False  # the average starts from trained weights
        if dist_info.is_main:
            print(f"G and G_ema start from {args.init_from} (step {start['step']}; EMA decay "
                  f"{cfg.train.ema_decay} from the first step)", file=sys.stderr)
    evaluate_fn = None
    if not args.no_eval:
        from .evaluate import trainer_evaluator
        evaluate_fn = trainer_evaluator(cfg)
    result = trainer.fit(evaluate_fn=evaluate_fn)
    if dist_info.is_main:
        ev = result.get("eval", {})
        evs = " ".join(f"{k}={v:.4g}" for k, v in ev.items())
        print(f"done: {result['steps']} steps in {result['seconds']} s; {evs}; run folder "
              f"{run_dir}; checkpoint {result['final_checkpoint']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
