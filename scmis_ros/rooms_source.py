"""rooms_source node: streams procedural-rooms frames (labels + RGB + depth) as a camera would.

Publishes ``rgb`` (rgb8), ``depth`` (32FC1 metres; optionally ``depth_mm`` 16UC1) and
``labels`` (mono8 NYU40 ids), all three with the same header (stamp = publish time,
``frame_id`` parameter), at ``rate_hz``, and its counters on ``/diagnostics``. Frame ``i``
is scene ``frame_seed(seed, split, i % num_frames)`` of
:class:`scmis_core.data.rooms.RoomsDataset`; rendered frames are cached, so after the first
pass the stream costs no rendering. Everything downstream (synth, mix,
fine-tune, bag recording) runs without a robot.

    ros2 run scmis_ros rooms_source --ros-args -p rate_hz:=5.0 -p height:=120 -p width:=160
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Image

from scmis_core.data.rooms import RoomsDataset

from .conversions import depth_m_to_mm, numpy_to_image
from .diagnostics import DIAG_PARAMS, OK, Diagnostics, NodeStats
from .node_utils import (QOS_PROFILES, Param, ParamStore, qos_from_name, run_node,
                         safe_publish)

PARAMS = [
    Param("rate_hz", 2.0, "frames per second", lo=0.01, hi=1000.0),
    Param("height", 120, "frame height (pixels)", lo=8, hi=2048, read_only=True),
    Param("width", 160, "frame width (pixels)", lo=8, hi=2048, read_only=True),
    Param("seed", 0, "data-set seed (which rooms)", lo=0, hi=2**31 - 1, read_only=True),
    Param("split", "train", "data-set split (train / test: different rooms)",
          read_only=True, check=lambda v: None if v else "split: expected a name, found ''"),
    Param("num_frames", 16, "distinct frames, streamed in a loop (rendered once, cached)",
          lo=1, hi=100000, read_only=True),
    Param("frame_id", "camera", "header frame_id", read_only=True),
    Param("noise", True, "simulate Kinect depth noise and holes", read_only=True),
    Param("publish_depth_mm", False, "also publish depth_mm (16UC1 millimetres)",
          read_only=True),
    Param("qos", "reliable", "QoS profile of the image topics", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 5, "history depth of the image topics", lo=1, hi=100, read_only=True),
    *DIAG_PARAMS,
]


class RoomsSource(Node):
    """Procedural rooms as a live RGB-D + labels camera."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("rooms_source", **kwargs)
        self.p = ParamStore(self, PARAMS)
        self.dataset = RoomsDataset(size=self.p["num_frames"], height=self.p["height"],
                                    width=self.p["width"], seed=self.p["seed"],
                                    split=self.p["split"], noise=self.p["noise"])
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.pub_rgb = self.create_publisher(Image, "rgb", qos)
        self.pub_depth = self.create_publisher(Image, "depth", qos)
        self.pub_labels = self.create_publisher(Image, "labels", qos)
        self.pub_depth_mm = (self.create_publisher(Image, "depth_mm", qos)
                             if self.p["publish_depth_mm"] else None)
        self._cache: dict[int, tuple[Image, Image, Image, Image | None]] = {}
        self.published = 0
        self.stats = NodeStats("published")
        self.diagnostics = Diagnostics(
            self, self.p, self.stats,
            lambda: (OK, "", {"frames_rendered": len(self._cache),
                              "rate_hz": self.p["rate_hz"]}, False))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rooms-source", daemon=True)
        self._thread.start()

    def _frame(self, index: int) -> tuple[Image, Image, Image, Image | None]:
        """The messages of frame ``index`` (rendered on first use), header filled later."""
        if index not in self._cache:
            sample = self.dataset[index]
            depth_mm = (numpy_to_image(depth_m_to_mm(sample.depth_m), "16UC1")
                        if self.pub_depth_mm is not None else None)
            self._cache[index] = (numpy_to_image(sample.rgb, "rgb8"),
                                  numpy_to_image(sample.depth_m, "32FC1"),
                                  numpy_to_image(sample.labels.astype("uint8"), "mono8"),
                                  depth_mm)
        return self._cache[index]

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            msgs = self._frame(self.published % len(self.dataset))
            stamp = self.get_clock().now().to_msg()
            for msg in msgs:
                if msg is not None:
                    msg.header.stamp = stamp
                    msg.header.frame_id = self.p["frame_id"]
            rgb, depth, labels, depth_mm = msgs
            ok = safe_publish(self, self.pub_rgb, rgb) and \
                safe_publish(self, self.pub_depth, depth) and \
                (depth_mm is None or safe_publish(self, self.pub_depth_mm, depth_mm)) and \
                safe_publish(self, self.pub_labels, labels)
            if not ok:
                return
            self.published += 1
            self.stats.add("published")
            next_t = max(next_t + 1.0 / self.p["rate_hz"], time.monotonic() - 1.0)
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def close(self) -> None:
        """Stop the publishing thread."""
        self._stop.set()
        self._thread.join(timeout=10.0)


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros rooms_source``."""
    return run_node(RoomsSource, args)


if __name__ == "__main__":
    raise SystemExit(main())
