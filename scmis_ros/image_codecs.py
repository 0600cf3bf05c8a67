"""``sensor_msgs/CompressedImage`` payloads laid out exactly as ``image_transport_plugins``.

Pure numpy + OpenCV (no rclpy), so the rclpy nodes and the rosbags-based bag tool share it.
Two transports, both as the ROS 2 plugins write and read them:

``compressed`` (``compressed_image_transport``)
    ``format`` is ``"<encoding>; <jpeg|png> compressed <target>"`` and ``data`` the plain JPEG
    or PNG file. Colour images are stored in BGR order (target ``bgr8``); the decoder turns
    them back into the message encoding (``rgb8``/``bgr8``). Mono JPEG has target ``mono8``,
    mono PNG an empty target (the plugin writes a trailing space). A format without ``;``
    (old publishers) decodes as ``mono8`` or ``bgr8`` by channel count, as the plugin does.
    Labels travel as lossless PNG (``mono8``/``mono16``).

``compressedDepth`` (``compressed_depth_image_transport``)
    ``format`` is ``"<encoding>; compressedDepth png"`` and ``data`` a 12-byte little-endian
    ``ConfigHeader`` (int32 ``format`` = 0 INV_DEPTH, float32 ``depthParam[2]``) followed by
    a 16-bit PNG. ``16UC1``/``mono16`` (millimetres) are stored as they are, values above
    ``depth_max`` set to 0, parameters 0. ``32FC1`` (metres) is quantised as inverse depth:
    ``A = q (q + 1)``, ``B = 1 - A / depth_max``, stored ``v = trunc(A / d + B)`` for
    ``d < depth_max`` (else 0), decoded ``d = A / (v - B)`` and NaN where ``v == 0``. The
    plugin defaults are ``depth_max`` 10 m and ``q`` (``depth_quantization``) 100, PNG level
    3. The quantisation step at depth ``d`` is below ``d^2 / (A - d)`` (1 cm at 10 m). The
    plugin leaves ``v`` undefined for depths so close that ``A / d + B`` exceeds 65535
    (below 0.154 m with the defaults); here they clip to 65535, the nearest storable depth.
    ``rvl`` payloads are refused with a clear error.

    fmt, data = encode_image(rgb, "rgb8", "jpeg")          # "rgb8; jpeg compressed bgr8"
    rgb, encoding = decode_image(fmt, data)
    fmt, data = encode_compressed_depth(depth_mm, "16UC1")  # "16UC1; compressedDepth png"
    depth_mm = decode_compressed_depth(fmt, data)

Every payload's size is read from its PNG / JPEG header and checked against
``MAX_DECODE_PIXELS`` and ``MAX_DECODE_SIDE`` before anything is decoded
(:class:`ImageTooLargeError`). Errors are :class:`CompressedImageError` (a
:class:`ValueError`) naming what was expected and what was found.
"""

from __future__ import annotations

import array
import struct
from typing import Any, Callable

import cv2
import numpy as np

from scmis_core.data import image_header

from .conversions import (DEPTH_MM_TO_M, ENCODINGS, ImageConversionError, _data_bytes,
                          depth_m_to_mm, image_array)

#: Encodings ``encode_image`` / ``decode_image`` handle.
IMAGE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "mono16", "16UC1")
#: Encodings of the ``compressedDepth`` transport.
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
#: The plugins' defaults (ROS 2 ``compressed`` / ``compressedDepth`` publisher parameters).
JPEG_QUALITY = 95
PNG_LEVEL = 3
DEPTH_MAX_M = 10.0
DEPTH_QUANTIZATION = 100.0
#: ``ConfigHeader``: int32 format, float32 depthParam[2]; INV_DEPTH is the only format.
CONFIG_HEADER = struct.Struct("<iff")
INV_DEPTH = 0
PNG_SIGNATURE = image_header.PNG_SIGNATURE
JPEG_SIGNATURE = image_header.JPEG_SIGNATURE
MAX_DECODE_PIXELS = image_header.MAX_DECODE_PIXELS
MAX_DECODE_SIDE = image_header.MAX_DECODE_SIDE


