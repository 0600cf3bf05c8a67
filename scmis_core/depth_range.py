"""The one mapping between metric depth and the networks' [-1, 1] depth range.

Generators emit depth through ``tanh``; ``x = 2 * d / max_depth_m - 1`` (clipped), so 0 m maps
to -1 and ``max_depth_m`` (default 10 m, docs/design.md §8) maps to +1. Invalid real
depth (0) maps to -1 and must be masked by the caller (see ``valid_depth_mask``).
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_MAX_DEPTH_M = 10.0


def metres_to_unit(depth_m, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
    """Metres -> [-1, 1]; works on numpy arrays and torch tensors."""
    scaled = depth_m * (2.0 / max_depth_m) - 1.0
    if isinstance(scaled, torch.Tensor):
        return scaled.clamp(-1.0, 1.0)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def unit_to_metres(x, max_depth_m: float = DEFAULT_MAX_DEPTH_M):
    """[-1, 1] -> metres (inverse of :func:`metres_to_unit` inside the range)."""
    depth = (x + 1.0) * (max_depth_m / 2.0)
    if isinstance(depth, torch.Tensor):
        return depth.clamp(0.0, max_depth_m)
    return np.clip(depth, 0.0, max_depth_m).astype(np.float32)


def valid_depth_mask(depth_m):
    """True where a real depth measurement exists (finite and > 0)."""
    if isinstance(depth_m, torch.Tensor):
        return torch.isfinite(depth_m) & (depth_m > 0)
    return np.isfinite(depth_m) & (depth_m > 0)
