"""Shading: surface frames, textures, the point light with shadows, ambient occlusion and
specular highlights."""

from __future__ import annotations

import cv2
import numpy as np

from .arrays import _ROOM_ENTRIES, _Arrays
from .raycast import _key_range, _shadow_rays, _sort_key
from .scene import Scene
from .textures import _TEXTURES, _Tex

_F32 = np.float32


def _surface(arr: _Arrays, obj: np.ndarray, room_axis: np.ndarray, px, py, pz):
    """Local coordinates, face axis, face sign and world normal of each hit (flat arrays)."""
    c, s = np.take(arr.cos_f, obj), np.take(arr.sin_f, obj)
    center = np.take(arr.center_f, obj, axis=0)
    half = np.take(arr.half_f, obj, axis=0)
    rx, ry, rz = px - center[:, 0], py - center[:, 1], pz - center[:, 2]
    lx, ly, lz = c * rx - s * rz, ry, s * rx + c * rz
    q0 = np.abs(lx) / half[:, 0]
    q1 = np.abs(ly) / half[:, 1]
    q2 = np.abs(lz) / half[:, 2]
    axis = np.where((q0 >= q1) & (q0 >= q2), 0, np.where(q1 >= q2, 1, 2))
    room = obj < _ROOM_ENTRIES
    axis = np.where(room, room_axis, axis).astype(np.int8)
    comp = np.where(axis == 0, lx, np.where(axis == 1, ly, lz))
    pos = comp >= 0
    sign = np.where(pos, 1.0, -1.0).astype(_F32)
    sign = np.where(room, -sign, sign)  # the room is seen from inside
    nlx = np.where(axis == 0, sign, 0.0).astype(_F32)
    nly = np.where(axis == 1, sign, 0.0).astype(_F32)
    nlz = np.where(axis == 2, sign, 0.0).astype(_F32)
    normal = (c * nlx + s * nlz, nly, -s * nlx + c * nlz)
    return (lx, ly, lz), half, axis, pos, normal


def _shade_textures(arr: _Arrays, obj: np.ndarray, local, half, axis, pos):
    """Albedo (N, 3), emission (N, 3) and Kinect dropout share (N,) per pixel."""
    lx, ly, lz = local
    hx, hy, hz = half[:, 0], half[:, 1], half[:, 2]
    g = {
        "x": lx, "y": ly, "z": lz, "hx": hx, "hy": hy, "hz": hz, "axis": axis, "pos": pos,
        "u": np.where(axis == 0, lz, lx), "hu": np.where(axis == 0, hz, hx),
        "v": np.where(axis == 1, lz, ly), "hv": np.where(axis == 1, hz, hy),
        "base": np.take(arr.base, obj, axis=0), "alt": np.take(arr.alt, obj, axis=0),
        "scale": np.take(arr.scale, obj), "seed": np.take(arr.seed, obj),
        "emit": np.take(arr.emission, obj), "drop": np.take(arr.dropout, obj),
        "grain": np.take(arr.grain, obj),
    }
    n = len(obj)
    albedo = np.empty((n, 3), dtype=_F32)
    emission = np.zeros((n, 3), dtype=_F32)
    dropout = g["drop"].copy()
    kind = np.take(arr.kind, obj)
    order = np.argsort(kind, kind="stable")  # radix sort on small ints
    bounds = np.searchsorted(kind[order], np.arange(len(_TEXTURES) + 1))
    for kid, fn in enumerate(_TEXTURES.values()):
        idx = order[bounds[kid]:bounds[kid + 1]]
        if len(idx) == 0:
            continue
        t = _Tex(idx, g)
        fn(t)
        albedo[idx] = t.albedo
        if t.emission is not None:
            emission[idx] = t.emission
        if t.dropout is not None:
            dropout[idx] = t.dropout
    return albedo, emission, dropout


