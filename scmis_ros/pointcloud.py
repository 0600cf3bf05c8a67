"""XYZRGB point clouds from a depth image, a colour image and pinhole intrinsics, and their
``sensor_msgs/PointCloud2`` layout.

Points are in the camera's optical frame (REP 103: x right, y down, z forward). For pixel
(u, v) with depth z: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``. Distortion is ignored
(synthesized images are ideal pinhole images). Two layouts:

- organized (:func:`depth_to_organized`, the default of the synth node, as depth_image_proc
  publishes): an H x W cloud, one point per pixel, x = y = z = NaN where the depth is
  invalid (0, negative, NaN, inf), ``is_dense`` false when any point is NaN;
- unorganized (:func:`depth_to_points`): height 1, only the valid pixels, dense.

The point layout is the one RViz's ``RGB8`` colour transformer reads: ``x``, ``y``, ``z`` and
``rgb`` as four FLOAT32 fields (16 bytes a point), ``rgb`` holding the bits of the uint32
``0x00RRGGBB``. Pure numpy; the PointCloud2 helpers fill messages by attribute (rclpy or
rosbags classes) and import ``sensor_msgs`` only when no field class is given.

    points = depth_to_organized(depth_m, rgb, camera)   # structured (H, W) array
    points = depth_to_points(depth_m, rgb, camera)      # or (N,): valid pixels only
    fill_pointcloud2(PointCloud2(), points, header)     # rclpy message, filled in place
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .camera_info import CameraModel
from .image_codecs import uint8_payload

#: One point: x, y, z (metres) and rgb (packed 0x00RRGGBB as float32 bits), 16 bytes.
POINT_DTYPE = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": ["<f4"] * 4,
                        "offsets": [0, 4, 8, 12], "itemsize": 16})
#: ``sensor_msgs/PointField`` datatype FLOAT32.
FLOAT32 = 7


class PointCloudError(ValueError):
    """Inputs of the point cloud (sizes, encodings) that do not fit together."""


def _intrinsics(camera: Any, height: int, width: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from a CameraModel (scaled to the image), a (3,3) K or a 4-tuple."""
    if isinstance(camera, CameraModel):
        cam = camera.scaled(height, width)
        return cam.fx, cam.fy, cam.cx, cam.cy
    arr = np.asarray(camera, dtype=np.float64)
    if arr.shape == (3, 3):
        return float(arr[0, 0]), float(arr[1, 1]), float(arr[0, 2]), float(arr[1, 2])
    if arr.shape in ((4,), (9,)):
        return tuple(float(v) for v in (arr if arr.size == 4 else arr[[0, 4, 2, 5]]))
    raise PointCloudError(f"camera: expected a CameraModel, a (3, 3) K or (fx, fy, cx, cy), "
                          f"found shape {arr.shape}")


def _checked(depth_m: np.ndarray, rgb: np.ndarray | None, camera: Any, stride: int
             ) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float, float, float]]:
    """The inputs of a cloud checked against each other: depth (H, W), rgb (H, W, 3) uint8
    or None, stride >= 1; returns them with (fx, fy, cx, cy) at the depth's size."""
    depth = np.asarray(depth_m)
    if depth.ndim != 2 or 0 in depth.shape:
        raise PointCloudError(f"depth: expected a non-empty (H, W) array, found {depth.shape}")
    height, width = depth.shape
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
            raise PointCloudError(f"rgb: expected uint8 ({height}, {width}, 3) to match the "
                                  f"depth, found {rgb.dtype} {rgb.shape}")
    if int(stride) < 1:
        raise PointCloudError(f"stride: expected >= 1, found {stride}")
    return depth, rgb, _intrinsics(camera, height, width)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bits are the uint32 0x00RRGGBB."""
    c = np.asarray(rgb).astype(np.uint32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.astype("<u4").view("<f4")


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: (...) float32 -> (..., 3) uint8 RGB."""
    bits = np.ascontiguousarray(packed, dtype="<f4").view("<u4")
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], -1).astype(np.uint8)


def depth_to_points(depth_m: np.ndarray, rgb: np.ndarray | None, camera: Any,
                    stride: int = 1) -> np.ndarray:
    """Depth (H, W) metres + RGB (H, W, 3) uint8 + intrinsics -> (N,) :data:`POINT_DTYPE`.

    ``camera``: a :class:`CameraModel` (scaled to the depth's size when it differs), a (3, 3)
    K or (fx, fy, cx, cy) at the depth's size. ``rgb`` None gives white points. ``stride``
    keeps every stride-th pixel in both directions (lighter clouds).
    """
    depth, rgb, (fx, fy, cx, cy) = _checked(depth_m, rgb, camera, stride)
    z = depth[::stride, ::stride].astype(np.float32)
    v, u = np.nonzero(np.isfinite(z) & (z > 0))
    zs = z[v, u]
    u, v = u * stride, v * stride
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = ((u.astype(np.float64) - cx) * zs / fx).astype(np.float32)
        y = ((v.astype(np.float64) - cy) * zs / fy).astype(np.float32)
    finite = np.isfinite(x) & np.isfinite(y)  # the cloud is dense: no point may be inf/NaN
    x, y, zs, u, v = x[finite], y[finite], zs[finite], u[finite], v[finite]
    out = np.empty(zs.size, dtype=POINT_DTYPE)
    out["x"], out["y"], out["z"] = x, y, zs
    if rgb is None:
        out["rgb"] = pack_rgb(np.full((zs.size, 3), 255, np.uint8))
    else:
        out["rgb"] = pack_rgb(rgb[v, u])
    return out