class CompressedImageError(ImageConversionError):
    """A compressed image payload or format string does not fit the transport."""


class ImageTooLargeError(CompressedImageError):
    """A payload declares a size beyond the decoding limits."""


def declared_size(data: bytes, what: str) -> tuple[int, int]:
    """(height, width) a PNG or JPEG payload declares (:mod:`scmis_core.data.image_header`)."""
    try:
        return image_header.declared_size(data, what)
    except image_header.ImageHeaderError as exc:
        raise CompressedImageError(str(exc)) from None


def check_size(height: int, width: int, what: str, max_pixels: int = MAX_DECODE_PIXELS,
               max_side: int = MAX_DECODE_SIDE) -> None:
    """Refuse a ``height`` x ``width`` image beyond the limits (one line naming all)."""
    try:
        image_header.check_size(height, width, what, max_pixels, max_side)
    except image_header.ImageTooLargeError as exc:
        raise ImageTooLargeError(str(exc)) from None
    except image_header.ImageHeaderError as exc:
        raise CompressedImageError(str(exc)) from None


def _bytes(data: Any) -> bytes:
    return _data_bytes(data).tobytes() if not isinstance(data, bytes) else data


def _split_format(format_str: str) -> tuple[str, str]:
    """``"rgb8; jpeg compressed bgr8"`` -> (``"rgb8"``, ``"jpeg compressed bgr8"``)."""
    if not isinstance(format_str, str):
        raise CompressedImageError(f"format: expected a string, found "
                                   f"{type(format_str).__name__}")
    head, sep, rest = format_str.partition(";")
    return head.strip(), rest.strip() if sep else ""


def is_compressed_depth(format_str: str) -> bool:
    """True for a ``compressedDepth`` format string."""
    return "compresseddepth" in str(format_str).lower()


def _imdecode(data: bytes, what: str, max_pixels: int = MAX_DECODE_PIXELS,
              max_side: int = MAX_DECODE_SIDE) -> np.ndarray:
    if not data:
        raise CompressedImageError(f"{what}: expected image bytes, found an empty payload")
    check_size(*declared_size(data, what), what, max_pixels, max_side)
    buf = np.frombuffer(data, np.uint8)
    try:
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # pragma: no cover - OpenCV returns None for most bad input
        out = None
    if out is None:
        raise CompressedImageError(f"{what}: expected a PNG or JPEG file, found {len(data)} "
                                   f"bytes that OpenCV cannot decode (starting "
                                   f"{data[:8].hex()})")
    return out


def _imencode(ext: str, image: np.ndarray, params: list[int], what: str) -> bytes:
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(image), params)
    if not ok:  # pragma: no cover - OpenCV fails only for unsupported arrays (checked before)
        raise CompressedImageError(f"{what}: OpenCV could not encode {image.dtype} "
                                   f"{image.shape} as {ext}")
    return buf.tobytes()


