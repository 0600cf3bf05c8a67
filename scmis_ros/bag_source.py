"""bag_source node: replays a rosbag2 (sqlite3 or mcap, via rosbags) onto its topics.

What ``ros2 bag play`` does, for installs without rosbag2: messages are published as their
recorded serialized bytes (no decoding) on their recorded topics, with the recorded timing
divided by ``rate``; ``topics`` selects topics (empty = all), ``loop`` starts over at the end
(otherwise the node exits when done). Counters go to ``/diagnostics``. Publishing waits
``start_delay_s`` so that subscribers are discovered first. ``remap_prefix`` moves every
topic under a namespace.

    ros2 run scmis_ros bag_source --ros-args -p bag:=recording/ -p rate:=2.0 -p loop:=true
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.node import Node

from .bags import BagError, iter_messages, message_class, open_bag
from .diagnostics import DIAG_PARAMS, OK, Diagnostics, NodeStats
from .node_utils import (QOS_PROFILES, Param, ParamStore, log_info, qos_from_name, run_node,
                         safe_publish)

PARAMS = [
    Param("bag", "", "rosbag2 folder to play", read_only=True,
          check=lambda v: None if v else "bag: expected the path of a rosbag2 folder, "
          "found ''"),
    Param("rate", 1.0, "playback speed factor (2.0 = twice as fast)", lo=0.001, hi=1000.0),
    Param("topics", [""], "topics to play; [''] or [] = all", read_only=True),
    Param("loop", False, "start over at the end (else the node exits when done)",
          read_only=True),
    Param("start_delay_s", 1.0, "wait this long before the first message (discovery)",
          lo=0.0, hi=3600.0, read_only=True),
    Param("remap_prefix", "", "namespace prepended to every recorded topic name",
          read_only=True),
    Param("qos", "reliable", "QoS profile of the publishers", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 10, "history depth of the publishers", lo=1, hi=1000, read_only=True),
    *DIAG_PARAMS,
]


class BagSource(Node):
    """Play a rosbag2's messages (raw CDR bytes) with their recorded timing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("bag_source", **kwargs)
        self.p = ParamStore(self, PARAMS)
        self.bag = self.p["bag"]
        wanted = {t for t in self.p["topics"] if t}
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        prefix = self.p["remap_prefix"].rstrip("/")
        self.publishers_by_conn: dict[int, Any] = {}
        with open_bag(self.bag) as reader:
            if reader.message_count == 0:
                raise BagError(f"bag {self.bag}: contains no messages")
            topics = {c.topic for c in reader.connections}
            missing = sorted(wanted - topics)
            if missing:
                raise BagError(f"bag {self.bag}: topics {', '.join(missing)} not found; it "
                               f"has {', '.join(sorted(topics))}")
            by_topic: dict[str, Any] = {}
            for conn in reader.connections:
                if wanted and conn.topic not in wanted:
                    continue
                try:
                    cls = message_class(conn.msgtype)
                except BagError as exc:
                    self.get_logger().warning(f"skipping {conn.topic}: {exc}")
                    continue
                if conn.topic not in by_topic:
                    name = f"{prefix}{conn.topic}" if prefix else conn.topic
                    by_topic[conn.topic] = self.create_publisher(cls, name, qos)
                self.publishers_by_conn[conn.id] = by_topic[conn.topic]
            self.total = sum(c.msgcount for c in reader.connections
                             if c.id in self.publishers_by_conn)
        if not self.publishers_by_conn:
            raise BagError(f"bag {self.bag}: no playable topics")
        self.published = 0
        self.passes = 0
        self.stats = NodeStats("published")
        self.diagnostics = Diagnostics(
            self, self.p, self.stats,
            lambda: (OK, "", {"bag": self.bag, "passes": self.passes,
                              "messages_per_pass": self.total}, False))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bag-source", daemon=True)
        self._thread.start()
        self.get_logger().info(f"playing {self.total} messages on {len(by_topic)} topics "
                               f"from {self.bag} at x{self.p['rate']}")

    def _play_once(self) -> None:
        with open_bag(self.bag) as reader:
            conns = [c for c in reader.connections if c.id in self.publishers_by_conn]
            t_bag0 = None
            t_wall0 = time.monotonic()
            for conn, timestamp, raw in iter_messages(reader, conns, self.bag):
                if self._stop.is_set():
                    return
                if t_bag0 is None:
                    t_bag0 = timestamp
                due = t_wall0 + (timestamp - t_bag0) / 1e9 / self.p["rate"]
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                if not safe_publish(self, self.publishers_by_conn[conn.id], bytes(raw)):
                    return
                self.published += 1
                self.stats.add("published")

    def _run(self) -> None:
        if self._stop.wait(self.p["start_delay_s"]):
            return
        try:
            while not self._stop.is_set():
                self._play_once()
                self.passes += 1
                if not self.p["loop"]:
                    break
        except BagError as exc:
            self.get_logger().error(str(exc))
        if not self._stop.is_set() and self.context.ok():
            log_info(self, f"done: {self.published} messages in {self.passes} pass(es)")
            self.context.try_shutdown()

    def close(self) -> None:
        """Stop playback."""
        self._stop.set()
        self._thread.join(timeout=10.0)


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros bag_source``."""
    return run_node(BagSource, args)


if __name__ == "__main__":
    raise SystemExit(main())
