"""The camera model: NYUv2 Kinect intrinsics scaled to any image size, and the pose."""

from __future__ import annotations

import math

import numpy as np

#: NYUv2 Kinect colour intrinsics at 640x480: fx, fy, cx, cy (pixels).
NYU_INTRINSICS = (518.86, 519.47, 325.58, 253.74)
NYU_SIZE = (480, 640)


def intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    """NYUv2 (fx, fy, cx, cy) scaled from 640x480 to ``width`` x ``height``.

    fx, cx scale with width / 640 and fy, cy with height / 480; the principal point is scaled
    about pixel centres ((c + 0.5) * s - 0.5) so that resized images stay registered.
    """
    sx, sy = width / NYU_SIZE[1], height / NYU_SIZE[0]
    fx, fy, cx, cy = NYU_INTRINSICS
    return fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5


def _camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) matrix whose columns are the camera right, down and forward axes in the world."""
    fwd = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch),
                    math.cos(yaw) * math.cos(pitch)])
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c, s = math.cos(roll), math.sin(roll)
    return np.stack([c * right + s * down, -s * right + c * down, fwd], axis=1)