def _swap_rb(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> BGR(A): swap the first and third channel, keep alpha."""
    order = [2, 1, 0, 3][:image.shape[-1]]
    return image[..., order]


# --------------------------------------------------------------------------------------------
# compressed (JPEG / PNG)


def encode_image(image: Any, encoding: str, fmt: str = "png", quality: int = JPEG_QUALITY,
                 png_level: int = PNG_LEVEL) -> tuple[str, bytes]:
    """Array in ``encoding`` -> (format string, JPEG/PNG bytes) as ``compressed`` writes them.

    ``encoding``: ``rgb8``/``bgr8`` (channel order of ``image``), ``mono8``/``8UC1``,
    ``mono16``/``16UC1`` (PNG only: JPEG would lose 16-bit ids). ``fmt``: ``png`` (lossless)
    or ``jpeg`` (``quality`` 1..100).
    """
    if encoding not in IMAGE_ENCODINGS:
        raise CompressedImageError(f"compressed: expected encoding {', '.join(IMAGE_ENCODINGS)}"
                                   f", found {encoding!r}")
    if fmt not in ("png", "jpeg"):
        raise CompressedImageError(f"compressed: expected format png or jpeg, found {fmt!r}")
    arr = image_array(image, encoding, CompressedImageError)
    colour = encoding in COLOUR_ENCODINGS
    if colour:  # the plugin converts colour to bgr8 (bgra8 for png with alpha) first
        arr = _swap_rb(arr) if encoding.startswith("rgb") else arr
        if fmt == "jpeg":
            arr = arr[..., :3]
    if fmt == "jpeg":
        if arr.dtype != np.uint8:
            raise CompressedImageError(f"compressed jpeg: expected an 8-bit encoding, found "
                                       f"{encoding!r} (use png for 16-bit images)")
        if not 1 <= int(quality) <= 100:
            raise CompressedImageError(f"jpeg quality: expected 1..100, found {quality}")
        data = _imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)], encoding)
        return f"{encoding}; jpeg compressed {'bgr8' if colour else 'mono8'}", data
    if not 0 <= int(png_level) <= 9:
        raise CompressedImageError(f"png level: expected 0..9, found {png_level}")
    data = _imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)], encoding)
    target = ("bgra8" if arr.shape[-1] == 4 else "bgr8") if colour else ""
    return f"{encoding}; png compressed {target}", data


def decode_image(format_str: str, data: Any) -> tuple[np.ndarray, str]:
    """(format string, JPEG/PNG bytes) -> (array, encoding) as ``compressed`` decodes them.

    Colour comes back in the order of the returned encoding (``rgb8`` -> RGB). A format
    without ``;`` gives ``mono8`` or ``bgr8`` by channel count.
    """
    if is_compressed_depth(format_str):
        raise CompressedImageError(f"compressed: expected a jpeg/png format, found "
                                   f"{format_str!r} (use decode_compressed_depth)")
    encoding, rest = _split_format(format_str)
    image = _imdecode(_bytes(data), f"compressed image {format_str!r}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if ";" not in format_str:  # old publishers: no encoding in the format
        if channels not in (1, 3) or image.dtype != np.uint8:
            raise CompressedImageError(f"compressed image {format_str!r}: expected an 8-bit "
                                       f"mono or 3-channel image, found {image.dtype} with "
                                       f"{channels} channels")
        return image, "mono8" if channels == 1 else "bgr8"
    if encoding not in IMAGE_ENCODINGS:
        raise CompressedImageError(f"compressed: expected encoding "
                                   f"{', '.join(IMAGE_ENCODINGS)}, found {encoding!r} in "
                                   f"format {format_str!r}")
    if rest and not ("jpeg" in rest or "png" in rest):
        raise CompressedImageError(f"compressed: expected '<encoding>; jpeg|png compressed "
                                   f"...', found {format_str!r}")
    dtype, want_channels = ENCODINGS[encoding]
    if encoding in COLOUR_ENCODINGS:
        if channels not in (3, 4) or image.dtype != np.uint8:
            raise CompressedImageError(f"compressed image {format_str!r}: expected an 8-bit "
                                       f"colour image for {encoding}, found {image.dtype} "
                                       f"with {channels} channel(s)")
        if "compressed bgr" not in rest:  # stored in RGB(A) order
            image = _swap_rb(image)
        if want_channels == 4 and channels == 3:  # jpeg: no alpha stored
            image = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], -1)
        image = image[..., :want_channels]
        if encoding.startswith("rgb"):
            image = _swap_rb(image)
    elif channels != want_channels or image.dtype != dtype:
        raise CompressedImageError(f"compressed image {format_str!r}: expected {dtype.name} "
                                   f"with {want_channels} channel(s) for {encoding}, found "
                                   f"{image.dtype} with {channels}")
    return np.ascontiguousarray(image), encoding


# --------------------------------------------------------------------------------------------
# compressedDepth


def depth_quant_params(depth_max_m: float = DEPTH_MAX_M,
                       depth_quantization: float = DEPTH_QUANTIZATION) -> tuple[float, float]:
    """The plugin's inverse-depth parameters (A, B) in float32 arithmetic."""
    z0, dmax = np.float32(depth_quantization), np.float32(depth_max_m)
    a = np.float32(z0 * (z0 + np.float32(1.0)))
    b = np.float32(np.float32(1.0) - a / dmax)
    return float(a), float(b)


def encode_compressed_depth(depth: Any, encoding: str = "16UC1",
                            depth_max_m: float = DEPTH_MAX_M,
                            depth_quantization: float = DEPTH_QUANTIZATION,
                            png_level: int = PNG_LEVEL) -> tuple[str, bytes]:
    """Depth -> (``"<encoding>; compressedDepth png"``, ConfigHeader + PNG bytes).

    ``16UC1``/``mono16``: uint16 millimetres (values above ``depth_max_m`` become 0);
    ``32FC1``: float metres (0, negative and non-finite = no measurement).
    """
    if encoding not in DEPTH_ENCODINGS:
        raise CompressedImageError(f"compressedDepth: expected encoding "
                                   f"{', '.join(DEPTH_ENCODINGS)}, found {encoding!r}")
    if not depth_max_m > 0 or not depth_quantization > 0:
        raise CompressedImageError(f"compressedDepth: expected depth_max_m > 0 and "
                                   f"depth_quantization > 0, found {depth_max_m}, "
                                   f"{depth_quantization}")
    arr = np.asarray(depth)
    if encoding == "32FC1":
        if arr.ndim != 2 or 0 in arr.shape:
            raise CompressedImageError(f"32FC1: expected a non-empty (H, W) array, found "
                                       f"{arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise CompressedImageError(f"32FC1: expected float metres, found {arr.dtype}")
        d = arr.astype(np.float32)
        a, b = (np.float32(v) for v in depth_quant_params(depth_max_m, depth_quantization))
        valid = np.isfinite(d) & (d > 0) & (d < np.float32(depth_max_m))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inv = np.where(valid, a / np.where(valid, d, np.float32(1)) + b, np.float32(0))
        payload = np.clip(np.trunc(inv), 0, 65535).astype(np.uint16)
        header = CONFIG_HEADER.pack(INV_DEPTH, a, b)
    else:
        if arr.dtype != np.uint16:
            raise CompressedImageError(f"{encoding}: expected uint16 millimetres, found "
                                       f"{arr.dtype} (depth_m_to_mm converts metres)")
        if arr.ndim != 2 or 0 in arr.shape:
            raise CompressedImageError(f"{encoding}: expected a non-empty (H, W) array, found "
                                       f"{arr.shape}")
        limit = np.uint16(min(int(float(depth_max_m) * 1000.0), 65535))
        payload = np.where(arr > limit, np.uint16(0), arr)
        header = CONFIG_HEADER.pack(INV_DEPTH, 0.0, 0.0)
    if not 0 <= int(png_level) <= 9:
        raise CompressedImageError(f"png level: expected 0..9, found {png_level}")
    png = _imencode(".png", payload, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)], encoding)
    return f"{encoding}; compressedDepth png", header + png


