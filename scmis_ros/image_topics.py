"""Image inputs and outputs of the nodes, laid out as ``image_transport`` does.

Inputs (:class:`ImageInput`): a base topic such as ``labels`` arrives either raw
(``sensor_msgs/Image`` on ``labels``) or compressed (``sensor_msgs/CompressedImage`` on
``labels/compressed``, or ``depth/compressedDepth`` for depth). ``transport`` picks one:

- ``auto`` (default): watch the graph and subscribe to what is published — raw on the base
  topic first, then a CompressedImage published on the base topic itself (e.g. after a remap
  to ``/camera/color/image_raw/compressed``), then the ``compressed`` / ``compressedDepth``
  sub-topic;
- ``raw`` / ``compressed``: that one (``compressed`` means ``compressedDepth`` for depth).

The base topic is resolved with the node's remappings first, so ``-r labels:=/cam/labels``
moves the sub-topics along, as image_transport does. The input QoS ``auto`` (default) is
reliable, and best effort as soon as a best-effort publisher is seen on the topic (a
reliable subscription would not match it) — the adaptive choice ``ros2 bag record`` makes.

Outputs (:class:`ImageOutput`): a raw publisher, plus ``<topic>/compressed`` (jpeg or png
colour, png labels) or ``<topic>/compressedDepth`` (png, 16UC1 millimetres) when enabled.
Subscriber counts come from the publishers' matched events (no graph query per message);
:meth:`ImageOutput.wanted` says whether anything would be received.

Pure decoding helpers (:func:`decode_labels`, :func:`decode_rgb`, :func:`decode_depth_m`,
:func:`message_pixels`) accept both message types; :func:`admit_image` is the size check of
the nodes' input callbacks.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSPolicyKind, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from . import image_codecs
from .conversions import (ImageConversionError, depth_m_from_image, labels_from_image,
                          numpy_to_image, rgb_from_array, rgb_from_image)
from .node_utils import QOS_PROFILES, Param, qos_from_name

TRANSPORTS = ("auto", "raw", "compressed")
INPUT_QOS = ("auto",) + QOS_PROFILES
ROLES = ("labels", "rgb", "depth")
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
#: image_transport sub-topic of each role's compressed transport
SUFFIX = {"labels": "compressed", "rgb": "compressed", "depth": "compressedDepth"}
#: 1920 x 1080: larger inputs are dropped unless ``max_input_pixels`` says otherwise
DEFAULT_MAX_PIXELS = 1920 * 1080


def input_params(max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Param]:
    """Parameters of the image inputs (shared by every node that takes images)."""
    return [
        Param("transport", "auto", "input transport: auto (what is published), raw "
              "(sensor_msgs/Image) or compressed (CompressedImage on <topic>/compressed, "
              "depth on <topic>/compressedDepth)", choices=TRANSPORTS, read_only=True),
        Param("input_qos", "auto", "QoS of the input subscriptions; auto = reliable, best "
              "effort once a best-effort publisher is seen", choices=INPUT_QOS,
              read_only=True),
        Param("max_input_pixels", max_pixels, "largest image (height x width) processed; "
              "larger ones are dropped with a warning", lo=1, hi=2**31 - 1),
    ]


def output_params() -> list[Param]:
    """Parameters of the image outputs (QoS, optional compressed copies)."""
    return [
        Param("qos", "reliable", "QoS of the output topics (reliable keep-last is received "
              "by reliable and best-effort subscribers alike)", choices=QOS_PROFILES,
              read_only=True),
        Param("qos_depth", 5, "history depth of the image topics", lo=1, hi=100,
              read_only=True),
        Param("publish_compressed", False, "also publish <topic>/compressed (colour, labels) "
              "and <topic>/compressedDepth (depth) as image_transport does", read_only=True),
        Param("compressed_format", "jpeg", "codec of <topic>/compressed colour (labels are "
              "always png)", choices=("jpeg", "png"), read_only=True),
    ]


# --------------------------------------------------------------------------------------------
# Decoding (both message types)


def is_compressed(msg: Any) -> bool:
    """True for a CompressedImage (anything with ``format`` and no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def compressed_size(format_str: str, data: Any) -> tuple[int, int]:
    """(height, width) of a CompressedImage from its file header, without decoding pixels."""
    raw = bytes(data) if not isinstance(data, (bytes, bytearray)) else bytes(data)
    if image_codecs.is_compressed_depth(format_str):
        raw = raw[image_codecs.CONFIG_HEADER.size:]
    return image_codecs.declared_size(raw, f"compressed image {format_str!r}")


def message_pixels(msg: Any) -> int:
    """height x width of an Image or CompressedImage (header only, nothing decoded); an image
    with a side beyond ``image_codecs.MAX_DECODE_SIDE`` (a 1 x 100000 strip passes any pixel
    limit) raises :class:`~.image_codecs.ImageTooLargeError`."""
    if is_compressed(msg):
        height, width = compressed_size(str(msg.format), msg.data)
    else:
        height, width = int(msg.height), int(msg.width)
    if max(height, width) > image_codecs.MAX_DECODE_SIDE:
        raise image_codecs.ImageTooLargeError(
            f"an image of {width}x{height}: a side is longer than "
            f"{image_codecs.MAX_DECODE_SIDE} pixels; not decoded")
    return height * width


def admit_image(node: Node, stats: Any, msg: Any, limit: int, what: str,
                on_bad: Callable[[Exception], None]) -> bool:
    """The input check of the nodes that group several images: count ``msg`` as ``received``
    and say whether to keep it. Dropped (False): a message whose size cannot be read
    (``on_bad(exc)``) or one of more than ``limit`` pixels (counted as ``too_large``, with a
    throttled warning that names it as ``what``, e.g. ``"a depth image"``)."""
    stats.add("received")
    try:
        pixels = message_pixels(msg)
    except ImageConversionError as exc:
        on_bad(exc)
        return False
    if pixels > limit:
        stats.add("too_large")
        node.get_logger().warning(f"dropped {what} of {pixels} pixels: larger than "
                                  f"max_input_pixels {limit}", throttle_duration_sec=5.0)
        return False
    return True


def decode_labels(msg: Any, num_classes: int | None = None) -> np.ndarray:
    """Label image (raw mono8/mono16/8UC1/16UC1, or png ``compressed``) -> (H, W) int64."""
    if not is_compressed(msg):
        return labels_from_image(msg, num_classes)
    labels, encoding = image_codecs.decode_image(str(msg.format), msg.data)
    if labels.ndim != 2 or encoding not in ("mono8", "8UC1", "mono16", "16UC1"):
        raise ImageConversionError(f"labels: expected a mono8/mono16 png, found "
                                   f"{msg.format!r}")
    labels = labels.astype(np.int64)
    if num_classes is not None and int(labels.max()) > num_classes:
        raise ImageConversionError(f"labels: expected class ids in 0..{num_classes}, found "
                                   f"max {int(labels.max())}")
    return labels


def decode_rgb(msg: Any) -> np.ndarray:
    """Colour image (raw rgb8/bgr8/rgba8/bgra8, or jpeg/png ``compressed``) -> (H, W, 3)
    uint8 RGB."""
    if not is_compressed(msg):
        return rgb_from_image(msg)
    image, encoding = image_codecs.decode_image(str(msg.format), msg.data)
    return rgb_from_array(image, encoding)  # rgba8 / bgra8: alpha dropped


def decode_depth_m(msg: Any) -> np.ndarray:
    """Depth (raw 32FC1 m / 16UC1 mm, or ``compressedDepth``) -> float32 metres, 0 = none."""
    if not is_compressed(msg):
        return depth_m_from_image(msg)
    return image_codecs.depth_m_from_compressed(str(msg.format), msg.data)


DECODERS: dict[str, Callable[[Any], np.ndarray]] = {
    "labels": decode_labels, "rgb": decode_rgb, "depth": decode_depth_m}


# --------------------------------------------------------------------------------------------
# Inputs


class ImageInput:
    """One image input: subscribes raw or compressed, passes every message to ``callback``.

    ``callback(msg)`` gets the Image or CompressedImage as it arrived (decode later, off the
    executor). :meth:`start` / :meth:`stop` create and destroy the subscription (a lifecycle
    node starts its inputs on activate).
    """

    def __init__(self, node: Node, topic: str, role: str, callback: Callable[[Any], None],
                 transport: str = "auto", qos: str = "auto", depth: int = 5) -> None:
        if role not in ROLES:
            raise ValueError(f"role: expected one of {', '.join(ROLES)}, found {role!r}")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport: expected one of {', '.join(TRANSPORTS)}, found "
                             f"{transport!r}")
        if qos not in INPUT_QOS:
            raise ValueError(f"input_qos: expected one of {', '.join(INPUT_QOS)}, found "
                             f"{qos!r}")
        self.node, self.topic, self.role = node, topic, role
        self.callback = callback
        self.transport, self.qos_name, self.depth = transport, qos, depth
        self.sub: Any = None
        self.subscribed: tuple[str, str, str] | None = None  # (topic, type, reliability)
        self._timer: Any = None
        self._incompatible = False
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        """The base topic after the node's remappings (and namespace)."""
        return self.node.resolve_topic_name(self.topic)

    def describe(self) -> str:
        """``labels <- /cam/labels/compressed (CompressedImage, reliable)`` or waiting."""
        if self.subscribed is None:
            return f"{self.role} <- {self.base} (waiting for a publisher, {self.transport})"
        topic, kind, reliability = self.subscribed
        return f"{self.role} <- {topic} ({kind.rsplit('/', 1)[-1]}, {reliability})"

    def start(self) -> None:
        """Subscribe now (fixed transport), or watch the graph until a publisher appears."""
        if self.transport != "auto":
            compressed = self.transport == "compressed"
            topic = f"{self.base}/{SUFFIX[self.role]}" if compressed else self.base
            self._subscribe(topic, COMPRESSED_TYPE if compressed else IMAGE_TYPE)
        else:
            self._probe()
        if self.transport == "auto" or self.qos_name == "auto":
            self._timer = self.node.create_timer(0.5, self._probe)

    def stop(self) -> None:
        """Destroy the subscription and the graph watch."""
        with self._lock:
            if self._timer is not None:
                self.node.destroy_timer(self._timer)
                self._timer = None
            if self.sub is not None:
                self.node.destroy_subscription(self.sub)
                self.sub = None
            self.subscribed = None
            self._incompatible = False

    def _candidates(self) -> list[tuple[str, str]]:
        base = self.base
        return [(base, IMAGE_TYPE), (base, COMPRESSED_TYPE),
                (f"{base}/{SUFFIX[self.role]}", COMPRESSED_TYPE)]

    def _publishers(self, topic: str, kind: str) -> list[Any]:
        return [info for info in self.node.get_publishers_info_by_topic(topic)
                if info.topic_type == kind]

    def _probe(self) -> None:
        """Timer: pick the transport (auto) and re-subscribe best effort when needed."""
        if self.subscribed is None and self.transport == "auto":
            for topic, kind in self._candidates():
                if self._publishers(topic, kind):
                    self._subscribe(topic, kind)
                    break
        elif self.subscribed is not None and self._incompatible:
            topic, kind, _ = self.subscribed
            self.node.get_logger().info(f"{topic}: a best-effort publisher appeared; "
                                        "subscribing best effort")
            with self._lock:
                self.node.destroy_subscription(self.sub)
                self.sub, self.subscribed, self._incompatible = None, None, False
            self._subscribe(topic, kind, force_best_effort=True)

    def _qos(self, topic: str, kind: str, force_best_effort: bool) -> Any:
        if self.qos_name != "auto":
            return qos_from_name(self.qos_name, self.depth)
        best_effort = force_best_effort or any(
            info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
            for info in self._publishers(topic, kind))
        return qos_from_name("best_effort" if best_effort else "reliable", self.depth)

    def _on_incompatible(self, info: Any) -> None:
        if info.last_policy_kind == QoSPolicyKind.RELIABILITY:
            self._incompatible = True

    def _subscribe(self, topic: str, kind: str, force_best_effort: bool = False) -> None:
        qos = self._qos(topic, kind, force_best_effort)
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible)
        msg_type = Image if kind == IMAGE_TYPE else CompressedImage
        with self._lock:
            self.sub = self.node.create_subscription(msg_type, topic, self.callback, qos,
                                                     event_callbacks=events)
            reliability = ("reliable" if qos.reliability == ReliabilityPolicy.RELIABLE
                           else "best effort")
            self.subscribed = (topic, kind, reliability)
        self.node.get_logger().info(f"input {self.describe()}")


