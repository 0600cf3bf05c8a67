"""Geometric transforms on :class:`Sample`, label one-hot / class weights, and the torch view.

Numpy transforms keep the three maps aligned and the label and depth semantics intact:

- labels are resampled with nearest neighbour, so no new class id can appear;
- depth is resampled with the same nearest-neighbour grid, so an invalid 0 is never averaged
  with a valid neighbour (holes stay 0, no value between a hole and a measurement appears);
- RGB is resampled with area averaging when shrinking and bilinear otherwise.

Nearest neighbour samples the source pixel whose centre is closest to the target pixel centre
(``src = floor((dst + 0.5) * in / out)``), the same pixel-centre convention as OpenCV's
bilinear/area resizing, so RGB and labels stay registered.

:class:`TorchDataset` turns a :class:`LabelledDataset` into network inputs; its random
augmentation is seeded by (seed, epoch, index), so data-loader workers reproduce it exactly.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from ..depth_range import DEFAULT_MAX_DEPTH_M, metres_to_unit
from .base import LabelledDataset
from .sample import Sample


def _nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index of each target index, matching pixel centres."""
    idx = np.floor((np.arange(size_out) + 0.5) * (size_in / size_out)).astype(np.intp)
    return np.minimum(idx, size_in - 1)


def resize_nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) or (H, W, C) array of any dtype."""
    rows = _nearest_indices(array.shape[0], height)
    cols = _nearest_indices(array.shape[1], width)
    return np.ascontiguousarray(array[rows[:, None], cols[None, :]])


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 (H, W, 3): area averaging when shrinking, bilinear otherwise."""
    if rgb.shape[:2] == (height, width):
        return rgb
    shrink = height <= rgb.shape[0] and width <= rgb.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interp)


def _check_size(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"expected a positive target size, found {height}x{width}")


def resize(sample: Sample, height: int, width: int) -> Sample:
    """Resize all three maps to (height, width) (labels / depth nearest, RGB smooth)."""
    _check_size(height, width)
    if sample.labels.shape == (height, width):
        return sample
    return Sample(rgb=resize_rgb(sample.rgb, height, width),
                  depth_m=resize_nearest(sample.depth_m, height, width),
                  labels=resize_nearest(sample.labels, height, width), name=sample.name)


def resize_short_side(sample: Sample, short_side: int) -> Sample:
    """Resize keeping the aspect ratio so that the shorter side is ``short_side``."""
    h, w = sample.labels.shape
    scale = short_side / min(h, w)
    return resize(sample, max(1, round(h * scale)), max(1, round(w * scale)))


def resize_to_cover(sample: Sample, height: int, width: int) -> Sample:
    """Resize keeping the aspect ratio to the smallest size that covers (height, width)."""
    _check_size(height, width)
    h, w = sample.labels.shape
    scale = max(height / h, width / w)
    return resize(sample, max(height, round(h * scale)), max(width, round(w * scale)))


def crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """The (height, width) window at (top, left); error if it leaves the frame."""
    h, w = sample.labels.shape
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop {height}x{width} at ({top}, {left}): expected it inside the "
                         f"{h}x{w} frame {sample.name!r}")
    window = (slice(top, top + height), slice(left, left + width))
    return Sample(rgb=np.ascontiguousarray(sample.rgb[window]),
                  depth_m=np.ascontiguousarray(sample.depth_m[window]),
                  labels=np.ascontiguousarray(sample.labels[window]), name=sample.name)


def center_crop(sample: Sample, height: int, width: int) -> Sample:
    """The central (height, width) window."""
    h, w = sample.labels.shape
    return crop(sample, (h - height) // 2, (w - width) // 2, height, width)


def random_crop(sample: Sample, height: int, width: int, rng: np.random.Generator) -> Sample:
    """A (height, width) window at a position drawn from ``rng``."""
    h, w = sample.labels.shape
    if height > h or width > w:
        raise ValueError(f"random crop {height}x{width}: expected it inside the {h}x{w} frame "
                         f"{sample.name!r}")
    top = int(rng.integers(0, h - height + 1))
    left = int(rng.integers(0, w - width + 1))
    return crop(sample, top, left, height, width)


def resize_short_side_random_crop(sample: Sample, height: int, width: int,
                                  rng: np.random.Generator) -> Sample:
    """Resize to cover (height, width) keeping the aspect ratio, then crop at random."""
    return random_crop(resize_to_cover(sample, height, width), height, width, rng)


def hflip(sample: Sample) -> Sample:
    """Mirror left-right."""
    return Sample(rgb=np.ascontiguousarray(sample.rgb[:, ::-1]),
                  depth_m=np.ascontiguousarray(sample.depth_m[:, ::-1]),
                  labels=np.ascontiguousarray(sample.labels[:, ::-1]), name=sample.name)


def random_hflip(sample: Sample, rng: np.random.Generator, p: float = 0.5) -> Sample:
    """Mirror left-right with probability ``p`` (drawn from ``rng``)."""
    return hflip(sample) if rng.random() < p else sample


def _check_labels(labels: torch.Tensor, num_classes: int) -> None:
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"expected integer class ids, found {labels.dtype}")
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > num_classes:
            raise ValueError(f"expected class ids in 0..{num_classes}, found {lo}..{hi}")


