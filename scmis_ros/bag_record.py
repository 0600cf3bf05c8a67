"""bag_record node: records topics into a rosbag2 (sqlite3 or mcap, via rosbags).

What ``ros2 bag record`` does, for installs without rosbag2: it subscribes to ``topics``
(their types are looked up on the ROS graph, waiting up to ``discovery_timeout_s``), takes
the serialized bytes (no decoding) and writes them with the receive time. It stops after
``duration_s`` or ``max_messages`` per topic (0 = until Ctrl-C). The bag is written into a
temporary folder and renamed to ``output`` when recording ends, so a crash leaves no
half-written bag under that name. Counters go to ``/diagnostics``.

    ros2 run scmis_ros bag_record --ros-args -p output:=rooms_bag \\
        -p "topics:=[/rgb, /depth, /labels]" -p duration_s:=10.0
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Any

from rclpy.node import Node

from .bags import STORAGES, BagError, atomic_bag_writer, message_class, typestore
from .diagnostics import DIAG_PARAMS, OK, Diagnostics, NodeStats
from .node_utils import QOS_PROFILES, Param, ParamStore, log_info, qos_from_name, run_node

PARAMS = [
    Param("output", "", "rosbag2 folder to create", read_only=True,
          check=lambda v: None if v else "output: expected a folder path, found ''"),
    Param("topics", [""], "topics to record (absolute names)", read_only=True,
          check=lambda v: None if any(v) else "topics: expected at least one topic"),
    Param("storage", "sqlite3", "storage format", choices=tuple(STORAGES), read_only=True),
    Param("overwrite", False, "replace an existing output", read_only=True),
    Param("duration_s", 0.0, "stop after this long (from the first message); 0 = no limit",
          lo=0.0, hi=1e9, read_only=True),
    Param("max_messages", 0, "stop when every topic has this many; 0 = no limit", lo=0,
          hi=2**31 - 1, read_only=True),
    Param("discovery_timeout_s", 10.0, "how long to wait for the topics to appear", lo=0.0,
          hi=3600.0, read_only=True),
    Param("qos", "reliable", "QoS profile of the subscriptions", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 50, "history depth of the subscriptions", lo=1, hi=10000,
          read_only=True),
    *DIAG_PARAMS,
]


class BagRecord(Node):
    """Write the raw messages of some topics into a new rosbag2."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("bag_record", **kwargs)
        self.p = ParamStore(self, PARAMS)
        self.topics = [t for t in self.p["topics"] if t]
        types = self._discover()
        self.store = typestore()
        self._stack = ExitStack()
        self.writer = self._stack.enter_context(
            atomic_bag_writer(self.p["output"], self.p["storage"], self.p["overwrite"]))
        self.conns = {t: self.writer.add_connection(t, types[t], typestore=self.store)
                      for t in self.topics}
        self.counts = {t: 0 for t in self.topics}
        self._lock = threading.Lock()
        self._t_first: float | None = None
        self.finished = False
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.subs = [self.create_subscription(message_class(types[t]), t, self._callback(t),
                                              qos, raw=True) for t in self.topics]
        self.timer = self.create_timer(0.1, self._check_done)
        self.stats = NodeStats("received")
        self.diagnostics = Diagnostics(
            self, self.p, self.stats,
            lambda: (OK, "", {"output": self.p["output"], **{f"count {t}": n for t, n in
                                                             self.counts.items()}}, False))
        self.get_logger().info(f"recording {', '.join(self.topics)} into {self.p['output']}")

    def _discover(self) -> dict[str, str]:
        deadline = time.monotonic() + self.p["discovery_timeout_s"]
        while True:
            graph = {name: types for name, types in self.get_topic_names_and_types()}
            if all(t in graph for t in self.topics) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        missing = [t for t in self.topics if t not in graph]
        if missing:
            raise BagError(f"topics {', '.join(missing)} did not appear within "
                           f"{self.p['discovery_timeout_s']} s (seen: "
                           f"{', '.join(sorted(graph)) or 'nothing'})")
        types = {}
        for t in self.topics:
            msgtype = graph[t][0]
            if msgtype not in typestore().types:
                raise BagError(f"topic {t}: type {msgtype} is unknown to the rosbags type "
                               "store")
            types[t] = msgtype
        return types

    def _callback(self, topic: str):
        def on_message(raw: bytes) -> None:
            with self._lock:
                if self.finished:
                    return
                if self._t_first is None:
                    self._t_first = time.monotonic()
                self.writer.write(self.conns[topic], self.get_clock().now().nanoseconds, raw)
                self.counts[topic] += 1
                self.stats.add("received")
        return on_message

    def _check_done(self) -> None:
        with self._lock:
            if self.finished or self._t_first is None:
                return
            limit, duration = self.p["max_messages"], self.p["duration_s"]
            done = (limit and min(self.counts.values()) >= limit) or \
                (duration and time.monotonic() - self._t_first >= duration)
            if not done:
                return
            self.finished = True
        self.get_logger().info(f"recorded {self.counts}")
        self.context.try_shutdown()

    def close(self) -> None:
        """Finish the bag: rename it into place (also on Ctrl-C, with what was recorded)."""
        with self._lock:
            self.finished = True
        if sum(self.counts.values()) == 0:
            try:  # unwinding with an error removes the temporary bag folder
                self._stack.__exit__(BagError, BagError("nothing recorded"), None)
            except BagError:
                pass
            log_info(self, "nothing was recorded; no bag written")
            return
        self._stack.close()
        log_info(self, f"wrote {self.p['output']}: {self.counts}")


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros bag_record``."""
    return run_node(BagRecord, args)


if __name__ == "__main__":
    raise SystemExit(main())
