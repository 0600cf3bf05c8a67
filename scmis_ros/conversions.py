"""``sensor_msgs/Image`` <-> numpy for the encodings the nodes and the bag tool use.

Encodings: ``mono8``, ``8UC1``, ``mono16``, ``16UC1``, ``32FC1``, ``rgb8``, ``bgr8``,
``rgba8``, ``bgra8`` (e.g. the Azure Kinect's colour; the alpha channel is dropped). Reading
honours ``step`` (row padding) and ``is_bigendian``; writing produces tightly packed rows in
this machine's byte order. ``cv_bridge`` is used when it is importable and the message is an
rclpy ``sensor_msgs.msg.Image``; otherwise (and for ``rosbags`` message objects) the numpy
path runs. Both give identical arrays (tested where cv_bridge is installed).

Messages are duck-typed: anything with ``height``, ``width``, ``encoding``, ``is_bigendian``,
``step`` and ``data`` (bytes, ``array.array('B')``, a uint8 numpy array or a list of ints)
works, so the same code serves rclpy nodes and the rosbags-based bag tool.

    labels = labels_from_image(msg)                # (H, W) int64 class ids
    out = numpy_to_image(rgb, "rgb8", msg.header)  # rclpy Image with the input header
"""

from __future__ import annotations

import array
import sys
from typing import Any, Callable

import numpy as np

#: encoding -> (element dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
}
LABEL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1")
DEPTH_ENCODINGS = ("32FC1", "16UC1", "mono16")
RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
#: Depth in 16-bit encodings is millimetres (the ROS depth-image convention, REP 118).
DEPTH_MM_TO_M = 0.001

try:  # optional: the ROS image bridge (not on PyPI)
    from cv_bridge import CvBridge as _CvBridge
except ImportError:  # pragma: no cover - depends on the install
    _CvBridge = None

_BRIDGE: Any = None


class ImageConversionError(ValueError):
    """An image message (or array) does not fit the expected encoding or size."""


def cv_bridge_available() -> bool:
    """True when ``cv_bridge`` could be imported."""
    return _CvBridge is not None


def _bridge() -> Any:
    global _BRIDGE
    if _BRIDGE is None:
        _BRIDGE = _CvBridge()
    return _BRIDGE


def _is_rclpy_image(msg: Any) -> bool:
    try:
        from sensor_msgs.msg import Image
    except ImportError:  # pragma: no cover - rclpy-less installs
        return False
    return isinstance(msg, Image)


