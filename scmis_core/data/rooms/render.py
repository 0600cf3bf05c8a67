"""Rendering a scene into an RGB-D frame with labels."""

from __future__ import annotations

import cv2
import numpy as np

from ..sample import Sample
from .arrays import _Arrays
from .camera import _camera_rotation, intrinsics
from .generate import generate_scene
from .kinect import _kinect_depth, _surface_holes
from .raycast import _cast
from .scene import Scene
from .shading import (_add_specular, _ambient_occlusion, _direct_light, _shade_textures,
                      _surface)

_F32 = np.float32


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

    direct, to_light = _direct_light(scene, arr, t, (px, py, pz), normal, height, width)
    inv_r = 1.0 / np.sqrt(dx * dx + dy * dy + dz * dz)
    ao = _ambient_occlusion(arr, obj, px, py, pz, axis)
    ambient = scene.ambient * 0.9 * ao * (0.8 + 0.2 * ny)  # bounce light comes from above
    light = np.array(scene.light_rgb, dtype=_F32)
    radiance = albedo * ((direct + ambient)[:, None] * light) + emission
    _add_specular(radiance, arr, obj, normal, to_light, (dx, dy, dz), inv_r, direct, light)

    nrng = None
    if noise:
        seed = scene.seed if noise_seed is None else noise_seed
        nrng = np.random.default_rng(np.random.SeedSequence(
            [int(seed) & 0xFFFFFFFF, height, width, 0x4E4F4953]))
    rgb8 = _camera_image(scene, radiance, height, width, nrng)

    ndv = np.abs(nx * dx + ny * dy + nz * dz) * inv_r
    holes = _surface_holes(arr, obj, local, albedo, dropout)
    fx = intrinsics(height, width)[0]
    depth = _kinect_depth(t_map, ndv.reshape(height, width), holes.reshape(height, width), fx,
                          nrng)
    labels = arr.label[obj_map]
    return Sample(rgb=rgb8, depth_m=depth, labels=labels,
                  name=f"rooms-{scene.seed}-{scene.room_type}")


def _camera_image(scene: Scene, radiance: np.ndarray, height: int, width: int,
                  rng: np.random.Generator | None) -> np.ndarray:
    """The colour camera: (N, 3) linear radiance -> (H, W, 3) uint8 sRGB-like image.

    Auto exposure on the median brightness, filmic roll-off, gamma 2, a slight blur,
    vignette, and (with ``rng``) triangular sensor noise.
    """
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
    if rng is not None:
        # Sensor noise: triangular (sum of two uniforms), std ~0.01, stronger when bright.
        tri = (rng.random((height, width, 3), dtype=_F32) +
               rng.random((height, width, 3), dtype=_F32) - 1.0)
        rgb = rgb + tri * (0.012 + 0.012 * rgb)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_room(seed: int, height: int = 240, width: int = 320, noise: bool = True) -> Sample:
    """Generate the room of ``seed`` and render it at ``height`` x ``width`` (deterministic)."""
    return render_scene(generate_scene(seed), height, width, noise)
