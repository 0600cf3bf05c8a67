"""Image grids for previews and training samples (PNG, uint8)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .data.labels import colorize_depth, colorize_labels


def to_uint8_rgb(x) -> np.ndarray:
    """(3,H,W) tensor/array in [-1,1] or (H,W,3) uint8 -> (H,W,3) uint8."""
    arr = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.dtype == np.uint8:
        return arr
    if arr.ndim == 3 and arr.shape[0] == 3:
        arr = arr.transpose(1, 2, 0)
    return ((np.clip(arr, -1.0, 1.0) + 1.0) * 127.5 + 0.5).astype(np.uint8)


def grid(rows: Sequence[Sequence[np.ndarray]], gap: int = 2,
         background: int = 255) -> np.ndarray:
    """Tile (H,W,3) uint8 cells row by row, ``gap`` background pixels between cells.

    The result is ``(rows*(h+gap)-gap, cols*(w+gap)-gap, 3)`` for cells of at most h x w.
    """
    if not rows or not rows[0]:
        raise ValueError("grid: expected at least one row with one cell")
    h = max(c.shape[0] for r in rows for c in r)
    w = max(c.shape[1] for r in rows for c in r)
    ncols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, ncols * (w + gap) - gap, 3), background,
                  dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            y, x = i * (h + gap), j * (w + gap)
            out[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
    return out


def sample_panels(sample, palette: np.ndarray | None = None,
                  max_depth_m: float = 10.0) -> list[np.ndarray]:
    """``[rgb, colourised depth, colourised labels]`` of a :class:`~scmis_core.data.Sample`."""
    return [sample.rgb, colorize_depth(sample.depth_m, max_depth_m),
            colorize_labels(sample.labels, palette)]


def rgbd_rows(labels: np.ndarray, columns: Sequence[tuple[str, np.ndarray]],
              palette: np.ndarray | None = None, max_depth_m: float = 10.0
              ) -> list[list[np.ndarray]]:
    """Rows of ``label | col1 | col2 ...`` for a batch.

    ``labels``: (B,H,W) ids. Each column is (kind, batch) with kind ``rgb`` ((B,3,H,W) in
    [-1,1] or (B,H,W,3) uint8) or ``depth`` ((B,H,W) or (B,1,H,W) metres).
    """
    rows = []
    for b in range(len(labels)):
        row = [colorize_labels(np.asarray(labels[b]), palette)]
        for kind, batch in columns:
            item = batch[b]
            if kind == "rgb":
                row.append(to_uint8_rgb(item))
            else:
                d = item.detach().float().cpu().numpy() if hasattr(item, "detach") else item
                row.append(colorize_depth(np.asarray(d).reshape(d.shape[-2:]), max_depth_m))
        rows.append(row)
    return rows


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an (H,W,3) uint8 image as PNG (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