def _data_bytes(data: Any) -> np.ndarray:
    """The message's ``data`` as a flat uint8 array (zero-copy where possible)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageConversionError(f"image data: expected uint8 bytes, found {data.dtype}")
        return data.reshape(-1)
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(list(data), dtype=np.uint8)


def _numpy_from_image(msg: Any) -> np.ndarray:
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"image: unsupported encoding {encoding!r}; expected one of "
                                   f"{', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"image: expected a non-empty image, found {height}x{width}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(f"image {encoding} {height}x{width}: expected step >= "
                                   f"{row_bytes} bytes, found {step}")
    raw = _data_bytes(msg.data)
    needed = step * (height - 1) + row_bytes
    if raw.size < needed:
        raise ImageConversionError(f"image {encoding} {height}x{width} step {step}: expected "
                                   f">= {needed} data bytes, found {raw.size}")
    rows = np.lib.stride_tricks.as_strided(raw, shape=(height, row_bytes), strides=(step, 1))
    big = bool(msg.is_bigendian)
    wire = dtype.newbyteorder(">" if big else "<") if dtype.itemsize > 1 else dtype
    pixels = np.ascontiguousarray(rows).view(wire).astype(dtype, copy=False)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.ascontiguousarray(pixels.reshape(shape))


def image_to_numpy(msg: Any, backend: str = "auto") -> np.ndarray:
    """Image message -> (H, W) or (H, W, 3) array in the message's encoding and channel order.

    ``backend``: ``auto`` (cv_bridge for rclpy messages when importable), ``numpy`` or
    ``cv_bridge``. Raises :class:`ImageConversionError` for unsupported encodings, empty images
    and data shorter than ``step * height``.
    """
    if backend not in ("auto", "numpy", "cv_bridge"):
        raise ValueError(f"backend: expected auto, numpy or cv_bridge, found {backend!r}")
    use_bridge = backend == "cv_bridge" or (backend == "auto" and _CvBridge is not None
                                            and _is_rclpy_image(msg))
    if not use_bridge:
        return _numpy_from_image(msg)
    if _CvBridge is None:
        raise ImageConversionError("image: cv_bridge requested but it is not installed")
    if str(msg.encoding) not in ENCODINGS:  # same error text as the numpy path
        return _numpy_from_image(msg)
    _numpy_from_image(msg)  # size / step checks with this module's messages
    try:
        out = _bridge().imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except Exception as exc:  # cv_bridge raises its own CvBridgeError / TypeError
        raise ImageConversionError(f"image: cv_bridge could not convert it: {exc}") from None
    return np.ascontiguousarray(out)


def image_array(array_in: Any, encoding: str,
                error: type[ImageConversionError] = ImageConversionError) -> np.ndarray:
    """``array_in`` checked against ``encoding`` (shape, non-empty, integer values that fit)
    and converted to its dtype, C-contiguous; raises ``error`` naming what was expected."""
    if encoding not in ENCODINGS:
        raise error(f"unsupported encoding {encoding!r}; expected one of "
                    f"{', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    arr = np.asarray(array_in)
    expected_ndim = 2 if channels == 1 else 3
    if arr.ndim != expected_ndim or (channels > 1 and arr.shape[2] != channels):
        want = "(H, W)" if channels == 1 else f"(H, W, {channels})"
        raise error(f"{encoding}: expected an array of shape {want}, found {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise error(f"{encoding}: expected a non-empty image, found {arr.shape}")
    if np.issubdtype(dtype, np.integer) and arr.size:
        info = np.iinfo(dtype)
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise error(f"{encoding}: expected integer values ({dtype.name}), found "
                        f"{arr.dtype}")
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise error(f"{encoding}: values {lo}..{hi} do not fit {dtype.name} "
                        f"({info.min}..{info.max})")
    return np.ascontiguousarray(arr.astype(dtype, copy=False))


def image_fields(array_in: np.ndarray, encoding: str) -> dict[str, Any]:
    """The Image fields (height, width, encoding, is_bigendian, step, data as flat uint8)."""
    data = image_array(array_in, encoding)
    dtype, channels = ENCODINGS[encoding]
    height, width = data.shape[:2]
    return {"height": int(height), "width": int(width), "encoding": encoding,
            "is_bigendian": int(sys.byteorder == "big"),
            "step": int(width * channels * dtype.itemsize),
            "data": data.reshape(-1).view(np.uint8)}


def numpy_to_image(array_in: np.ndarray, encoding: str, header: Any = None,
                   backend: str = "auto") -> Any:
    """Array -> rclpy ``sensor_msgs.msg.Image`` (header copied when given)."""
    from sensor_msgs.msg import Image

    fields = image_fields(array_in, encoding)
    if backend == "cv_bridge" or (backend == "auto" and _CvBridge is not None):
        if _CvBridge is None:
            raise ImageConversionError("image: cv_bridge requested but it is not installed")
        msg = _bridge().cv2_to_imgmsg(np.asarray(array_in).astype(ENCODINGS[encoding][0],
                                                                   copy=False),
                                      encoding=encoding)
    else:
        msg = Image()
        for key in ("height", "width", "encoding", "is_bigendian", "step"):
            setattr(msg, key, fields[key])
        data = array.array("B")
        data.frombytes(fields["data"].tobytes())
        msg.data = data
    if header is not None:
        msg.header = header
    return msg


def make_image(array_in: np.ndarray, encoding: str, header: Any,
               factory: Callable[..., Any]) -> Any:
    """Array -> an Image built by ``factory(**fields)`` (e.g. a rosbags message class)."""
    return factory(header=header, **image_fields(array_in, encoding))


# --------------------------------------------------------------------------------------------
# Typed views used by the nodes


def labels_from_image(msg: Any, num_classes: int | None = None, backend: str = "auto"
                      ) -> np.ndarray:
    """Label image (mono8, 8UC1, mono16, 16UC1) -> (H, W) int64 class ids.

    With ``num_classes``, ids outside 0..num_classes raise :class:`ImageConversionError`.
    """
    if str(msg.encoding) not in LABEL_ENCODINGS:
        raise ImageConversionError(f"labels: expected encoding {' / '.join(LABEL_ENCODINGS)}, "
                                   f"found {msg.encoding!r}")
    labels = image_to_numpy(msg, backend).astype(np.int64)
    if num_classes is not None:
        hi = int(labels.max())
        if hi > num_classes:
            raise ImageConversionError(f"labels: expected class ids in 0..{num_classes}, "
                                       f"found max {hi}")
    return labels


def rgb_from_image(msg: Any, backend: str = "auto") -> np.ndarray:
    """rgb8 / bgr8 / rgba8 / bgra8 image -> (H, W, 3) uint8 in RGB order (alpha dropped)."""
    encoding = str(msg.encoding)
    if encoding not in RGB_ENCODINGS:
        raise ImageConversionError(f"rgb: expected encoding {' / '.join(RGB_ENCODINGS)}, "
                                   f"found {msg.encoding!r}")
    return rgb_from_array(image_to_numpy(msg, backend), encoding)


def rgb_from_array(image: np.ndarray, encoding: str) -> np.ndarray:
    """An (H, W, 3|4) colour array in ``encoding`` -> (H, W, 3) uint8 RGB (alpha dropped)."""
    if encoding not in RGB_ENCODINGS:
        raise ImageConversionError(f"rgb: expected encoding {' / '.join(RGB_ENCODINGS)}, "
                                   f"found {encoding!r}")
    rgb = image[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if encoding.startswith("bgr") else rgb)


def depth_m_from_image(msg: Any, backend: str = "auto") -> np.ndarray:
    """Depth image -> (H, W) float32 metres; 32FC1 is metres, 16UC1 / mono16 millimetres.

    Non-finite and negative values become 0 (no measurement).
    """
    if str(msg.encoding) not in DEPTH_ENCODINGS:
        raise ImageConversionError(f"depth: expected encoding {' / '.join(DEPTH_ENCODINGS)}, "
                                   f"found {msg.encoding!r}")
    depth = image_to_numpy(msg, backend)
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(DEPTH_MM_TO_M)
    depth = depth.astype(np.float32, copy=False)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0)).astype(np.float32)


def depth_m_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (0 = no measurement; clipped to 65.535 m)."""
    depth = np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=0.0, posinf=0.0,
                          neginf=0.0)
    return np.clip(np.round(depth / DEPTH_MM_TO_M), 0, 65535).astype(np.uint16)


def labels_encoding(max_id: int) -> str:
    """mono8 where the ids fit in 8 bits, else mono16."""
    return "mono8" if max_id <= 255 else "mono16"


def stamp_ns(header: Any) -> int:
    """Header stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