def parse_compressed_depth(format_str: str, data: Any
                           ) -> tuple[str, tuple[int, float, float], np.ndarray]:
    """(format, data) -> (encoding, header (format, A, B), stored uint16 PNG image)."""
    encoding, rest = _split_format(format_str)
    if rest:
        if "compressedDepth" not in rest:
            raise CompressedImageError(f"compressedDepth: expected '<encoding>; "
                                       f"compressedDepth png', found {format_str!r}")
        codec = rest.split("compressedDepth", 1)[1].strip() or "png"
        if codec != "png":
            raise CompressedImageError(f"compressedDepth: expected the png codec, found "
                                       f"{codec!r} in {format_str!r}")
    if encoding not in DEPTH_ENCODINGS:
        raise CompressedImageError(f"compressedDepth: expected encoding "
                                   f"{', '.join(DEPTH_ENCODINGS)}, found {encoding!r} in "
                                   f"format {format_str!r}")
    raw = _bytes(data)
    size = CONFIG_HEADER.size
    if len(raw) <= size:
        raise CompressedImageError(f"compressedDepth: expected a {size}-byte ConfigHeader and "
                                   f"a PNG, found {len(raw)} bytes")
    if raw.startswith(PNG_SIGNATURE):
        raise CompressedImageError(f"compressedDepth: expected a {size}-byte ConfigHeader "
                                   f"before the PNG, found a bare PNG (a 'compressed' payload?)")
    header = CONFIG_HEADER.unpack_from(raw)
    if header[0] != INV_DEPTH:
        raise CompressedImageError(f"compressedDepth ConfigHeader: expected format "
                                   f"{INV_DEPTH} (INV_DEPTH), found {header[0]}")
    png = raw[size:]
    if not png.startswith(PNG_SIGNATURE):
        raise CompressedImageError(f"compressedDepth: expected a PNG after the {size}-byte "
                                   f"header, found bytes starting {png[:8].hex()}")
    image = _imdecode(png, f"compressedDepth {format_str!r}")
    if image.dtype != np.uint16 or image.ndim != 2:
        raise CompressedImageError(f"compressedDepth: expected a 16-bit single-channel PNG, "
                                   f"found {image.dtype} {image.shape}")
    return encoding, header, image


