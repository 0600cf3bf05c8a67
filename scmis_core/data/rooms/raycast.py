"""Ray casting: primary rays through every pixel and shadow rays to the light."""

from __future__ import annotations

import numpy as np

from .arrays import _ROOM_ENTRIES, _Arrays
from .camera import intrinsics

_F32 = np.float32
_NEAR_M = 1e-3


def _slab(o: tuple, d: tuple, inv: tuple, lo: np.ndarray, hi: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Ray / box slab test: entry and exit parameters (arrays) for rays o + t d."""
    t1 = (lo[0] - o[0]) * inv[0]
    t2 = (hi[0] - o[0]) * inv[0]
    tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
    for a in (1, 2):
        t1 = (lo[a] - o[a]) * inv[a]
        t2 = (hi[a] - o[a]) * inv[a]
        np.maximum(tn, np.minimum(t1, t2), out=tn)
        np.minimum(tf, np.maximum(t1, t2), out=tf)
    return tn, tf


def _local_rays(arr: _Arrays, k: int, ox, oy, oz, dx, dy, dz):
    """Origins (scalars or arrays) and directions of rays in the frame of box ``k``."""
    c, s = arr.cos[k], arr.sin[k]
    rx, ry, rz = ox - arr.center[k, 0], oy - arr.center[k, 1], oz - arr.center[k, 2]
    o = (c * rx - s * rz, ry, s * rx + c * rz)
    d = (c * dx - s * dz, dy, s * dx + c * dz)
    return o, d


def _cast(arr: _Arrays, cam: np.ndarray, rot: np.ndarray, height: int, width: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Primary rays: (z-depth (H, W), object row (H, W), room face axis (H, W), dirs)."""
    fx, fy, cx, cy = intrinsics(height, width)
    xn = ((np.arange(width, dtype=np.float64) - cx) / fx).astype(_F32)[None, :]
    yn = ((np.arange(height, dtype=np.float64) - cy) / fy).astype(_F32)[:, None]
    r = rot.astype(np.float64)
    # World direction of the ray through each pixel, scaled so its camera z is 1: the ray
    # parameter t is then the z-depth.
    dirs = tuple((float(r[i, 0]) * xn + float(r[i, 1]) * yn + float(r[i, 2])).astype(_F32)
                 for i in range(3))  # 3 x (H, W)
    with np.errstate(divide="ignore"):
        inv = tuple((1.0 / d).astype(_F32) for d in dirs)
    ox, oy, oz = (float(v) for v in cam)
    sx, sy, sz = (2.0 * float(v) for v in arr.half[0])
    # The camera is inside the room box: the room surface seen is where the ray exits. A ray
    # parallel to a wall pair (direction component exactly 0) never exits through it.
    exits = [np.where(dirs[a] > 0, (size - o) * inv[a],
                      np.where(dirs[a] < 0, -o * inv[a], np.inf))
             for a, (size, o) in enumerate(((sx, ox), (sy, oy), (sz, oz)))]
    t_best = np.minimum(np.minimum(exits[0], exits[1]), exits[2]).astype(_F32)
    axis = np.where(exits[0] <= np.minimum(exits[1], exits[2]), 0,
                    np.where(exits[1] <= exits[2], 1, 2)).astype(np.int8)
    obj = np.where(axis == 1, np.where(dirs[1] < 0, 1, 2), 0).astype(np.intp)

    # Screen rectangle of every box from its projected corners.
    pts = (arr.all_corners - cam) @ r  # (K, 8, 3) in camera axes (right, down, forward)
    zc = pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        us = fx * pts[..., 0] / zc + cx
        vs = fy * pts[..., 1] / zc + cy
    straddles = zc.min(axis=1) <= 0.05
    behind = zc.max(axis=1) <= 0.05
    rect = np.stack([np.floor(vs.min(axis=1)), np.ceil(vs.max(axis=1)) + 1,
                     np.floor(us.min(axis=1)), np.ceil(us.max(axis=1)) + 1], axis=1)
    rect = np.clip(np.nan_to_num(rect), -1, [height, height, width, width])
    rect[straddles] = (0, height, 0, width)
    rect = np.maximum(rect, 0).astype(np.int64)
    for k in range(_ROOM_ENTRIES, len(arr.label)):
        v0, v1, u0, u1 = (int(v) for v in rect[k])
        if behind[k] or u0 >= u1 or v0 >= v1:
            continue
        win = (slice(v0, v1), slice(u0, u1))
        if arr.aligned[k]:
            lo, hi = arr.center[k] - arr.world_half[k], arr.center[k] + arr.world_half[k]
            tn, tf = _slab((ox, oy, oz), None, tuple(i[win] for i in inv), lo, hi)
        else:
            o, d = _local_rays(arr, k, ox, oy, oz, *(di[win] for di in dirs))
            with np.errstate(divide="ignore"):
                inv_l = tuple(1.0 / di for di in d)
            tn, tf = _slab(o, d, inv_l, -arr.half[k], arr.half[k])
        tb = t_best[win]
        with np.errstate(invalid="ignore"):
            hit = (tn <= tf) & (tn > _NEAR_M) & (tn < tb)
        np.copyto(tb, tn, where=hit)
        np.copyto(obj[win], k, where=hit)
    return t_best, obj, axis, dirs


def _sort_key(values: np.ndarray, limit: float) -> np.ndarray:
    """Monotone int16 key of ``values`` clipped to +-limit (int16 argsort is a fast radix
    sort; callers re-check the exact values after a binary search on the key)."""
    return (np.clip(values, -limit, limit) * (32000.0 / limit)).astype(np.int16)


def _key_range(sorted_keys: np.ndarray, lo: float, hi: float, limit: float) -> tuple:
    """Index range of ``sorted_keys`` that may hold values in [lo, hi]."""
    k = _sort_key(np.array([lo, hi], dtype=np.float64), limit)
    return (int(np.searchsorted(sorted_keys, k[0], side="left")),
            int(np.searchsorted(sorted_keys, k[1], side="right")))


def _shadow_rays(arr: _Arrays, px, py, pz, light: tuple) -> np.ndarray:
    """True for points whose segment to the point light crosses a shadow-casting box.

    Points are bucketed by their gnomonic projection from the light onto a horizontal plane
    (g = (p_xz - l_xz) / (l_y - p_y)); a box can only shade points whose g falls inside the
    g-range of its corners, found with a binary search on the sorted g_x.
    """
    lx, ly, lz = light
    n = len(px)
    occluded = np.zeros(n, dtype=bool)
    if n == 0:
        return occluded
    below = py < ly - 1e-3
    drop = np.maximum(ly - py, 1e-3)
    gx = np.where(below, (px - lx) / drop, 1e6)
    gz = np.where(below, (pz - lz) / drop, 1e6)
    limit = 16.0
    key = _sort_key(gx, limit)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    for k in np.flatnonzero(arr.shadow):
        corners = arr.corners(k)
        if corners[:, 1].max() >= ly - 1e-3:
            cand = np.arange(n)
        else:
            cd = ly - corners[:, 1]
            cgx, cgz = (corners[:, 0] - lx) / cd, (corners[:, 2] - lz) / cd
            i0, i1 = _key_range(key_sorted, cgx.min(), cgx.max(), limit)
            cand = order[i0:i1]
            cgx_c, cgz_c = np.take(gx, cand), np.take(gz, cand)
            cand = cand[(cgx_c >= cgx.min()) & (cgx_c <= cgx.max()) &
                        (cgz_c >= cgz.min()) & (cgz_c <= cgz.max())]
        if len(cand) == 0:
            continue
        qx, qy, qz = np.take(px, cand), np.take(py, cand), np.take(pz, cand)
        dx, dy, dz = lx - qx, ly - qy, lz - qz
        if arr.aligned[k]:
            o, d = (qx, qy, qz), (dx, dy, dz)
            lo, hi = arr.center[k] - arr.world_half[k], arr.center[k] + arr.world_half[k]
        else:
            o, d = _local_rays(arr, k, qx, qy, qz, dx, dy, dz)
            lo, hi = -arr.half[k], arr.half[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            tn, tf = _slab(o, d, tuple(1.0 / di for di in d), lo, hi)
            occluded[cand] |= (tn <= tf) & (tf > 1e-5) & (tn < 1.0)
    return occluded
