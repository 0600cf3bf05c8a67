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

The modules, in the order a frame is made (names with a leading underscore are private to
this package; everything a user needs is imported here):

- ``scene``      the scene description (:class:`Box`, :class:`Scene`), NYU40 ids, room types
- ``materials``  colour palettes and :class:`Material` draws
- ``placement``  slots on walls, floor and table tops without interpenetration
- ``furniture``  object builders (beds, chairs, shelves, clutter) as groups of boxes
- ``layouts``    doors, windows and the furniture recipe of each room type
- ``generate``   :func:`generate_scene`: a whole room and its camera from one seed
- ``camera``     NYUv2 intrinsics (:func:`intrinsics`) and the camera pose
- ``arrays``     the scene as flat per-box arrays
- ``raycast``    primary rays and shadow rays
- ``noise``, ``textures``, ``shading``  surface appearance and lighting terms
- ``kinect``     the Kinect v1 depth model
- ``render``     :func:`render_scene` / :func:`render_room`
- ``homes``      homes mode: a home's rooms and paint from a home seed, views (pose, light,
  noise) from view seeds; train and test homes disjoint by construction
- ``dataset``    :class:`RoomsDataset` and :func:`frame_seed`
- ``cli``        ``python -m scmis_core.data.rooms``::

    python -m scmis_core.data.rooms --preview /tmp/rooms.png --n 6
    python -m scmis_core.data.rooms --bench --size 240x320 --n 50
    python -m scmis_core.data.preview --source rooms --homes 4 --views-per-home 4 \
        --size 120x160 --out /tmp/homes.png      # one row per home
"""

from .camera import NYU_INTRINSICS, NYU_SIZE, intrinsics
from .cli import main, preview_grid
from .dataset import RoomsDataset, frame_seed
from .generate import generate_scene
from .homes import ROOMS_PER_HOME, home_seed, home_view_scene
from .kinect import (KINECT_BASELINE_M, KINECT_DISPARITY_STEP, KINECT_FOCAL_BASELINE,
                     MAX_DEPTH_M, MIN_DEPTH_M)
from .materials import Material
from .render import render_room, render_scene
from .scene import CLASS_IDS_USED, ROOM_TYPES, Box, Scene

__all__ = [
    "Box", "CLASS_IDS_USED", "KINECT_BASELINE_M", "KINECT_DISPARITY_STEP",
    "KINECT_FOCAL_BASELINE", "MAX_DEPTH_M", "MIN_DEPTH_M", "Material", "NYU_INTRINSICS",
    "NYU_SIZE", "ROOMS_PER_HOME", "ROOM_TYPES", "RoomsDataset", "Scene", "frame_seed",
    "generate_scene", "home_seed", "home_view_scene", "intrinsics", "main", "preview_grid",
    "render_room", "render_scene",
]
