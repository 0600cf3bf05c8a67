"""Scene generation: a whole room (size, materials, furniture, light, camera) from one seed."""

from __future__ import annotations

import math

import numpy as np

from .arrays import _ROOM_ENTRIES, _Arrays
from .camera import _camera_rotation
from .furniture import _floor_thing, _prop
from .layouts import _FURNISH, _add_door, _add_window, _fill, _wall_art
from .materials import Material, _colour, _mat
from .placement import _Layout
from .raycast import _cast
from .scene import ROOM_TYPES, Box, HomeStyle, Scene


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
    scene, layout = build_room(seed)
    choose_view(scene, layout, layout.rng)
    return scene


def build_room(seed: int, style: HomeStyle | None = None,
               room_type: str | None = None) -> tuple[Scene, _Layout]:
    """The room of ``seed`` without its camera: the scene and its layout (for
    :func:`choose_view`).

    ``style`` (a home's shared paint) replaces the wall, skirting and ceiling materials and
    ``room_type`` the drawn room type; both are drawn from the seed all the same, so the rest
    of the room does not depend on them.
    """
    rng = _scene_rng(seed)
    drawn_type = ROOM_TYPES[int(rng.integers(len(ROOM_TYPES)))]
    room_type = room_type or drawn_type
    if room_type not in ROOM_TYPES:
        raise ValueError(f"build_room: expected a room type of {', '.join(ROOM_TYPES)}, "
                         f"found {room_type!r}")
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
    if style is not None:
        wall, ceiling = style.wall, style.ceiling

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
    light_rgb = light_colour(temp)

    scene = Scene(seed=int(seed), room_type=room_type, size_m=(sx, sy, sz), wall=wall,
                  floor=floor, ceiling=ceiling, boxes=L.boxes, cam_pos=(0.0, 0.0, 0.0),
                  cam_yaw=0.0, cam_pitch=0.0, cam_roll=float(rng.uniform(-0.04, 0.04)),
                  light_pos=light_pos, light_rgb=light_rgb,
                  ambient=float(rng.uniform(0.25, 0.45)),
                  exposure=float(rng.uniform(0.8, 1.2)),
                  vignette=float(rng.uniform(0.15, 0.4)))
    return scene, L


def light_colour(temp: float) -> tuple[float, float, float]:
    """The lamp's colour for a temperature draw in [0, 1] (0 = neutral, 1 = warm)."""
    return (1.0, 0.93 - 0.08 * temp, 0.84 - 0.2 * temp)


def choose_view(scene: Scene, layout: _Layout, rng: np.random.Generator) -> None:
    """Place the camera of ``scene`` (in place), drawing poses from ``rng``.

    Tries a few poses and keeps the one whose low-resolution probe view is best: not blocked
    by a nearby object, showing some furniture.
    """
    layout.rng = rng
    arrays = _Arrays(scene)
    best, best_score = None, -np.inf
    for _ in range(6):
        pose = _place_camera(layout)
        score = _view_score(arrays, pose, scene.cam_roll)
        if score > best_score:
            best, best_score = pose, score
        if score > 0.6:
            break
    scene.cam_pos, scene.cam_yaw, scene.cam_pitch = best


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
