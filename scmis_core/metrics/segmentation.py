"""Semantic segmentation scores from a confusion matrix: IoU per class, mIoU, accuracies.

Class ids are 1..N (the project convention: 0 = void). Ground-truth pixels equal to
``ignore_index`` (default 0, void) are skipped. A prediction of 0 (void) at a scored pixel is
a miss: it counts in the ground-truth class's row but in no class's column. Any other id
outside 1..N raises an error naming what was found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _as_ids(name: str, array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):  # bool and float are rejected
        raise ValueError(f"ConfusionMatrix: expected integer class ids for {name}, found "
                         f"dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


class ConfusionMatrix:
    """Pixel confusion counts of ground-truth class (row) vs predicted class (column).

    ``num_classes``: N, the class ids are 1..N. ``ignore_index``: ground-truth value to skip
    (None = skip nothing).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 0):
        if num_classes < 1:
            raise ValueError(f"ConfusionMatrix: expected num_classes >= 1, found {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        # index 0 is void: row 0 stays empty, column 0 counts void predictions
        self.counts = np.zeros((self.num_classes + 1, self.num_classes + 1), dtype=np.int64)

    def reset(self) -> None:
        """Forget all counts."""
        self.counts[:] = 0

    def update(self, pred, target) -> "ConfusionMatrix":
        """Add integer label maps of the same shape (any layout; numpy or torch)."""
        pred_ids = _as_ids("pred", pred)
        gt_ids = _as_ids("target", target)
        if pred_ids.shape != gt_ids.shape:
            raise ValueError(f"ConfusionMatrix: expected pred and target of the same shape, "
                             f"found {pred_ids.shape} and {gt_ids.shape}")
        n = self.num_classes
        keep = np.ones(gt_ids.shape, dtype=bool)
        if self.ignore_index is not None:
            keep = gt_ids != self.ignore_index
        gt_kept, pred_kept = gt_ids[keep], pred_ids[keep]
        bad_gt = (gt_kept < 1) | (gt_kept > n)
        if bad_gt.any():
            raise ValueError(f"ConfusionMatrix: expected target ids in 1..{n} (ignore_index "
                             f"{self.ignore_index}), found {np.unique(gt_kept[bad_gt])[:10]}")
        bad_pred = (pred_kept < 0) | (pred_kept > n)
        if bad_pred.any():
            raise ValueError(f"ConfusionMatrix: expected pred ids in 0..{n} (0 = void, a miss),"
                             f" found {np.unique(pred_kept[bad_pred])[:10]}")
        flat = gt_kept * (n + 1) + pred_kept
        self.counts += np.bincount(flat, minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
        return self

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add the counts of another matrix with the same number of classes."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"ConfusionMatrix.merge: expected {self.num_classes} classes, "
                             f"found {other.num_classes}")
        self.counts += other.counts
        return self

    @property
    def matrix(self) -> np.ndarray:
        """(N, N) int64 counts; row i-1 = ground truth i, column j-1 = prediction j."""
        return self.counts[1:, 1:].copy()

    @property
    def void_predictions(self) -> np.ndarray:
        """(N,) ground-truth pixels of each class that were predicted as void (0)."""
        return self.counts[1:, 0].copy()

    def _tp_gt_pred(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp = np.diagonal(self.counts)[1:].astype(np.float64)
        gt = self.counts[1:, :].sum(axis=1).astype(np.float64)  # includes void predictions
        pred = self.counts[1:, 1:].sum(axis=0).astype(np.float64)
        return tp, gt, pred

    def per_class_iou(self) -> np.ndarray:
        """(N,) float64 IoU of classes 1..N; NaN where the class is in neither gt nor pred."""
        tp, gt, pred = self._tp_gt_pred()
        union = gt + pred - tp
        iou = np.full(self.num_classes, np.nan)
        np.divide(tp, union, out=iou, where=union > 0)
        return iou

    def miou(self) -> float:
        """Mean IoU over the classes present in ground truth or prediction (NaN if none)."""
        iou = self.per_class_iou()
        present = ~np.isnan(iou)
        return float(iou[present].mean()) if present.any() else float("nan")

    def pixel_accuracy(self) -> float:
        """Correct pixels / scored pixels (NaN if none)."""
        tp, gt, _ = self._tp_gt_pred()
        total = gt.sum()
        return float(tp.sum() / total) if total > 0 else float("nan")

    def mean_accuracy(self) -> float:
        """Mean over ground-truth classes present of correct / ground-truth pixels."""
        tp, gt, _ = self._tp_gt_pred()
        present = gt > 0
        return float((tp[present] / gt[present]).mean()) if present.any() else float("nan")

    def save_confusion_png(self, path: str | Path,
                           class_names: Sequence[str] | None = None) -> Path:
        """Write the row-normalised matrix as a heat map PNG (viridis; grey = no gt pixels).

        Rows are ground truth, columns predictions; each row is divided by the class's
        ground-truth pixel count. A "void" column is added when void predictions exist.
        """
        n = self.num_classes
        if class_names is not None and len(class_names) != n:
            raise ValueError(f"save_confusion_png: expected {n} class names, found "
                             f"{len(class_names)}")
        names = [f"{i + 1} {class_names[i] if class_names else ''}".strip()[:22]
                 for i in range(n)]
        counts = self.matrix
        col_names = list(names)
        if self.void_predictions.any():
            counts = np.concatenate([counts, self.void_predictions[:, None]], axis=1)
            col_names.append("0 void")
        rows_total = counts.sum(axis=1, keepdims=True).astype(np.float64)
        norm = np.divide(counts, rows_total, out=np.full(counts.shape, np.nan),
                         where=rows_total > 0)
        image = _render_heat_map(norm, names, col_names, miou=self.miou())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        return path


def _render_heat_map(norm: np.ndarray, row_names: list[str], col_names: list[str],
                     miou: float) -> np.ndarray:
    """(rows, cols) values in [0, 1] (NaN = no data) -> labelled RGB uint8 image."""
    n_rows, n_cols = norm.shape
    cell = int(np.clip(720 // max(n_rows, n_cols), 16, 48))
    scale, pad = 0.4, 6
    text_w = max(cv2.getTextSize(s, _FONT, scale, 1)[0][0] for s in row_names + col_names)
    left, top, bar_w, title_h = text_w + 2 * pad, text_w + 2 * pad, 70, 40
    title = (f"rows: ground truth (normalised), columns: prediction; grey: no gt pixels; "
             f"mIoU {miou:.3f}")
    height = title_h + top + n_rows * cell + pad
    title_w = cv2.getTextSize(title, _FONT, 0.45, 1)[0][0] + 2 * pad
    width = max(left + n_cols * cell + bar_w, title_w)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)

    # cells: viridis colour per normalised count, 1 px white gaps as a grid
    levels = np.nan_to_num(np.clip(norm, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    colours = cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS)[..., ::-1]  # (rows, cols, 3)
    colours[np.isnan(norm)] = (190, 190, 190)
    y0, x0 = title_h + top, left
    for r in range(n_rows):
        for c in range(n_cols):
            ys, xs = y0 + r * cell, x0 + c * cell
            canvas[ys:ys + cell - 1, xs:xs + cell - 1] = colours[r, c]
            if cell >= 32 and not np.isnan(norm[r, c]):
                label = f"{100 * norm[r, c]:.0f}"
                ink = (0, 0, 0) if norm[r, c] > 0.6 else (255, 255, 255)
                cv2.putText(canvas, label, (xs + 4, ys + cell // 2 + 4), _FONT, scale, ink, 1,
                            cv2.LINE_AA)

    # row labels on the left, column labels written sideways above the matrix
    for r, name in enumerate(row_names):
        cv2.putText(canvas, name, (pad, y0 + r * cell + cell // 2 + 4), _FONT, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    strip = np.full((n_cols * cell, top, 3), 255, dtype=np.uint8)  # drawn lying, then turned
    for c, name in enumerate(col_names):
        cv2.putText(strip, name, (pad, c * cell + cell // 2 + 4), _FONT, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    canvas[title_h:title_h + top, x0:x0 + n_cols * cell] = np.rot90(strip, 1)

    # colour bar
    bar_x, bar_h = x0 + n_cols * cell + 12, n_rows * cell
    ramp = np.linspace(255, 0, bar_h).round().astype(np.uint8)[:, None]  # top = 1
    bar = cv2.applyColorMap(np.repeat(ramp, 14, axis=1), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    canvas[y0:y0 + bar_h, bar_x:bar_x + 14] = bar
    for frac, text in ((0.0, "1.0"), (0.5, "0.5"), (1.0, "0.0")):
        y = int(y0 + frac * (bar_h - 1)) + 4
        cv2.putText(canvas, text, (bar_x + 18, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)

    cv2.putText(canvas, title, (pad, 24), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def per_image_iou_counts(pred, target, num_classes: int,
                         ignore_index: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image intersections and unions of classes 1..N: two (B, N) int64 arrays.

    ``pred`` and ``target`` are (B, ...) integer label maps. Summed over any set of images
    they give that set's IoU per class (intersection / union), so a bootstrap over images
    needs only these counts. Pixels whose ground truth is ``ignore_index`` count nowhere; a
    void prediction at a scored pixel adds to the ground-truth class's union only.
    """
    pred_ids, gt_ids = _as_ids("pred", pred), _as_ids("target", target)
    if pred_ids.shape != gt_ids.shape or pred_ids.ndim < 2:
        raise ValueError(f"per_image_iou_counts: expected pred and target of one (B, ...) "
                         f"shape, found {pred_ids.shape} and {gt_ids.shape}")
    batch = pred_ids.shape[0]
    pred_ids, gt_ids = pred_ids.reshape(batch, -1), gt_ids.reshape(batch, -1)
    keep = np.ones(gt_ids.shape, dtype=bool) if ignore_index is None else \
        gt_ids != ignore_index
    classes = np.arange(1, num_classes + 1)
    inter = np.zeros((batch, num_classes), dtype=np.int64)
    union = np.zeros((batch, num_classes), dtype=np.int64)
    for b in range(batch):
        g, p = gt_ids[b][keep[b]], pred_ids[b][keep[b]]
        gt_count = np.bincount(g, minlength=num_classes + 1)[classes]
        pred_count = np.bincount(p[(p >= 1) & (p <= num_classes)],
                                 minlength=num_classes + 1)[classes]
        hit = np.bincount(g[g == p], minlength=num_classes + 1)[classes]
        inter[b], union[b] = hit, gt_count + pred_count - hit
    return inter, union


def miou_from_counts(inter: np.ndarray, union: np.ndarray) -> float:
    """mIoU (0-1) over the classes with a non-zero union, from summed per-image counts."""
    inter, union = np.asarray(inter).sum(axis=0), np.asarray(union).sum(axis=0)
    seen = union > 0
    return float(np.mean(inter[seen] / union[seen])) if seen.any() else float("nan")
