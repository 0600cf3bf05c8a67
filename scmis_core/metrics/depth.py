"""Depth errors of generated (or predicted) metric depth against real depth.

Every error is **pixel-pooled**: it averages over all valid pixels of all images passed to
:meth:`DepthErrors.update`, so large images (and images with more valid pixels) weigh more
than small ones; it is not a mean of per-image means. A pixel is valid when the real depth is
finite and > 0 (0 = no measurement) and, if ``max_depth_m`` is set, not beyond it.

- AbsRel = mean |d̂ - d| / d           (unitless)
- SqRel  = mean (d̂ - d)^2 / d         (metres)
- RMSE   = sqrt(mean (d̂ - d)^2)       (metres)
- delta_k = fraction with max(d̂ / d, d / d̂) < 1.25^k, k = 1, 2, 3 (a prediction <= 0 fails)
"""

from __future__ import annotations

import numpy as np
import torch

DELTA_BASE = 1.25


def _as_float64(name: str, array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().double().numpy()
    if not isinstance(array, np.ndarray):
        raise TypeError(f"DepthErrors: expected {name} as a numpy array or torch tensor, "
                        f"found {type(array).__name__}")
    return array.astype(np.float64, copy=False)


class DepthErrors:
    """Accumulates AbsRel, SqRel, RMSE and delta accuracies over valid pixels of many images.

    ``max_depth_m``: real depth beyond it is excluded (None = no cap).
    """

    def __init__(self, max_depth_m: float | None = None):
        if max_depth_m is not None and not max_depth_m > 0:
            raise ValueError(f"DepthErrors: expected max_depth_m > 0 or None, found "
                             f"{max_depth_m}")
        self.max_depth_m = max_depth_m
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self.num_pixels = 0
        self.abs_rel_sum = 0.0
        self.sq_rel_sum = 0.0
        self.sq_err_sum = 0.0
        self.delta_hits = np.zeros(3, dtype=np.int64)

    def update(self, pred_m, target_m, mask=None) -> "DepthErrors":
        """Add predicted and real depth in metres (same shape, any layout, numpy or torch).

        A singleton channel axis on one side only is squeezed ((B, 1, H, W) vs (B, H, W)).
        ``mask`` (optional, bool, same shape as ``target_m``) further restricts the pixels.
        Raises ValueError when a prediction at a valid pixel is not finite.
        """
        pred = _as_float64("pred_m", pred_m)
        target = _as_float64("target_m", target_m)
        if pred.shape != target.shape and pred.ndim == target.ndim + 1 and pred.shape[1] == 1:
            pred = pred[:, 0]
        elif pred.shape != target.shape and target.ndim == pred.ndim + 1 \
                and target.shape[1] == 1:
            target = target[:, 0]
        if pred.shape != target.shape:
            raise ValueError(f"DepthErrors: expected pred_m and target_m of the same shape, "
                             f"found {pred_m.shape} and {target_m.shape}")
        valid = np.isfinite(target) & (target > 0)
        if self.max_depth_m is not None:
            valid &= target <= self.max_depth_m
        if mask is not None:
            mask = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask
            mask = np.asarray(mask)
            if mask.shape != valid.shape:
                raise ValueError(f"DepthErrors: expected mask of shape {valid.shape}, found "
                                 f"{mask.shape}")
            valid &= mask.astype(bool)
        p, d = pred[valid], target[valid]
        if not np.isfinite(p).all():
            raise ValueError(f"DepthErrors: expected finite predicted depth at valid pixels, "
                             f"found {int((~np.isfinite(p)).sum())} NaN/inf values")
        err = p - d
        self.num_pixels += int(d.size)
        self.abs_rel_sum += float(np.sum(np.abs(err) / d))
        self.sq_rel_sum += float(np.sum(err * err / d))
        self.sq_err_sum += float(np.sum(err * err))
        ratio = np.full(d.shape, np.inf)
        positive = p > 0
        ratio[positive] = np.maximum(p[positive] / d[positive], d[positive] / p[positive])
        for k in range(3):
            self.delta_hits[k] += int(np.count_nonzero(ratio < DELTA_BASE ** (k + 1)))
        return self

    def compute(self) -> dict[str, float]:
        """``abs_rel``, ``sq_rel_m``, ``rmse_m``, ``delta1..3`` and ``num_pixels``.

        The errors are NaN when no valid pixel was seen.
        """
        n = self.num_pixels
        if n == 0:
            nan = float("nan")
            return {"abs_rel": nan, "sq_rel_m": nan, "rmse_m": nan, "delta1": nan,
                    "delta2": nan, "delta3": nan, "num_pixels": 0}
        return {
            "abs_rel": self.abs_rel_sum / n,
            "sq_rel_m": self.sq_rel_sum / n,
            "rmse_m": float(np.sqrt(self.sq_err_sum / n)),
            "delta1": float(self.delta_hits[0] / n),
            "delta2": float(self.delta_hits[1] / n),
            "delta3": float(self.delta_hits[2] / n),
            "num_pixels": n,
        }


def depth_errors(pred_m, target_m, max_depth_m: float | None = None, mask=None
                 ) -> dict[str, float]:
    """One-shot :class:`DepthErrors` over the given arrays (pixel-pooled)."""
    return DepthErrors(max_depth_m).update(pred_m, target_m, mask).compute()
