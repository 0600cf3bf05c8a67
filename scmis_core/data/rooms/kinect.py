"""The Kinect v1 depth model: depth noise, disparity quantisation and holes."""

from __future__ import annotations

import numpy as np

from .arrays import _Arrays
from .noise import _U32, _vnoise

_F32 = np.float32


#: Range of valid Kinect depth in this data set (metres); outside it depth is 0 (invalid).
MIN_DEPTH_M = 0.5
MAX_DEPTH_M = 10.0
#: Kinect v1 IR focal length (px) times projector baseline (m), and its disparity step (px).
KINECT_FOCAL_BASELINE = 580.0 * 0.075
KINECT_DISPARITY_STEP = 1.0 / 8.0
KINECT_BASELINE_M = 0.075


def _kinect_depth(z: np.ndarray, normal_dot_view: np.ndarray, surface_holes: np.ndarray,
                  fx: float, rng: np.random.Generator | None) -> np.ndarray:
    """Kinect-like depth from the exact z-depth (H, W); ``rng`` None gives the exact depth.

    Noise: sigma(z) = 1.2 mm + 1.9 mm (z - 0.4 m)^2 (Nguyen et al. 2012), larger at grazing
    angles, then rounded to the Kinect's 1/8-pixel disparity steps. Holes (0): pixels the IR
    projector cannot see (occlusion shadows left of foreground objects), ragged depth edges,
    grazing angles, ``surface_holes`` (glass, mirrors, screens, very dark surfaces), random
    speckle, and everything outside MIN_DEPTH_M..MAX_DEPTH_M.
    """
    depth = z.astype(_F32)
    if rng is not None:
        w = z.shape[1]
        sigma = 0.0012 + 0.0019 * np.square(z - 0.4)
        sigma = sigma * (1.0 + 2.0 * np.clip(0.3 - normal_dot_view, 0.0, 0.3))
        depth = depth + rng.standard_normal(z.shape, dtype=_F32) * sigma
        disp = KINECT_FOCAL_BASELINE / np.maximum(depth, 1e-3)
        disp = np.maximum(np.round(disp * (1.0 / KINECT_DISPARITY_STEP)), 1.0)
        depth = (KINECT_FOCAL_BASELINE / KINECT_DISPARITY_STEP) / disp
        # Projector shadow: pixel u is hidden from the projector if a pixel further right maps
        # to a projector column at or left of its own (p = u - disparity in pixels).
        p = np.arange(w, dtype=_F32)[None, :] - fx * KINECT_BASELINE_M / np.maximum(z, 1e-3)
        right_min = np.minimum.accumulate(p[:, ::-1], axis=1)[:, ::-1]
        hidden = np.zeros(z.shape, dtype=bool)
        hidden[:, :-1] = right_min[:, 1:] < p[:, :-1] - 0.3
        # Ragged edges: both sides of a depth jump of more than ~4 % lose pixels at random.
        rel = 0.04 * z
        jump = np.zeros(z.shape, dtype=bool)
        jx = np.abs(np.diff(z, axis=1)) > rel[:, 1:]
        jy = np.abs(np.diff(z, axis=0)) > rel[1:, :]
        jump[:, 1:] |= jx
        jump[:, :-1] |= jx
        jump[1:, :] |= jy
        jump[:-1, :] |= jy
        r = rng.random(z.shape, dtype=_F32)
        invalid = (hidden | (jump & (r < 0.45)) | (r * 0.12 > normal_dot_view) |
                   surface_holes | (r < 0.002))
        depth = np.where(invalid, 0.0, depth)
    valid = (depth >= MIN_DEPTH_M) & (depth <= MAX_DEPTH_M) & np.isfinite(depth)
    return np.where(valid, depth, 0.0).astype(_F32)


def _surface_holes(arr: _Arrays, obj: np.ndarray, local: tuple, albedo: np.ndarray,
                   dropout: np.ndarray) -> np.ndarray:
    """(N,) True where the Kinect misses the surface: blobs covering the material's
    ``dropout`` share (glass, mirrors, screens) and 35 % of very dark surfaces."""
    n = len(obj)
    dark = albedo.max(axis=1) < 0.012
    holes = np.zeros(n, dtype=_F32)  # share of the surface the Kinect misses
    need = np.flatnonzero((dropout > 0) | dark)
    blob = np.ones(n, dtype=_F32)
    if len(need):
        seed_n = np.take(arr.seed, np.take(obj, need)) + _U32(99)
        blob[need] = _vnoise((np.take(local[0], need) + np.take(local[2], need)) / 0.06,
                             np.take(local[1], need) / 0.06, seed_n)
        holes[need] = np.maximum(np.take(dropout, need), np.where(dark[need], 0.35, 0.0))
    return blob < holes
