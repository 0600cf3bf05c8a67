"""SUN RGB-D (37 classes) in a simple folder layout, with its bit-rotated depth encoding.

Layout::

    root/{train,test}/rgb/STEM.{jpg,png}   8-bit colour
    root/{train,test}/depth/STEM.png       16-bit, SUN RGB-D encoding (below)
    root/{train,test}/labels/STEM.png      class ids 0..37 (0 = void)

SUN RGB-D depth PNGs (``depth_bfx`` and ``depth``) store millimetres rotated left by 3 bits in
16 bits, ``raw = (d << 3) | (d >> 13)``; the SUN RGB-D toolbox (``read3dPoints.m``) decodes
with the inverse rotation ``d = (raw >> 3) | (raw << 13)`` in 16-bit arithmetic. No clipping
is applied here (the toolbox clips at 8 m for its point clouds). Frame sizes vary by sensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .folder import FilesDataset, require_dir, scan_split
from .io import read_depth_raw
from .labels import SUNRGBD37_CLASSES


def decode_sunrgbd_depth(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D stored uint16 -> float32 metres: rotate right by 3 bits, mm -> m."""
    raw = np.asarray(raw).astype(np.uint16)
    depth_mm = (raw >> np.uint16(3)) | (raw << np.uint16(13))  # uint16 arithmetic wraps
    return depth_mm.astype(np.float32) * np.float32(0.001)


def encode_sunrgbd_depth(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres -> SUN RGB-D stored values (rotate left by 3 bits)."""
    depth_mm = np.asarray(depth_mm).astype(np.uint16)
    return (depth_mm << np.uint16(3)) | (depth_mm >> np.uint16(13))


def read_sunrgbd_depth(path: str | Path) -> np.ndarray:
    """Read a SUN RGB-D depth PNG as float32 metres (0 = invalid)."""
    return decode_sunrgbd_depth(read_depth_raw(path))


class SUNRGBDDataset(FilesDataset):
    """SUN RGB-D frames in the layout of the module docstring (37 classes)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        root = require_dir(Path(root), "SUN RGB-D data set")
        frames, _ = scan_split(root / split, "labels", f"SUN RGB-D {split}")
        self.root = root
        self.split = split
        super().__init__(frames, SUNRGBD37_CLASSES, has_depth=True,
                         depth_reader=read_sunrgbd_depth)
