"""RGB-D semantic segmentation: training, evaluation and loading of segmenter checkpoints.

``python -m scmis_core.segment train --arch esanet-r34 --out runs/seg [data.key=value ...]``
trains a segmenter on the training split of the data config (any data source);
``python -m scmis_core.segment eval --checkpoint CKPT`` reports mIoU, per-class IoU and pixel
accuracy on the test split (and a confusion-matrix PNG). A trained segmenter is the
semantic-consistency judge of ``scmis_core.evaluate`` (generated RGB + real depth, as in the
paper) and the network of the augmentation experiments (``scmis_core.experiments``).
Architectures are chosen by name from :data:`SEGMENTERS`; training options are the
``segment`` section of the config (:class:`~scmis_core.config.SegmentConfig`): a ``segment:``
section of ``--config``, dotted ``segment.KEY=VALUE`` overrides, or the ``--flag`` shorthand of
each key (``--steps 100`` = ``segment.steps=100``).

A run folder holds ``options.json``, ``metrics.jsonl``, ``tb/`` (TensorBoard),
``step_NNNNNNN.pt`` (every ``ckpt_every`` steps; the last ``keep_last`` kept),
``segmenter.pt`` (final weights), ``segmenter_eval.json`` and ``confusion.png``.
Checkpoints (``kind: "segmenter"``) hold the architecture name and its arguments, the data
config, the options, the class names and the weights, plus optimizer / schedule / RNG
states in step checkpoints; they load with ``weights_only=True`` and are written atomically.
``--resume`` continues from the newest step checkpoint of the folder with the same batches,
augmentation and mixing as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .atomic_files import atomic_write, remove_stale_temp_files
from .checkpoint import CheckpointError, list_step_checkpoints, load_module_state
from .cli import (add_config_arguments, add_device_argument, entry_point, parse_size,
                  writable_folder, writable_parent)
from .config import (Config, DataConfig, SegmentConfig, add_section_flags, from_dict,
                     load_config, section_flag_values)
from .data.base import LabelledDataset
from .data.registry import dataset_from_config
from .data.transforms import TorchDataset, inverse_frequency_weights
from .data.wrappers import CachedFrames, FirstFrames
from .engine.batches import BatchStream
from .engine.checkpoints import SegmenterCheckpoint
from .engine.learning_curve import LearningCurve
from .engine.run_log import RunLogger
from .engine.stop import StopRequest, TrainingInterrupted
from .metrics.segmentation import ConfusionMatrix, per_image_iou_counts
from .models.esanet import build_esanet, load_backbone_weights
from .models.segnet import SmallRGBDUNet
from .pretrained import resolve
from .resources import (DEFAULT_MAX_MEMORY_MB, ResourceLimitError, check_limit,
                        count_parameters)
from .runtime import (atomic_write_text, capture_rng_state, restore_rng_state, seed_everything,
                      select_device)
from .variants import SEGMENTER_ARCHS

_FAMILIES: dict[str, Callable[..., nn.Module]] = {"unet": SmallRGBDUNet,
                                                  "esanet": build_esanet}


def _constructor(family: str, fixed: dict[str, Any]) -> Callable[..., nn.Module]:
    return lambda n, **kw: _FAMILIES[family](n, **{**fixed, **kw})


#: name -> constructor(num_classes, **arch_kwargs) returning a module
#: ``forward(rgb (B,3,H,W), depth (B,1,H,W)) -> logits (B,N,H,W)`` over ids 1..N, built from
#: the plain table :data:`scmis_core.variants.SEGMENTER_ARCHS` (what ``segment.arch`` accepts).
#: Modules whose ``forward`` takes ``return_sides=True`` (ESANet) get multi-scale supervision.
SEGMENTERS: dict[str, Callable[..., nn.Module]] = {
    name: _constructor(family, fixed) for name, (family, fixed) in SEGMENTER_ARCHS.items()}
_SIDE_OUTPUTS = tuple(name for name, (family, _) in SEGMENTER_ARCHS.items()
                      if family == "esanet")


class Segmenter:
    """A trained segmenter: ``predict(rgb, depth) -> (B,H,W) int64 ids 1..N``."""

    def __init__(self, model: nn.Module, num_classes: int, class_names: list[str],
                 device: torch.device, info: dict[str, Any]):
        self.model = model.to(device).eval()
        self.num_classes = num_classes
        self.class_names = class_names
        self.device = device
        self.info = info

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        max_memory_mb: float | None = DEFAULT_MAX_MEMORY_MB) -> "Segmenter":
        """Load a ``segmenter`` checkpoint written by :func:`train_segmenter`, or shipped
        weights by name (``"rooms-judge"``: :func:`scmis_core.pretrained.resolve`)."""
        dev = select_device(device) if isinstance(device, str) else device
        path = resolve(path, "segmenter")
        ckpt = SegmenterCheckpoint.load(path)
        arch = ckpt.config["arch"]
        if arch not in SEGMENTERS:
            raise CheckpointError(f"checkpoint {path}: unknown segmenter {arch!r}; expected "
                                  f"one of {', '.join(SEGMENTERS)}")
        kwargs = ckpt.config.get("arch_kwargs", {})
        try:
            if not isinstance(kwargs, dict):
                raise TypeError(f"arch_kwargs is a {type(kwargs).__name__}")

            def build() -> nn.Module:
                return SEGMENTERS[arch](ckpt.num_classes, **kwargs)

            # the stored arguments decide the size: count the weights before building
            check_limit(count_parameters(build), max_memory_mb,
                        f"checkpoint {path}: the weights of its {arch} segmenter ({kwargs})")
            model = build()
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ResourceLimitError):
                raise
            raise CheckpointError(f"checkpoint {path}: its {arch} arguments do not build a "
                                  f"network ({' '.join(str(exc).split())})") from None
        load_module_state(model, ckpt.models["segmenter"], path, "segmenter")
        return cls(model, ckpt.num_classes, list(ckpt.class_names), dev, ckpt.config)

    @torch.no_grad()
    def predict(self, rgb: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """rgb (B,3,H,W) in [-1,1], depth (B,1,H,W) in [-1,1] -> ids (B,H,W) in 1..N."""
        rgb = rgb.to(self.device, torch.float32)
        depth = depth.to(self.device, torch.float32) if depth is not None else None
        height, width = rgb.shape[-2:]
        m = getattr(self.model, "multiple", 1)
        net_h, net_w = max(m, round(height / m) * m), max(m, round(width / m) * m)
        if (net_h, net_w) != (height, width):
            rgb = F.interpolate(rgb, size=(net_h, net_w), mode="bilinear", align_corners=False)
            if depth is not None:
                depth = F.interpolate(depth, size=(net_h, net_w), mode="nearest")
        logits = self.model(rgb, depth)
        if (net_h, net_w) != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear",
                                   align_corners=False)
        return logits.argmax(1) + 1

    def frame_size(self) -> tuple[int, int] | None:
        """(height, width) of the checkpoint's training data, or None when not recorded."""
        data = self.info.get("data") or {}
        if data.get("height") and data.get("width"):
            return int(data["height"]), int(data["width"])
        return None

    @torch.no_grad()
    def predict_frame(self, rgb: np.ndarray, depth_m: np.ndarray | None,
                      size: tuple[int, int] | None = None) -> np.ndarray:
        """One frame -> (H, W) int64 ids in 1..N at the frame's size.

        ``rgb`` (H, W, 3) uint8 RGB, ``depth_m`` (H, W) metres (0 / non-finite = none; None
        for RGB-only models). The network sees the frame resized to ``size`` (default: the
        checkpoint's training size, else the frame's own) with depth scaled by the
        checkpoint's ``max_depth_m``, as in training; ids come back by nearest neighbour.
        """
        from .data.transforms import resize_nearest, resize_rgb
        from .depth_range import DEFAULT_MAX_DEPTH_M, metres_to_unit

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb: expected uint8 (H, W, 3), found {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        net_h, net_w = size or self.frame_size() or (height, width)
        rgb_t = torch.tensor(resize_rgb(rgb, net_h, net_w)).permute(2, 0, 1)[None]  # a copy
        depth_t = None
        if depth_m is not None:
            depth = np.asarray(depth_m, dtype=np.float32)
            if depth.shape != (height, width):
                raise ValueError(f"depth: expected ({height}, {width}) like the rgb, found "
                                 f"{depth.shape}")
            depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0))
            max_depth = float((self.info.get("data") or {}).get("max_depth_m")
                              or DEFAULT_MAX_DEPTH_M)
            depth_t = torch.from_numpy(metres_to_unit(resize_nearest(depth, net_h, net_w),
                                                      max_depth))[None, None]
        ids = self.predict(rgb_t.float() / 127.5 - 1.0, depth_t)[0].cpu().numpy()
        return resize_nearest(ids, height, width).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Losses, class weights, augmentation.


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor,
                      weights: torch.Tensor | None = None,
                      max_weight: float = 100.0) -> torch.Tensor:
    """Cross-entropy over ids 1..N; void ignored.

    ``weights`` (N,) are fixed class weights; ``None`` uses the eq.-3 inverse-frequency
    weights of this batch (clamped to ``max_weight``).
    """
    num_classes = logits.shape[1]
    if weights is None:
        weights = inverse_frequency_weights(labels, num_classes)[1:].clamp(max=max_weight)
    target = labels - 1  # void -> -1 (ignored)
    return F.cross_entropy(logits.float(), target, weight=weights.to(logits.device),
                           ignore_index=-1)


