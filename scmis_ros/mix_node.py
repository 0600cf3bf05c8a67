"""mix node: class-mix of real RGB-D frames with the synth node's outputs (docs/ros.md).

Subscribes the real ``rgb`` (rgb8 / bgr8), ``depth`` (32FC1 m or 16UC1 mm) and ``labels``
plus the synthesized ``synth/rgb`` / ``synth/depth`` that the mode needs (``rgb``: synth/rgb,
``depth``: synth/depth, ``rgbd``: both). Messages are grouped by header stamp with an
approximate-time synchroniser (``tolerance_s``); each group is passed to
:func:`scmis_core.augment.class_mix` and the result is published on ``mixed/rgb`` (rgb8),
``mixed/depth`` (32FC1 m) and ``mixed/labels`` (the labels, unchanged), all with the labels'
header. ``mixed/status`` carries JSON counters.

    ros2 run scmis_ros mix_node --ros-args -p mode:=rgbd -p ratio:=0.7
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from scmis_core.augment import MIX_MODES, class_mix

from .conversions import (ImageConversionError, depth_m_from_image, labels_encoding,
                          labels_from_image, numpy_to_image, rgb_from_image, stamp_ns)
from .node_utils import (QOS_PROFILES, Param, ParamStore, StatusPublisher, qos_from_name,
                         run_node)
from .sync import ApproximateTimeSync

PARAMS = [
    Param("mode", "rgb", "what is replaced at the chosen classes' pixels (fixes which synth "
          "topics are subscribed)", choices=MIX_MODES, read_only=True),
    Param("ratio", 0.5, "fraction of the classes present that are replaced (rounded half up)",
          lo=0.0, hi=1.0),
    Param("seed", 0, "seed of the class choice; -1 = nondeterministic", lo=-1, hi=2**31 - 1),
    Param("tolerance_s", 0.02, "largest stamp difference within one synchronised group (s)",
          lo=0.0, hi=10.0, read_only=True),
    Param("queue_size", 10, "messages kept per input while waiting for partners", lo=1,
          hi=1000, read_only=True),
    Param("qos", "sensor_data", "QoS profile of the image topics", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 5, "history depth of the image topics", lo=1, hi=100, read_only=True),
]

#: input name -> topic
REAL_TOPICS = {"rgb": "rgb", "depth": "depth", "labels": "labels"}
SYNTH_TOPICS = {"synth_rgb": "synth/rgb", "synth_depth": "synth/depth"}


def synth_inputs(mode: str) -> list[str]:
    """The synthesized inputs ``mode`` needs."""
    return {"rgb": ["synth_rgb"], "depth": ["synth_depth"],
            "rgbd": ["synth_rgb", "synth_depth"]}[mode]


def fit_size(image: np.ndarray, height: int, width: int, nearest: bool) -> np.ndarray:
    """Resize ``image`` to (height, width) when it differs (nearest for depth)."""
    if image.shape[:2] == (height, width):
        return image
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


class MixNode(Node):
    """Synchronise real + synthesized frames and publish their class-mix."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("mix_node", **kwargs)
        self.p = ParamStore(self, PARAMS, on_change=self._on_change)
        self._rng = self._make_rng(self.p["seed"])
        self._rng_lock = threading.Lock()
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.inputs = list(REAL_TOPICS) + synth_inputs(self.p["mode"])
        self.sync = ApproximateTimeSync(len(self.inputs),
                                         int(round(self.p["tolerance_s"] * 1e9)),
                                         self.p["queue_size"], callback=self._on_group)
        topics = {**REAL_TOPICS, **SYNTH_TOPICS}
        self.subs = [self.create_subscription(Image, topics[name], self._callback(i), qos)
                     for i, name in enumerate(self.inputs)]
        self.pub_rgb = self.create_publisher(Image, "mixed/rgb", qos)
        self.pub_depth = self.create_publisher(Image, "mixed/depth", qos)
        self.pub_labels = self.create_publisher(Image, "mixed/labels", qos)
        self.counts = {"groups": 0, "published": 0, "bad": 0}
        self.status = StatusPublisher(self, "mixed/status", self.snapshot)
        self.get_logger().info(f"mixing {', '.join(self.inputs)} (mode {self.p['mode']}, "
                               f"ratio {self.p['ratio']})")

    @staticmethod
    def _make_rng(seed: int) -> np.random.Generator:
        return np.random.default_rng(None if seed < 0 else seed)

    def _on_change(self, updates: dict[str, Any]) -> None:
        if "seed" in updates:
            with self._rng_lock:
                self._rng = self._make_rng(updates["seed"])

    def _callback(self, index: int):
        def on_message(msg: Image) -> None:
            self.sync.add(index, stamp_ns(msg.header), msg)
        return on_message

    def snapshot(self) -> dict[str, Any]:
        """Counters for the status topic."""
        return {**self.counts, "sync_dropped": self.sync.dropped,
                "sync_waiting": self.sync.queue_lengths()}

    def mix(self, group: dict[str, Image]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class-mix one synchronised group -> (rgb, depth_m, labels)."""
        labels = labels_from_image(group["labels"])
        height, width = labels.shape
        rgb = rgb_from_image(group["rgb"])
        depth_m = depth_m_from_image(group["depth"])
        if rgb.shape[:2] != labels.shape or depth_m.shape != labels.shape:
            raise ImageConversionError(f"real frame sizes differ: rgb {rgb.shape[:2]}, depth "
                                       f"{depth_m.shape}, labels {labels.shape}")
        synth_rgb = synth_depth = None
        if "synth_rgb" in group:
            synth_rgb = fit_size(rgb_from_image(group["synth_rgb"]), height, width, False)
        if "synth_depth" in group:
            synth_depth = fit_size(depth_m_from_image(group["synth_depth"]), height, width,
                                   True)
        with self._rng_lock:
            out_rgb, out_depth, _ = class_mix(rgb, depth_m, labels, synth_rgb, synth_depth,
                                              self.p["ratio"], self.p["mode"], self._rng)
        return out_rgb, out_depth, labels

    def _on_group(self, *messages: Image) -> None:
        group = dict(zip(self.inputs, messages))
        self.counts["groups"] += 1
        try:
            rgb, depth_m, labels = self.mix(group)
        except (ImageConversionError, ValueError) as exc:
            self.counts["bad"] += 1
            self.get_logger().warning(f"dropped a bad group: {exc}", throttle_duration_sec=5.0)
            return
        header = group["labels"].header
        self.pub_rgb.publish(numpy_to_image(rgb, "rgb8", header))
        self.pub_depth.publish(numpy_to_image(depth_m, "32FC1", header))
        self.pub_labels.publish(numpy_to_image(labels, labels_encoding(int(labels.max())),
                                               header))
        self.counts["published"] += 1


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros mix_node``."""
    return run_node(MixNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