def one_hot(labels: torch.Tensor, num_classes: int, check: bool = True) -> torch.Tensor:
    """(B, H, W) ids 0..N -> (B, N, H, W) float one-hot; void 0 has no channel (all zeros).

    Channel c-1 is class c. ``check=False`` skips the id range check (a device sync).
    """
    if labels.dim() != 3:
        raise ValueError(f"one_hot: expected labels (B, H, W), found shape "
                         f"{tuple(labels.shape)}")
    if check:
        _check_labels(labels, num_classes)
    b, h, w = labels.shape
    out = torch.zeros(b, num_classes + 1, h, w, dtype=torch.float32, device=labels.device)
    out.scatter_(1, labels.long().unsqueeze(1), 1.0)  # (B, N+1, H, W), channel 0 = void
    return out[:, 1:].contiguous()  # (B, N, H, W)


def class_frequencies(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pixel count of each class id over the whole batch: int64 (N+1,), index 0 = void."""
    _check_labels(labels, num_classes)
    return torch.bincount(labels.reshape(-1).long(), minlength=num_classes + 1)


def inverse_frequency_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class-balancing weights of eq. 3 (docs/design.md §1): float32 (N+1,) indexed by class id.

    ``w[c] = B*H*W / (N * n_c)`` for the classes c in 1..N present in ``labels`` (any shape,
    usually (B, H, W)), with n_c their pixel count; ``w[0]`` (void) and the weights of absent
    classes are 0. ``w[labels]`` gives per-pixel weights; ``w[1:]`` matches :func:`one_hot`.
    """
    counts = class_frequencies(labels, num_classes).to(torch.float32)
    weights = labels.numel() / (num_classes * counts.clamp(min=1.0))
    weights = torch.where(counts > 0, weights, torch.zeros_like(weights))
    weights[0] = 0.0
    return weights


class TorchDataset(torch.utils.data.Dataset):
    """Network inputs from a :class:`LabelledDataset` at a fixed (height, width).

    Without ``crop`` each frame is resized to (height, width) (aspect ratio not kept); with
    ``crop`` it is resized to cover (height, width) keeping the aspect ratio, then cropped at
    random (``train``) or in the centre. ``train`` and ``flip`` enable random horizontal flips.
    Randomness comes from ``numpy.random.default_rng([seed, epoch, index])``, so a frame's
    augmentation depends only on (seed, epoch, index), whatever worker loads it; call
    :meth:`set_epoch` before each epoch (with non-persistent workers).

    Items are dicts: ``rgb`` float32 (3, H, W) in [-1, 1]; ``depth`` float32 (1, H, W) in
    [-1, 1] (:func:`scmis_core.depth_range.metres_to_unit`, invalid -> -1); ``depth_m`` float32
    (1, H, W) metres, 0 = invalid; ``labels`` int64 (H, W); ``index`` int.
    """

    def __init__(self, dataset: LabelledDataset, height: int, width: int, train: bool = False,
                 seed: int = 0, max_depth_m: float = DEFAULT_MAX_DEPTH_M, flip: bool = True,
                 crop: bool = False) -> None:
        _check_size(height, width)
        self.dataset = dataset
        self.height = height
        self.width = width
        self.train = train
        self.seed = seed
        self.max_depth_m = max_depth_m
        self.flip = flip
        self.crop = crop
        self.epoch = 0

    @classmethod
    def from_config(cls, data_cfg: Any, split: str, train: bool) -> "TorchDataset":
        """Open ``split`` of the source of a :class:`scmis_core.config.DataConfig`."""
        from .registry import dataset_from_config

        return cls(dataset_from_config(data_cfg, split), data_cfg.height, data_cfg.width,
                   train=train, seed=data_cfg.seed, max_depth_m=data_cfg.max_depth_m,
                   flip=data_cfg.flip, crop=data_cfg.random_crop)

    @property
    def num_classes(self) -> int:
        """Classes of the wrapped data set (without void)."""
        return self.dataset.num_classes

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def transform(self, sample: Sample, index: int) -> Sample:
        """Resize / crop / flip ``sample`` as item ``index`` of the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        if not self.crop:
            sample = resize(sample, self.height, self.width)
        elif rng is not None:
            sample = resize_short_side_random_crop(sample, self.height, self.width, rng)
        else:
            sample = center_crop(resize_to_cover(sample, self.height, self.width),
                                 self.height, self.width)
        if rng is not None and self.flip:
            sample = random_hflip(sample, rng)
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.transform(self.dataset[index], index)
        rgb = torch.from_numpy(sample.rgb).permute(2, 0, 1).to(torch.float32)  # (3, H, W)
        depth_m = torch.from_numpy(sample.depth_m.copy()).unsqueeze(0)  # (1, H, W)
        depth_m = torch.where(torch.isfinite(depth_m) & (depth_m > 0), depth_m,
                              torch.zeros_like(depth_m))
        return {
            "rgb": rgb / 127.5 - 1.0,
            "depth": metres_to_unit(depth_m, self.max_depth_m),
            "depth_m": depth_m,
            "labels": torch.from_numpy(sample.labels.copy()),
            "index": index,
        }