def decode_compressed_depth(format_str: str, data: Any) -> np.ndarray:
    """``compressedDepth`` payload -> uint16 millimetres (16-bit encodings) or float32 metres
    (``32FC1``; NaN where no depth was stored), as the plugin decodes it."""
    encoding, (_, a, b), stored = parse_compressed_depth(format_str, data)
    if encoding != "32FC1":
        return stored
    a32, b32 = np.float32(a), np.float32(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = a32 / (stored.astype(np.float32) - b32)
    return np.where(stored > 0, depth, np.float32(np.nan)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Conveniences for the nodes and the bag tool


def decode(format_str: str, data: Any) -> tuple[np.ndarray, str]:
    """Any supported CompressedImage payload -> (array, encoding); compressedDepth included."""
    if is_compressed_depth(format_str):
        return decode_compressed_depth(format_str, data), _split_format(format_str)[0]
    return decode_image(format_str, data)


def depth_m_from_compressed(format_str: str, data: Any) -> np.ndarray:
    """compressedDepth (or a 16-bit PNG ``compressed``) payload -> float32 metres, 0 invalid."""
    depth, encoding = decode(format_str, data)
    if encoding not in DEPTH_ENCODINGS:
        raise CompressedImageError(f"depth: expected encoding {' / '.join(DEPTH_ENCODINGS)}, "
                                   f"found {encoding!r} in format {format_str!r}")
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(DEPTH_MM_TO_M)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0)).astype(np.float32)


def encode_depth_m(depth_m: Any, encoding: str = "16UC1", depth_max_m: float = DEPTH_MAX_M,
                   depth_quantization: float = DEPTH_QUANTIZATION) -> tuple[str, bytes]:
    """Float metres (0 = none) -> compressedDepth in ``encoding`` (16UC1: rounded mm)."""
    depth = np.asarray(depth_m, dtype=np.float32)
    payload = depth if encoding == "32FC1" else depth_m_to_mm(depth)
    return encode_compressed_depth(payload, encoding, depth_max_m, depth_quantization)


def uint8_payload(data: Any, factory: Callable[..., Any]) -> Any:
    """Bytes in the form ``factory``'s ``uint8[]`` field takes fastest: a numpy array for
    rosbags classes (they need one), ``array.array('B')`` for rclpy (which copies a numpy
    array element by element, ~0.1 s a megabyte)."""
    if hasattr(factory, "__msgtype__"):  # rosbags message class
        return np.frombuffer(bytes(data), dtype=np.uint8).copy() \
            if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    out = array.array("B")
    out.frombytes(data.tobytes() if isinstance(data, np.ndarray) else bytes(data))
    return out


def make_compressed(format_str: str, data: bytes, header: Any,
                    factory: Callable[..., Any]) -> Any:
    """A CompressedImage built by ``factory`` (rclpy ``CompressedImage`` or a rosbags class)."""
    return factory(header=header, format=format_str, data=uint8_payload(data, factory))
