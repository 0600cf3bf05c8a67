"""Image readers and writers for RGB, metric depth and label PNGs.

Every reader checks what it found against what it expects and raises an error naming the file:
a missing file gives :class:`FileNotFoundError`, a file of the wrong kind (grayscale where RGB
is expected, 8-bit where 16-bit depth is expected, ...) gives :class:`ValueError`.

Conventions (the NYUv2 layout this project exports to):

- RGB: 8-bit, 3 channels (PNG or JPEG), returned as uint8 (H, W, 3) in RGB order. An alpha
  channel is dropped. OpenCV decodes in BGR order; the readers and writers convert.
- Depth: single-channel 16-bit PNG, one unit = ``scale_m`` metres (millimetres by default),
  0 = no measurement; returned as float32 (H, W) metres.
- Labels: single-channel 8- or 16-bit PNG (palette PNGs give their indices), returned as int64
  (H, W) class ids, 0 = void.

Files are untrusted input: whatever a decoder raises on corrupt bytes becomes the
:class:`ValueError` naming the file, and a file whose header declares more than
``image_header.MAX_DECODE_PIXELS`` pixels or ``MAX_DECODE_SIDE`` a side is refused before it is
decoded. Writers are atomic (temporary file, fsync, rename), so a
crash never leaves a truncated PNG under the final name.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..atomic_files import atomic_write_bytes
from .image_header import PNG_SIGNATURE, ImageHeaderError, ImageTooLargeError, check_declared

#: Largest depth a 16-bit millimetre PNG can hold.
MAX_DEPTH_MM = 65535

#: Image suffixes accepted for RGB files.
RGB_SUFFIXES = (".png", ".jpg", ".jpeg")


def _check_file(path: str | Path, kind: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file {path}: not found")
    return path


def _read_checked(path: Path, kind: str) -> bytes:
    """The file's bytes once its header declares a size within the decoding limits
    (:mod:`.image_header`): an image bomb is refused before anything is decoded."""
    data = path.read_bytes()
    what = f"{kind} file {path}"
    try:
        check_declared(data, what)
    except ImageTooLargeError as exc:
        raise ValueError(str(exc)) from None
    except ImageHeaderError as exc:
        detail = str(exc)[len(what) + 2:] if data.startswith((PNG_SIGNATURE, b"\xff\xd8")) \
            else "not a PNG/JPEG, or corrupt"
        raise ValueError(f"{what}: cannot decode it as an image ({detail})") from None
    return data


def _imread_unchanged(path: Path, kind: str) -> np.ndarray:
    """Decode with OpenCV keeping bit depth and channel count (no conversion)."""
    data = _read_checked(path, kind)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ValueError(f"{kind} file {path}: cannot decode it as an image "
                         f"({' '.join(str(exc).split())[:200]})") from None
    if image is None:
        raise ValueError(f"{kind} file {path}: cannot decode it as an image "
                         "(not a PNG/JPEG, or corrupt)")
    return image


def describe_array_mode(image: np.ndarray) -> str:
    """Words for the bit depth and channels of a decoded image, e.g. ``16-bit grayscale``."""
    bits = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit",
            np.dtype(np.float32): "32-bit float"}.get(image.dtype, str(image.dtype))
    channels = 1 if image.ndim == 2 else image.shape[2]
    kind = {1: "grayscale", 2: "grayscale+alpha", 3: "3-channel colour",
            4: "4-channel colour+alpha"}.get(channels, f"{channels}-channel")
    return f"{bits} {kind}"


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an 8-bit colour PNG/JPEG as uint8 (H, W, 3) in RGB order (alpha dropped)."""
    path = _check_file(path, "RGB")
    image = _imread_unchanged(path, "RGB")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"RGB file {path}: expected an 8-bit 3-channel colour image, found "
                         f"{describe_array_mode(image)}")
    # OpenCV gives BGR(A); reverse the three colour channels.
    return np.ascontiguousarray(image[:, :, 2::-1])


def read_depth_raw(path: str | Path) -> np.ndarray:
    """Read a single-channel 16-bit PNG as uint16 (H, W) raw values (no unit conversion)."""
    path = _check_file(path, "depth")
    image = _imread_unchanged(path, "depth")
    if image.ndim != 2:
        raise ValueError(f"depth file {path}: expected a single-channel 16-bit depth PNG, "
                         f"found {describe_array_mode(image)}")
    if image.dtype != np.uint16:
        bits = "8-bit" if image.dtype == np.uint8 else str(image.dtype)
        raise ValueError(f"depth file {path}: expected a 16-bit depth PNG, found {bits}")
    return image