# --------------------------------------------------------------------------------------------
# Outputs


class _Matched:
    """Subscriber count of one publisher, kept by its matched events."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, info: Any) -> None:
        self.count = int(info.current_count)


class ImageOutput:
    """A raw image publisher plus, optionally, its image_transport compressed sub-topic.

    ``create`` makes the publishers (``node.create_publisher`` or a lifecycle node's
    ``create_lifecycle_publisher``). Conversion and compression run only for publishers with
    subscribers.
    """

    def __init__(self, node: Node, topic: str, role: str, qos: Any, compressed: bool = False,
                 compressed_format: str = "jpeg",
                 create: Callable[..., Any] | None = None) -> None:
        create = create or node.create_publisher
        self.node, self.topic, self.role = node, topic, role
        self.format = "png" if role == "labels" else compressed_format
        self._raw_matched, self._comp_matched = _Matched(), _Matched()
        self.raw = create(Image, topic, qos,
                          event_callbacks=PublisherEventCallbacks(matched=self._raw_matched))
        self.compressed = None
        if compressed:
            self.compressed = create(
                CompressedImage, f"{node.resolve_topic_name(topic)}/{SUFFIX[role]}", qos,
                event_callbacks=PublisherEventCallbacks(matched=self._comp_matched))

    @property
    def publishers(self) -> list[Any]:
        """The publishers (raw first)."""
        return [p for p in (self.raw, self.compressed) if p is not None]

    def wanted(self) -> bool:
        """True when a subscriber is matched to the raw or the compressed topic."""
        return self._raw_matched.count > 0 or (self.compressed is not None and
                                               self._comp_matched.count > 0)

    def publish(self, array: np.ndarray, encoding: str, header: Any) -> int:
        """Convert and publish where someone listens; the number of messages published."""
        sent = 0
        if self._raw_matched.count > 0:
            self.raw.publish(numpy_to_image(array, encoding, header))
            sent += 1
        if self.compressed is not None and self._comp_matched.count > 0:
            if self.role == "depth":
                fmt, data = image_codecs.encode_depth_m(array, "16UC1")
            else:
                fmt, data = image_codecs.encode_image(array, encoding, self.format)
            self.compressed.publish(image_codecs.make_compressed(fmt, data, header,
                                                                 CompressedImage))
            sent += 1
        return sent

    def destroy(self, destroy: Callable[[Any], Any] | None = None) -> None:
        """Destroy the publishers (``destroy`` defaults to ``node.destroy_publisher``)."""
        destroy = destroy or self.node.destroy_publisher
        for pub in self.publishers:
            destroy(pub)
        self.raw = self.compressed = None
