"""Procedural indoor rooms: the project's embedded default data set (NYUv2-like RGB-D frames).

A scene is a room box (wall, floor, ceiling) holding doors, windows and other wall fittings,
furniture and clutter, all built from boxes (each optionally turned about the vertical axis)
and labelled with NYU40 ids (:data:`CLASS_IDS_USED`). :func:`render_room` ray-casts it with a
pinhole camera that has the NYUv2 Kinect intrinsics scaled to the requested size, shades it
(textures computed in each surface's own coordinates, a ceiling light with shadow rays,
ambient light with corner occlusion, vignette, sensor noise) and simulates the Kinect depth:
camera-frame z-depth with noise growing with depth squared, disparity quantisation, and holes
at projector shadows, depth edges, grazing angles, dark / glossy surfaces and out of range.

Everything is numpy and vectorised over pixels; Python loops run over boxes (tens) only. The
scene depends on the seed alone, so one seed shows the same room at every resolution (only
the sensor noise differs).

    python -m scmis_core.data.rooms --preview /tmp/rooms.png --n 6
    python -m scmis_core.data.rooms --bench --size 240x320 --n 50
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .base import LabelledDataset
from ..visualize import grid, sample_panels
from .labels import NYU40_CLASSES, voc_palette
from .sample import Sample

#: NYUv2 Kinect colour intrinsics at 640x480: fx, fy, cx, cy (pixels).
NYU_INTRINSICS = (518.86, 519.47, 325.58, 253.74)
NYU_SIZE = (480, 640)
#: Range of valid Kinect depth in this data set (metres); outside it depth is 0 (invalid).
MIN_DEPTH_M = 0.5
MAX_DEPTH_M = 10.0
#: Kinect v1 IR focal length (px) times projector baseline (m), and its disparity step (px).
KINECT_FOCAL_BASELINE = 580.0 * 0.075
KINECT_DISPARITY_STEP = 1.0 / 8.0
KINECT_BASELINE_M = 0.075

#: Every NYU40 id the generator can emit, with the object(s) that produce it.
CLASS_IDS_USED: dict[int, str] = {
    1: "wall: the four room walls (with a skirting board)",
    2: "floor: the room floor (planks, tiles or carpet)",
    3: "cabinet: cupboards, wardrobes, kitchen base / wall units, TV stands",
    4: "bed: bed frame, mattress, duvet and headboard",
    5: "chair: seat + back + legs (dining / desk chairs, office chairs, armless stools)",
    6: "sofa: sofas and armchairs (base, back, arms, seat cushions)",
    7: "table: dining tables, coffee tables and side tables (top + legs)",
    8: "door: door leaf, frame trim and handle",
    9: "window: glazed window with frame bars and sill",
    10: "bookshelf: free-standing bookcase frame (sides, back, boards)",
    11: "picture: framed pictures / posters on the walls",
    12: "counter: kitchen worktops",
    13: "blinds: slatted blinds over windows",
    14: "desk: desks (top, drawer pedestal, side panel)",
    15: "shelves: wall-mounted shelf boards and open shelf racks",
    16: "curtain: curtain panels beside windows",
    17: "dresser: chests of drawers",
    18: "pillow: pillows on beds, cushions on sofas",
    19: "mirror: wall mirrors (often above dressers)",
    20: "floor mat: rugs and mats on the floor",
    21: "clothes: piles of clothes on beds and chairs",
    22: "ceiling: the room ceiling",
    23: "books: rows and stacks of books on shelves, desks and tables",
    24: "refridgerator: kitchen fridges",
    25: "television: TV screens on stands or walls",
    26: "paper: sheets and stacks of paper on desks and tables",
    29: "box: cardboard / storage boxes on floors, shelves and furniture",
    30: "whiteboard: whiteboards on walls (offices, studies)",
    32: "night stand: bedside tables",
    34: "sink: kitchen sink basin and tap",
    35: "lamp: ceiling light fixture, floor lamps and table lamps",
    37: "bag: bags and backpacks on the floor",
    39: "otherfurniture: stools, ottomans, carts, side units",
    40: "otherprop: bottles, vases, plants, monitors, keyboards, bins, mugs and other clutter",
}

ROOM_TYPES = ("bedroom", "living_room", "office", "kitchen", "dining_room", "study")

_F32 = np.float32


# --------------------------------------------------------------------------------------------
# Materials and colour palettes
# --------------------------------------------------------------------------------------------

#: sRGB palettes (0-255) that materials draw their base colours from.
_PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "wall": [(236, 231, 220), (226, 214, 192), (204, 207, 208), (214, 224, 212),
             (236, 224, 196), (212, 200, 186), (196, 205, 216), (242, 241, 234),
             (222, 204, 186), (188, 196, 178), (230, 222, 210)],
    "ceiling": [(244, 243, 238), (236, 236, 230), (240, 238, 230)],
    "wood_light": [(205, 166, 118), (192, 152, 104), (216, 184, 140), (186, 150, 112)],
    "wood_mid": [(152, 102, 62), (162, 114, 72), (134, 88, 52), (142, 100, 66)],
    "wood_dark": [(92, 62, 42), (72, 48, 32), (102, 72, 52), (84, 58, 44)],
    "painted": [(236, 236, 232), (226, 218, 196), (128, 128, 126), (42, 42, 44),
                (196, 204, 208), (110, 130, 150), (156, 170, 150)],
    "fabric": [(122, 122, 128), (72, 82, 112), (152, 62, 56), (92, 112, 82), (202, 188, 162),
               (112, 86, 72), (62, 62, 68), (182, 172, 192), (72, 122, 132), (176, 142, 92)],
    "bedding": [(242, 242, 240), (212, 222, 236), (232, 212, 202), (182, 192, 204),
                (202, 206, 182), (232, 226, 206), (156, 176, 196)],
    "carpet": [(152, 142, 126), (112, 112, 118), (132, 102, 92), (92, 102, 122),
               (162, 152, 142), (122, 132, 112), (170, 120, 90)],
    "rug": [(162, 62, 52), (62, 82, 122), (192, 172, 142), (122, 112, 102), (92, 122, 102),
            (202, 192, 182), (152, 102, 62)],
    "metal": [(172, 172, 176), (112, 112, 118), (62, 62, 66), (196, 192, 186)],
    "plastic": [(232, 232, 230), (32, 32, 34), (202, 62, 52), (52, 92, 162), (232, 192, 62),
                (82, 152, 92), (142, 142, 146), (222, 122, 42)],
    "cardboard": [(182, 142, 96), (166, 126, 86), (196, 160, 112)],
    "books": [(162, 42, 42), (42, 62, 122), (32, 92, 62), (202, 172, 62), (222, 222, 212),
              (32, 32, 36), (122, 62, 112), (212, 112, 42), (92, 132, 172), (142, 32, 52),
              (72, 72, 72), (182, 162, 132)],
    "stone": [(212, 206, 198), (62, 62, 64), (152, 142, 132), (232, 230, 226), (112, 96, 82)],
    "tile": [(226, 226, 220), (196, 192, 184), (172, 164, 150), (212, 204, 192), (86, 86, 90)],
    "paper": [(246, 246, 242), (240, 238, 226)],
    "foliage": [(62, 112, 52), (82, 132, 62), (52, 92, 42)],
    "sky": [(232, 240, 252), (246, 246, 246), (222, 232, 244), (250, 246, 236)],
    "art": [(202, 72, 52), (52, 92, 162), (232, 192, 72), (62, 142, 112), (32, 32, 42),
            (232, 222, 202), (142, 72, 122), (92, 162, 202), (212, 132, 92)],
}


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.square(np.clip(c, 0.0, 1.0))  # gamma 2, undone by the sqrt at the end


@dataclass(frozen=True)
class Material:
    """How a box surface looks: a linear-RGB base colour, a texture kind and its parameters.

    ``alt`` is the secondary colour (frame, grout, seams, handles); ``scale`` a texture length
    in metres; ``specular`` the Blinn-Phong weight; ``emission`` self-illumination (relative
    to the main light); ``dropout`` the share of the surface where the Kinect sees nothing;
    ``grain`` the strength of wood grain on boards (0 = painted / plain).
    """

    rgb: tuple[float, float, float]
    kind: str = "plain"
    alt: tuple[float, float, float] = (0.05, 0.05, 0.05)
    scale: float = 1.0
    specular: float = 0.0
    emission: float = 0.0
    dropout: float = 0.0
    grain: float = 0.0


def _colour(rng: np.random.Generator, palette: str, jitter: float = 0.06) -> tuple:
    """A linear-RGB colour from ``palette`` with a small random brightness / hue jitter."""
    choices = _PALETTES[palette]
    base = np.array(choices[int(rng.integers(len(choices)))], dtype=np.float64) / 255.0
    base = base * (1.0 + rng.uniform(-jitter, jitter)) + rng.uniform(-jitter, jitter, 3) * 0.3
    return tuple(float(x) for x in _srgb_to_linear(base))


def _mat(rng: np.random.Generator, kind: str, palette: str, alt: str | None = None,
         **kwargs) -> Material:
    """A material of texture ``kind`` coloured from ``palette`` (and ``alt`` palette)."""
    alt_rgb = _colour(rng, alt) if alt else (0.04, 0.04, 0.04)
    return Material(_colour(rng, palette), kind, alt_rgb, **kwargs)


def _wood(rng: np.random.Generator, tone: str | None = None, kind: str = "wood") -> Material:
    tone = tone or ("wood_light", "wood_mid", "wood_dark")[int(rng.integers(3))]
    return _mat(rng, kind, tone, "metal", scale=float(rng.uniform(0.012, 0.03)),
                specular=0.05, grain=float(rng.uniform(0.12, 0.25)))


def _furniture_mat(rng: np.random.Generator, kind: str = "wood") -> Material:
    """Wood most of the time, otherwise painted / laminated boards."""
    if rng.random() < 0.65:
        return _wood(rng, kind=kind)
    return _mat(rng, "paint" if kind == "wood" else kind, "painted", "metal", scale=0.5,
                specular=0.08)


# --------------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------------

@dataclass
class Box:
    """One solid box: world centre and half sizes (metres, y up), yaw about +y (radians)."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    label: int
    material: Material
    shadow: bool = True
    seed: int = 0


@dataclass
class Scene:
    """A whole room: geometry, materials, camera and light; independent of the image size.

    World frame: x along the first wall, y up (floor at 0), z into the room; the room spans
    [0, size_m[0]] x [0, size_m[1]] x [0, size_m[2]].
    """

    seed: int
    room_type: str
    size_m: tuple[float, float, float]
    wall: Material
    floor: Material
    ceiling: Material
    boxes: list[Box]
    cam_pos: tuple[float, float, float]
    cam_yaw: float
    cam_pitch: float
    cam_roll: float
    light_pos: tuple[float, float, float]
    light_rgb: tuple[float, float, float]
    ambient: float
    exposure: float
    vignette: float


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


# --------------------------------------------------------------------------------------------
# Object builders (each returns a _Group in its own frame, footprint centred, front at +z)
# --------------------------------------------------------------------------------------------

def _legs(g: _Group, x0: float, x1: float, z0: float, z1: float, y1: float, t: float,
          label: int, mat: Material, inset: float = 0.0) -> None:
    for lx in (x0 + inset, x1 - inset - t):
        for lz in (z0 + inset, z1 - inset - t):
            g.add(lx, lx + t, 0.0, y1, lz, lz + t, label, mat)


