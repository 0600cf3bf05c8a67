"""Homes: a fixed set of rooms seen from many views (the few-homes regime of a home robot).

A home is a style fixed by its home seed: :data:`ROOMS_PER_HOME` rooms of different types,
each with its own layout, furniture and materials, under one paint (walls, skirting and
ceiling are the same in every room of the home). A view of a home is one of its rooms seen
from a camera pose, at a time of day (the lamp's colour temperature, the ambient light, the
camera's exposure) and with sensor noise, all drawn from the view's own seed. So every view
of a home shares its materials, and two homes share nothing but the generator's palettes.

Home seeds of the ``train`` split lie in [0, 2**30); those of every other split in
[2**30, 2**31): a test home is never a training home, by construction.
"""

from __future__ import annotations

import zlib
import numpy as np

from .generate import build_room, choose_view, light_colour
from .materials import Material, _colour
from .scene import ROOM_TYPES, HomeStyle, Scene

#: Rooms in a home; view ``v`` shows room ``v % ROOMS_PER_HOME``.
ROOMS_PER_HOME = 3
#: Home seeds of the train split are below this; those of other splits at or above it.
TEST_HOME_OFFSET = 1 << 30


def home_seed(seed: int, split: str, home: int) -> int:
    """The seed of home ``home`` of ``split`` (train: [0, 2**30); other splits: [2**30, 2**31))."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(split.encode()),
                                 int(home), 0x484F4D45])
    value = int(ss.generate_state(1, dtype=np.uint32)[0]) % TEST_HOME_OFFSET
    return value if split == "train" else value + TEST_HOME_OFFSET


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]))


def home_style(home: int) -> HomeStyle:
    """The shared paint of home seed ``home``."""
    rng = _rng(home, 0x5354594C)
    skirting = _colour(rng, "painted" if rng.random() < 0.6 else "wood_mid")
    wall = Material(_colour(rng, "wall", 0.04), "wall", skirting, 0.5)
    return HomeStyle(wall=wall, ceiling=Material(_colour(rng, "ceiling", 0.03), "paint",
                                                 scale=1.0))


def home_room_types(home: int) -> list[str]:
    """The types of the home's rooms (all different)."""
    order = _rng(home, 0x54595045).permutation(len(ROOM_TYPES))
    return [ROOM_TYPES[int(i)] for i in order[:ROOMS_PER_HOME]]


def room_seed(home: int, room: int) -> int:
    """The scene seed of room ``room`` of home seed ``home``."""
    return int(_rng(home, room, 0x524F4F4D).integers(2**31))


def view_seed(home: int, view: int) -> int:
    """The seed of view ``view`` of home seed ``home`` (pose, light, exposure, noise)."""
    return int(_rng(home, view, 0x56494557).integers(2**31))


def home_view_scene(home: int, view: int) -> Scene:
    """The scene of view ``view`` of home seed ``home``: its room, camera pose and light."""
    room = int(view) % ROOMS_PER_HOME
    scene, layout = build_room(room_seed(home, room), home_style(home),
                               home_room_types(home)[room])
    rng = _rng(view_seed(home, view))
    scene.light_rgb = light_colour(float(rng.uniform(0.0, 1.0)))
    scene.ambient = float(rng.uniform(0.25, 0.45))
    scene.exposure = float(rng.uniform(0.8, 1.2))
    choose_view(scene, layout, rng)
    return scene