def depth_to_organized(depth_m: np.ndarray, rgb: np.ndarray | None, camera: Any,
                       stride: int = 1) -> np.ndarray:
    """Depth + RGB + intrinsics -> (H', W') :data:`POINT_DTYPE`, one point per (strided)
    pixel, NaN coordinates where there is no valid depth (depth_image_proc's layout)."""
    depth, rgb, (fx, fy, cx, cy) = _checked(depth_m, rgb, camera, stride)
    z = depth[::stride, ::stride].astype(np.float32)
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = ((u - cx) * z / fx).astype(np.float32)
        y = ((v - cy) * z / fy).astype(np.float32)
    valid = np.isfinite(z) & (z > 0) & np.isfinite(x) & np.isfinite(y)
    out = np.empty(z.shape, dtype=POINT_DTYPE)
    for name, value in (("x", x), ("y", y), ("z", z)):
        out[name] = np.where(valid, value, np.float32(np.nan))
    colour = np.full(z.shape + (3,), 255, np.uint8) if rgb is None else \
        rgb[::stride, ::stride]
    out["rgb"] = pack_rgb(colour)
    return out


def point_fields(field_factory: Callable[..., Any] | None = None) -> list[Any]:
    """The four PointField entries of :data:`POINT_DTYPE` (dicts without a factory)."""
    fields = [{"name": name, "offset": POINT_DTYPE.fields[name][1], "datatype": FLOAT32,
               "count": 1} for name in POINT_DTYPE.names]
    return fields if field_factory is None else [field_factory(**f) for f in fields]


def pointcloud2_fields(points: np.ndarray) -> dict[str, Any]:
    """PointCloud2 fields other than header and fields: (N,) points give an unorganized
    cloud (height 1), (H, W) points an organized one; ``is_dense`` is true exactly when every
    point is finite."""
    if points.dtype != POINT_DTYPE or points.ndim not in (1, 2):
        raise PointCloudError(f"points: expected a 1-D or 2-D array of POINT_DTYPE, found "
                              f"{points.dtype} {points.shape}")
    height, width = (1, int(points.size)) if points.ndim == 1 else points.shape
    dense = all(bool(np.isfinite(points[name]).all()) for name in ("x", "y", "z"))
    return {"height": int(height), "width": int(width), "is_bigendian": False,
            "point_step": POINT_DTYPE.itemsize,
            "row_step": POINT_DTYPE.itemsize * int(width),
            "data": np.ascontiguousarray(points).view(np.uint8).reshape(-1),
            "is_dense": dense}


def fill_pointcloud2(msg: Any, points: np.ndarray, header: Any = None,
                     field_factory: Callable[..., Any] | None = None) -> Any:
    """Fill a PointCloud2 (rclpy by default) in place from :func:`depth_to_points`' output."""
    if field_factory is None:
        from sensor_msgs.msg import PointField as field_factory
    for key, value in pointcloud2_fields(points).items():
        setattr(msg, key, uint8_payload(value, type(msg)) if key == "data" else value)
    msg.fields = point_fields(field_factory)
    if header is not None:
        msg.header = header
    return msg


def make_pointcloud2(points: np.ndarray, header: Any, factory: Callable[..., Any],
                     field_factory: Callable[..., Any]) -> Any:
    """A PointCloud2 built by ``factory`` (e.g. rosbags classes)."""
    fields = pointcloud2_fields(points)
    fields["data"] = uint8_payload(fields["data"], factory)
    return factory(header=header, fields=point_fields(field_factory), **fields)


def cloud_to_points(msg: Any, names: Sequence[str] = ("x", "y", "z", "rgb")) -> np.ndarray:
    """Read the named FLOAT32 fields of a PointCloud2 into an (N,) structured array.

    Honours each field's offset, ``point_step``, ``row_step`` and ``is_bigendian``.
    """
    fields = {str(f.name): f for f in msg.fields}
    missing = [n for n in names if n not in fields]
    if missing:
        raise PointCloudError(f"PointCloud2: expected fields {list(names)}, found "
                              f"{sorted(fields)}")
    for name in names:
        if int(fields[name].datatype) != FLOAT32:
            raise PointCloudError(f"PointCloud2 field {name}: expected FLOAT32 ({FLOAT32}), "
                                  f"found datatype {fields[name].datatype}")
    height, width = int(msg.height), int(msg.width)
    step, row_step = int(msg.point_step), int(msg.row_step)
    raw = np.frombuffer(bytes(msg.data), np.uint8)
    if raw.size < row_step * height or step * width > row_step:
        raise PointCloudError(f"PointCloud2 {height}x{width}: expected row_step >= "
                              f"{step * width} and {row_step * height} data bytes, found "
                              f"row_step {row_step} and {raw.size} bytes")
    order = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({"names": list(names), "formats": [order + "f4"] * len(names),
                      "offsets": [int(fields[n].offset) for n in names], "itemsize": step})
    rows = [np.frombuffer(raw[r * row_step:r * row_step + step * width].tobytes(), dtype)
            for r in range(height)]
    points = np.concatenate(rows) if rows else np.empty(0, dtype)
    return points.astype([(n, "<f4") for n in names])