def _bed(rng: np.random.Generator) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.9, 1.05) if rng.random() < 0.35 else rng.uniform(1.35, 1.85))
    length = float(rng.uniform(1.95, 2.15))
    base_h = float(rng.uniform(0.22, 0.38))
    matt_h = float(rng.uniform(0.18, 0.26))
    frame = _furniture_mat(rng)
    bedding = _mat(rng, "fabric", "bedding", scale=0.4)
    duvet = _mat(rng, "fabric", "bedding" if rng.random() < 0.5 else "fabric", scale=0.3)
    x0, x1, z0, z1 = -w / 2, w / 2, -length / 2, length / 2
    g.add(x0, x1, 0.0, base_h, z0, z1, 4, frame)
    g.add(x0 + 0.02, x1 - 0.02, base_h, base_h + matt_h, z0 + 0.06, z1 - 0.02, 4, bedding)
    top = base_h + matt_h
    g.add(x0 - 0.015, x1 + 0.015, base_h + 0.3 * matt_h, top + 0.04,
          z0 + float(rng.uniform(0.5, 0.75)), z1 + 0.015, 4, duvet)
    g.add(x0, x1, 0.0, float(rng.uniform(0.85, 1.25)), z0, z0 + 0.06, 4, frame)
    if rng.random() < 0.4:
        g.add(x0, x1, 0.0, top + float(rng.uniform(-0.1, 0.15)), z1 - 0.05, z1, 4, frame)
    pillow = _mat(rng, "fabric", "bedding", scale=0.3)
    n = 1 if w < 1.2 else 2
    pw = (w - 0.12) / n - 0.05
    for i in range(n):
        px = x0 + 0.06 + i * (pw + 0.05)
        g.add(px, px + pw, top, top + float(rng.uniform(0.1, 0.16)), z0 + 0.08,
              z0 + 0.08 + float(rng.uniform(0.32, 0.45)), 18, pillow)
    if rng.random() < 0.3:
        cx = float(rng.uniform(x0 + 0.2, x1 - 0.6))
        cz = float(rng.uniform(0.0, z1 - 0.5))
        g.add(cx, cx + float(rng.uniform(0.3, 0.5)), top + 0.04, top + 0.04 +
              float(rng.uniform(0.05, 0.12)), cz, cz + float(rng.uniform(0.25, 0.45)), 21,
              _mat(rng, "fabric", "fabric", scale=0.1))
    return g


def _drawer_unit(rng: np.random.Generator, w: float, d: float, h: float, label: int,
                 rows: int, kind: str = "drawers") -> _Group:
    g = _Group()
    mat = replace(_furniture_mat(rng, kind), alt=_colour(rng, "metal"), scale=float(rows))
    leg_h = float(rng.choice([0.0, 0.05, 0.1]))
    if leg_h > 0:
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, leg_h, 0.04, label, mat, 0.02)
    g.add(-w / 2, w / 2, leg_h, h, -d / 2, d / 2, label, mat)
    return g


def _night_stand(rng: np.random.Generator) -> _Group:
    return _drawer_unit(rng, float(rng.uniform(0.4, 0.55)), float(rng.uniform(0.35, 0.45)),
                        float(rng.uniform(0.45, 0.65)), 32, int(rng.integers(1, 3)))


def _dresser(rng: np.random.Generator) -> _Group:
    return _drawer_unit(rng, float(rng.uniform(0.8, 1.6)), float(rng.uniform(0.42, 0.55)),
                        float(rng.uniform(0.75, 1.15)), 17, int(rng.integers(3, 5)))


def _cabinet(rng: np.random.Generator, h: float | None = None, label: int = 3) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.5, 1.2))
    d = float(rng.uniform(0.35, 0.6))
    h = h if h is not None else float(rng.choice([rng.uniform(0.7, 1.0),
                                                  rng.uniform(1.6, 2.1)]))
    mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"),
                  scale=2.0 if w > 0.6 else 1.0)
    g.add(-w / 2 + 0.02, w / 2 - 0.02, 0.0, 0.07, -d / 2, d / 2 - 0.03, label,
          Material(tuple(0.4 * c for c in mat.rgb), "plain", scale=0.3))
    g.add(-w / 2, w / 2, 0.07, h, -d / 2, d / 2, label, mat)
    return g


def _chair(rng: np.random.Generator) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.4, 0.5))
    d = float(rng.uniform(0.4, 0.48))
    seat_y = float(rng.uniform(0.42, 0.48))
    office = rng.random() < 0.3
    body = (_mat(rng, "fabric", "fabric", scale=0.2) if office or rng.random() < 0.4
            else _furniture_mat(rng))
    legs = _mat(rng, "metal", "metal", specular=0.3) if office else body
    if office:
        g.add(-0.03, 0.03, 0.08, seat_y - 0.05, -0.03, 0.03, 5, legs)
        g.add(-0.3, 0.3, 0.03, 0.08, -0.03, 0.03, 5, legs)
        g.add(-0.03, 0.03, 0.03, 0.08, -0.3, 0.3, 5, legs)
        g.add(-w / 2, w / 2, seat_y - 0.06, seat_y + 0.02, -d / 2, d / 2, 5, body)
        back_h = float(rng.uniform(0.45, 0.65))
    else:
        t = float(rng.uniform(0.028, 0.045))
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, seat_y - 0.04, t, 5, legs, 0.01)
        g.add(-w / 2, w / 2, seat_y - 0.04, seat_y, -d / 2, d / 2, 5, body)
        back_h = float(rng.uniform(0.35, 0.5))
    if rng.random() < 0.9:
        g.add(-w / 2, w / 2, seat_y, seat_y + back_h, -d / 2, -d / 2 + 0.04, 5, body)
    if rng.random() < 0.12:
        g.add(-w / 2 + 0.05, w / 2 - 0.05, seat_y, seat_y + 0.08, -d / 2 + 0.05, d / 2 - 0.1,
              21, _mat(rng, "fabric", "fabric", scale=0.1))
    return g


def _sofa(rng: np.random.Generator, armchair: bool = False) -> _Group:
    g = _Group()
    w = float(rng.uniform(0.8, 1.0) if armchair else rng.uniform(1.6, 2.4))
    d = float(rng.uniform(0.8, 0.95))
    fabric = _mat(rng, "fabric", "fabric", scale=0.25)
    feet = _wood(rng, "wood_dark")
    _legs(g, -w / 2, w / 2, -d / 2, d / 2, 0.08, 0.05, 6, feet, 0.04)
    arm = float(rng.uniform(0.12, 0.22))
    seat_y = float(rng.uniform(0.4, 0.46))
    back_t = float(rng.uniform(0.18, 0.25))
    g.add(-w / 2, w / 2, 0.08, seat_y - 0.1, -d / 2, d / 2, 6, fabric)
    g.add(-w / 2, w / 2, 0.08, float(rng.uniform(0.75, 0.9)), -d / 2, -d / 2 + back_t, 6,
          fabric)
    arm_y = float(rng.uniform(0.55, 0.66))
    for ax in (-w / 2, w / 2 - arm):
        g.add(ax, ax + arm, 0.08, arm_y, -d / 2, d / 2, 6, fabric)
    n = 1 if armchair else int(rng.integers(2, 4))
    inner = w - 2 * arm
    cw = inner / n
    for i in range(n):
        cx = -w / 2 + arm + i * cw
        g.add(cx + 0.005, cx + cw - 0.005, seat_y - 0.1, seat_y, -d / 2 + back_t, d / 2 - 0.01,
              6, fabric)
    for _ in range(int(rng.integers(0, 3 if armchair else 4)) if inner > 0.5 else 0):
        px = float(rng.uniform(-w / 2 + arm, w / 2 - arm - 0.45))
        g.add(px, px + float(rng.uniform(0.35, 0.45)), seat_y, seat_y + float(
            rng.uniform(0.3, 0.42)), -d / 2 + back_t, -d / 2 + back_t + 0.12, 18,
            _mat(rng, "fabric", "fabric" if rng.random() < 0.6 else "art", scale=0.15))
    return g


def _table(rng: np.random.Generator, coffee: bool = False, side: bool = False) -> _Group:
    g = _Group()
    if coffee:
        w, d, h = (float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.45, 0.7)),
                   float(rng.uniform(0.38, 0.48)))
    elif side:
        w = d = float(rng.uniform(0.4, 0.6))
        h = float(rng.uniform(0.5, 0.7))
    else:
        w, d, h = (float(rng.uniform(1.0, 1.9)), float(rng.uniform(0.7, 1.0)),
                   float(rng.uniform(0.72, 0.78)))
    top_t = float(rng.uniform(0.025, 0.05))
    mat = (_mat(rng, "paint", "stone", scale=0.3, specular=0.15) if rng.random() < 0.15
           else _furniture_mat(rng))
    legs = mat if rng.random() < 0.6 else _mat(rng, "metal", "metal", specular=0.3)
    _legs(g, -w / 2, w / 2, -d / 2, d / 2, h - top_t, float(rng.uniform(0.04, 0.07)), 7,
          legs, float(rng.uniform(0.02, 0.08)))
    g.add(-w / 2, w / 2, h - top_t, h, -d / 2, d / 2, 7, mat)
    if coffee and rng.random() < 0.5:
        g.add(-w / 2 + 0.06, w / 2 - 0.06, 0.08, 0.1, -d / 2 + 0.06, d / 2 - 0.06, 7, mat)
    return g


def _desk(rng: np.random.Generator) -> _Group:
    g = _Group()
    w, d, h = (float(rng.uniform(1.0, 1.6)), float(rng.uniform(0.55, 0.75)),
               float(rng.uniform(0.72, 0.76)))
    mat = _furniture_mat(rng)
    drawers = replace(mat, kind="drawers", alt=_colour(rng, "metal"), scale=3.0)
    g.add(-w / 2, w / 2, h - 0.03, h, -d / 2, d / 2, 14, mat)
    pw = float(rng.uniform(0.35, 0.45))
    side = 1.0 if rng.random() < 0.5 else -1.0
    px0, px1 = sorted((side * (w / 2 - 0.01), side * (w / 2 - 0.01 - pw)))
    g.add(px0, px1, 0.0, h - 0.03, -d / 2 + 0.02, d / 2 - 0.02, 14, drawers)
    sx0, sx1 = sorted((-side * (w / 2 - 0.01), -side * (w / 2 - 0.04)))
    g.add(sx0, sx1, 0.0, h - 0.03, -d / 2 + 0.02, d / 2 - 0.02, 14, mat)
    g.add(min(px0, sx0), max(px1, sx1), h - 0.45, h - 0.03, -d / 2 + 0.02, -d / 2 + 0.04, 14,
          mat)
    return g


def _book_row(g: _Group, rng: np.random.Generator, x0: float, x1: float, y0: float,
              max_h: float, z0: float, z1: float) -> None:
    """Fill [x0, x1] on a board at y0 with a few runs of upright books (and gaps)."""
    x = x0 + float(rng.uniform(0.0, 0.1))
    while x < x1 - 0.12:
        run = float(rng.uniform(0.12, 0.5))
        run = min(run, x1 - x)
        h = float(rng.uniform(0.6, 1.0)) * max_h
        depth = float(rng.uniform(0.6, 1.0)) * (z1 - z0)
        if rng.random() < 0.8:
            g.add(x, x + run, y0, y0 + h, z0, z0 + depth, 23,
                  Material((0.3, 0.3, 0.3), "books", scale=float(rng.uniform(0.025, 0.045))))
        elif rng.random() < 0.5:
            bw = min(run, float(rng.uniform(0.2, 0.35)))
            g.add(x, x + bw, y0, y0 + min(max_h, float(rng.uniform(0.12, 0.3))), z0,
                  z0 + depth, 29, _mat(rng, "cardboard", "cardboard", scale=0.3))
        else:
            bw = min(run, float(rng.uniform(0.06, 0.15)))
            g.add(x, x + bw, y0, y0 + min(max_h, float(rng.uniform(0.08, 0.25))), z0 + 0.02,
                  z0 + 0.02 + bw, 40, _mat(rng, "plain", "plastic", scale=0.1,
                                           specular=0.2))
        x += run + float(rng.uniform(0.0, 0.15))


