"""Class-mix augmentation (paper Sec. 4.2, DESIGN.md §4): real + synthesized RGB-D per class.

For a real frame (rgb, depth, labels) and an image synthesized from the same label map,
:func:`class_mix` picks ``round(ratio * K)`` of the K non-void classes present and replaces
the RGB, the depth or both (``mode`` in ``rgb`` / ``depth`` / ``rgbd``) at the pixels of those
classes. The label map is unchanged; void (id 0) pixels are never replaced. ``round`` is
half-up (``floor(ratio * K + 0.5)``), so ratio 0.5 of 3 classes replaces 2.

:func:`class_mix` works on one numpy frame (the ROS mix node, offline generation);
:func:`class_mix_batch` does the same on a torch batch on any device (online mixing in the
training loop, :class:`OnlineClassMix`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: The three things a class mix can replace.
MIX_MODES = ("rgb", "depth", "rgbd")


def num_classes_to_replace(ratio: float, present: int) -> int:
    """``round(ratio * present)`` with halves rounded up, clipped to 0..present."""
    return min(present, max(0, math.floor(ratio * present + 0.5)))


def _check_mix_args(ratio: float, mode: str) -> None:
    if mode not in MIX_MODES:
        raise ValueError(f"class mix mode: expected one of {', '.join(MIX_MODES)}, "
                         f"found {mode!r}")
    if not (0.0 <= ratio <= 1.0) or not math.isfinite(ratio):
        raise ValueError(f"class mix ratio: expected a value in [0, 1], found {ratio!r}")


def class_mix(rgb: np.ndarray, depth_m: np.ndarray | None, labels: np.ndarray,
              synth_rgb: np.ndarray | None, synth_depth_m: np.ndarray | None, ratio: float,
              mode: str, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Replace ``round(ratio*K)`` random present classes of a real frame by synthesized pixels.

    rgb uint8 (H,W,3), depth_m float32 (H,W) metres, labels integer (H,W) ids with 0 = void;
    ``synth_rgb`` / ``synth_depth_m`` the same for the synthesized image (only the modality
    that ``mode`` replaces is needed; the other may be None). The classes are drawn with
    ``rng`` (without replacement). Returns new arrays (inputs are not modified):
    ``(rgb, depth_m, chosen_ids)`` with ``chosen_ids`` int64 sorted.
    """
    _check_mix_args(ratio, mode)
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"class mix labels: expected integer (H, W) ids, found "
                         f"{labels.dtype} {labels.shape}")
    hw = labels.shape
    if rgb.shape != hw + (3,):
        raise ValueError(f"class mix rgb: expected shape {hw + (3,)} (the label map's size), "
                         f"found {rgb.shape}")
    if depth_m is not None and depth_m.shape != hw:
        raise ValueError(f"class mix depth_m: expected shape {hw}, found {depth_m.shape}")
    if mode in ("rgb", "rgbd") and (synth_rgb is None or synth_rgb.shape != hw + (3,)):
        raise ValueError(f"class mix mode {mode}: expected synth_rgb of shape {hw + (3,)}, "
                         f"found {None if synth_rgb is None else synth_rgb.shape}")
    if mode in ("depth", "rgbd"):
        if depth_m is None:
            raise ValueError(f"class mix mode {mode}: expected a real depth_m, found None")
        if synth_depth_m is None or synth_depth_m.shape != hw:
            raise ValueError(f"class mix mode {mode}: expected synth_depth_m of shape {hw}, "
                             f"found {None if synth_depth_m is None else synth_depth_m.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"class mix labels: expected ids >= 0, found {int(labels.min())}")

    present = np.unique(labels)
    present = present[present != 0]
    count = num_classes_to_replace(ratio, len(present))
    chosen = np.sort(rng.choice(present, size=count, replace=False)).astype(np.int64)
    lut = np.zeros(int(labels.max(initial=0)) + 1, dtype=bool)
    lut[chosen] = True
    mask = lut[labels]  # (H, W) True where the pixel is taken from the synthesized image

    out_rgb = rgb.copy()
    out_depth = None if depth_m is None else depth_m.copy()
    if mode in ("rgb", "rgbd"):
        out_rgb[mask] = synth_rgb[mask]
    if mode in ("depth", "rgbd"):
        out_depth[mask] = synth_depth_m[mask]
    return out_rgb, out_depth, chosen


def class_mix_masks(labels: torch.Tensor, num_classes: int, ratio: float,
                    generator: torch.Generator | None = None,
                    apply: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample random choice of ``round(ratio*K_b)`` present classes, as a pixel mask.

    labels (B,H,W) ids 0..N; ``apply`` (B,) bool selects the samples that are mixed at all
    (others get an all-False mask). Random scores come from ``generator`` (CPU); the choice
    is the ``n_b`` lowest-scoring present classes of each sample. Returns (B,H,W) bool.
    """
    batch = labels.shape[0]
    flat = labels.reshape(batch, -1).long()  # (B, H*W)
    counts = torch.zeros(batch, num_classes + 1, dtype=torch.long, device=labels.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat))  # (B, N+1) pixel count per class
    present = counts > 0
    present[:, 0] = False  # void is never replaced
    scores = torch.rand(batch, num_classes + 1, generator=generator).to(labels.device)
    scores = torch.where(present, scores, torch.full_like(scores, 2.0))  # absent sort last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, N+1) rank of each class's score
    k = present.sum(1)  # (B,)
    n = torch.floor(k.to(torch.float64) * ratio + 0.5).long().clamp(max=k)  # (B,)
    chosen = present & (rank < n[:, None])  # (B, N+1)
    if apply is not None:
        chosen &= apply.to(labels.device)[:, None]
    return torch.gather(chosen, 1, flat).reshape(labels.shape)  # (B, H, W)


def class_mix_batch(rgb: torch.Tensor, depth_m: torch.Tensor, labels: torch.Tensor,
                    synth_rgb: torch.Tensor | None, synth_depth_m: torch.Tensor | None,
                    num_classes: int, ratio: float, mode: str,
                    generator: torch.Generator | None = None, p: float = 1.0
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched :func:`class_mix` on tensors; each sample is mixed with probability ``p``.

    rgb (B,3,H,W) (any range, same as synth_rgb), depth_m (B,1,H,W) metres, labels (B,H,W).
    Returns ``(rgb, depth_m, mask)`` with mask (B,H,W) bool of the replaced pixels.
    """
    _check_mix_args(ratio, mode)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"class mix probability: expected a value in [0, 1], found {p!r}")
    apply = torch.rand(labels.shape[0], generator=generator) < p  # (B,)
    mask = class_mix_masks(labels, num_classes, ratio, generator, apply)
    m = mask[:, None]  # (B, 1, H, W)
    if mode in ("rgb", "rgbd"):
        if synth_rgb is None:
            raise ValueError(f"class mix mode {mode}: expected synth_rgb, found None")
        rgb = torch.where(m, synth_rgb.to(rgb.dtype), rgb)
    if mode in ("depth", "rgbd"):
        if synth_depth_m is None:
            raise ValueError(f"class mix mode {mode}: expected synth_depth_m, found None")
        depth_m = torch.where(m, synth_depth_m.to(depth_m.dtype), depth_m)
    return rgb, depth_m, mask