def multiscale_loss(logits: torch.Tensor, sides: Sequence[torch.Tensor], labels: torch.Tensor,
                    weights: torch.Tensor | None = None,
                    max_weight: float = 100.0) -> torch.Tensor:
    """Sum of :func:`segmentation_loss` at full size and at each side output's size.

    Labels are downsampled by nearest neighbour to each side output's (h, w).
    """
    total = segmentation_loss(logits, labels, weights, max_weight)
    for side in sides:
        small = F.interpolate(labels[:, None].float(), size=side.shape[-2:],
                              mode="nearest")[:, 0].long()  # (B, h, w)
        total = total + segmentation_loss(side, small, weights, max_weight)
    return total


def median_frequency_weights(data: TorchDataset, num_classes: int,
                             limit: int | None = None) -> torch.Tensor:
    """Median-frequency class weights (Eigen & Fergus) over a data set: (N,) float32.

    ``freq_c`` = pixels of class c / pixels of the images where c appears;
    ``w_c = median(freq) / freq_c`` over the classes that appear; 0 for absent classes.
    """
    pixels = np.zeros(num_classes + 1, dtype=np.float64)
    image_pixels = np.zeros(num_classes + 1, dtype=np.float64)
    count = len(data) if limit is None else min(limit, len(data))
    for index in range(count):
        labels = data[index]["labels"].numpy()
        hist = np.bincount(labels.reshape(-1), minlength=num_classes + 1)
        pixels += hist
        image_pixels += (hist > 0) * labels.size
    freq = np.divide(pixels, image_pixels, out=np.zeros_like(pixels), where=image_pixels > 0)
    present = freq[1:] > 0
    weights = np.zeros(num_classes, dtype=np.float64)
    if present.any():
        median = np.median(freq[1:][present])
        weights[present] = median / freq[1:][present]
    return torch.tensor(weights, dtype=torch.float32)