def _bookshelf(rng: np.random.Generator, label: int = 10, with_back: bool = True) -> _Group:
    g = _Group()
    w, d, h = (float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.28, 0.36)),
               float(rng.uniform(1.2, 2.1)))
    mat = (_furniture_mat(rng) if label == 10 else
           _mat(rng, "metal", "metal", specular=0.3))
    t = 0.02 if label == 10 else 0.03
    g.add(-w / 2, -w / 2 + t, 0.0, h, -d / 2, d / 2, label, mat)
    g.add(w / 2 - t, w / 2, 0.0, h, -d / 2, d / 2, label, mat)
    if with_back:
        g.add(-w / 2 + t, w / 2 - t, 0.0, h, -d / 2, -d / 2 + 0.012, label, mat)
    n = max(2, int(round((h - 0.1) / float(rng.uniform(0.3, 0.4)))))
    gap = (h - 0.06) / n
    for i in range(n + 1):
        y = 0.04 + i * gap
        g.add(-w / 2 + t, w / 2 - t, y - 0.02, y, -d / 2 + 0.012, d / 2, label, mat)
        if i < n and rng.random() < 0.85:
            _book_row(g, rng, -w / 2 + t, w / 2 - t, y, gap - 0.04, -d / 2 + 0.015,
                      d / 2 - 0.02)
    return g


def _wall_shelves(rng: np.random.Generator, y_first: float) -> tuple[_Group, float]:
    g = _Group()
    w, d = float(rng.uniform(0.6, 1.3)), float(rng.uniform(0.2, 0.3))
    mat = _furniture_mat(rng)
    n = int(rng.integers(1, 4))
    gap = float(rng.uniform(0.3, 0.4))
    for i in range(n):
        y = y_first + i * gap
        g.add(-w / 2, w / 2, y - 0.025, y, 0.0, d, 15, mat)
        if rng.random() < 0.8:
            _book_row(g, rng, -w / 2, w / 2, y, gap - 0.06, 0.005, d - 0.01)
    return g, y_first + (n - 1) * gap + 0.3


def _lamp(rng: np.random.Generator, floor: bool) -> _Group:
    g = _Group()
    base = _mat(rng, "metal", "metal", specular=0.35)
    shade = Material(_colour(rng, "bedding"), "shade", scale=0.1,
                     emission=float(rng.uniform(0.15, 0.5)))
    if floor:
        pole_h = float(rng.uniform(1.3, 1.6))
        g.add(-0.15, 0.15, 0.0, 0.03, -0.15, 0.15, 35, base)
        g.add(-0.015, 0.015, 0.03, pole_h, -0.015, 0.015, 35, base)
        sw = float(rng.uniform(0.16, 0.24))
        g.add(-sw, sw, pole_h - 0.05, pole_h + float(rng.uniform(0.22, 0.32)), -sw, sw, 35,
              shade, shadow=False)
    else:
        g.add(-0.07, 0.07, 0.0, 0.03, -0.07, 0.07, 35, base)
        stem = float(rng.uniform(0.18, 0.3))
        g.add(-0.015, 0.015, 0.03, stem, -0.015, 0.015, 35, base)
        sw = float(rng.uniform(0.1, 0.16))
        g.add(-sw, sw, stem - 0.03, stem + float(rng.uniform(0.15, 0.22)), -sw, sw, 35, shade,
              shadow=False)
    return g


def _cardboard_box(rng: np.random.Generator, big: bool = False) -> _Group:
    g = _Group()
    s = 1.6 if big else 1.0
    w, d, h = (float(rng.uniform(0.2, 0.5)) * s, float(rng.uniform(0.2, 0.4)) * s,
               float(rng.uniform(0.12, 0.35)) * s)
    mat = (_mat(rng, "cardboard", "cardboard", scale=0.3) if rng.random() < 0.7
           else _mat(rng, "plain", "plastic", scale=0.2, specular=0.15))
    g.add(-w / 2, w / 2, 0.0, h, -d / 2, d / 2, 29, mat)
    if big and rng.random() < 0.5:
        w2 = w * float(rng.uniform(0.6, 0.95))
        g.add(-w2 / 2, w2 / 2, h, h + h * float(rng.uniform(0.5, 0.9)), -d / 2 + 0.02,
              d / 2 - 0.03, 29, _mat(rng, "cardboard", "cardboard", scale=0.3))
    return g


def _prop(rng: np.random.Generator) -> _Group:
    """Small clutter for tops (otherprop, books, paper, boxes)."""
    g = _Group()
    r = rng.random()
    if r < 0.28:
        w = float(rng.uniform(0.05, 0.12))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.08, 0.32)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "plastic" if rng.random() < 0.6 else "art", scale=0.1,
                   specular=0.3))
    elif r < 0.4:
        pw = float(rng.uniform(0.1, 0.2))
        g.add(-pw / 2, pw / 2, 0.0, float(rng.uniform(0.1, 0.2)), -pw / 2, pw / 2, 40,
              _mat(rng, "plain", "cardboard" if rng.random() < 0.5 else "plastic",
                   scale=0.1))
        _foliage(g, rng, pw, 0.1)
    elif r < 0.55:
        w, d = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.2, 0.3))
        n = int(rng.integers(1, 5))
        y = 0.0
        for _ in range(n):
            th = float(rng.uniform(0.02, 0.05))
            dx = float(rng.uniform(-0.02, 0.02))
            g.add(-w / 2 + dx, w / 2 + dx, y, y + th, -d / 2, d / 2, 23,
                  _mat(rng, "plain", "books", scale=0.1))
            y += th
    elif r < 0.67:
        g.add(-0.105, 0.105, 0.0, float(rng.uniform(0.002, 0.02)), -0.15, 0.15, 26,
              _mat(rng, "paper", "paper", scale=0.1))
    elif r < 0.8:
        return _cardboard_box(rng)
    elif r < 0.9:
        w = float(rng.uniform(0.1, 0.25))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.1, 0.25)), -w / 2, w / 2, 40,
              _mat(rng, "metal", "metal", specular=0.4))
    else:
        g.add(-0.2, 0.2, 0.0, 0.02, -0.08, 0.08, 40, _mat(rng, "plain", "plastic", scale=0.1))
    return g


def _foliage(g: _Group, rng: np.random.Generator, width: float, y: float) -> None:
    """A plant's leaves as a few stacked, shrinking, offset boxes (otherprop)."""
    leaves = _mat(rng, "foliage", "foliage", scale=0.03)
    for _ in range(int(rng.integers(2, 4))):
        h = width * float(rng.uniform(0.5, 0.9))
        ox, oz = (float(v) for v in rng.uniform(-0.15, 0.15, 2) * width)
        g.add(ox - width / 2, ox + width / 2, y, y + h, oz - width / 2, oz + width / 2, 40,
              leaves)
        y += h * 0.8
        width *= float(rng.uniform(0.55, 0.8))


def _monitor(rng: np.random.Generator, tv: bool = False) -> _Group:
    g = _Group()
    label = 25 if tv else 40
    w = float(rng.uniform(0.8, 1.4) if tv else rng.uniform(0.45, 0.65))
    h = w * 0.58
    lift = float(rng.uniform(0.05, 0.12))
    body = Material((0.02, 0.02, 0.022), "plain", specular=0.2)
    screen = Material((0.015, 0.015, 0.02), "screen", _colour(rng, "sky"), 0.02,
                      specular=0.6, emission=float(rng.choice([0.0, 0.0, 0.6])),
                      dropout=0.6)
    g.add(-w * 0.18, w * 0.18, 0.0, 0.015, -0.1, 0.1, label, body)
    g.add(-0.025, 0.025, 0.015, lift + 0.05, -0.04, 0.0, label, body)
    g.add(-w / 2, w / 2, lift, lift + h, -0.01, 0.03 if not tv else 0.05, label, screen)
    if not tv and rng.random() < 0.7:
        g.add(-0.22, 0.22, 0.0, 0.02, 0.15, 0.3, 40, body)
    return g


def _floor_thing(rng: np.random.Generator) -> _Group:
    """Furniture-ish or prop-ish things standing on the floor (39, 40, 37, 29)."""
    g = _Group()
    r = rng.random()
    if r < 0.25:
        return _cardboard_box(rng, big=True)
    if r < 0.4:
        w = float(rng.uniform(0.25, 0.4))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.3, 0.5)), -0.12, 0.12, 37,
              _mat(rng, "fabric", "fabric", scale=0.1))
    elif r < 0.55:
        w = float(rng.uniform(0.25, 0.35))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.3, 0.45)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "plastic", scale=0.2, specular=0.2))
    elif r < 0.7:
        w = float(rng.uniform(0.3, 0.4))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.2, 0.3)), -w / 2, w / 2, 40,
              _mat(rng, "plain", "cardboard", scale=0.2))
        _foliage(g, rng, w * 1.25, 0.25)
    elif r < 0.85:
        w = float(rng.uniform(0.4, 0.6))
        g.add(-w / 2, w / 2, 0.0, float(rng.uniform(0.35, 0.45)), -w / 2, w / 2, 39,
              _mat(rng, "fabric", "fabric", scale=0.2))
    else:
        w, d, h = (float(rng.uniform(0.4, 0.8)), float(rng.uniform(0.3, 0.45)),
                   float(rng.uniform(0.5, 0.9)))
        mat = _mat(rng, "metal", "metal", specular=0.3)
        _legs(g, -w / 2, w / 2, -d / 2, d / 2, h, 0.025, 39, mat)
        for y in (0.1, h / 2, h):
            g.add(-w / 2, w / 2, y - 0.02, y, -d / 2, d / 2, 39, mat)
    return g


def _wall_flat(w: float, y0: float, y1: float, t: float,
               label: int, mat: Material) -> _Group:
    return _Group().add(-w / 2, w / 2, y0, y1, 0.0, t, label, mat)


# --------------------------------------------------------------------------------------------
# Room recipes
# --------------------------------------------------------------------------------------------

def _add_door(L: _Layout) -> None:
    rng = L.rng
    w, h = float(rng.uniform(0.78, 0.95)), float(rng.uniform(1.98, 2.12))
    painted = rng.random() < 0.6
    leaf = _mat(rng, "door", "painted" if painted else "wood_mid", "metal", scale=w,
                specular=0.08, grain=0.0 if painted else 0.2)
    trim = Material(tuple(0.9 * c for c in leaf.rgb), "paint", scale=0.3)
    g = _Group().add(-w / 2, w / 2, 0.0, h, 0.0, 0.035, 8, leaf)
    g.add(-w / 2 - 0.07, -w / 2, 0.0, h + 0.07, 0.0, 0.02, 8, trim)
    g.add(w / 2, w / 2 + 0.07, 0.0, h + 0.07, 0.0, 0.02, 8, trim)
    g.add(-w / 2, w / 2, h, h + 0.07, 0.0, 0.02, 8, trim)
    for _ in range(20):
        k = int(rng.integers(4))
        length = L.wall_len(k)
        s = float(rng.uniform(w / 2 + 0.15, length - w / 2 - 0.15))
        if not L.wall_free(k, s - w / 2 - 0.1, s + w / 2 + 0.1, 0.0, h + 0.1, 0.1):
            continue
        x, z, yaw = L.wall_pose(k, s, 0.0)
        fp = L.footprint((-w / 2 - 0.1, w / 2 + 0.1, 0.0, 0.85), x, z, yaw)
        if not L.floor_free(fp, 0.0):
            continue
        L.emit(g, x, z, yaw)
        L.wall_rects[k].append((s - w / 2 - 0.07, s + w / 2 + 0.07, 0.0, h + 0.07))
        L.floor_rects.append(fp)
        return