def _ambient_occlusion(arr: _Arrays, obj, px, py, pz, axis, floor_contact: bool = True):
    """Darkening in room corners, near the floor, and on the floor around furniture."""
    sx, sy, sz = (2.0 * float(v) for v in arr.half[0])
    dist = [np.minimum(px, sx - px), np.minimum(py, sy - py), np.minimum(pz, sz - pz)]
    room = obj < _ROOM_ENTRIES
    big = _F32(1e3)
    d_other = np.minimum(np.where(axis == 0, big, dist[0]),
                         np.minimum(np.where(axis == 1, big, dist[1]),
                                    np.where(axis == 2, big, dist[2])))
    ao = np.where(room, 1.0 - 0.45 * np.exp(-d_other / 0.3),
                  1.0 - 0.35 * np.exp(-py / 0.2)).astype(_F32)
    if not floor_contact:
        return ao
    floor = np.flatnonzero(obj == 1)
    if len(floor) == 0:
        return ao
    fx, fz = np.take(px, floor), np.take(pz, floor)
    limit = 16.0
    key = _sort_key(fx, limit)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    reach = 0.25
    for k in np.flatnonzero(arr.shadow):
        if arr.center[k, 1] - arr.half[k, 1] > 0.02:
            continue  # only boxes standing on the floor
        cs = arr.corners(k)
        i0, i1 = _key_range(key_sorted, cs[:, 0].min() - reach, cs[:, 0].max() + reach, limit)
        cand = order[i0:i1]
        cz_c = np.take(fz, cand)
        cand = cand[(cz_c >= cs[:, 2].min() - reach) & (cz_c <= cs[:, 2].max() + reach)]
        if len(cand) == 0:
            continue
        c, s = arr.cos[k], arr.sin[k]
        rx, rz = fx[cand] - arr.center[k, 0], fz[cand] - arr.center[k, 2]
        qx = np.abs(c * rx - s * rz) - arr.half[k, 0]
        qz = np.abs(s * rx + c * rz) - arr.half[k, 2]
        d = np.hypot(np.maximum(qx, 0), np.maximum(qz, 0))
        fade = min(1.0, 2.0 * arr.half[k, 1] / 0.3)  # low boxes occlude less
        ao[floor[cand]] *= (1.0 - 0.5 * fade * np.exp(-d / 0.08)).astype(_F32)
    return ao


def _direct_light(scene: Scene, arr: _Arrays, t: np.ndarray, p: tuple, normal: tuple,
                  height: int, width: int) -> tuple[np.ndarray, tuple]:
    """Direct light from the point light (1/d^2 fall-off, Lambert) with shadow rays.

    Returns the direct irradiance (N,) and the unit vectors to the light (3 x (N,)).
    """
    px, py, pz = p
    nx, ny, nz = normal
    lx, ly, lz = (float(v) for v in scene.light_pos)
    vx, vy, vz = lx - px, ly - py, lz - pz
    dist2 = vx * vx + vy * vy + vz * vz
    inv_d = 1.0 / np.sqrt(dist2)
    vx, vy, vz = vx * inv_d, vy * inv_d, vz * inv_d  # unit vectors to the light
    ndl = np.maximum(nx * vx + ny * vy + nz * vz, 0.0)
    lit = np.flatnonzero(ndl > 0)
    eps = 0.004 + 0.002 * np.take(t, lit)
    occluded = _shadow_rays(arr, np.take(px, lit) + eps * np.take(nx, lit),
                            np.take(py, lit) + eps * np.take(ny, lit),
                            np.take(pz, lit) + eps * np.take(nz, lit), (lx, ly, lz))
    vis = np.zeros(len(t), dtype=_F32)
    vis[lit] = ~occluded
    # Soft shadow edges: blur the visibility (1.2 px at 320 wide).
    sigma_px = max(0.6, 1.2 * width / 320.0)
    vis = cv2.GaussianBlur(vis.reshape(height, width), (0, 0), sigma_px).reshape(-1)
    intensity = scene.size_m[1] ** 2 * 1.1
    direct = intensity * ndl * vis / (dist2 + 0.05)
    return direct, (vx, vy, vz)


def _add_specular(radiance: np.ndarray, arr: _Arrays, obj: np.ndarray, normal: tuple,
                  to_light: tuple, dirs: tuple, inv_r: np.ndarray, direct: np.ndarray,
                  light: np.ndarray) -> None:
    """Add a Blinn-Phong highlight (exponent 40) to ``radiance`` on glossy materials only."""
    glossy = np.flatnonzero(np.take(arr.specular, obj) > 0)
    if not len(glossy):
        return
    nx, ny, nz = (np.take(a, glossy) for a in normal)
    vx, vy, vz = (np.take(a, glossy) for a in to_light)
    dx, dy, dz = (np.take(a, glossy) for a in dirs)
    ir = np.take(inv_r, glossy)
    hx, hy, hz = vx - dx * ir, vy - dy * ir, vz - dz * ir
    ndh = np.maximum((nx * hx + ny * hy + nz * hz) /
                     np.maximum(np.sqrt(hx * hx + hy * hy + hz * hz), 1e-6), 0.0)
    ndh8 = np.square(np.square(np.square(ndh)))
    spec = (np.take(arr.specular, np.take(obj, glossy)) * ndh8 *
            np.square(np.square(ndh8)) * np.take(direct, glossy) * 2.0)
    radiance[glossy] += spec[:, None] * light