def random_scale_crop(rgb: torch.Tensor, depth: torch.Tensor, labels: torch.Tensor,
                      scale_min: float, scale_max: float, generator: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rescale each sample by a factor drawn from [scale_min, scale_max], then crop (or pad)
    back to the batch size at a random position.

    rgb bilinear, depth and labels nearest (holes and ids stay exact); padding is rgb 0,
    depth -1 (invalid) and labels 0 (void, ignored by the loss). Randomness from
    ``generator`` (CPU).
    """
    if scale_min == scale_max == 1.0:
        return rgb, depth, labels
    batch, _, height, width = rgb.shape
    out_rgb, out_depth, out_labels = rgb.clone(), depth.clone(), labels.clone()
    draws = torch.rand(batch, 3, generator=generator)  # scale, top, left in [0, 1)
    for b in range(batch):
        s = scale_min + float(draws[b, 0]) * (scale_max - scale_min)
        h, w = max(1, round(height * s)), max(1, round(width * s))
        r = F.interpolate(rgb[b:b + 1], size=(h, w), mode="bilinear", align_corners=False)
        d = F.interpolate(depth[b:b + 1], size=(h, w), mode="nearest")
        lab = F.interpolate(labels[b:b + 1, None].float(), size=(h, w),
                            mode="nearest")[:, 0].long()
        if h < height or w < width:  # pad to at least the output size
            ph, pw = max(0, height - h), max(0, width - w)
            r = F.pad(r, (0, pw, 0, ph), value=0.0)
            d = F.pad(d, (0, pw, 0, ph), value=-1.0)
            lab = F.pad(lab, (0, pw, 0, ph), value=0)
        top = int(float(draws[b, 1]) * (r.shape[-2] - height + 1))
        left = int(float(draws[b, 2]) * (r.shape[-1] - width + 1))
        window = (..., slice(top, top + height), slice(left, left + width))
        out_rgb[b] = r[0][window]
        out_depth[b] = d[0][window]
        out_labels[b] = lab[0][window]
    return out_rgb, out_depth, out_labels


def evaluate_segmenter(segmenter: Segmenter, data: TorchDataset, batch_size: int = 8,
                       limit: int | None = None, rgb_fn=None,
                       per_image: list | None = None) -> ConfusionMatrix:
    """Confusion matrix of ``segmenter`` on ``data`` (first ``limit`` frames).

    ``rgb_fn(batch) -> rgb`` replaces the real RGB (e.g. with generated images).
    ``per_image`` (a list) receives one ``(intersections, unions)`` pair of (B, N) arrays per
    batch (:func:`~scmis_core.metrics.segmentation.per_image_iou_counts`).
    """
    conf = ConfusionMatrix(segmenter.num_classes)
    count = len(data) if limit is None else min(limit, len(data))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, range(count)),
                                         batch_size=batch_size, shuffle=False)
    for batch in loader:
        rgb = rgb_fn(batch) if rgb_fn is not None else batch["rgb"]
        pred = segmenter.predict(rgb, batch["depth"])
        conf.update(pred.cpu(), batch["labels"])
        if per_image is not None:
            per_image.append(per_image_iou_counts(pred.cpu(), batch["labels"],
                                                  segmenter.num_classes))
    return conf


def confusion_report(conf: ConfusionMatrix, class_names: Sequence[str]) -> dict[str, Any]:
    """mIoU, pixel accuracy, mean accuracy and per-class IoU (classes seen) as a dict."""
    return {"miou": conf.miou(), "pixel_accuracy": conf.pixel_accuracy(),
            "mean_accuracy": conf.mean_accuracy(),
            "per_class_iou": {name: float(v) for name, v in
                              zip(class_names, conf.per_class_iou()) if np.isfinite(v)}}


# --------------------------------------------------------------------------------------------
# Training.


def _open_train_set(data_cfg: DataConfig, opts: SegmentConfig,
                    train_set: LabelledDataset | None) -> LabelledDataset:
    dataset = train_set if train_set is not None else dataset_from_config(
        data_cfg, data_cfg.train_split)
    if opts.train_frames:
        dataset = FirstFrames(dataset, opts.train_frames)
    if opts.cache_mb and not isinstance(dataset, CachedFrames):
        first = dataset[0]
        frame_bytes = first.rgb.nbytes + first.depth_m.nbytes + first.labels.nbytes
        if frame_bytes * len(dataset) <= opts.cache_mb * 2**20:
            dataset = CachedFrames(dataset)
    return dataset


def _build_model(opts: SegmentConfig, num_classes: int) -> nn.Module:
    try:
        model = SEGMENTERS[opts.arch](num_classes, **opts.arch_kwargs)
    except TypeError as exc:
        raise ValueError(f"architecture arguments {opts.arch_kwargs} do not fit "
                         f"{opts.arch}: {exc}") from None
    if opts.backbone_weights:
        if not opts.arch.startswith("esanet"):
            raise ValueError(f"segment.backbone_weights: only ESANet architectures load "
                             f"ResNet weights, found segment.arch {opts.arch!r}")
        load_backbone_weights(model, opts.backbone_weights)
    return model


def _optimizer(opts: SegmentConfig, model: nn.Module) -> torch.optim.Optimizer:
    if opts.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=opts.lr, momentum=opts.momentum,
                               weight_decay=opts.weight_decay, nesterov=False)
    return torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)


def _schedule(opts: SegmentConfig, opt: torch.optim.Optimizer):
    if opts.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opts.lr, total_steps=opts.steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def train_segmenter(data_cfg: DataConfig, out: str | Path, *, arch: str = "unet-rgbd",
                    steps: int = 600, batch_size: int = 8, lr: float = 2e-3, seed: int = 0,
                    device: str = "auto", arch_kwargs: dict[str, Any] | None = None,
                    progress: bool = True, test_cfg: DataConfig | None = None,
                    train_set: LabelledDataset | None = None, resume: bool = False,
                    **options: Any) -> dict[str, Any]:
    """Train a segmenter on ``data_cfg``'s training split; write ``out/segmenter.pt``.

    Defaults: AdamW with a OneCycle schedule, the data config's flips / crops,
    class-balanced (eq. 3) cross-entropy. Any other key of
    :class:`~scmis_core.config.SegmentConfig` can be given as a keyword (``optimizer="sgd"``,
    ``class_weights="median"``, ``scale_max=1.4``, ``mix_checkpoint=...``); an unknown one is
    a ConfigError. ``test_cfg`` evaluates on another data config's test split (e.g. train on
    an augmented folder, test on the real data); ``train_set`` replaces the training split.
    ``resume`` continues from the newest ``out/step_*.pt``. Returns test mIoU / pixel
    accuracy / per-class IoU and the checkpoint path.
    """
    opts = from_dict({"segment": {"arch": arch, "arch_kwargs": dict(arch_kwargs or {}),
                                  "steps": steps, "batch_size": batch_size, "lr": lr,
                                  "seed": seed, **options}}).segment
    return SegmenterTrainer(data_cfg, out, opts, device=device, progress=progress,
                            test_cfg=test_cfg, train_set=train_set).fit(resume=resume)


class SegmenterTrainer:
    """Builds data, model, optimiser, schedule and mixer from the ``segment`` section of the
    config (validated here too); trains and evaluates."""

    def __init__(self, data_cfg: DataConfig, out: str | Path, opts: SegmentConfig, *,
                 device: str = "auto", progress: bool = True,
                 test_cfg: DataConfig | None = None,
                 train_set: LabelledDataset | None = None):
        Config(segment=opts).validate()  # errors name the key: segment.lr: expected ...
        self.data_cfg, self.opts, self.progress = data_cfg, opts, progress
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = select_device(device)
        seed_everything(opts.seed)
        dataset = _open_train_set(data_cfg, opts, train_set)
        self.num_classes = dataset.num_classes
        self.class_names = list(dataset.class_names)
        self.train = TorchDataset(dataset, data_cfg.height, data_cfg.width, train=True,
                                  seed=data_cfg.seed, max_depth_m=data_cfg.max_depth_m,
                                  flip=data_cfg.flip, crop=data_cfg.random_crop)
        self.test_cfg = test_cfg or data_cfg
        test_set = dataset_from_config(self.test_cfg, self.test_cfg.test_split)
        if test_set.num_classes != self.num_classes:
            raise ValueError(f"test data: expected {self.num_classes} classes (the training "
                             f"data's), found {test_set.num_classes}")
        self.test = TorchDataset(test_set, data_cfg.height, data_cfg.width, train=False,
                                 max_depth_m=data_cfg.max_depth_m, crop=data_cfg.random_crop)
        # the training frames as the test frames are seen (no flips / crops / mixing): the
        # train-split mIoU of the curve, which shows whether the segmenter overfits
        self.train_plain = TorchDataset(dataset, data_cfg.height, data_cfg.width, train=False,
                                        max_depth_m=data_cfg.max_depth_m,
                                        crop=data_cfg.random_crop)
        self.curve = LearningCurve(self.out / "curve.json")
        if opts.batch_size > len(self.train):
            raise ValueError(f"segment.batch_size: expected at most the "
                             f"{len(self.train)} training frames, found {opts.batch_size}")
        self.stream = BatchStream(self.train, opts.batch_size, opts.seed,
                                  data_cfg.num_workers)
        self.model = _build_model(opts, self.num_classes).to(self.device)
        self.sides = opts.multiscale_loss and opts.arch in _SIDE_OUTPUTS
        self.opt = _optimizer(opts, self.model)
        self.sched = _schedule(opts, self.opt)
        self.weights: torch.Tensor | None = None
        if opts.class_weights == "median":
            self.weights = median_frequency_weights(self.train_plain, self.num_classes)
        elif opts.class_weights == "none":
            self.weights = torch.ones(self.num_classes)
        self.aug_gen = torch.Generator().manual_seed(opts.seed * 7919 + 17)
        self.mixer = None
        if opts.mix_checkpoint:
            from .augment import OnlineClassMix
            from .synthesize import Synthesizer

            synth = Synthesizer.from_checkpoint(opts.mix_checkpoint, device=self.device,
                                                use_ema=not opts.mix_raw_weights)
            self.mixer = OnlineClassMix(synth, opts.mix_ratio, opts.mix_mode, opts.mix_p,
                                        seed=opts.seed, max_depth_m=data_cfg.max_depth_m,
                                        num_classes=self.num_classes)
        self.step = 0
        self._logger: RunLogger | None = None  # open during fit()
        self._log_lines: int | None = None  # rows of metrics.jsonl the loaded state had

    # -- checkpoints ------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild and describe the model."""
        opts = self.opts
        return {"arch": opts.arch, "arch_kwargs": dict(opts.arch_kwargs),
                "data": dict(self.data_cfg.__dict__), "steps": opts.steps, "lr": opts.lr,
                "batch_size": opts.batch_size, "seed": opts.seed,
                "options": dataclasses.asdict(opts)}

    def checkpoint(self, full: bool) -> SegmenterCheckpoint:
        """Segmenter checkpoint; ``full`` adds optimizer, schedule, RNG states and the log
        position (a step checkpoint to resume from)."""
        ckpt = SegmenterCheckpoint(config=self.config(), num_classes=self.num_classes,
                                   class_names=self.class_names, step=self.step,
                                   models={"segmenter": self.model.state_dict()})
        if full:
            ckpt.optimizers = {"segmenter": self.opt.state_dict()}
            ckpt.scheduler = self.sched.state_dict()
            ckpt.rng = capture_rng_state()
            ckpt.aug_gen = self.aug_gen.get_state()
            if self._logger is not None:
                self._logger.flush()
                ckpt.log_lines = self._logger.lines
        return ckpt

    def state_dict(self, full: bool) -> dict[str, Any]:
        """:meth:`checkpoint` as the dict written to disk."""
        return self.checkpoint(full).to_dict()

    def save_step(self) -> Path:
        """``step_NNNNNNN.pt`` (atomic); older ones beyond ``keep_last`` are removed."""
        path = self.checkpoint(full=True).save(self.out / f"step_{self.step:07d}.pt")
        for old in list_step_checkpoints(self.out)[:-self.opts.keep_last]:
            old.unlink(missing_ok=True)
        return path

    def load(self, path: Path) -> None:
        """Restore a step checkpoint of this run (errors name the file)."""
        ckpt = SegmenterCheckpoint.load(path)
        ckpt.require_resumable(path, ("segmenter",))
        saved = ckpt.config.get("options", {})
        for key in ("arch", "arch_kwargs", "steps", "batch_size", "optimizer", "lr", "seed",
                    "mix_checkpoint", "mix_ratio", "mix_mode", "mix_p", "mix_raw_weights",
                    "train_frames"):
            if key in saved and saved[key] != getattr(self.opts, key):
                raise CheckpointError(f"checkpoint {path}: option {key} was {saved[key]!r}, "
                                      f"this run has {getattr(self.opts, key)!r}")
        if ckpt.num_classes != self.num_classes:
            raise CheckpointError(f"checkpoint {path}: {ckpt.num_classes} classes, the "
                                  f"data has {self.num_classes}")
        for key in ("scheduler", "rng", "aug_gen"):
            if getattr(ckpt, key) is None:
                raise CheckpointError(f"checkpoint {path}: cannot resume from it: no {key}")
        load_module_state(self.model, ckpt.models["segmenter"], path, "segmenter")
        self.opt.load_state_dict(ckpt.optimizers["segmenter"])
        self.sched.load_state_dict(ckpt.scheduler)
        restore_rng_state(ckpt.rng)
        self.aug_gen.set_state(ckpt.aug_gen)
        self.step = ckpt.step
        self._log_lines = ckpt.log_lines

    # -- training ---------------------------------------------------------------------------

    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimiser step on a batch; returns the loss."""
        opts = self.opts
        if self.mixer is not None:
            batch = self.mixer(batch, self.step)
        rgb, depth, labels = random_scale_crop(batch["rgb"], batch["depth"], batch["labels"],
                                               opts.scale_min, opts.scale_max, self.aug_gen)
        rgb, depth, labels = (t.to(self.device) for t in (rgb, depth, labels))
        self.model.train()
        if self.sides:
            logits, sides = self.model(rgb, depth, return_sides=True)
            loss = multiscale_loss(logits, sides, labels, self.weights, opts.max_class_weight)
        else:
            loss = segmentation_loss(self.model(rgb, depth), labels, self.weights,
                                     opts.max_class_weight)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise RuntimeError(f"segmenter step {self.step + 1}: loss is not finite "
                               f"({value}); lower the learning rate")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        return value

    def evaluate(self, per_image: list | None = None) -> tuple[ConfusionMatrix, Segmenter]:
        """Confusion matrix on the test split (``eval_frames`` of it); ``per_image`` as in
        :func:`evaluate_segmenter`."""
        seg = Segmenter(self.model, self.num_classes, self.class_names, self.device,
                        self.config())
        conf = evaluate_segmenter(seg, self.test, self.opts.batch_size,
                                  self.opts.eval_frames or None, per_image=per_image)
        self.model.train()
        return conf, seg

    def evaluate_train(self) -> ConfusionMatrix | None:
        """Confusion matrix on the first ``train_eval_frames`` training frames as they are,
        without augmentation (None when ``train_eval_frames`` is 0)."""
        if not self.opts.train_eval_frames:
            return None
        seg = Segmenter(self.model, self.num_classes, self.class_names, self.device,
                        self.config())
        conf = evaluate_segmenter(seg, self.train_plain, self.opts.batch_size,
                                  self.opts.train_eval_frames)
        self.model.train()
        return conf

    def record_curve(self, test: ConfusionMatrix) -> dict[str, float]:
        """Add the test (and train-split) mIoU of this step to the curve and the log."""
        values = {"test_miou": test.miou(), "test_pixel_acc": test.pixel_accuracy()}
        train = self.evaluate_train()
        if train is not None:
            values["train_miou"] = train.miou()
        self.curve.add(self.step, **values)
        if self._logger is not None:
            self._logger.log(self.step, {f"seg/{k}": v for k, v in values.items()})
        return values

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``steps`` (continuing a checkpoint when ``resume``), evaluate, save.

        SIGTERM / SIGINT end the run after the current step with a step checkpoint and
        :class:`~scmis_core.engine.stop.TrainingInterrupted`; ``resume`` continues it.
        """
        opts = self.opts
        remove_stale_temp_files(self.out)  # what a SIGKILLed run was writing
        if resume:
            found = list_step_checkpoints(self.out)
            if found:
                self.load(found[-1])
        self.curve.load(up_to_step=self.step)
        atomic_write_text(self.out / "options.json",
                          json.dumps(dataclasses.asdict(opts), indent=2))
        logger = None
        if opts.tensorboard:  # the log of a resumed run starts where its checkpoint was
            logger = RunLogger(self.out, start_step=self.step,
                               keep_lines=0 if self.step == 0 else self._log_lines)
        self._logger = logger
        try:
            with StopRequest() as stop:
                return self._fit(logger, stop)
        finally:
            self._logger = None
            if logger is not None:
                self._log_lines = logger.lines
                logger.close()

    def _fit(self, logger: RunLogger | None, stop: StopRequest) -> dict[str, Any]:
        opts = self.opts
        t0 = time.perf_counter()
        bar = tqdm(total=opts.steps, initial=self.step, desc=f"segmenter {opts.arch}",
                   unit="step", disable=not self.progress)
        try:
            if self.step < opts.steps:
                for batch in self.stream.from_step(self.step):
                    loss = self.train_step(batch)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.3f}")
                    if logger is not None and (self.step % opts.log_every == 0
                                               or self.step == opts.steps):
                        logger.log(self.step, {"seg/loss": loss,
                                               "seg/lr": self.sched.get_last_lr()[0]})
                    if opts.eval_every and self.step % opts.eval_every == 0 \
                            and self.step < opts.steps:
                        conf, _ = self.evaluate()
                        self.record_curve(conf)
                    saved = None
                    if opts.ckpt_every and self.step % opts.ckpt_every == 0:
                        saved = self.save_step()
                    if stop.signum:
                        raise TrainingInterrupted(
                            stop.signum, self.step, saved or self.save_step(),
                            f"the same command with --resume (--out {self.out})")
                    if self.step >= opts.steps:
                        break
            bar.close()
            path = self.checkpoint(full=False).save(self.out / "segmenter.pt")
            per_image: list = []
            conf, _ = self.evaluate(per_image)
            conf.save_confusion_png(self.out / "confusion.png", self.class_names)
            curve = self.record_curve(conf)
            save_per_image_counts(self.out / "per_image.npz", per_image)
            result = {"checkpoint": str(path), "steps": self.step,
                      "seconds": round(time.perf_counter() - t0, 1),
                      "train_frames": len(self.train), "test_frames": (
                          min(opts.eval_frames, len(self.test)) if opts.eval_frames
                          else len(self.test)),
                      **confusion_report(conf, self.class_names),
                      "train_miou": curve.get("train_miou"), "curve": self.curve.points,
                      "per_image": str(self.out / "per_image.npz")}
            atomic_write_text(self.out / "segmenter_eval.json", json.dumps(result, indent=2))
            return result
        finally:
            bar.close()