def _add_window(L: _Layout, dress: str | None = None) -> None:
    rng = L.rng
    w = float(rng.uniform(0.7, 2.0))
    sill = float(rng.uniform(0.75, 1.05))
    top = min(L.sy - 0.2, float(rng.uniform(1.9, 2.3)))
    frame = _mat(rng, "window", "sky", scale=float(rng.choice([1.0, 2.0, 3.0])),
                 emission=float(rng.uniform(3.0, 5.0)), dropout=0.9)
    frame = Material(frame.rgb, "window", _colour(rng, "painted"), frame.scale,
                     emission=frame.emission, dropout=frame.dropout)
    dress = dress or str(rng.choice(["none", "curtain", "blinds", "curtain"]))
    g = _Group().add(-w / 2, w / 2, sill, top, 0.0, 0.03, 9, frame, shadow=False)
    g.add(-w / 2 - 0.05, w / 2 + 0.05, sill - 0.03, sill, 0.0, 0.1, 9,
          Material(frame.alt, "paint", scale=0.3))
    y0, pad = sill - 0.05, 0.05
    if dress == "curtain":
        cur = _mat(rng, "curtain", "fabric" if rng.random() < 0.6 else "bedding",
                   scale=float(rng.uniform(0.08, 0.14)))
        cw = float(rng.uniform(0.25, 0.5))
        floor_len = rng.random() < 0.5
        cy0 = 0.03 if floor_len else sill - 0.15
        for sgn in (-1.0, 1.0):
            a, b = sorted((sgn * (w / 2 + 0.15), sgn * (w / 2 + 0.15 - cw)))
            g.add(a, b, cy0, top + 0.15, 0.1, 0.16, 16, cur, shadow=False)
        g.add(-w / 2 - 0.2, w / 2 + 0.2, top + 0.15, top + 0.18, 0.08, 0.12, 16, cur,
              shadow=False)
        y0, pad = (0.0 if floor_len else cy0), 0.25
    elif dress == "blinds":
        bl = _mat(rng, "blinds", "painted" if rng.random() < 0.7 else "wood_light",
                  scale=float(rng.uniform(0.02, 0.05)))
        drop = float(rng.uniform(0.15, 1.0)) * (top - sill)
        g.add(-w / 2, w / 2, top - drop, top, 0.035, 0.05, 13, bl, shadow=False)
    for _ in range(20):
        k = int(rng.integers(4))
        length = L.wall_len(k)
        if w + 2 * pad + 0.3 > length:
            continue
        s = float(rng.uniform(w / 2 + pad + 0.1, length - w / 2 - pad - 0.1))
        if not L.wall_free(k, s - w / 2 - pad, s + w / 2 + pad, y0, top + 0.2, 0.05):
            continue
        x, z, yaw = L.wall_pose(k, s, 0.002)
        L.emit(g, x, z, yaw)
        L.wall_rects[k].append((s - w / 2 - pad, s + w / 2 + pad, y0, top + 0.2))
        return


def _wall_art(L: _Layout, n: int) -> None:
    rng = L.rng
    for _ in range(n):
        w = float(rng.uniform(0.3, 1.1))
        h = w * float(rng.uniform(0.6, 1.3))
        y0 = float(rng.uniform(1.1, 1.6))
        if y0 + h > L.sy - 0.2:
            continue
        art = Material(_colour(rng, "art"), "picture", _colour(rng, "wood_dark" if
                       rng.random() < 0.5 else "painted"), float(rng.uniform(0.02, 0.07)),
                       specular=0.1)
        L.on_wall(_wall_flat(w, y0, y0 + h, float(rng.uniform(0.015, 0.04)), 11, art),
                  y0, y0 + h)


def _mirror(L: _Layout, over: tuple | None = None) -> None:
    rng = L.rng
    w = float(rng.uniform(0.4, 0.9))
    y0 = float(rng.uniform(1.1, 1.3)) if over is None else over[2] + 0.15
    y1 = min(L.sy - 0.25, y0 + float(rng.uniform(0.6, 1.0)))
    mat = Material(_colour(rng, "sky"), "mirror", _colour(rng, "wood_mid"), 0.04,
                   specular=0.8, dropout=0.85)
    g = _wall_flat(w, y0, y1, 0.02, 19, mat)
    if over is not None:
        L.on_wall(g, y0, y1, k=over[0], s=over[1])
    else:
        L.on_wall(g, y0, y1)


def _furnish_bedroom(L: _Layout) -> None:
    rng = L.rng
    bed = _bed(rng)
    placed = L.against_wall(bed, reserve_front=0.5)
    if placed:
        _, _, _, k, s = placed
        x0, x1, _, _, _ = bed.bounds()
        for sgn in (-1.0, 1.0):
            if rng.random() < 0.75:
                ns = _night_stand(rng)
                nx0, nx1, nz0, nz1, nh = ns.bounds()
                s_ns = s + sgn * ((x1 - x0) / 2 + 0.06 + (nx1 - nx0) / 2)
                got = L.against_wall(ns, walls=[k], s=s_ns, tries=1)
                if got:
                    L.add_surface((nx0, nx1, nz0, nz1), got[0], got[1], got[2], nh)
                    if rng.random() < 0.6:
                        L.on_surface(_lamp(rng, False), surfaces=[L.surfaces[-1]])
    if rng.random() < 0.75:
        dr = _dresser(rng)
        got = L.against_wall(dr, reserve_front=0.5)
        if got:
            x0, x1, z0, z1, h = dr.bounds()
            L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], h)
            if rng.random() < 0.5:
                _mirror(L, over=(got[3], got[4], h))
    if rng.random() < 0.5:
        _add_cabinet(L, tall=True)
    if rng.random() < 0.4:
        _desk_corner(L)
    if rng.random() < 0.5:
        _rug(L)
    if rng.random() < 0.3:
        _add_shelves(L)
    if rng.random() < 0.2:
        _mirror(L)


def _add_cabinet(L: _Layout, tall: bool | None = None) -> None:
    rng = L.rng
    h = None if tall is None else (float(rng.uniform(1.7, 2.1)) if tall
                                   else float(rng.uniform(0.7, 1.0)))
    cab = _cabinet(rng, h=min(h, L.sy - 0.3) if h else None)
    got = L.against_wall(cab, reserve_front=0.5)
    if got:
        x0, x1, z0, z1, hh = cab.bounds()
        if hh < 1.3:
            L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], hh)


def _desk_corner(L: _Layout) -> None:
    rng = L.rng
    desk = _desk(rng)
    got = L.against_wall(desk, reserve_front=0.7)
    if not got:
        return
    x0, x1, z0, z1, h = desk.bounds()
    L.add_surface((x0, x1, z0, z1), got[0], got[1], got[2], h)
    surf = L.surfaces[-1]
    L.on_surface(_monitor(rng), surfaces=[surf], turn=False)
    chair = _chair(rng)
    cx, cz = L.to_world(got[0], got[1], got[2], float(rng.uniform(-0.2, 0.2)),
                        z1 + float(rng.uniform(0.2, 0.45)))
    desk_rect = L.floor_rects.pop()  # the chair may stand in the desk's reserved front
    _place_at(L, chair, cx, cz, got[2] + math.pi + float(rng.uniform(-0.5, 0.5)))
    L.floor_rects.append(desk_rect)
    if rng.random() < 0.5:
        L.on_surface(_lamp(rng, False), surfaces=[surf])


def _place_at(L: _Layout, g: _Group, x: float, z: float, yaw: float) -> bool:
    x0, x1, z0, z1, _ = g.bounds()
    fp = L.footprint((x0, x1, z0, z1), x, z, yaw)
    if not L.floor_free(fp, 0.0):
        return False
    L.emit(g, x, z, yaw)
    L.floor_rects.append(fp)
    return True


def _rug(L: _Layout, region: tuple | None = None) -> None:
    rng = L.rng
    w, d = float(rng.uniform(1.2, 2.8)), float(rng.uniform(0.8, 2.0))
    if region is not None:
        cx, cz = 0.5 * (region[0] + region[1]), 0.5 * (region[2] + region[3])
        w, d = region[1] - region[0] + 0.6, region[3] - region[2] + 0.6
    else:
        cx = float(rng.uniform(w / 2 + 0.2, max(w / 2 + 0.21, L.sx - w / 2 - 0.2)))
        cz = float(rng.uniform(d / 2 + 0.2, max(d / 2 + 0.21, L.sz - d / 2 - 0.2)))
    fp = (cx - w / 2, cx + w / 2, cz - d / 2, cz + d / 2)
    if not L.inside(fp, 0.1) or any(_overlap(fp, r) for r in L.mat_rects):
        return
    mat = Material(_colour(rng, "rug"), "rug", _colour(rng, "rug"),
                   float(rng.uniform(0.05, 0.2)))
    L.boxes.append(Box((cx, 0.006, cz), (w / 2, 0.006, d / 2), 0.0, 20, mat, False,
                       int(rng.integers(2**31))))
    L.mat_rects.append(fp)


def _add_shelves(L: _Layout) -> None:
    g, top = _wall_shelves(L.rng, float(L.rng.uniform(1.1, 1.5)))
    L.on_wall(g, 1.0, min(top, L.sy - 0.1))


def _furnish_living(L: _Layout) -> None:
    rng = L.rng
    sofa = _sofa(rng)
    got = L.against_wall(sofa, reserve_front=1.0)
    if got:
        x, z, yaw, k, _ = got
        ctab = _table(rng, coffee=True)
        cz_off = sofa.bounds()[3] + float(rng.uniform(0.35, 0.5)) - ctab.bounds()[2]
        cx, cz = L.to_world(x, z, yaw, 0.0, cz_off)
        L.floor_rects.pop()
        L.floor_rects.append(L.footprint(sofa.bounds()[:4], x, z, yaw))
        if _place_at(L, ctab, cx, cz, yaw):
            b = ctab.bounds()
            L.add_surface(b[:4], cx, cz, yaw, b[4])
            for _ in range(int(rng.integers(0, 4))):
                L.on_surface(_prop(rng), surfaces=[L.surfaces[-1]])
            if rng.random() < 0.6:
                fp = L.footprint(b[:4], cx, cz, yaw)
                _rug(L, fp)
        _tv(L, (k + 2) % 4)
    for _ in range(int(rng.integers(0, 3))):
        arm = _sofa(rng, armchair=True)
        L.against_wall(arm, reserve_front=0.4) if rng.random() < 0.5 else \
            L.free_standing(arm, jitter=0.4)
    if rng.random() < 0.5:
        shelf = _bookshelf(rng)
        L.against_wall(shelf, reserve_front=0.4)
    if rng.random() < 0.6:
        L.against_wall(_lamp(rng, True), gap=0.2)
    for _ in range(int(rng.integers(0, 3))):
        side = _table(rng, side=True)
        got = L.against_wall(side) if rng.random() < 0.6 else L.free_standing(side)
        if got:
            b = side.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
    if rng.random() < 0.4:
        _add_cabinet(L)


def _tv(L: _Layout, wall: int) -> None:
    """A TV on a low stand (cabinet / otherfurniture) facing the sofa, else on the wall."""
    rng = L.rng
    tv = _monitor(rng, tv=True)
    tv_w = tv.bounds()[1] - tv.bounds()[0]
    stand = _Group()
    w, d, h = tv_w + float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.38, 0.5)), \
        float(rng.uniform(0.4, 0.6))
    mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"), scale=2.0)
    stand.add(-w / 2, w / 2, 0.0, h, -d / 2, d / 2, 3 if rng.random() < 0.6 else 39, mat)
    for walls in ([wall], None):
        got = L.against_wall(stand, walls=walls, reserve_front=0.3, tries=20)
        if got:
            L.add_surface((-w / 2, w / 2, -d / 2, d / 2), got[0], got[1], got[2], h, 0.0)
            L.on_surface(tv, surfaces=[L.surfaces[-1]], turn=False, tries=20)
            return
    y0 = float(rng.uniform(0.9, 1.2))
    screen = _Group()
    for part in tv.parts[-1:]:
        (x0, x1, _, _, _, _), _, mat, _ = part
        screen.add(x0, x1, y0, y0 + 0.58 * (x1 - x0), 0.0, 0.05, 25, mat)
    L.on_wall(screen, y0, y0 + 0.58 * tv_w, walls=[wall])


