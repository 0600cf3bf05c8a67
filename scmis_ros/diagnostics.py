"""``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` for every scmis node.

Each node keeps a :class:`NodeStats` (thread-safe counters and a latency window) and a
:class:`Diagnostics` reporter that publishes, every ``diagnostics_period_s``, one
``DiagnosticStatus`` named ``<node name>: pipeline`` with hardware id ``scmis_ros``. Its key
values are the counters (received, processed, published, dropped, bad, too_large, failed,
...), the input rate and the latency over the last period, and what the node adds (model
loaded, lifecycle state, ...). The level is the worst of:

- the node's own state (e.g. ERROR while no model is loaded, WARN while unconfigured);
- latency over the period: WARN above ``diag_latency_warn_ms``, ERROR above
  ``diag_latency_error_ms``;
- input rate below ``diag_min_rate_hz`` (0 = not checked): WARN;
- the drop ratio, dropped / received over the period (clamped to [0, 1]: a message received
  in one period can be dropped in the next), above ``diag_drop_warn_ratio``: WARN. The
  default 1.0 never warns: the keep-latest queue drops by design when the model is slower
  than the camera; the ratio is reported as ``drop_ratio`` all the same;
- bad (malformed, oversize) / received over the period above ``diag_bad_warn_ratio``: WARN,
  above ``diag_bad_error_ratio``: ERROR.

Rates and ratios are checked only while the node is processing (``checks_active``).

    ros2 topic echo /diagnostics        # or rqt_robot_monitor / rqt_runtime_monitor
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from .node_utils import Param

OK, WARN, ERROR = (int.from_bytes(level, "little") if isinstance(level, bytes) else int(level)
                   for level in (DiagnosticStatus.OK, DiagnosticStatus.WARN,
                                 DiagnosticStatus.ERROR))
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
TOPIC = "/diagnostics"
HARDWARE_ID = "scmis_ros"

#: The thresholds every node declares (values in config/ros/nodes.yaml).
DIAG_PARAMS = [
    Param("diagnostics_period_s", 1.0, "period of the /diagnostics message (s)", lo=0.05,
          hi=3600.0, read_only=True),
    Param("diag_min_rate_hz", 0.0, "WARN while the input rate is below this; 0 = not checked",
          lo=0.0, hi=10000.0),
    Param("diag_latency_warn_ms", 2000.0, "WARN when the largest input-to-output latency of "
          "the last period exceeds this (ms)", lo=0.0, hi=1e7),
    Param("diag_latency_error_ms", 10000.0, "ERROR when the largest input-to-output latency "
          "of the last period exceeds this (ms)", lo=0.0, hi=1e7),
    Param("diag_drop_warn_ratio", 1.0, "WARN when more than this fraction of the last "
          "period's inputs were dropped unprocessed; 1.0 = never (keep-latest dropping is by "
          "design when the camera outpaces the node)", lo=0.0, hi=1.0),
    Param("diag_bad_warn_ratio", 0.0, "WARN when more than this fraction of the last period's "
          "inputs were bad (malformed or too large)", lo=0.0, hi=1.0),
    Param("diag_bad_error_ratio", 0.5, "ERROR when more than this fraction of the last "
          "period's inputs were bad", lo=0.0, hi=1.0),
]


class NodeStats:
    """Counters and a latency window, shared by a node's callbacks and worker threads."""

    def __init__(self, *names: str, window: int = 50) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {name: 0 for name in names}
        self._latency_ms: deque[float] = deque(maxlen=window)
        self._timings: dict[str, deque[float]] = {}
        self._window = window

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` events of kind ``name``."""
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def set(self, name: str, value: int) -> None:
        """Set a gauge (e.g. in_progress)."""
        with self._lock:
            self.counts[name] = value

    def latency(self, ms: float) -> None:
        """Record one input-to-output latency."""
        with self._lock:
            self._latency_ms.append(float(ms))

    def timing(self, name: str, ms: float) -> None:
        """Record one duration of kind ``name`` (e.g. infer)."""
        with self._lock:
            self._timings.setdefault(name, deque(maxlen=self._window)).append(float(ms))

    def snapshot(self) -> dict[str, Any]:
        """Counters plus latency / timing mean and max (None before the first)."""
        with self._lock:
            out: dict[str, Any] = dict(self.counts)
            series = {"latency_ms": list(self._latency_ms),
                      **{f"{k}_ms": list(v) for k, v in self._timings.items()}}
        for key, values in series.items():
            base = key[:-3]
            out[f"{base}_ms_mean"] = round(sum(values) / len(values), 2) if values else None
            out[f"{base}_ms_max"] = round(max(values), 2) if values else None
        return out


class Diagnostics:
    """Publishes the node's status on ``/diagnostics`` every period.

    ``state()`` returns (level, message, extra key values, checks_active): the node's own
    view (model loaded, lifecycle state); the rate / latency / drop / bad checks run on top
    while ``checks_active``.
    """

    def __init__(self, node: Node, params: Any, stats: NodeStats,
                 state: Callable[[], tuple[int, str, dict[str, Any], bool]]) -> None:
        self.node = node
        self.params = params
        self.stats = stats
        self.state = state
        self.name = f"{node.get_name()}: pipeline"
        self.publisher = node.create_publisher(DiagnosticArray, TOPIC, 10)
        self._last: dict[str, int] = {}
        self._last_t = time.monotonic()
        self._latency_seen = 0
        self.timer = node.create_timer(params["diagnostics_period_s"], self.publish)

    def status(self) -> DiagnosticStatus:
        """The current status (also what :meth:`publish` sends)."""
        level, message, extra, active = self.state()
        snap = self.stats.snapshot()
        now = time.monotonic()
        period = max(now - self._last_t, 1e-6)
        delta = {k: int(v) - self._last.get(k, 0) for k, v in snap.items()
                 if isinstance(v, int) and not isinstance(v, bool)}
        self._last = {k: int(v) for k, v in snap.items()
                      if isinstance(v, int) and not isinstance(v, bool)}
        self._last_t = now
        received = delta.get("received", 0)
        rate = received / period
        values: dict[str, Any] = {**extra, **snap, "input_rate_hz": round(rate, 3)}
        problems: list[tuple[int, str]] = [(level, message)]
        p = self.params
        if active:
            lat = snap.get("latency_ms_max")
            new_latency = delta.get("processed", 0) > 0
            if lat is not None and new_latency and lat > p["diag_latency_error_ms"]:
                problems.append((ERROR, f"latency {lat:.0f} ms > "
                                        f"{p['diag_latency_error_ms']:.0f} ms"))
            elif lat is not None and new_latency and lat > p["diag_latency_warn_ms"]:
                problems.append((WARN, f"latency {lat:.0f} ms > "
                                       f"{p['diag_latency_warn_ms']:.0f} ms"))
            if p["diag_min_rate_hz"] > 0 and rate < p["diag_min_rate_hz"]:
                problems.append((WARN, f"input rate {rate:.2f} Hz < "
                                       f"{p['diag_min_rate_hz']} Hz"))
            if received:
                dropped = min(1.0, max(0.0, delta.get("dropped", 0) / received))
                values["drop_ratio"] = round(dropped, 3)
                bad = (delta.get("bad", 0) + delta.get("too_large", 0)) / received
                if bad > p["diag_bad_error_ratio"]:
                    problems.append((ERROR, f"{bad:.0%} of the inputs bad"))
                elif bad > p["diag_bad_warn_ratio"]:
                    problems.append((WARN, f"{bad:.0%} of the inputs bad"))
                if dropped > p["diag_drop_warn_ratio"]:
                    problems.append((WARN, f"{dropped:.0%} of the inputs dropped"))
        worst = max(lvl for lvl, _ in problems)
        text = "; ".join(msg for lvl, msg in problems if lvl == worst and msg) or "ok"
        status = DiagnosticStatus(name=self.name, hardware_id=HARDWARE_ID, message=text)
        status.level = bytes([worst]) if isinstance(DiagnosticStatus.OK, bytes) else worst
        status.values = [KeyValue(key=str(k), value=_text(v)) for k, v in values.items()]
        return status

    def publish(self) -> None:
        """Publish one DiagnosticArray now."""
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.status = [self.status()]
        try:
            self.publisher.publish(msg)
        except Exception:  # the context went away between the timer and here
            if self.node.context.ok():
                raise


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def level_of(status: Any) -> int:
    """A DiagnosticStatus' level as an int (the field is a byte in rclpy)."""
    level = status.level
    return level[0] if isinstance(level, (bytes, bytearray)) else int(level)


def status_dict(status: Any) -> dict[str, Any]:
    """A DiagnosticStatus as {"name", "level", "message", key: value ...} (values as text)."""
    out: dict[str, Any] = {kv.key: kv.value for kv in status.values}
    out.update(name=status.name, level=LEVEL_NAMES.get(level_of(status), str(level_of(status))),
               message=status.message)
    return out