def read_depth(path: str | Path, scale_m: float = 0.001) -> np.ndarray:
    """Read a 16-bit depth PNG (one unit = ``scale_m`` metres, 0 = invalid) as float32 metres."""
    raw = read_depth_raw(path)
    return (raw.astype(np.float32) * np.float32(scale_m)).astype(np.float32)


def read_labels(path: str | Path) -> np.ndarray:
    """Read a single-channel 8- or 16-bit label PNG (or palette PNG indices) as int64 (H, W).

    Pillow is used here (not OpenCV) because OpenCV expands palette PNGs to colours, while a
    palette label PNG stores class ids as its indices.
    """
    path = _check_file(path, "label")
    data = _read_checked(path, "label")
    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
            array = np.asarray(image)
    except Exception as exc:  # noqa: BLE001 - corrupt bytes raise OSError, SyntaxError,
        # ValueError, zlib.error, struct.error, DecompressionBombError, ... from Pillow
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"label file {path}: cannot decode it as an image "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
                         ) from None
    if mode in ("L", "P", "I;16", "I;16L", "I;16B"):
        return array.astype(np.int64)
    if mode == "I":  # 32-bit integer image (some encoders / older Pillow for 16-bit PNGs)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(f"label file {path}: expected an 8- or 16-bit single-channel "
                             f"label PNG, found 32-bit values {array.min()}..{array.max()}")
        return array.astype(np.int64)
    raise ValueError(f"label file {path}: expected a single-channel 8- or 16-bit label PNG, "
                     f"found Pillow mode {mode!r} "
                     f"({'colour' if mode.startswith(('RGB', 'CMYK', 'YCbCr')) else 'other'})")


def _prepare_parent(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _imwrite(path: Path, image: np.ndarray, kind: str) -> None:
    """Encode as PNG in memory, then write atomically."""
    if path.suffix.lower() != ".png":
        raise ValueError(f"{kind} file {path}: expected a .png name, found {path.suffix!r}")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{kind} file {path}: OpenCV could not encode a {image.dtype} "
                         f"{image.shape} image as PNG")
    atomic_write_bytes(path, encoded.tobytes())


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    """Write uint8 (H, W, 3) RGB as an 8-bit colour PNG (parent folders are created)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"RGB file {path}: expected uint8 (H, W, 3) to write, found "
                         f"{rgb.dtype} {rgb.shape}")
    path = _prepare_parent(path)
    _imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]), "RGB")


def depth_to_raw(depth_m: np.ndarray, scale_m: float = 0.001) -> np.ndarray:
    """Metres -> uint16 units of ``scale_m`` (rounded; invalid -> 0; clipped to 65535).

    A valid (> 0, finite) depth never becomes 0: values below half a unit are stored as 1.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    units = np.rint(np.where(valid, depth, 0.0) / scale_m)
    units = np.clip(units, 0, MAX_DEPTH_MM)
    units[valid & (units < 1)] = 1
    return units.astype(np.uint16)


def write_depth(path: str | Path, depth_m: np.ndarray, scale_m: float = 0.001) -> None:
    """Write float (H, W) metres as a 16-bit PNG in ``scale_m`` units (mm by default).

    Invalid depth (0, negative, NaN, inf) is written as 0; depth beyond 65535 units
    (65.535 m in mm) is clipped.
    """
    if depth_m.ndim != 2:
        raise ValueError(f"depth file {path}: expected (H, W) depth to write, found shape "
                         f"{depth_m.shape}")
    path = _prepare_parent(path)
    _imwrite(path, depth_to_raw(depth_m, scale_m), "depth")


def write_labels(path: str | Path, labels: np.ndarray) -> None:
    """Write (H, W) class ids as an 8-bit PNG (16-bit when an id exceeds 255)."""
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label file {path}: expected integer (H, W) labels to write, found "
                         f"{labels.dtype} {labels.shape}")
    lo = int(labels.min()) if labels.size else 0
    hi = int(labels.max()) if labels.size else 0
    if lo < 0 or hi > 65535:
        raise ValueError(f"label file {path}: expected ids in 0..65535 to write, found "
                         f"{lo}..{hi}")
    path = _prepare_parent(path)
    dtype = np.uint8 if hi <= 255 else np.uint16
    _imwrite(path, labels.astype(dtype), "label")