def _furnish_office(L: _Layout) -> None:
    rng = L.rng
    for _ in range(int(rng.integers(1, 4))):
        _desk_corner(L)
    if rng.random() < 0.5:
        desk = _desk(rng)
        got = L.free_standing(desk)
        if got:
            b = desk.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
            L.on_surface(_monitor(rng), surfaces=[L.surfaces[-1]], turn=False)
    for _ in range(int(rng.integers(0, 3))):
        _add_cabinet(L)
    if rng.random() < 0.6:
        L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.6 else 15), reserve_front=0.4)
    if rng.random() < 0.6:
        w = float(rng.uniform(1.0, 2.0))
        y0 = float(rng.uniform(0.85, 1.0))
        y1 = min(L.sy - 0.3, y0 + float(rng.uniform(0.8, 1.2)))
        mat = Material(_colour(rng, "paper"), "whiteboard", _colour(rng, "metal"), 0.03,
                       specular=0.35)
        L.on_wall(_wall_flat(w, y0, y1, 0.025, 30, mat), y0, y1)
    if rng.random() < 0.3:
        _add_shelves(L)


def _counter_run(L: _Layout, k: int, run: float, base_mat: Material, top_mat: Material,
                 sink: bool) -> bool:
    """Base units + worktop (+ sink) along wall ``k``, wall units above; True if placed."""
    rng = L.rng
    g = _Group()
    d, h = 0.6, 0.9
    g.add(-run / 2, run / 2, 0.0, 0.08, 0.0, d - 0.06, 3,
          Material(tuple(0.3 * c for c in base_mat.rgb), "plain", scale=0.3))
    units = max(1, int(run / 0.6))
    uw = run / units
    for i in range(units):
        g.add(-run / 2 + i * uw + 0.002, -run / 2 + (i + 1) * uw - 0.002, 0.08, h - 0.04,
              0.0, d - 0.02, 3, base_mat)
    g.add(-run / 2, run / 2, h - 0.04, h, 0.0, d + 0.02, 12, top_mat)
    if sink:
        sx = float(rng.uniform(-run / 2 + 0.35, run / 2 - 0.35))
        metal = _mat(rng, "metal", "metal", specular=0.5)
        g.add(sx - 0.28, sx + 0.28, h, h + 0.012, 0.1, 0.5, 34, metal)
        g.add(sx - 0.02, sx + 0.02, h, h + 0.3, 0.04, 0.08, 34, metal)
        g.add(sx - 0.02, sx + 0.02, h + 0.26, h + 0.3, 0.08, 0.25, 34, metal)
    got = L.against_wall(g, walls=[k], tries=8, reserve_front=0.6, wall_height=h)
    if not got:
        return False
    x, z, yaw, _, s = got
    L.add_surface((-run / 2, run / 2, 0.05, d - 0.02), x, z, yaw, h)
    if rng.random() < 0.8:
        upper = _Group()
        uy0 = float(rng.uniform(1.45, 1.55))
        uy1 = min(L.sy - 0.05, uy0 + float(rng.uniform(0.6, 0.8)))
        for i in range(units):
            upper.add(-run / 2 + i * uw + 0.002, -run / 2 + (i + 1) * uw - 0.002, uy0, uy1,
                      0.0, 0.35, 3, base_mat)
        L.on_wall(upper, uy0, uy1, k=k, s=s, pad=0.0)
    return True


def _furnish_kitchen(L: _Layout) -> None:
    rng = L.rng
    base_mat = replace(_furniture_mat(rng, "doors"), alt=_colour(rng, "metal"), scale=2.0)
    top_mat = _mat(rng, "stone", "stone", scale=0.02, specular=0.25)
    walls = [int(k) for k in rng.permutation(4)]
    placed = 0
    for k in walls:
        length = L.wall_len(k)
        run = min(float(rng.uniform(1.2, max(1.3, length - 0.6))), length - 0.1)
        while run >= 0.9 and not _counter_run(L, k, run, base_mat, top_mat, placed == 0):
            run *= 0.7
        placed += run >= 0.9
        if placed >= 2 or (placed == 1 and rng.random() < 0.5):
            break
    fridge = _Group()
    fw = float(rng.uniform(0.6, 0.9))
    body = _colour(rng, "metal") if rng.random() < 0.5 else _colour(rng, "paper")
    fridge.add(-fw / 2, fw / 2, 0.0, float(rng.uniform(1.6, 1.9)), 0.0, 0.68, 24,
               Material(body, "fridge", _colour(rng, "metal"), 1.0, specular=0.4))
    L.against_wall(fridge, reserve_front=0.6)
    for _ in range(int(rng.integers(2, 8))):
        L.on_surface(_prop(rng))
    if rng.random() < 0.5 and min(L.sx, L.sz) > 3.2:
        _dining_set(L, small=True)
    if rng.random() < 0.4:
        _add_shelves(L)


def _dining_set(L: _Layout, small: bool = False) -> None:
    rng = L.rng
    table = _table(rng)
    if small:
        table = _table(rng, side=rng.random() < 0.3)
    x0, x1, z0, z1, h = table.bounds()
    got = L.free_standing(table, margin=1.0 if not small else 0.8)
    if not got:
        return
    tx, tz, tyaw = got
    L.add_surface((x0, x1, z0, z1), tx, tz, tyaw, h)
    surf = L.surfaces[-1]
    for _ in range(int(rng.integers(0, 5))):
        L.on_surface(_prop(rng), surfaces=[surf])
    chair = _chair(rng)
    w = x1 - x0
    n_side = max(1, int(w / 0.6))
    spots = []
    for i in range(n_side):
        lx = x0 + (i + 0.5) * w / n_side
        spots.append((lx, z1 + 0.12, math.pi))
        spots.append((lx, z0 - 0.12, 0.0))
    if rng.random() < 0.5:
        spots.append((x1 + 0.15, 0.0, -math.pi / 2))
        spots.append((x0 - 0.15, 0.0, math.pi / 2))
    table_rect = L.floor_rects.pop()  # chairs tuck under the table edge
    for lx, lz, yaw in spots:  # yaw turns a chair's front towards the table
        if rng.random() < 0.15:
            continue
        pull = float(rng.uniform(0.0, 0.25))
        dirx, dirz = math.sin(yaw), math.cos(yaw)
        wx, wz = L.to_world(tx, tz, tyaw, lx - dirx * pull, lz - dirz * pull)
        _place_at(L, chair, wx, wz, tyaw + yaw + float(rng.uniform(-0.2, 0.2)))
    L.floor_rects.append(table_rect)


def _furnish_dining(L: _Layout) -> None:
    rng = L.rng
    if rng.random() < 0.4:
        _rug(L)
    _dining_set(L)
    if rng.random() < 0.7:
        sb = _cabinet(rng, h=float(rng.uniform(0.8, 1.0)))
        got = L.against_wall(sb, reserve_front=0.5)
        if got:
            b = sb.bounds()
            L.add_surface(b[:4], got[0], got[1], got[2], b[4])
            for _ in range(int(rng.integers(0, 4))):
                L.on_surface(_prop(rng), surfaces=[L.surfaces[-1]])
    if rng.random() < 0.4:
        _add_cabinet(L, tall=True)
    if rng.random() < 0.4:
        L.against_wall(_lamp(rng, True), gap=0.2)


def _furnish_study(L: _Layout) -> None:
    rng = L.rng
    for _ in range(int(rng.integers(2, 5))):
        L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.7 else 15), reserve_front=0.4)
    if rng.random() < 0.6:
        _desk_corner(L)
    else:
        _dining_set(L, small=True)
    if rng.random() < 0.5:
        L.free_standing(_sofa(rng, armchair=True), jitter=0.5)
    if rng.random() < 0.5:
        _rug(L)
    if rng.random() < 0.5:
        L.against_wall(_lamp(rng, True), gap=0.2)


def _fill(L: _Layout, room_type: str) -> None:
    """Extra furniture along the walls, more in big rooms, so rooms look lived in."""
    rng = L.rng
    perimeter = 2.0 * (L.sx + L.sz)
    for _ in range(int(perimeter / 5.0) + int(rng.integers(0, 3))):
        r = rng.random()
        if r < 0.25:
            _add_cabinet(L)
        elif r < 0.4:
            L.against_wall(_bookshelf(rng, 10 if rng.random() < 0.6 else 15),
                           reserve_front=0.4)
        elif r < 0.5 and room_type != "kitchen":
            got = L.against_wall(_dresser(rng), reserve_front=0.4)
            if got:
                L.add_surface(_dresser_top(L), got[0], got[1], got[2], L.boxes[-1].center[1] +
                              L.boxes[-1].half[1])
        elif r < 0.62:
            chair = _chair(rng) if rng.random() < 0.6 else _sofa(rng, armchair=True)
            if rng.random() < 0.5:
                L.against_wall(chair, gap=float(rng.uniform(0.02, 0.3)))
            else:
                L.free_standing(chair, jitter=0.6)
        elif r < 0.72:
            side = _table(rng, side=True)
            got = L.against_wall(side)
            if got:
                b = side.bounds()
                L.add_surface(b[:4], got[0], got[1], got[2], b[4])
        elif r < 0.8:
            _add_shelves(L)
        else:
            thing = _floor_thing(rng)
            L.against_wall(thing, gap=float(rng.uniform(0.01, 0.2)), block_wall=False)


def _dresser_top(L: _Layout) -> tuple[float, float, float, float]:
    """Local top rectangle of the box just emitted (a drawer unit's body)."""
    b = L.boxes[-1]
    return (-b.half[0], b.half[0], -b.half[2], b.half[2])


_FURNISH = {
    "bedroom": _furnish_bedroom,
    "living_room": _furnish_living,
    "office": _furnish_office,
    "kitchen": _furnish_kitchen,
    "dining_room": _furnish_dining,
    "study": _furnish_study,
}


# --------------------------------------------------------------------------------------------
# Scene generation
# --------------------------------------------------------------------------------------------

def _scene_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x524F4F4D]))


def _place_camera(L: _Layout) -> tuple[tuple[float, float, float], float, float]:
    """A standing spot 0.4-1.8 m from a wall, looking at furniture or across the room.

    Returns the camera position, yaw and pitch.
    """
    rng = L.rng
    cx, cz = 0.5 * L.sx, 0.5 * L.sz
    best, best_clear = None, -1.0
    for _ in range(60):
        k = int(rng.integers(4))
        length, across = L.wall_len(k), L.wall_len(k + 1)
        s = float(rng.uniform(0.4, length - 0.4))
        off = float(rng.uniform(0.4, max(0.45, min(1.8, across / 2))))
        x, z, _ = L.wall_pose(k, s, off)
        clear = min([1.0] + [max(r[0] - x, x - r[1], r[2] - z, z - r[3])
                             for r in L.floor_rects])
        if clear >= 0.35:
            best = (x, z)
            break
        if clear > best_clear:
            best, best_clear = (x, z), clear
    x, z = best if best is not None else (cx, cz)
    y = float(rng.uniform(1.0, 1.6))
    targets = [a for a in L.anchors if math.hypot(a[0] - x, a[1] - z) > 1.2]
    if targets and rng.random() < 0.8:
        tx, tz, ty = targets[int(rng.integers(len(targets)))]
        spread = 0.35
    else:
        tx, tz, ty = cx, cz, float(rng.uniform(0.5, 1.2))
        spread = 0.6
    yaw = math.atan2(tx - x, tz - z) + float(rng.uniform(-spread, spread))
    pitch = math.atan2(ty - y, max(0.5, math.hypot(tx - x, tz - z)))
    pitch = float(np.clip(pitch + rng.uniform(-0.12, 0.12), -0.6, 0.1))
    return (x, y, z), yaw, pitch


