"""Bag-side image topics for :mod:`scmis_ros.bag_augment`: which topics hold the labels,
colour, depth and camera_info; their transport (raw ``sensor_msgs/Image`` or the
image_transport ``CompressedImage`` layouts); decoding their messages and encoding new ones
in the same transport; and a ``ros2 bag info``-style summary.

No rclpy: messages are rosbags objects (``scmis_ros.bags.typestore``); payloads use
:mod:`scmis_ros.image_codecs` (the byte layouts of image_transport_plugins).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import image_codecs
from .bags import BagError, open_bag, storage_of
from .conversions import (ImageConversionError, depth_m_from_image, labels_encoding,
                          labels_from_image, make_image, rgb_from_array, rgb_from_image)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
#: image_transport sub-topics whose messages are CompressedImage
SUB_TOPICS = ("compressed", "compressedDepth")
#: Topics written by an earlier augmentation (never taken as inputs).
GENERATED = ("synth/", "mixed/")
ROLES = ("labels", "rgb", "depth")


# --------------------------------------------------------------------------------------------
# Topics


def base_topic(topic: str, msgtype: str) -> str:
    """The image_transport base name: ``/cam/image_raw/compressed`` -> ``/cam/image_raw``."""
    name = topic.rstrip("/")
    if msgtype == COMPRESSED_TYPE and name.rsplit("/", 1)[-1] in SUB_TOPICS:
        return name.rsplit("/", 1)[0]
    return name


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def _looks_like(role: str, base: str) -> bool:
    leaf, low = _leaf(base), base.lower()
    if role == "labels":
        return any(k in leaf for k in ("label", "semantic", "seg"))
    if role == "depth":
        return "depth" in low
    # colour: realsense names the colour stream .../color/image_raw
    return "depth" not in low and (any(k in leaf for k in ("rgb", "color", "image")) or
                                   _leaf(posixpath.dirname(base)) in ("color", "rgb"))


@dataclass(frozen=True)
class Topics:
    """The topics of one bag that augmentation reads (None where absent)."""

    labels: str | None
    rgb: str | None
    depth: str | None
    camera_info: str | None

    def get(self, role: str) -> str | None:
        return getattr(self, role)


def find_topics(topics: dict[str, str], labels_topic: str | None = None,
                rgb_topic: str | None = None, depth_topic: str | None = None,
                camera_info_topic: str | None = None, need_labels: bool = True) -> Topics:
    """The labels / rgb / depth / camera_info topics of a bag (``topics``: name -> type).

    Image topics are ``sensor_msgs/Image`` or ``CompressedImage`` (as image_transport lays
    them out: ``<base>/compressed``, depth ``<base>/compressedDepth``). Given names must exist
    with such a type (a base name finds its compressed sub-topic). Otherwise by name: labels
    contain ``label`` / ``semantic`` / ``seg`` in their last part, colour ``rgb`` / ``color``
    / ``image`` (realsense ``.../color/image_raw``) and no ``depth``, depth has ``depth``
    anywhere; a raw and a compressed copy of the same stream pick the raw one. camera_info is
    the ``CameraInfo`` topic beside the colour (else depth, else labels) stream, or the only
    one. Topics of an earlier augmentation (``synth/``, ``mixed/``) are ignored.
    """
    images = {t: ty for t, ty in topics.items() if ty in IMAGE_TYPES
              and not any(g in t for g in GENERATED)}
    listing = ", ".join(sorted(images)) or "none"

    def given(role: str, name: str) -> str:
        if name not in topics:
            for sub in SUB_TOPICS:
                if f"{name.rstrip('/')}/{sub}" in images:
                    return f"{name.rstrip('/')}/{sub}"
            raise BagError(f"--{role}-topic {name}: not in the bag; image topics: {listing}")
        if topics[name] not in IMAGE_TYPES:
            raise BagError(f"--{role}-topic {name}: expected type {IMAGE_TYPE} or "
                           f"{COMPRESSED_TYPE}, found {topics[name]}")
        return name

    def pick(role: str, exclude: set[str]) -> str | None:
        found = [t for t, ty in images.items() if t not in exclude
                 and _looks_like(role, base_topic(t, ty))]
        bases = sorted({base_topic(t, images[t]) for t in found})
        if len(bases) > 1:
            raise BagError(f"several {role} topics look possible: {', '.join(sorted(found))}; "
                           f"choose one with --{role}-topic")
        if not found:
            return None
        raw = [t for t in found if images[t] == IMAGE_TYPE]
        return raw[0] if raw else sorted(found)[0]

    chosen: dict[str, str | None] = {}
    for role, name in (("labels", labels_topic), ("rgb", rgb_topic), ("depth", depth_topic)):
        if role == "labels" and not need_labels:
            chosen[role] = None
            continue
        taken = {t for t in chosen.values() if t}
        chosen[role] = given(role, name) if name else pick(role, taken)
        if role == "labels" and chosen[role] is None:
            raise BagError(f"no label topic found (an image topic named like '.../labels'); "
                           f"image topics in the bag: {listing}; name it with --labels-topic, "
                           "or predict labels with --labels-from SEGMENTER.pt")
    return Topics(chosen["labels"], chosen["rgb"], chosen["depth"],
                  _camera_info(topics, camera_info_topic, chosen))


def _camera_info(topics: dict[str, str], given: str | None,
                 chosen: dict[str, str | None]) -> str | None:
    infos = sorted(t for t, ty in topics.items() if ty == CAMERA_INFO_TYPE
                   and not any(g in t for g in GENERATED))
    if given:
        if topics.get(given) != CAMERA_INFO_TYPE:
            raise BagError(f"--camera-info-topic {given}: expected a {CAMERA_INFO_TYPE} topic "
                           f"of the bag, found {topics.get(given, 'no such topic')}; "
                           f"camera_info topics: {', '.join(infos) or 'none'}")
        return given
    for role in ("rgb", "depth", "labels"):
        name = chosen.get(role)
        if name:
            folder = posixpath.dirname(base_topic(name, topics[name]))
            beside = f"{folder}/camera_info"
            if beside in infos:
                return beside
    return infos[0] if len(infos) == 1 else None


def camera_namespace(names: list[str]) -> str:
    """Namespace of new topics for these base topics: the common parent folder of two or
    more (``/camera/camera`` for realsense colour and aligned depth), else the parent."""
    parents = [posixpath.dirname(n.rstrip("/")) for n in names if n]
    if not parents:
        return ""
    common = posixpath.commonpath(parents) if len(parents) > 1 else parents[0]
    return "" if common in ("/", "") else common


# --------------------------------------------------------------------------------------------
# Transports


@dataclass(frozen=True)
class Transport:
    """How one stream travels: ``raw``, ``compressed`` (``codec`` jpeg / png) or
    ``compressedDepth`` (``codec`` = its depth encoding, 16UC1 or 32FC1)."""

    kind: str = "raw"
    codec: str = ""

    @classmethod
    def of(cls, msgtype: str, msg: Any = None) -> "Transport":
        """The transport of a topic, from its type and (for compressed) one message."""
        if msgtype != COMPRESSED_TYPE:
            return cls("raw")
        fmt = str(getattr(msg, "format", "")) if msg is not None else ""
        if image_codecs.is_compressed_depth(fmt):
            encoding = fmt.split(";", 1)[0].strip()
            return cls("compressedDepth", "32FC1" if encoding == "32FC1" else "16UC1")
        return cls("compressed", "jpeg" if "jpeg" in fmt.lower() else "png")

    def topic(self, base: str) -> str:
        """The topic a stream with base name ``base`` uses in this transport."""
        return base if self.kind == "raw" else f"{base}/{self.kind}"

    @property
    def msgtype(self) -> str:
        return IMAGE_TYPE if self.kind == "raw" else COMPRESSED_TYPE

    def for_role(self, role: str) -> "Transport":
        """This transport carried over to another role (raw stays raw; compressed colour
        gives png labels and 16UC1 compressedDepth depth)."""
        if self.kind == "raw":
            return self
        if role == "depth":
            return self if self.kind == "compressedDepth" else Transport("compressedDepth",
                                                                         "16UC1")
        if role == "labels":
            return Transport("compressed", "png")
        return self if self.kind == "compressed" else Transport("compressed", "png")


def is_compressed(msg: Any) -> bool:
    """True for a CompressedImage (``format`` and no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def decode(role: str, msg: Any, num_classes: int | None = None) -> np.ndarray:
    """An Image or CompressedImage of ``role`` -> labels (H, W) int64 | rgb (H, W, 3) uint8
    | depth (H, W) float32 metres (0 = none). :class:`ImageConversionError` otherwise."""
    if not is_compressed(msg):
        if role == "labels":
            return labels_from_image(msg, num_classes)
        return rgb_from_image(msg) if role == "rgb" else depth_m_from_image(msg)
    fmt = str(msg.format)
    if role == "depth":
        return image_codecs.depth_m_from_compressed(fmt, msg.data)
    image, encoding = image_codecs.decode_image(fmt, msg.data)
    if role == "rgb":
        return rgb_from_array(image, encoding)
    if image.ndim != 2 or encoding not in ("mono8", "8UC1", "mono16", "16UC1"):
        raise ImageConversionError(f"labels: expected a mono8/mono16 png, found {fmt!r}")
    labels = image.astype(np.int64)
    if num_classes is not None and int(labels.max()) > num_classes:
        raise ImageConversionError(f"labels: expected class ids in 0..{num_classes}, found "
                                   f"max {int(labels.max())}")
    return labels


def encode(role: str, array: np.ndarray, header: Any, transport: Transport, store: Any
           ) -> bytes:
    """A new message of ``role`` (labels / rgb / depth in metres) in ``transport``, CDR."""
    if transport.kind == "raw":
        if role == "labels":
            encoding = labels_encoding(int(array.max()) if array.size else 0)
            array = array.astype(np.uint16 if encoding == "mono16" else np.uint8)
        else:
            encoding = "rgb8" if role == "rgb" else "32FC1"
        msg = make_image(array, encoding, header, store.types[IMAGE_TYPE])
        return bytes(store.serialize_cdr(msg, IMAGE_TYPE))
    if role == "depth":
        fmt, data = image_codecs.encode_depth_m(array, transport.codec or "16UC1")
    elif role == "rgb":
        fmt, data = image_codecs.encode_image(array, "rgb8", transport.codec or "png")
    else:
        encoding = labels_encoding(int(array.max()) if array.size else 0)
        fmt, data = image_codecs.encode_image(
            array.astype(np.uint16 if encoding == "mono16" else np.uint8), encoding, "png")
    msg = image_codecs.make_compressed(fmt, data, header, store.types[COMPRESSED_TYPE])
    return bytes(store.serialize_cdr(msg, COMPRESSED_TYPE))


# --------------------------------------------------------------------------------------------
# Summary


def _size(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024 or unit == "GiB":
            return f"{num:.1f} {unit}" if unit != "B" else f"{int(num)} B"
        num /= 1024
    return f"{num:.1f} GiB"


def _when(ns: int) -> str:
    sec, nsec = divmod(int(ns), 1_000_000_000)
    return (f"{time.strftime('%b %d %Y %H:%M:%S', time.gmtime(sec))}.{nsec:09d} "
            f"({sec}.{nsec:09d})")


def bag_info_text(path: str | Path) -> str:
    """What ``ros2 bag info PATH`` prints (files, size, storage, duration, start, end,
    messages, per topic type / count / serialization format), without a ROS install."""
    path = Path(path)
    with open_bag(path) as reader:
        files = sorted(p.name for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        size = sum((path / f).stat().st_size for f in files)
        count = reader.message_count
        lines = [f"Files:             {'  '.join(files)}",
                 f"Bag size:          {_size(size)}",
                 f"Storage id:        {storage_of(path)}",
                 f"Duration:          {reader.duration / 1e9:.9f}s" if count else
                 "Duration:          0.000000000s"]
        if count:
            lines += [f"Start:             {_when(reader.start_time)}",
                      f"End:               {_when(reader.end_time - 1)}"]
        lines.append(f"Messages:          {count}")
        conns = {c.topic: c for c in reader.connections}
        topic_lines = []
        for topic, info in sorted(reader.topics.items()):
            fmt = getattr(conns[topic].ext, "serialization_format", "cdr")
            topic_lines.append(f"Topic: {topic} | Type: {info.msgtype} | Count: "
                               f"{info.msgcount} | Serialization Format: {fmt}")
        head = "Topic information: "
        lines += [(head if i == 0 else " " * len(head)) + text
                  for i, text in enumerate(topic_lines)] or [head]
    return "\n".join(lines)