def save_per_image_counts(path: Path, batches: list) -> Path:
    """Write the per-image (intersections, unions) of :func:`evaluate_segmenter` as one
    compressed ``.npz`` (``inter`` and ``union``, (frames, N) uint16 at up to 65535 pixels per
    class and image, else uint32), atomically."""
    inter = np.concatenate([b[0] for b in batches]) if batches else np.zeros((0, 0))
    union = np.concatenate([b[1] for b in batches]) if batches else np.zeros((0, 0))
    dtype = np.uint16 if union.size == 0 or union.max() <= 65535 else np.uint32
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, inter=inter.astype(dtype), union=union.astype(dtype))

    return atomic_write(path, write)


# --------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` / ``eval`` command line."""
    parser = argparse.ArgumentParser(prog="python -m scmis_core.segment",
                                     description="Train / evaluate an RGB-D segmenter "
                                     "(ESANet or the small U-Net).")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a segmenter on the training split",
                        description="Data comes from the data section of --config and "
                        "dotted overrides (data.source=nyuv2 data.root=DIR data.height=480 "
                        "data.width=640 data.random_crop=true data.flip=true); training "
                        "options from its segment section, segment.KEY=VALUE overrides and "
                        "the flags below (applied last).")
    add_config_arguments(tr, "whose data and segment sections are used")
    add_device_argument(tr)
    tr.add_argument("--out", required=True, help="run folder (segmenter.pt, step_*.pt, tb/)")
    tr.add_argument("--resume", action="store_true",
                    help="continue from the newest step_*.pt in --out")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_section_flags(tr, "segment", {"arch_kwargs": ("--model",)})
    ev = sub.add_parser("eval", help="mIoU of a segmenter checkpoint on a test split")
    ev.add_argument("--checkpoint", required=True, help="segmenter checkpoint, or the name "
                    "of shipped weights: rooms-judge")
    add_config_arguments(ev, "whose data section is used; default: the checkpoint's")
    ev.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                    help="evaluate at HxW (default: the data config's size)")
    ev.add_argument("--limit", type=int, default=0, help="test frames (0 = all)")
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--confusion", default="", help="write a confusion-matrix PNG here")
    add_device_argument(ev)
    return parser


@entry_point
def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.segment train|eval``."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        writable_folder(args.out)
        cfg = load_config(args.config, args.overrides, section_flag_values(args, "segment"))
        try:
            result = SegmenterTrainer(cfg.data, args.out, cfg.segment, device=args.device,
                                      progress=not args.no_progress).fit(resume=args.resume)
        except TrainingInterrupted as exc:  # SIGTERM / SIGINT: checkpoint written
            print(str(exc), file=sys.stderr)
            return exc.exit_code
    else:
        if args.confusion:
            writable_parent(args.confusion, "--confusion")
        seg = Segmenter.from_checkpoint(args.checkpoint, args.device)
        if args.config or args.overrides:
            data_cfg = load_config(args.config, args.overrides).data
        else:
            data_cfg = from_dict({"data": seg.info["data"]}).data
        if args.size:
            data_cfg.height, data_cfg.width = args.size
        test = TorchDataset.from_config(data_cfg, data_cfg.test_split, train=False)
        conf = evaluate_segmenter(seg, test, args.batch_size, args.limit or None)
        result = confusion_report(conf, seg.class_names)
        if args.confusion:
            conf.save_confusion_png(args.confusion, seg.class_names)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