def generate_scene(seed: int) -> Scene:
    """Build the room for ``seed`` (pure function of the seed; no image size involved)."""
    rng = _scene_rng(seed)
    room_type = ROOM_TYPES[int(rng.integers(len(ROOM_TYPES)))]
    # 3-8 m, skewed towards the 3.5-5 m rooms that dominate NYUv2.
    sx, sz = (3.0 + 5.0 * float(rng.beta(1.6, 2.8)) for _ in range(2))
    sy = float(rng.uniform(2.4, 3.0))
    skirting = _colour(rng, "painted" if rng.random() < 0.6 else "wood_mid")
    wall = Material(_colour(rng, "wall", 0.04), "wall", skirting, 0.5)
    floor_kind = str(rng.choice({"kitchen": ["tiles", "tiles", "planks"],
                                 "bedroom": ["carpet", "planks"],
                                 "office": ["carpet", "tiles", "planks"]}.get(
                                     room_type, ["planks", "planks", "tiles", "carpet"])))
    if floor_kind == "planks":
        floor = _mat(rng, "planks", "wood_light" if rng.random() < 0.6 else "wood_mid",
                     scale=float(rng.uniform(0.1, 0.22)), specular=0.12)
    elif floor_kind == "tiles":
        floor = _mat(rng, "tiles", "tile", "tile", scale=float(rng.choice([0.3, 0.45, 0.6])),
                     specular=0.2)
    else:
        floor = _mat(rng, "carpet", "carpet", scale=0.15)
    ceiling = Material(_colour(rng, "ceiling", 0.03), "paint", scale=1.0)

    L = _Layout(rng, (sx, sy, sz))
    _add_door(L)
    if rng.random() < 0.25:
        _add_door(L)
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        _add_window(L, "blinds" if room_type in ("office", "kitchen") and rng.random() < 0.5
                    else None)
    _FURNISH[room_type](L)
    _fill(L, room_type)
    _wall_art(L, int(rng.integers(0, 4 if room_type in ("bedroom", "living_room",
                                                           "dining_room") else 3)))
    for _ in range(int(rng.integers(3, 13))):
        L.on_surface(_prop(rng))
    for _ in range(int(rng.integers(0, 4))):
        thing = _floor_thing(rng)
        if rng.random() < 0.7:
            L.against_wall(thing, gap=float(rng.uniform(0.01, 0.2)), block_wall=False)
        else:
            L.free_standing(thing, jitter=0.6)

    # Ceiling light fixture; the point light sits just under it.
    lx = float(rng.uniform(0.3, 0.7)) * sx
    lz = float(rng.uniform(0.3, 0.7)) * sz
    fw = float(rng.uniform(0.15, 0.3))
    fh = float(rng.uniform(0.04, 0.25))
    fixture = Material(_colour(rng, "paper"), "fixture", emission=float(rng.uniform(4.0, 8.0)))
    L.boxes.append(Box((lx, sy - fh / 2, lz), (fw, fh / 2, fw), 0.0, 35, fixture, False,
                       int(rng.integers(2**31))))
    light_pos = (lx, sy - fh - 0.03, lz)
    temp = float(rng.uniform(0.0, 1.0))
    light_rgb = (1.0, 0.93 - 0.08 * temp, 0.84 - 0.2 * temp)

    scene = Scene(seed=int(seed), room_type=room_type, size_m=(sx, sy, sz), wall=wall,
                  floor=floor, ceiling=ceiling, boxes=L.boxes, cam_pos=(0.0, 0.0, 0.0),
                  cam_yaw=0.0, cam_pitch=0.0, cam_roll=float(rng.uniform(-0.04, 0.04)),
                  light_pos=light_pos, light_rgb=light_rgb,
                  ambient=float(rng.uniform(0.25, 0.45)),
                  exposure=float(rng.uniform(0.8, 1.2)),
                  vignette=float(rng.uniform(0.15, 0.4)))
    # Try a few camera poses and keep the one whose low-resolution probe view is best:
    # not blocked by a nearby object, showing some furniture.
    arrays = _Arrays(scene)
    best, best_score = None, -np.inf
    for _ in range(6):
        pose = _place_camera(L)
        score = _view_score(arrays, pose, scene.cam_roll)
        if score > best_score:
            best, best_score = pose, score
        if score > 0.6:
            break
    scene.cam_pos, scene.cam_yaw, scene.cam_pitch = best
    return scene


def _view_score(arr: "_Arrays", pose: tuple, roll: float) -> float:
    """How good a camera pose is, from a 24x32 probe render (higher is better)."""
    cam = np.array(pose[0], dtype=np.float64)
    z, obj, _, _ = _cast(arr, cam, _camera_rotation(pose[1], pose[2], roll), 24, 32)
    counts = np.bincount(obj.reshape(-1), minlength=len(arr.label))
    furniture = arr.label[np.arange(len(counts))] > 0
    furniture[:_ROOM_ENTRIES] = False
    share_things = counts[furniture].sum() / obj.size
    biggest = counts[_ROOM_ENTRIES:].max(initial=0) / obj.size
    too_near = float(np.mean(z < 1.0))
    return (min(share_things, 0.3) * 2.0 - 2.0 * max(0.0, biggest - 0.25) - 3.0 * too_near +
            0.5 * min(float(np.median(z)), 3.0) / 3.0)


# --------------------------------------------------------------------------------------------
# Procedural noise (integer hashing; deterministic and resolution independent)
# --------------------------------------------------------------------------------------------

_U32 = np.uint32


