"""Placing object groups in a room: wall, floor, wall-hanging and table-top slots without
heavy interpenetration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .materials import Material
from .scene import Box


class _Group:
    """Parts of one object in its own frame: x across, y up from its base, z to its front."""

    def __init__(self) -> None:
        self.parts: list[tuple[tuple[float, ...], int, Material, bool]] = []

    def add(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
            label: int, mat: Material, shadow: bool = True) -> "_Group":
        self.parts.append(((x0, x1, y0, y1, z0, z1), label, mat, shadow))
        return self

    def bounds(self) -> tuple[float, float, float, float, float]:
        """(x0, x1, z0, z1, y1) of the union of the parts."""
        b = np.array([p[0] for p in self.parts])
        return (float(b[:, 0].min()), float(b[:, 1].max()), float(b[:, 4].min()),
                float(b[:, 5].max()), float(b[:, 3].max()))


@dataclass
class _Surface:
    """A horizontal top that small things can stand on (in the frame of its object)."""

    x: float
    z: float
    yaw: float
    rect: tuple[float, float, float, float]
    y: float
    taken: list[tuple[float, float, float, float]] = field(default_factory=list)


def _overlap(a: tuple, b: tuple, margin: float = 0.0) -> bool:
    """Do 2-D rectangles (x0, x1, z0, z1) overlap (after growing ``a`` by ``margin``)?"""
    return (a[0] - margin < b[1] and b[0] < a[1] + margin and
            a[2] - margin < b[3] and b[2] < a[3] + margin)


class _Layout:
    """Places object groups in the room without heavy interpenetration."""

    def __init__(self, rng: np.random.Generator, size: tuple[float, float, float]) -> None:
        self.rng = rng
        self.sx, self.sy, self.sz = size
        self.boxes: list[Box] = []
        self.floor_rects: list[tuple[float, float, float, float]] = []
        self.mat_rects: list[tuple[float, float, float, float]] = []
        self.wall_rects: dict[int, list[tuple[float, float, float, float]]] = {
            k: [] for k in range(4)}
        self.surfaces: list[_Surface] = []
        self.anchors: list[tuple[float, float, float]] = []  # things worth looking at

    # -- frames ---------------------------------------------------------------------------
    def wall_len(self, k: int) -> float:
        return self.sx if k % 2 == 0 else self.sz

    def wall_pose(self, k: int, s: float, off: float) -> tuple[float, float, float]:
        """World (x, z, yaw) of the point ``s`` along wall ``k``, ``off`` into the room.

        The yaw turns an object's +z (front) to face into the room, and its +x to run with s.
        """
        if k == 0:
            return s, off, 0.0
        if k == 1:
            return self.sx - off, s, -math.pi / 2
        if k == 2:
            return self.sx - s, self.sz - off, math.pi
        return off, self.sz - s, math.pi / 2

    @staticmethod
    def to_world(x: float, z: float, yaw: float, lx: float, lz: float) -> tuple[float, float]:
        c, s = math.cos(yaw), math.sin(yaw)
        return x + c * lx + s * lz, z - s * lx + c * lz

    def footprint(self, rect: tuple, x: float, z: float, yaw: float) -> tuple:
        """World AABB (x0, x1, z0, z1) of a local rectangle placed at (x, z, yaw)."""
        pts = [self.to_world(x, z, yaw, lx, lz) for lx in rect[:2] for lz in rect[2:]]
        xs, zs = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs), max(xs), min(zs), max(zs)

    # -- checks ---------------------------------------------------------------------------
    def inside(self, fp: tuple, margin: float = 0.0) -> bool:
        return (fp[0] >= margin and fp[1] <= self.sx - margin and fp[2] >= margin and
                fp[3] <= self.sz - margin)

    def floor_free(self, fp: tuple, margin: float = 0.05) -> bool:
        return self.inside(fp, -1e-6) and not any(_overlap(fp, r, margin)
                                                  for r in self.floor_rects)

    def wall_free(self, k: int, s0: float, s1: float, y0: float, y1: float,
                  margin: float = 0.05) -> bool:
        if s0 < 0.0 or s1 > self.wall_len(k):
            return False
        return not any(s0 - margin < r[1] and r[0] < s1 + margin and y0 < r[3] and r[2] < y1
                       for r in self.wall_rects[k])

    # -- emitting -------------------------------------------------------------------------
    def emit(self, group: _Group, x: float, z: float, yaw: float, y: float = 0.0) -> None:
        """Add the group's parts as world boxes, its frame at (x, y, z) turned by yaw."""
        for (x0, x1, y0, y1, z0, z1), label, mat, shadow in group.parts:
            wx, wz = self.to_world(x, z, yaw, 0.5 * (x0 + x1), 0.5 * (z0 + z1))
            self.boxes.append(Box((wx, y + 0.5 * (y0 + y1), wz),
                                  (0.5 * (x1 - x0), 0.5 * (y1 - y0), 0.5 * (z1 - z0)),
                                  yaw, label, mat, shadow, int(self.rng.integers(2**31))))

    def add_surface(self, group_rect: tuple, x: float, z: float, yaw: float, y: float,
                    inset: float = 0.03) -> None:
        x0, x1, z0, z1 = group_rect
        if x1 - x0 > 2 * inset + 0.1 and z1 - z0 > 2 * inset + 0.1:
            self.surfaces.append(_Surface(x, z, yaw, (x0 + inset, x1 - inset, z0 + inset,
                                                      z1 - inset), y))

    # -- placing --------------------------------------------------------------------------
    def against_wall(self, group: _Group, walls: list[int] | None = None, tries: int = 40,
                     gap: float = 0.01, s: float | None = None, reserve_front: float = 0.0,
                     block_wall: bool = True, wall_height: float | None = None
                     ) -> tuple[float, float, float, int, float] | None:
        """Put ``group`` with its back against a wall; return (x, z, yaw, wall, s) or None.

        ``wall_height`` (default: the group's height) is how high up the wall it blocks.
        """
        x0, x1, z0, z1, height = group.bounds()
        if wall_height is not None:
            height = wall_height
        w = x1 - x0
        for _ in range(tries):
            k = int(self.rng.choice(walls)) if walls else int(self.rng.integers(4))
            length = self.wall_len(k)
            if w > length - 0.02:
                continue
            sc = s if s is not None else float(self.rng.uniform(w / 2 + 0.01,
                                                                length - w / 2 - 0.01))
            if not self.wall_free(k, sc - w / 2, sc + w / 2, 0.0, height, 0.02):
                continue
            x, z, yaw = self.wall_pose(k, sc - 0.5 * (x0 + x1), gap - z0)
            fp = self.footprint((x0, x1, z0, z1 + reserve_front), x, z, yaw)
            if not self.floor_free(fp):
                continue
            self.emit(group, x, z, yaw)
            self.floor_rects.append(fp)
            self.anchors.append((*self.to_world(x, z, yaw, 0.5 * (x0 + x1), 0.5 * (z0 + z1)),
                                 0.5 * height))
            if block_wall:
                self.wall_rects[k].append((sc - w / 2, sc + w / 2, 0.0, height))
            return x, z, yaw, k, sc
        return None

    def free_standing(self, group: _Group, tries: int = 40, yaw: float | None = None,
                      region: tuple | None = None, margin: float = 0.35,
                      jitter: float = 0.0) -> tuple[float, float, float] | None:
        """Put ``group`` on the floor at a free spot (inside ``region`` if given)."""
        x0, x1, z0, z1, _ = group.bounds()
        rx0, rx1, rz0, rz1 = region if region else (margin, self.sx - margin, margin,
                                                    self.sz - margin)
        for _ in range(tries):
            g_yaw = yaw if yaw is not None else float(self.rng.integers(4)) * math.pi / 2
            g_yaw += float(self.rng.uniform(-jitter, jitter))
            x = float(self.rng.uniform(rx0, rx1))
            z = float(self.rng.uniform(rz0, rz1))
            fp = self.footprint((x0, x1, z0, z1), x, z, g_yaw)
            if not self.floor_free(fp):
                continue
            self.emit(group, x, z, g_yaw)
            self.floor_rects.append(fp)
            self.anchors.append((0.5 * (fp[0] + fp[1]), 0.5 * (fp[2] + fp[3]),
                                 0.5 * group.bounds()[4]))
            return x, z, g_yaw
        return None

    def on_wall(self, group: _Group, y0: float, y1: float, walls: list[int] | None = None,
                tries: int = 30, s: float | None = None, k: int | None = None,
                pad: float = 0.1) -> tuple[int, float] | None:
        """Hang a thin group on a wall between heights y0 and y1 (its parts use those y)."""
        x0, x1, z0, _, _ = group.bounds()
        w = x1 - x0
        for _ in range(tries):
            wall = k if k is not None else (int(self.rng.choice(walls)) if walls
                                            else int(self.rng.integers(4)))
            length = self.wall_len(wall)
            if w + 2 * pad > length:
                continue
            sc = s if s is not None else float(self.rng.uniform(w / 2 + pad,
                                                                length - w / 2 - pad))
            if not self.wall_free(wall, sc - w / 2, sc + w / 2, y0, y1, pad):
                continue
            x, z, yaw = self.wall_pose(wall, sc - 0.5 * (x0 + x1), 0.002 - z0)
            self.emit(group, x, z, yaw)
            self.wall_rects[wall].append((sc - w / 2, sc + w / 2, y0, y1))
            return wall, sc
        return None

    def on_surface(self, group: _Group, tries: int = 12,
                   surfaces: list[_Surface] | None = None, turn: bool = True) -> bool:
        """Stand a small group on a free part of a registered top surface."""
        x0, x1, z0, z1, _ = group.bounds()
        pool = surfaces if surfaces is not None else self.surfaces
        if not pool:
            return False
        for _ in range(tries):
            surf = pool[int(self.rng.integers(len(pool)))]
            flip = turn and self.rng.random() < 0.5
            gx0, gx1, gz0, gz1 = (-x1, -x0, -z1, -z0) if flip else (x0, x1, z0, z1)
            sx0, sx1, sz0, sz1 = surf.rect
            if gx1 - gx0 > sx1 - sx0 or gz1 - gz0 > sz1 - sz0:
                continue
            px = float(self.rng.uniform(sx0 - gx0, sx1 - gx1))
            pz = float(self.rng.uniform(sz0 - gz0, sz1 - gz1))
            rect = (px + gx0, px + gx1, pz + gz0, pz + gz1)
            if any(_overlap(rect, r, 0.02) for r in surf.taken):
                continue
            surf.taken.append(rect)
            wx, wz = self.to_world(surf.x, surf.z, surf.yaw, px, pz)
            self.emit(group, wx, wz, surf.yaw + (math.pi if flip else 0.0), surf.y)
            return True
        return False
