"""Online fine-tuning of an RGB-D segmenter from a stream of frames.

The engine of the ROS fine-tune node (``scmis_ros.finetune_node``), free of ROS: a bounded
replay buffer of (rgb, depth, labels) frames at the training size, one optimiser step at a
time on a random batch (the segmenter registry's architecture and loss; ESANet's multi-scale
supervision when the model has side outputs), prediction of single frames, and the state as
a ``segmenter`` checkpoint (weights, optimiser, step, config) that
:meth:`scmis_core.segment.Segmenter.from_checkpoint` loads and :func:`load_start_state`
resumes from. All methods may be called from different threads.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections import deque
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from .checkpoint import CheckpointError, load_module_state, save_checkpoint
from .config import DataConfig
from .data.labels import NYU40_CLASSES
from .data.transforms import resize_nearest
from .depth_range import metres_to_unit
from .engine.checkpoints import SegmenterCheckpoint
from .pretrained import resolve
from .runtime import select_device
from .segment import SEGMENTERS, multiscale_loss, segmentation_loss

#: Architecture when neither the caller nor a checkpoint names one (ESANet, as the paper).
DEFAULT_ARCH = "esanet"

Frame = tuple[np.ndarray, np.ndarray, np.ndarray]


class ReplayBuffer:
    """At most ``capacity`` (rgb, depth_m, labels) frames; the oldest leaves first."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.frames: deque[Frame] = deque(maxlen=capacity)
        self.capacity = capacity
        self.added = 0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self.frames)

    def add(self, rgb: np.ndarray, depth_m: np.ndarray, labels: np.ndarray) -> None:
        """Store one frame (arrays are kept, not copied)."""
        with self._lock:
            self.frames.append((rgb, depth_m, labels))
            self.added += 1

    def sample(self, count: int) -> list[Frame]:
        """``count`` frames drawn uniformly with replacement."""
        with self._lock:
            idx = self._rng.integers(0, len(self.frames), size=count)
            return [self.frames[i] for i in idx]


