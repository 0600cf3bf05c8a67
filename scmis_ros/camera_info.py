"""Pinhole camera models for ``sensor_msgs/CameraInfo``: NYU Kinect defaults, scaling to an
output size, reading / filling messages, and matching camera infos to images by stamp.

Pure numpy (no rclpy): messages are filled and read by attribute, so the same code serves
rclpy nodes and the rosbags-based bag tool.

    cam = CameraModel.nyu(480, 640)                 # NYUv2 Kinect colour intrinsics
    cam = CameraModel.from_msg(info_msg).scaled(240, 320)
    fill_camera_info(CameraInfo(), cam, header)     # rclpy message, filled in place
    make_camera_info(cam, header, CameraInfo, RegionOfInterest)   # rosbags classes

Scaling keeps images registered: fx, cx and the first row of P scale with width, fy, cy and
the second row with height, and the principal point scales about pixel centres
(``c' = (c + 0.5) s - 0.5``), the convention of :func:`scmis_core.data.rooms.intrinsics`.
Distortion coefficients (``plumb_bob``: normalised coordinates) do not change with size.
Configured intrinsics get ``plumb_bob`` with zero distortion, R = I and P = [K | 0].
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

PLUMB_BOB = "plumb_bob"
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


class CameraInfoError(ValueError):
    """Camera intrinsics (a message, a dict or a size) that cannot be used."""


#: Plausible intrinsics, checked for every model (received and scaled): focal lengths within
#: these multiples of the longer image side (fields of view from 0.06 to 179.9 degrees), ...
FOCAL_RANGE = (1e-3, 1e3)
#: ... and the principal point within this many image sizes of the image centre.
CENTRE_RANGE = 10.0


def _floats(values: Any, count: int | None, what: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
    if count is not None and len(out) != count:
        raise CameraInfoError(f"{what}: expected {count} numbers, found {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise CameraInfoError(f"{what}: expected finite numbers, found {out}")
    return out


@dataclass(frozen=True)
class CameraModel:
    """A calibrated pinhole camera: image size, K, D, R, P (row-major tuples)."""

    height: int
    width: int
    k: tuple[float, ...]
    d: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    r: tuple[float, ...] = _IDENTITY
    p: tuple[float, ...] = ()
    distortion_model: str = PLUMB_BOB
    frame_id: str = field(default="")

    def __post_init__(self) -> None:
        if int(self.height) <= 0 or int(self.width) <= 0:
            raise CameraInfoError(f"camera: expected a positive size, found "
                                  f"{self.height}x{self.width}")
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "k", _floats(self.k, 9, "camera K"))
        object.__setattr__(self, "d", _floats(self.d, None, "camera D"))
        object.__setattr__(self, "r", _floats(self.r, 9, "camera R"))
        p = self.p if len(self.p) else (*self.k[0:3], 0.0, *self.k[3:6], 0.0, *self.k[6:9], 0.0)
        object.__setattr__(self, "p", _floats(p, 12, "camera P"))
        if self.fx <= 0 or self.fy <= 0:
            raise CameraInfoError(f"camera K: expected positive focal lengths, found fx "
                                  f"{self.fx}, fy {self.fy}")
        side = max(self.height, self.width)
        lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
        if not (lo <= self.fx <= hi and lo <= self.fy <= hi):
            raise CameraInfoError(f"camera K: expected focal lengths between {lo:g} and "
                                  f"{hi:g} px for a {self.width}x{self.height} image, found fx "
                                  f"{self.fx:g}, fy {self.fy:g}")
        if abs(self.cx - self.width / 2) > CENTRE_RANGE * self.width or \
                abs(self.cy - self.height / 2) > CENTRE_RANGE * self.height:
            raise CameraInfoError(f"camera K: expected the principal point within "
                                  f"{CENTRE_RANGE:g} image sizes of the centre of a "
                                  f"{self.width}x{self.height} image, found cx {self.cx:g}, "
                                  f"cy {self.cy:g}")

    # ---- constructors

    @classmethod
    def from_intrinsics(cls, height: int, width: int, fx: float, fy: float, cx: float,
                        cy: float, frame_id: str = "") -> "CameraModel":
        """plumb_bob, zero distortion, R = I, P = [K | 0]."""
        return cls(height, width, (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
                   frame_id=frame_id)

    @classmethod
    def nyu(cls, height: int = 480, width: int = 640, frame_id: str = "") -> "CameraModel":
        """NYUv2 Kinect colour intrinsics scaled to ``height`` x ``width``."""
        from scmis_core.data.rooms import intrinsics  # one definition, in scmis_core

        return cls.from_intrinsics(height, width, *intrinsics(height, width),
                                   frame_id=frame_id)

    @classmethod
    def from_msg(cls, msg: Any) -> "CameraModel":
        """A ``sensor_msgs/CameraInfo`` (rclpy or rosbags) -> model (frame id included)."""
        header = getattr(msg, "header", None)
        frame = str(getattr(header, "frame_id", "")) if header is not None else ""
        return cls(int(msg.height), int(msg.width), tuple(msg.k), tuple(msg.d), tuple(msg.r),
                   tuple(msg.p), str(msg.distortion_model) or PLUMB_BOB, frame)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> "CameraModel":
        """``{height, width, fx, fy, cx, cy}`` or ``{height, width, k[, d, r, p,
        distortion_model]}`` (plus optional ``frame_id``); ``{height, width}`` alone or
        ``model: nyu`` gives the NYU Kinect defaults at that size."""
        try:
            height, width = int(cfg["height"]), int(cfg["width"])
        except (KeyError, TypeError, ValueError):
            raise CameraInfoError(f"camera: expected integer height and width, found "
                                  f"{dict(cfg)}") from None
        frame = str(cfg.get("frame_id", ""))
        if "k" in cfg:
            return cls(height, width, tuple(cfg["k"]), tuple(cfg.get("d", (0.0,) * 5)),
                       tuple(cfg.get("r", _IDENTITY)), tuple(cfg.get("p", ())),
                       str(cfg.get("distortion_model", PLUMB_BOB)), frame)
        keys = ("fx", "fy", "cx", "cy")
        if all(key in cfg for key in keys):
            return cls.from_intrinsics(height, width, *(float(cfg[key]) for key in keys),
                                       frame_id=frame)
        if any(key in cfg for key in keys) or cfg.get("model", "nyu") != "nyu":
            raise CameraInfoError(f"camera: expected all of fx, fy, cx, cy (or k, or model "
                                  f"nyu), found {sorted(cfg)}")
        return cls.nyu(height, width, frame)

    # ---- views

    @property
    def fx(self) -> float:
        return self.k[0]

    @property
    def fy(self) -> float:
        return self.k[4]

    @property
    def cx(self) -> float:
        return self.k[2]

    @property
    def cy(self) -> float:
        return self.k[5]

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the matrix
        """(3, 3) float64 intrinsic matrix."""
        return np.array(self.k, dtype=np.float64).reshape(3, 3)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.height, self.width

    def to_dict(self) -> dict[str, Any]:
        """Plain types (YAML / JSON); :meth:`from_dict` reads it back."""
        return {"height": self.height, "width": self.width, "k": list(self.k),
                "d": list(self.d), "r": list(self.r), "p": list(self.p),
                "distortion_model": self.distortion_model, "frame_id": self.frame_id}

    def scaled(self, height: int, width: int) -> "CameraModel":
        """The same camera for images resized to ``height`` x ``width``."""
        if (height, width) == (self.height, self.width):
            return self
        if height <= 0 or width <= 0:
            raise CameraInfoError(f"camera: expected a positive size, found {height}x{width}")
        sx, sy = width / self.width, height / self.height
        s = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        k = s @ self.K
        p = s @ np.array(self.p).reshape(3, 4)
        return CameraModel(height, width, tuple(k.reshape(-1)), self.d, self.r,
                           tuple(p.reshape(-1)), self.distortion_model, self.frame_id)


# --------------------------------------------------------------------------------------------
# Messages


def camera_info_fields(model: CameraModel) -> dict[str, Any]:
    """The CameraInfo fields other than header and roi (arrays as float64 numpy)."""
    return {"height": model.height, "width": model.width,
            "distortion_model": model.distortion_model,
            "d": np.array(model.d, dtype=np.float64), "k": np.array(model.k, np.float64),
            "r": np.array(model.r, dtype=np.float64), "p": np.array(model.p, np.float64),
            "binning_x": 0, "binning_y": 0}


def fill_camera_info(msg: Any, model: CameraModel, header: Any = None) -> Any:
    """Set a CameraInfo's fields from ``model`` in place (full-image roi, no binning).

    ``header`` is assigned when given; otherwise only ``header.frame_id`` is set where the
    model has one. Returns ``msg``.
    """
    for key, value in camera_info_fields(model).items():
        if key == "d":  # rclpy keeps D as array('d'); both accept a list of floats
            value = [float(v) for v in value]
        setattr(msg, key, value)
    roi = getattr(msg, "roi", None)
    if roi is not None:
        for key in ("x_offset", "y_offset", "height", "width"):
            setattr(roi, key, 0)
        roi.do_rectify = False
    if header is not None:
        msg.header = header
    elif model.frame_id and getattr(msg, "header", None) is not None:
        msg.header.frame_id = model.frame_id
    return msg


def make_camera_info(model: CameraModel, header: Any, factory: Callable[..., Any],
                     roi_factory: Callable[..., Any]) -> Any:
    """A CameraInfo built by ``factory`` (e.g. rosbags classes, which need every field)."""
    roi = roi_factory(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return factory(header=header, roi=roi, **camera_info_fields(model))


# --------------------------------------------------------------------------------------------
# Matching by stamp


class CameraInfoBuffer:
    """The last ``capacity`` camera infos by stamp (ns); :meth:`match` finds the one of an
    image. Thread-safe (callbacks of a multi-threaded executor)."""

    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected >= 1, found {capacity}")
        self.capacity = capacity
        self._stamps: list[int] = []
        self._models: dict[int, CameraModel] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._stamps)

    def add(self, stamp_ns: int, info: Any) -> CameraModel:
        """Store a CameraInfo message (or a :class:`CameraModel`) under its stamp."""
        model = info if isinstance(info, CameraModel) else CameraModel.from_msg(info)
        with self._lock:
            if stamp_ns not in self._models:
                bisect.insort(self._stamps, stamp_ns)
            self._models[stamp_ns] = model
            while len(self._stamps) > self.capacity:
                del self._models[self._stamps.pop(0)]
        return model

    def match(self, stamp_ns: int, tolerance_ns: int = 0) -> CameraModel | None:
        """The model whose stamp is nearest ``stamp_ns`` within ``tolerance_ns``, else None
        (ties go to the earlier stamp)."""
        with self._lock:
            i = bisect.bisect_left(self._stamps, stamp_ns)
            best = None
            for j in (i - 1, i):
                if 0 <= j < len(self._stamps):
                    gap = abs(self._stamps[j] - stamp_ns)
                    if gap <= tolerance_ns and (best is None or gap < best[0]):
                        best = (gap, self._stamps[j])
            return self._models[best[1]] if best else None

    def latest(self) -> CameraModel | None:
        """The model with the newest stamp, or None when empty."""
        with self._lock:
            return self._models[self._stamps[-1]] if self._stamps else None
