"""The scene as flat per-box arrays, the form the ray caster and the shaders read."""

from __future__ import annotations

import math

import numpy as np

from .scene import Scene
from .textures import _KIND_IDS

_F32 = np.float32
_ROOM_ENTRIES = 3  # object rows 0, 1, 2 are the wall, floor and ceiling


class _Arrays:
    """The scene's objects as flat arrays; rows 0-2 are the room's wall, floor, ceiling."""

    def __init__(self, scene: Scene) -> None:
        sx, sy, sz = scene.size_m
        room_c, room_h = (sx / 2, sy / 2, sz / 2), (sx / 2, sy / 2, sz / 2)
        rows = [(room_c, room_h, 0.0, 1, scene.wall, False, scene.seed * 7 + 1),
                (room_c, room_h, 0.0, 2, scene.floor, False, scene.seed * 7 + 2),
                (room_c, room_h, 0.0, 22, scene.ceiling, False, scene.seed * 7 + 3)]
        rows += [(b.center, b.half, b.yaw, b.label, b.material, b.shadow, b.seed)
                 for b in scene.boxes]
        self.center = np.array([r[0] for r in rows], dtype=np.float64)
        self.half = np.array([r[1] for r in rows], dtype=np.float64)
        yaw = np.array([r[2] for r in rows], dtype=np.float64)
        self.cos, self.sin = np.cos(yaw), np.sin(yaw)
        self.cos_f, self.sin_f = self.cos.astype(_F32), self.sin.astype(_F32)
        self.label = np.array([r[3] for r in rows], dtype=np.int64)
        mats = [r[4] for r in rows]
        self.shadow = np.array([r[5] for r in rows], dtype=bool)
        self.seed = np.array([r[6] & 0xFFFFFFFF for r in rows], dtype=np.uint32)
        self.kind = np.array([_KIND_IDS[m.kind] for m in mats], dtype=np.int16)
        self.base = np.array([m.rgb for m in mats], dtype=_F32)
        self.alt = np.array([m.alt for m in mats], dtype=_F32)
        self.scale = np.array([m.scale for m in mats], dtype=_F32)
        self.specular = np.array([m.specular for m in mats], dtype=_F32)
        self.emission = np.array([m.emission for m in mats], dtype=_F32)
        self.dropout = np.array([m.dropout for m in mats], dtype=_F32)
        self.grain = np.array([m.grain for m in mats], dtype=_F32)
        # Boxes turned by a multiple of 90 degrees are axis-aligned in the world: their world
        # half sizes let the ray caster skip the rotation.
        quarter = np.round(yaw / (math.pi / 2))
        self.aligned = np.abs(yaw - quarter * (math.pi / 2)) < 1e-9
        swap = (quarter.astype(np.int64) % 2) == 1
        self.center_f, self.half_f = self.center.astype(_F32), self.half.astype(_F32)
        self.world_half = self.half.copy()
        self.world_half[swap, 0], self.world_half[swap, 2] = (self.half[swap, 2],
                                                              self.half[swap, 0])

        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)],
                         dtype=np.float64)
        loc = signs[None] * self.half[:, None, :]  # (K, 8, 3)
        c, s = self.cos[:, None], self.sin[:, None]
        self.all_corners = np.stack([c * loc[..., 0] + s * loc[..., 2], loc[..., 1],
                                     -s * loc[..., 0] + c * loc[..., 2]], axis=-1)
        self.all_corners += self.center[:, None, :]  # (K, 8, 3) world corners

    def corners(self, k: int) -> np.ndarray:
        """(8, 3) world corners of box ``k``."""
        return self.all_corners[k]