def to_tensors(frames: Sequence[Frame], max_depth_m: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames -> rgb (B,3,H,W) in [-1,1], depth (B,1,H,W) in [-1,1], labels (B,H,W) int64."""
    rgb = torch.from_numpy(np.stack([f[0] for f in frames])).permute(0, 3, 1, 2)  # (B,3,H,W)
    depth = torch.from_numpy(np.stack([f[1] for f in frames]))[:, None]  # (B,1,H,W)
    labels = torch.from_numpy(np.stack([f[2] for f in frames]))  # (B,H,W)
    return rgb.float() / 127.5 - 1.0, metres_to_unit(depth, max_depth_m), labels


def load_start_state(resume_path: Path, init_path: str | Path | None, resume: bool,
                     arch: str, num_classes: int
                     ) -> tuple[SegmenterCheckpoint | None, Path | None, bool]:
    """(checkpoint, its path, is-resume): ``resume_path`` when ``resume`` and it exists, else
    ``init_path``, else (None, None, False). Checks architecture and class count."""
    if resume and Path(resume_path).is_file():
        path, is_resume = Path(resume_path), True
    elif init_path:  # a checkpoint, or shipped weights by name (rooms-judge)
        path, is_resume = resolve(init_path, "segmenter"), False
    else:
        return None, None, False
    state = SegmenterCheckpoint.load(path)
    found = state.config.get("arch")
    if found not in SEGMENTERS:
        raise CheckpointError(f"checkpoint {path}: unknown segmenter {found!r}; expected one "
                              f"of {', '.join(SEGMENTERS)}")
    if (arch and found != arch) or state.num_classes != num_classes:
        raise CheckpointError(f"checkpoint {path}: {found} for {state.num_classes} "
                              f"classes, but this fine-tuning runs {arch or found} for "
                              f"{num_classes} (arch / num_classes)")
    return state, path, is_resume


class OnlineFinetuner:
    """Replay-buffer fine-tuning of a segmenter; see the module docstring.

    ``state``/``state_path``/``resume`` come from :func:`load_start_state`: the weights are
    loaded from ``state``, and with ``resume`` also the optimiser and the step count.
    ``arch`` empty = the state's architecture (else :data:`DEFAULT_ARCH`); ``arch_kwargs``
    None = the state's arguments (else the architecture's defaults).
    """

    def __init__(self, num_classes: int, *, height: int, width: int, arch: str = "",
                 arch_kwargs: dict[str, Any] | None = None, max_depth_m: float = 10.0,
                 lr: float = 1e-3, buffer_size: int = 256, seed: int = 0,
                 device: str = "auto", state: SegmenterCheckpoint | None = None,
                 state_path: Path | None = None, resume: bool = False) -> None:
        self.device = select_device(device)
        self.arch = arch or (state.config["arch"] if state else DEFAULT_ARCH)
        if arch_kwargs is None:
            arch_kwargs = dict(state.config.get("arch_kwargs", {})) if state else {}
        self.arch_kwargs = arch_kwargs
        self.num_classes = num_classes
        self.class_names = list(NYU40_CLASSES) if num_classes == len(NYU40_CLASSES) \
            else [f"class_{i}" for i in range(1, num_classes + 1)]
        self.height, self.width, self.max_depth_m = height, width, max_depth_m
        self.lr, self.seed = lr, seed
        torch.manual_seed(seed)
        self.model = SEGMENTERS[self.arch](num_classes, **self.arch_kwargs).to(self.device)
        # models that offer side outputs get ESANet's multi-scale supervision
        self.side_outputs = "return_sides" in inspect.signature(self.model.forward).parameters
        multiple = int(getattr(self.model, "multiple", 1))
        if height % multiple or width % multiple:
            raise ValueError(f"height/width: expected multiples of {multiple} for "
                             f"{self.arch}, found {height}x{width}")
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)
        self.step = 0
        self.started_from = "random initial weights"
        if state is not None:
            load_module_state(self.model, state.models["segmenter"], state_path,
                              "segmenter")
            self.started_from = f"initialised from {state_path}"
            if resume:
                if "segmenter" in (state.optimizers or {}):
                    self.opt.load_state_dict(state.optimizers["segmenter"])
                self.step = state.step
                self.started_from = f"resumed from {state_path} at step {self.step}"
        self.lock = threading.Lock()
        self.buffer = ReplayBuffer(buffer_size, seed)

    def add(self, rgb: np.ndarray, depth_m: np.ndarray, labels: np.ndarray) -> None:
        """Resize one frame to the training size and put it in the replay buffer."""
        size = (self.width, self.height)
        self.buffer.add(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                        resize_nearest(depth_m, self.height, self.width),
                        resize_nearest(labels, self.height, self.width))

    def train_step(self, batch_size: int, lr: float | None = None) -> dict[str, Any]:
        """One optimiser step on a random batch from the buffer; returns its metrics."""
        frames = self.buffer.sample(batch_size)
        rgb, depth, labels = (t.to(self.device) for t in to_tensors(frames, self.max_depth_m))
        with self.lock:
            for group in self.opt.param_groups:
                group["lr"] = self.lr if lr is None else lr
            self.model.train()
            if self.side_outputs:
                logits, sides = self.model(rgb, depth, return_sides=True)  # (B, N, H, W), ...
                loss = multiscale_loss(logits, sides, labels)
            else:
                logits = self.model(rgb, depth)  # (B, N, H, W) over ids 1..N
                loss = segmentation_loss(logits, labels)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            valid = labels > 0
            pred = logits.detach().argmax(1) + 1  # (B, H, W) ids 1..N
            acc = float((pred[valid] == labels[valid]).float().mean()) if valid.any() \
                else float("nan")
        return {"step": self.step, "loss": round(float(loss.detach()), 5),
                "pixel_accuracy": round(acc, 4), "buffer": len(self.buffer),
                "frames_seen": self.buffer.added}

    def predict(self, rgb: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Segment one frame at the training size; ids (H, W) at the frame's size."""
        small = [(cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA),
                  resize_nearest(depth_m, self.height, self.width),
                  np.zeros((self.height, self.width), np.int64))]
        rgb_t, depth_t, _ = to_tensors(small, self.max_depth_m)
        with self.lock, torch.no_grad():
            self.model.eval()
            pred = self.model(rgb_t.to(self.device), depth_t.to(self.device)).argmax(1) + 1
        return resize_nearest(pred[0].cpu().numpy(), *rgb.shape[:2])

    def state_dict(self, metrics: dict[str, Any] | None = None,
                   batch_size: int | None = None, optimizer: bool = True) -> dict[str, Any]:
        """The checkpoint content: a ``segmenter`` checkpoint, plus the optimiser state when
        ``optimizer`` (AdamW keeps two moments per weight: about three times the size; a
        resume without them starts the moments afresh)."""
        with self.lock:
            weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            optimizers = {"segmenter": self.opt.state_dict()} if optimizer else {}
        return SegmenterCheckpoint(
            config={"arch": self.arch, "arch_kwargs": self.arch_kwargs,
                    "data": {**dataclasses.asdict(DataConfig()), "height": self.height,
                             "width": self.width, "max_depth_m": self.max_depth_m},
                    "lr": self.lr, "batch_size": batch_size, "seed": self.seed,
                    "source": "online fine-tuning"},
            num_classes=self.num_classes, class_names=self.class_names, step=self.step,
            models={"segmenter": weights}, optimizers=optimizers,
            metrics=dict(metrics or {})).to_dict()

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None,
             batch_size: int | None = None, optimizer: bool = True) -> Path:
        """Write the checkpoint atomically (temporary file + rename); ``optimizer`` as in
        :meth:`state_dict`."""
        return save_checkpoint(self.state_dict(metrics, batch_size, optimizer), path)