def _hash(a: np.ndarray, b: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """uint32 hash of integer lattice coordinates (a, b) and a per-pixel seed."""
    h = (a.astype(np.int64).astype(_U32) * _U32(0x8DA6B343)) ^ \
        (b.astype(np.int64).astype(_U32) * _U32(0xD8163841)) ^ seed
    h = (h ^ (h >> _U32(13))) * _U32(0x5BD1E995)
    h = (h ^ (h >> _U32(15))) * _U32(0x27D4EB2D)
    return h ^ (h >> _U32(16))


def _hash01(a: np.ndarray, b: np.ndarray, seed: np.ndarray) -> np.ndarray:
    return (_hash(a, b, seed) >> _U32(8)).astype(_F32) * _F32(1.0 / 16777216.0)


def _vnoise(x: np.ndarray, y: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] on the unit lattice."""
    xi, yi = np.floor(x), np.floor(y)
    fx, fy = x - xi, y - yi
    fx = fx * fx * (3.0 - 2.0 * fx)
    fy = fy * fy * (3.0 - 2.0 * fy)
    xi, yi = xi.astype(np.int64), yi.astype(np.int64)
    a = _hash01(xi, yi, seed)
    b = _hash01(xi + 1, yi, seed)
    c = _hash01(xi, yi + 1, seed)
    d = _hash01(xi + 1, yi + 1, seed)
    top = a + (b - a) * fx
    return top + (c + (d - c) * fx - top) * fy


def _fbm(x: np.ndarray, y: np.ndarray, seed: np.ndarray, octaves: int = 2) -> np.ndarray:
    """Fractal sum of value noise, in [0, 1]."""
    total, amp, norm = np.zeros_like(x), 1.0, 0.0
    for i in range(octaves):
        total += amp * _vnoise(x, y, seed + _U32(1013 * i))
        norm += amp
        amp *= 0.5
        x, y = x * 2.03, y * 2.03
    return total / norm


# --------------------------------------------------------------------------------------------
# Textures: albedo (and emission / depth dropout) from surface coordinates
# --------------------------------------------------------------------------------------------

class _Tex:
    """Per-pixel surface attributes of the pixels showing one texture kind.

    Attributes (u, v, x, hx, base, seed, ...) are gathered from the full-image arrays on
    first use, so a texture pays only for what it reads.
    """

    def __init__(self, idx: np.ndarray, g: dict[str, np.ndarray]) -> None:
        self._idx, self._g = idx, g
        self.n = len(idx)
        self.albedo = np.take(g["base"], idx, axis=0)
        self.emission: np.ndarray | None = None
        self.dropout: np.ndarray | None = None

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name not in self._g:
            raise AttributeError(name)
        value = np.take(self._g[name], self._idx, axis=0)
        setattr(self, name, value)
        return value


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _tex_plain(t: _Tex) -> None:
    t.albedo *= (0.9 + 0.2 * _vnoise(t.u / t.scale, t.v / t.scale, t.seed))[:, None]


def _tex_paint(t: _Tex) -> None:
    t.albedo *= (0.95 + 0.1 * _fbm(t.u * 1.5, t.v * 1.5, t.seed))[:, None]


def _tex_wall(t: _Tex) -> None:
    _tex_paint(t)
    skirting = (t.axis != 1) & (t.v + t.hv < 0.09)
    t.albedo[skirting] = t.alt[skirting] * 0.9


def _grain(t: _Tex) -> tuple[np.ndarray, np.ndarray]:
    """(across, along) grain coordinates: grain runs along the longer horizontal side."""
    vertical = t.axis != 1
    tall = vertical & (t.hv > t.hu)
    long_x = t.hx >= t.hz
    across = np.where(vertical, np.where(tall, t.u, t.v), np.where(long_x, t.z, t.x))
    along = np.where(vertical, np.where(tall, t.v, t.u), np.where(long_x, t.x, t.z))
    return across, along


def _wood_factor(t: _Tex, period: np.ndarray | float) -> np.ndarray:
    """Brightness factor of wood grain (strength ``t.grain``; 1 where grain is 0)."""
    across, along = _grain(t)
    warp = _vnoise(along * 2.0, across * 6.0, t.seed)
    ring = 0.5 + 0.5 * np.sin(6.2832 * (across / period + 2.5 * warp))
    ring *= ring  # narrow dark late-wood lines rather than a sine
    tone = 0.93 + 0.14 * _vnoise(along * 3.0, across * 3.0, t.seed + _U32(7))
    return (1.0 - t.grain + t.grain * ring) * tone


def _tex_wood(t: _Tex) -> None:
    t.albedo *= _wood_factor(t, t.scale)[:, None]


def _tex_board(t: _Tex) -> None:
    """Wood grain where the material has grain, otherwise paint."""
    t.albedo *= _wood_factor(t, 0.02)[:, None]


def _tex_planks(t: _Tex) -> None:
    swap = (t.seed & _U32(1)).astype(bool)
    across = np.where(swap, t.u, t.v)
    along = np.where(swap, t.v, t.u)
    row = np.floor(across / t.scale)
    offset = _hash01(row, row * 0 + 3, t.seed) * 5.0
    col = np.floor((along + offset) / 1.2)
    tone = 0.8 + 0.35 * _hash01(row, col, t.seed)
    warp = _vnoise(along * 1.5, row * 3.0, t.seed)
    grain = 0.9 + 0.1 * np.sin(6.2832 * (across / (t.scale * 0.45) + 2.0 * warp))
    seam = (((across / t.scale) % 1.0) < 0.035) | ((((along + offset) / 1.2) % 1.0) < 0.006)
    t.albedo *= (np.where(seam, 0.55, tone * grain))[:, None]


def _tex_tiles(t: _Tex) -> None:
    fu, fv = t.u / t.scale, t.v / t.scale
    grout_w = 0.008 / t.scale
    grout = ((fu % 1.0) < grout_w) | ((fv % 1.0) < grout_w)
    tone = 0.94 + 0.12 * _hash01(np.floor(fu), np.floor(fv), t.seed)
    t.albedo *= (tone * (0.96 + 0.08 * _vnoise(t.u * 4, t.v * 4, t.seed)))[:, None]
    t.albedo[grout] = t.alt[grout] * 0.7


def _tex_carpet(t: _Tex) -> None:
    fine = _hash01(np.floor(t.u / 0.006), np.floor(t.v / 0.006), t.seed)
    t.albedo *= ((0.8 + 0.3 * _fbm(t.u / t.scale, t.v / t.scale, t.seed)) *
                 (0.92 + 0.16 * fine))[:, None]


def _tex_fabric(t: _Tex) -> None:
    t.albedo *= (0.86 + 0.26 * _fbm(t.u / t.scale, t.v / t.scale, t.seed))[:, None]


def _tex_rug(t: _Tex) -> None:
    edge = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v))
    border = (edge < 0.1) & (edge > 0.04)
    motif = np.sin(t.u / t.scale) * np.sin(t.v / t.scale) > 0.35
    use_alt = border | (motif & (edge > 0.2))
    t.albedo[use_alt] = t.alt[use_alt]
    _tex_carpet(t)


_BOOK_COLOURS = _srgb_to_linear(np.array(_PALETTES["books"], dtype=np.float32) / 255.0)
_ART_COLOURS = _srgb_to_linear(np.array(_PALETTES["art"], dtype=np.float32) / 255.0)


def _tex_books(t: _Tex) -> None:
    b = np.floor((t.x + t.hx) / t.scale + 0.5 * _vnoise(t.x * 5.0, t.x * 0.0, t.seed))
    h1 = _hash(b, b * 0 + 1, t.seed)
    colour = _BOOK_COLOURS[(h1 % _U32(len(_BOOK_COLOURS))).astype(np.intp)]
    shade = 0.75 + 0.4 * _hash01(b, b * 0 + 2, t.seed)
    frac = ((t.x + t.hx) / t.scale + 0.5 * _vnoise(t.x * 5.0, t.x * 0.0, t.seed)) % 1.0
    gap = frac < 0.07
    top = (0.6 + 0.4 * _hash01(b, b * 0 + 3, t.seed)) * 2.0 * t.hy
    above = (t.y + t.hy > top) & (t.axis != 1)
    band = (np.abs((t.y + t.hy) / np.maximum(top, 1e-3) - 0.78) < 0.04) & (t.axis == 2)
    alb = colour * shade[:, None]
    alb[band] = np.minimum(alb[band] * 2.5 + 0.05, 0.9)
    alb[gap | above] = 0.015
    t.albedo = alb.astype(_F32)


def _tex_picture(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    fu = t.u / np.maximum(t.hu, 1e-3)
    fv = t.v / np.maximum(t.hv, 1e-3)
    n1 = _fbm(fu * 1.8, fv * 1.8, t.seed, 3)
    n2 = _vnoise(fu * 3.0, fv * 3.0, t.seed + _U32(11))
    c2 = _ART_COLOURS[((t.seed >> _U32(4)) % _U32(len(_ART_COLOURS))).astype(np.intp)]
    c3 = _ART_COLOURS[((t.seed >> _U32(9)) % _U32(len(_ART_COLOURS))).astype(np.intp)]
    m = _smooth(0.4, 0.6, n1)[:, None]
    art = t.base * (1 - m) + c2 * m
    art = np.where((n2 > 0.62)[:, None], c3, art)
    t.albedo = np.where((front & ~frame)[:, None], art, t.alt).astype(_F32)


def _tex_window(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    du = t.hu - np.abs(t.u)
    dv = t.hv - np.abs(t.v)
    panes = t.scale
    pane_u = ((t.u + t.hu) / (2 * t.hu) * panes) % 1.0
    bar_u = np.minimum(pane_u, 1 - pane_u) * (2 * t.hu / panes) < 0.025
    frame = (np.minimum(du, dv) < 0.05) | (bar_u & (panes > 1.5))
    glass = front & ~frame
    fv = (t.v + t.hv) / (2 * t.hv)
    outside = 0.75 + 0.35 * fv
    trees = _fbm(t.u * 1.5, t.v * 1.5, t.seed, 2) * (1.0 - fv) > 0.35
    sky = t.base * outside[:, None]
    sky[trees] = sky[trees] * np.array([0.35, 0.5, 0.3], _F32)
    t.albedo = np.where(glass[:, None], 0.02, t.alt).astype(_F32)
    t.emission = np.where(glass[:, None], sky * t.emit[:, None], 0.0).astype(_F32)
    t.dropout = np.where(glass, t.drop, 0.0).astype(_F32)


def _tex_door(t: _Tex) -> None:
    front = (t.axis == 2)
    y = t.v + t.hv
    panelled = ((t.seed >> _U32(3)) & _U32(1)).astype(bool)
    inset_u = t.hu - np.abs(t.u)
    rect_a = (inset_u > 0.12) & (y > 0.15) & (y < 0.95)
    rect_b = (inset_u > 0.12) & (y > 1.1) & (y < 2 * t.hv - 0.15)
    edge_a = rect_a & ((inset_u < 0.135) | (y < 0.165) | (y > 0.935))
    edge_b = rect_b & ((inset_u < 0.135) | (y < 1.115) | (y > 2 * t.hv - 0.165))
    groove = front & panelled & (edge_a | edge_b)
    _tex_board(t)
    t.albedo[groove] *= 0.65
    knob = front & (np.hypot(t.hu - t.u - 0.07, y - 1.0) < 0.035)
    t.albedo[knob] = t.alt[knob]


def _tex_drawers(t: _Tex) -> None:
    _tex_board(t)
    front = (t.axis == 2) & t.pos
    rows = np.maximum(t.scale, 1.0)
    y = (t.v + t.hv) / (2 * t.hv) * rows
    row_h = 2 * t.hv / rows
    fr = y % 1.0
    gap = front & (np.minimum(fr, 1 - fr) * row_h < 0.006)
    two_cols = t.hu > 0.5
    col_gap = front & two_cols & (np.abs(t.u) < 0.004)
    hu_c = np.where(two_cols, np.abs(np.abs(t.u) - t.hu / 2), np.abs(t.u))
    handle = front & (hu_c < 0.06) & (np.abs(fr - 0.5) * row_h < 0.012)
    t.albedo[gap | col_gap] *= 0.3
    t.albedo[handle] = t.alt[handle]


def _tex_doors(t: _Tex) -> None:
    _tex_board(t)
    front = (t.axis == 2) & t.pos
    two = (t.scale > 1.5) & (t.hu > 0.3)
    split = front & two & (np.abs(t.u) < 0.004)
    edge = front & (np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < 0.006)
    hx = np.where(two, np.abs(np.abs(t.u) - 0.05), np.abs(t.u - (t.hu - 0.06)))
    hy = np.where(t.hv > 0.6, t.v, t.v - t.hv * 0.6)
    handle = front & (hx < 0.01) & (np.abs(hy) < 0.07)
    t.albedo[split | edge] *= 0.35
    t.albedo[handle] = t.alt[handle]


def _tex_fridge(t: _Tex) -> None:
    _tex_paint(t)
    front = (t.axis == 2) & t.pos
    y = t.v + t.hv
    split_y = 2 * t.hv * 0.62
    split = front & (np.abs(y - split_y) < 0.006)
    handle = front & (np.abs(t.u - (t.hu - 0.06)) < 0.015) & \
        (np.abs(y - split_y) > 0.1) & (np.abs(y - split_y) < 0.5)
    t.albedo[split] *= 0.3
    t.albedo[handle] = t.alt[handle]


def _tex_blinds(t: _Tex) -> None:
    f = (t.v / t.scale) % 1.0
    t.albedo *= (0.6 + 0.4 * np.sin(np.pi * f))[:, None]


def _tex_curtain(t: _Tex) -> None:
    folds = np.sin(6.2832 * t.u / t.scale + 1.5 * _vnoise(t.u * 4, t.v * 0.5, t.seed))
    t.albedo *= ((0.75 + 0.25 * folds) * (0.93 + 0.14 * _fbm(t.u * 6, t.v * 6,
                                                               t.seed)))[:, None]


def _tex_whiteboard(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    line = np.floor(t.v / 0.06)
    in_line = np.abs((t.v / 0.06) % 1.0 - 0.5) < 0.1
    words = _vnoise(t.u / 0.05, line * 7.0, t.seed) > 0.5
    block = _vnoise(t.u * 2.0, line * 0.35, t.seed + _U32(5)) > 0.55
    writing = front & ~frame & in_line & words & block
    ink = np.where(((t.seed >> _U32(5)) & _U32(1)).astype(bool)[:, None],
                   np.array([0.02, 0.03, 0.2], _F32), np.array([0.02, 0.02, 0.02], _F32))
    t.albedo[writing] = ink[writing]
    t.albedo *= (0.92 + 0.08 * _vnoise(t.u * 2, t.v * 2, t.seed))[:, None]
    t.albedo[frame | ~front] = t.alt[frame | ~front]


def _tex_mirror(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    frame = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    glass = front & ~frame
    fv = (t.v + t.hv) / (2 * t.hv)
    refl = t.base * (0.25 + 0.35 * fv + 0.2 * _fbm(t.u * 2, t.v * 2, t.seed))[:, None]
    t.albedo = np.where(glass[:, None], refl, t.alt).astype(_F32)
    t.dropout = np.where(glass, t.drop, 0.0).astype(_F32)


def _tex_screen(t: _Tex) -> None:
    front = (t.axis == 2) & t.pos
    bezel = np.minimum(t.hu - np.abs(t.u), t.hv - np.abs(t.v)) < t.scale
    glass = front & ~bezel
    fv = (t.v + t.hv) / (2 * t.hv)
    t.albedo[glass] = (t.base[glass] * (0.7 + 0.8 * fv[glass, None])).astype(_F32)
    on = t.emit > 0
    if on.any():
        blocks = _vnoise(t.u / 0.08, t.v / 0.06, t.seed) > 0.5
        img = t.alt * np.where(blocks, 1.0, 0.45)[:, None]
        t.emission = np.where((glass & on)[:, None], img * t.emit[:, None], 0.0).astype(_F32)
    t.dropout = np.where(glass & ~on, t.drop, 0.0).astype(_F32)


def _tex_shade(t: _Tex) -> None:
    _tex_fabric(t)
    t.emission = (t.base * t.emit[:, None]).astype(_F32)


def _tex_fixture(t: _Tex) -> None:
    t.emission = (t.base * t.emit[:, None]).astype(_F32)


def _tex_cardboard(t: _Tex) -> None:
    _tex_plain(t)
    tape = (t.axis == 1) & t.pos & (np.abs(t.x) < 0.025)
    t.albedo[tape] *= 1.3


def _tex_metal(t: _Tex) -> None:
    t.albedo *= (0.9 + 0.15 * _vnoise(t.u * 3, t.v * 3, t.seed))[:, None]


def _tex_stone(t: _Tex) -> None:
    speck = _hash01(np.floor(t.u / 0.008), np.floor(t.v / 0.008), t.seed)
    t.albedo *= ((0.85 + 0.25 * _fbm(t.u * 5, t.v * 5, t.seed)) *
                 (0.85 + 0.3 * speck))[:, None]


def _tex_foliage(t: _Tex) -> None:
    t.albedo *= (0.35 + 1.0 * _fbm(t.u / t.scale, t.v / t.scale, t.seed, 3))[:, None]


_TEXTURES = {
    "plain": _tex_plain, "paint": _tex_paint, "wall": _tex_wall, "wood": _tex_wood,
    "planks": _tex_planks, "tiles": _tex_tiles, "carpet": _tex_carpet, "fabric": _tex_fabric,
    "rug": _tex_rug, "books": _tex_books, "picture": _tex_picture, "window": _tex_window,
    "door": _tex_door, "drawers": _tex_drawers, "doors": _tex_doors, "fridge": _tex_fridge,
    "blinds": _tex_blinds, "curtain": _tex_curtain, "whiteboard": _tex_whiteboard,
    "mirror": _tex_mirror, "screen": _tex_screen, "shade": _tex_shade,
    "fixture": _tex_fixture, "cardboard": _tex_cardboard, "metal": _tex_metal,
    "stone": _tex_stone, "foliage": _tex_foliage, "paper": _tex_plain,
}
_KIND_IDS = {name: i for i, name in enumerate(_TEXTURES)}


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_NEAR_M = 1e-3
_ROOM_ENTRIES = 3  # object rows 0, 1, 2 are the wall, floor and ceiling


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

        signs = np.array([[i, j, l] for i in (-1, 1) for j in (-1, 1) for l in (-1, 1)],
                         dtype=np.float64)
        loc = signs[None] * self.half[:, None, :]  # (K, 8, 3)
        c, s = self.cos[:, None], self.sin[:, None]
        self.all_corners = np.stack([c * loc[..., 0] + s * loc[..., 2], loc[..., 1],
                                     -s * loc[..., 0] + c * loc[..., 2]], axis=-1)
        self.all_corners += self.center[:, None, :]  # (K, 8, 3) world corners

    def corners(self, k: int) -> np.ndarray:
        """(8, 3) world corners of box ``k``."""
        return self.all_corners[k]


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


def render_scene(scene: Scene, height: int, width: int, noise: bool = True,
                 noise_seed: int | None = None) -> Sample:
    """Ray-cast ``scene`` into a :class:`Sample` of ``height`` x ``width`` pixels.

    ``noise`` adds RGB sensor noise and the Kinect depth model (noise, quantisation, holes);
    without it the depth is the exact z-depth (still 0 outside 0.5-10 m). ``noise_seed``
    (default: the scene seed) seeds the noise together with the image size.
    """
    if int(height) < 2 or int(width) < 2:
        raise ValueError(f"render_room: expected height and width >= 2, found "
                         f"{height}x{width}")
    height, width = int(height), int(width)
    arr = _Arrays(scene)
    cam = np.array(scene.cam_pos, dtype=np.float64)
    rot = _camera_rotation(scene.cam_yaw, scene.cam_pitch, scene.cam_roll)
    t_map, obj_map, room_axis, dirs = _cast(arr, cam, rot, height, width)
    t = t_map.reshape(-1)
    obj = obj_map.reshape(-1)
    dx, dy, dz = (d.reshape(-1) for d in dirs)
    cx, cy, cz = (float(v) for v in cam)
    px, py, pz = cx + t * dx, cy + t * dy, cz + t * dz  # hit points (N,) float32
    local, half, axis, pos, normal = _surface(arr, obj, room_axis.reshape(-1), px, py, pz)
    albedo, emission, dropout = _shade_textures(arr, obj, local, half, axis, pos)
    nx, ny, nz = normal

    # Direct light from the point light (1/d^2 fall-off, Lambert), with shadow rays.
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
    sigma_px = max(0.6, 1.2 * width / 320.0)
    vis = cv2.GaussianBlur(vis.reshape(height, width), (0, 0), sigma_px).reshape(-1)
    intensity = scene.size_m[1] ** 2 * 1.1
    direct = intensity * ndl * vis / (dist2 + 0.05)
    inv_r = 1.0 / np.sqrt(dx * dx + dy * dy + dz * dz)
    ao = _ambient_occlusion(arr, obj, px, py, pz, axis)
    ambient = scene.ambient * 0.9 * ao * (0.8 + 0.2 * ny)  # bounce light comes from above
    light = np.array(scene.light_rgb, dtype=_F32)
    radiance = albedo * ((direct + ambient)[:, None] * light) + emission
    # Specular highlight (Blinn-Phong, exponent 40) on glossy materials only.
    glossy = np.flatnonzero(np.take(arr.specular, obj) > 0)
    if len(glossy):
        g = {k_: np.take(v_, glossy) for k_, v_ in (("nx", nx), ("ny", ny), ("nz", nz),
                                                     ("vx", vx), ("vy", vy), ("vz", vz),
                                                     ("dx", dx), ("dy", dy), ("dz", dz))}
        ir = np.take(inv_r, glossy)
        hx, hy, hz = g["vx"] - g["dx"] * ir, g["vy"] - g["dy"] * ir, g["vz"] - g["dz"] * ir
        ndh = np.maximum((g["nx"] * hx + g["ny"] * hy + g["nz"] * hz) /
                         np.maximum(np.sqrt(hx * hx + hy * hy + hz * hz), 1e-6), 0.0)
        ndh8 = np.square(np.square(np.square(ndh)))
        spec = (np.take(arr.specular, np.take(obj, glossy)) * ndh8 *
                np.square(np.square(ndh8)) * np.take(direct, glossy) * 2.0)
        radiance[glossy] += spec[:, None] * light

    # Camera: auto exposure on the median brightness, filmic roll-off, sRGB gamma, vignette.
    luma = radiance @ np.array([0.2126, 0.7152, 0.0722], dtype=_F32)
    key = float(np.median(luma[::7])) + 1e-4
    exposed = 1.0 - np.exp(radiance * _F32(-0.35 * scene.exposure / key))
    rgb = np.sqrt(exposed).reshape(height, width, 3)  # ~ sRGB gamma
    # The Kinect's colour camera is soft: a slight blur (0.5 px at 320 wide) also hides the
    # ray caster's aliasing.
    rgb = cv2.GaussianBlur(rgb, (0, 0), max(0.3, 0.5 * width / 320.0))
    yy = (np.arange(height, dtype=_F32)[:, None] + 0.5) / height - 0.5
    xx = (np.arange(width, dtype=_F32)[None, :] + 0.5) / width - 0.5
    rgb = rgb * (1.0 - scene.vignette * 2.0 * (xx * xx + yy * yy))[..., None]
    nrng = None
    if noise:
        seed = scene.seed if noise_seed is None else noise_seed
        nrng = np.random.default_rng(np.random.SeedSequence(
            [int(seed) & 0xFFFFFFFF, height, width, 0x4E4F4953]))
        # Sensor noise: triangular (sum of two uniforms), std ~0.01, stronger when bright.
        tri = (nrng.random((height, width, 3), dtype=_F32) +
               nrng.random((height, width, 3), dtype=_F32) - 1.0)
        rgb = rgb + tri * (0.012 + 0.012 * rgb)
    rgb8 = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    ndv = np.abs(nx * dx + ny * dy + nz * dz) * inv_r
    dark = albedo.max(axis=1) < 0.012
    holes = np.zeros(len(t), dtype=_F32)  # share of the surface the Kinect misses
    need = np.flatnonzero((dropout > 0) | dark)
    blob = np.ones(len(t), dtype=_F32)
    if len(need):
        seed_n = np.take(arr.seed, np.take(obj, need)) + _U32(99)
        blob[need] = _vnoise((np.take(local[0], need) + np.take(local[2], need)) / 0.06,
                             np.take(local[1], need) / 0.06, seed_n)
        holes[need] = np.maximum(np.take(dropout, need), np.where(dark[need], 0.35, 0.0))
    fx = intrinsics(height, width)[0]
    depth = _kinect_depth(t_map, ndv.reshape(height, width),
                          (blob < holes).reshape(height, width), fx, nrng)
    labels = arr.label[obj_map]
    return Sample(rgb=rgb8, depth_m=depth, labels=labels,
                  name=f"rooms-{scene.seed}-{scene.room_type}")


def render_room(seed: int, height: int = 240, width: int = 320, noise: bool = True) -> Sample:
    """Generate the room of ``seed`` and render it at ``height`` x ``width`` (deterministic)."""
    return render_scene(generate_scene(seed), height, width, noise)


# --------------------------------------------------------------------------------------------
# Data set
# --------------------------------------------------------------------------------------------

def frame_seed(seed: int, split: str, index: int) -> int:
    """The scene seed of frame ``index`` of ``split`` (stable across runs and platforms)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(split.encode()),
                                 int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


class RoomsDataset(LabelledDataset):
    """Procedural NYUv2-like RGB-D rooms with NYU40 labels, rendered on the fly.

    Frame ``i`` of ``split`` renders the scene of ``frame_seed(seed, split, i)``, so splits
    differ and every frame is reproducible.
    """

    class_names = NYU40_CLASSES
    has_depth = True

    def __init__(self, size: int = 1000, height: int = 240, width: int = 320, seed: int = 0,
                 split: str = "train", noise: bool = True) -> None:
        if int(size) < 1:
            raise ValueError(f"RoomsDataset: expected size >= 1, found {size}")
        if int(height) < 2 or int(width) < 2:
            raise ValueError(f"RoomsDataset: expected height and width >= 2, found "
                             f"{height}x{width}")
        if not split:
            raise ValueError("RoomsDataset: expected a split name, found an empty string")
        self.size, self.height, self.width = int(size), int(height), int(width)
        self.seed, self.split, self.noise = int(seed), str(split), bool(noise)

    def __len__(self) -> int:
        return self.size

    def load(self, index: int) -> Sample:
        sample = render_room(frame_seed(self.seed, self.split, index), self.height,
                             self.width, self.noise)
        sample.name = f"rooms-{self.split}-{index:06d}"
        return sample

    def describe(self, index: int) -> str:
        return (f"RoomsDataset[{self.split}][{index}] (scene seed "
                f"{frame_seed(self.seed, self.split, index)}, seed {self.seed})")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 240x320, found {text!r}")
    if h < 2 or w < 2:
        raise argparse.ArgumentTypeError(f"expected HxW of at least 2x2, found {text!r}")
    return h, w


def preview_grid(samples: list[Sample]) -> np.ndarray:
    """Rows of rgb | colourised depth | colourised labels, (rows*H, 3*W, 3) uint8."""
    palette = voc_palette(len(NYU40_CLASSES) + 1)
    return grid([sample_panels(s, palette, MAX_DEPTH_M) for s in samples], gap=0)


def main(argv: list[str] | None = None) -> int:
    """``python -m scmis_core.data.rooms``: benchmark the renderer or write a preview PNG."""
    parser = argparse.ArgumentParser(
        prog="python -m scmis_core.data.rooms",
        description="Procedural NYUv2-like rooms: render frames, time them, or write a "
                    "preview grid (rows: rgb | depth | labels).")
    parser.add_argument("--bench", action="store_true",
                        help="render N frames and print frames per second")
    parser.add_argument("--size", type=_parse_size, default=(240, 320), metavar="HxW",
                        help="image size as HEIGHTxWIDTH (default 240x320)")
    parser.add_argument("--n", type=int, default=6, help="number of frames (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="data-set seed (default 0)")
    parser.add_argument("--split", default="train", help="data-set split (default train)")
    parser.add_argument("--no-noise", action="store_true",
                        help="exact depth and no RGB sensor noise")
    parser.add_argument("--preview", metavar="PNG", help="write a preview grid to this PNG")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n: expected at least 1, found {args.n}")
    if not args.bench and not args.preview:
        parser.error("nothing to do: give --bench and/or --preview PNG")
    h, w = args.size
    data = RoomsDataset(args.n, h, w, args.seed, args.split, not args.no_noise)
    if args.bench:
        data[0]  # warm-up (imports, caches)
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(args.n):
            data[i]
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - start_cpu
        print(f"rendered {args.n} frames at {w}x{h} in {elapsed:.2f} s: "
              f"{args.n / elapsed:.2f} frames/s ({1000 * elapsed / args.n:.1f} ms/frame; "
              f"process CPU time {1000 * cpu / args.n:.1f} ms/frame)")
    if args.preview:
        samples = [data[i] for i in range(args.n)]
        for i in range(args.n):
            scene = generate_scene(frame_seed(args.seed, args.split, i))
            print(f"{i}: {data.describe(i)}: {scene.room_type}, {len(scene.boxes)} boxes")
        from PIL import Image
        Image.fromarray(preview_grid(samples)).save(args.preview)
        print(f"wrote {args.preview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
