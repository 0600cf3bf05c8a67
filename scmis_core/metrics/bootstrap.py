"""Bootstrap confidence intervals over test images for FID, mIoU and depth errors.

Every metric here is recomputed from per-image quantities on resampled image sets:

- FID: the Inception features of the real and the generated images. A generated image is
  conditioned on the label map of a real test frame, so the two sets are resampled together
  (the same frame indices) unless ``paired=False``. :func:`fid_from_features` computes FID
  exactly from the centred feature matrices A (n, d) and B (m, d): with S1 = AᵀA/(n-1) and
  S2 = BᵀB/(m-1), the non-zero eigenvalues of S1·S2 are the squared singular values of
  A·Bᵀ / sqrt((n-1)(m-1)), so ``tr sqrt(S1 S2)`` is the sum of those singular values. For
  n, m < d (200 test images, d = 2048) one resample costs an (n, m) SVD instead of a
  (d, d) matrix square root, and agrees with
  :func:`scmis_core.metrics.fid.frechet_distance` to ~1e-7 relative (its eigenvalue route).
- mIoU: per-image confusion counts (``ConfusionMatrix.counts`` of each image), summed over
  the resampled images; :func:`miou_from_counts` follows :class:`ConfusionMatrix` (classes
  in neither ground truth nor prediction are left out of the mean).
- depth: per-image sums (valid pixels, Σ|e|/d, Σe²/d, Σe², δ1 hits) pooled over the
  resampled images as :class:`scmis_core.metrics.depth.DepthErrors` pools pixels.

Intervals are percentile intervals (``level`` = 0.95 by default) of ``reps`` resamples drawn
from a seeded generator, so the same inputs give the same interval.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Column order of the per-image depth sums (:func:`depth_sums`).
DEPTH_COLUMNS = ("num_pixels", "abs_rel_sum", "sq_rel_sum", "sq_err_sum", "delta1_hits")


def resample_indices(count: int, reps: int, seed: int = 0) -> np.ndarray:
    """(reps, count) int64 indices drawn with replacement from ``range(count)``."""
    if count < 1 or reps < 1:
        raise ValueError(f"bootstrap: expected count >= 1 and reps >= 1, found {count}, {reps}")
    return np.random.default_rng(seed).integers(0, count, size=(reps, count))


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """(low, high) percentile interval of the finite ``values``; NaNs when none."""
    if not 0 < level < 1:
        raise ValueError(f"bootstrap: expected level in (0, 1), found {level}")
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def shifted_interval(point: float, values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``values`` moved by the bootstrap's bias (mean of the draws
    minus ``point``), so that it brackets ``point`` again.

    For statistics that resampling itself pushes one way: a resampled set repeats frames and
    so has fewer distinct ones, which raises FID (200 test frames: every draw lay 12-26
    above the full-set FID). The plain percentile interval then misses the point estimate;
    the shifted one keeps its width and is centred where the bias-free draws would be.
    """
    low, high = percentile_interval(values, level)
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0 or not np.isfinite(point):
        return low, high
    bias = float(values.mean()) - float(point)
    return low - bias, high - bias


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID of two feature sets (n, d) and (m, d), n, m >= 2, via the (n, m) SVD above."""
    a = np.asarray(real, dtype=np.float64)
    b = np.asarray(fake, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"fid_from_features: expected (n, d) and (m, d) features with n, m "
                         f">= 2, found {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    a = a - mu_a
    b = b - mu_b
    na, nb = len(a) - 1, len(b) - 1
    trace_a = float(np.einsum("ij,ij->", a, a)) / na
    trace_b = float(np.einsum("ij,ij->", b, b)) / nb
    singular = np.linalg.svd(a @ b.T, compute_uv=False)
    cross = float(singular.sum()) / np.sqrt(na * nb)
    diff = mu_a - mu_b
    return float(diff @ diff + trace_a + trace_b - 2.0 * cross)


def fid_resamples(real: np.ndarray, fake: np.ndarray, reps: int = 1000, seed: int = 0,
                  paired: bool = True) -> np.ndarray:
    """(reps,) FIDs of resampled feature sets (same indices for both sets when ``paired``)."""
    idx = resample_indices(len(real), reps, seed)
    idx_fake = idx if paired else resample_indices(len(fake), reps, seed + 1)
    if paired and len(real) != len(fake):
        raise ValueError(f"fid_resamples: paired resampling needs sets of equal size, found "
                         f"{len(real)} and {len(fake)}")
    return np.array([fid_from_features(real[i], fake[j]) for i, j in zip(idx, idx_fake)])


def miou_from_counts(counts: np.ndarray) -> np.ndarray:
    """mIoU of confusion counts (..., N+1, N+1) laid out as ``ConfusionMatrix.counts``."""
    counts = np.asarray(counts, dtype=np.float64)
    tp = np.diagonal(counts, axis1=-2, axis2=-1)[..., 1:]
    gt = counts[..., 1:, :].sum(-1)
    pred = counts[..., 1:, 1:].sum(-2)
    union = gt + pred - tp
    iou = np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)
    with np.errstate(invalid="ignore"):
        present = np.isfinite(iou).sum(-1)
        return np.where(present > 0, np.nansum(iou, -1) / np.maximum(present, 1), np.nan)


def miou_resamples(per_image_counts: np.ndarray, reps: int = 1000, seed: int = 0
                   ) -> np.ndarray:
    """(reps,) mIoU of resampled images; ``per_image_counts`` is (n, N+1, N+1)."""
    counts = np.asarray(per_image_counts, dtype=np.int64)
    idx = resample_indices(len(counts), reps, seed)
    flat = counts.reshape(len(counts), -1)
    summed = np.stack([flat[i].sum(0) for i in idx]).reshape((reps,) + counts.shape[1:])
    return miou_from_counts(summed)


def depth_sums(pred_m: np.ndarray, target_m: np.ndarray) -> np.ndarray:
    """(B, 5) per-image sums in :data:`DEPTH_COLUMNS` order; ``pred_m``/``target_m`` (B, H, W).

    Valid pixels as :class:`~scmis_core.metrics.depth.DepthErrors` without a depth cap:
    finite real depth > 0.
    """
    from .depth import DepthErrors

    pred = np.asarray(pred_m, dtype=np.float64)
    target = np.asarray(target_m, dtype=np.float64)
    rows = []
    for p, d in zip(pred, target):
        errors = DepthErrors().update(p, d)
        rows.append([errors.num_pixels, errors.abs_rel_sum, errors.sq_rel_sum,
                     errors.sq_err_sum, errors.delta_hits[0]])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(DEPTH_COLUMNS))


def depth_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """abs_rel, rmse, sq_rel, delta1 of pooled sums (..., 5) (NaN without valid pixels)."""
    sums = np.asarray(sums, dtype=np.float64)
    n = sums[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"abs_rel": sums[..., 1] / n, "rmse": np.sqrt(sums[..., 3] / n),
                "sq_rel": sums[..., 2] / n, "delta1": sums[..., 4] / n}


def depth_resamples(per_image_sums: np.ndarray, reps: int = 1000, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """Depth errors of resampled images: name -> (reps,) values."""
    sums = np.asarray(per_image_sums, dtype=np.float64)
    idx = resample_indices(len(sums), reps, seed)
    return depth_from_sums(sums[idx].sum(1))


def paired_difference_interval(metric: Callable[..., float], count: int,
                               reps: int = 1000, seed: int = 0, level: float = 0.95,
                               shift: bool = False, point: float | None = None
                               ) -> tuple[float, float, float]:
    """Point value and bootstrap interval of ``metric(indices, rng)`` over resampled indices.

    ``metric`` maps an index array into ``range(count)`` (and a random generator, for
    statistics that also resample runs, e.g. one seed of each row per draw; ``None`` for the
    point value) to a number, e.g. the FID of run A minus the FID of run B on the same
    resampled test frames; returns (value, low, high). ``point`` overrides the value on all
    frames. ``shift`` moves the percentile interval by the resampling bias as
    :func:`shifted_interval` does (FID and its differences: the same estimator as the single
    runs' intervals, so a difference's interval brackets its point).
    """
    value = float(metric(np.arange(count), None)) if point is None else float(point)
    rng = np.random.default_rng(seed + 1)
    draws = [metric(i, rng) for i in resample_indices(count, reps, seed)]
    low, high = (shifted_interval(value, draws, level) if shift
                 else percentile_interval(draws, level))
    return value, low, high
