"""synth node: label images in, synthesized RGB + metric depth out (DESIGN §6).

Topics (remappable): subscribes ``labels`` (sensor_msgs/Image: mono8, 8UC1, mono16 or 16UC1
class ids); publishes ``synth/rgb`` (rgb8), ``synth/depth`` (32FC1 metres), optionally
``synth/depth_mm`` (16UC1 millimetres), each with the input's header (same stamp and
frame_id), and ``synth/status`` (std_msgs/String, JSON counters: received, processed,
dropped, bad, skipped, latency).

Behaviour: sensor-data QoS by default; the subscription callback only stores the newest
label image in a single-slot queue (an older one not yet taken is dropped and counted), and a
worker thread runs the generator, so a slow model never blocks the executor nor piles up
frames. Nothing is computed while no one subscribes to the outputs. A bad message (wrong
encoding or size, ids out of range, empty data) is dropped with a throttled warning.

    ros2 run scmis_ros synth_node --ros-args -p checkpoint:=runs/rooms_small/final.pt \\
        -r labels:=/camera/labels
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rclpy.node import Node
from sensor_msgs.msg import Image

from scmis_core.data.transforms import resize_nearest
from scmis_core.synthesize import Synthesizer

from .conversions import (ImageConversionError, depth_m_to_mm, labels_from_image,
                          numpy_to_image)
from .node_utils import (QOS_PROFILES, LatestSlot, Param, ParamStore, RateLimiter,
                         StatusPublisher, log_info, qos_from_name, run_node, safe_publish)

#: Where ``make demo`` leaves its procedural-rooms generator (relative to the working folder
#: unless ``SCMIS_DEMO_DIR`` says otherwise).
DEMO_CHECKPOINT = Path("train") / "final.pt"
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def demo_checkpoint() -> Path:
    """The checkpoint path ``make demo`` writes: ``$SCMIS_DEMO_DIR/train/final.pt``."""
    return Path(os.environ.get("SCMIS_DEMO_DIR", "demo_out")) / DEMO_CHECKPOINT


def resolve_checkpoint(path: str) -> Path:
    """``path``, or the demo checkpoint when empty; a clear error when neither exists."""
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint: file not found: {path!r}")
        return Path(path)
    demo = demo_checkpoint()
    if demo.is_file():
        return demo
    raise FileNotFoundError(
        f"no generator checkpoint: the parameter 'checkpoint' is empty and the demo "
        f"checkpoint {demo} does not exist. Pass one (--ros-args -p checkpoint:=PATH, or "
        f"checkpoint:=PATH to the launch files), train one with `python -m scmis_core.train "
        f"--config config/rooms_small.yaml`, or run `make demo`, which trains a "
        f"procedural-rooms generator into {demo} (set SCMIS_DEMO_DIR for another folder).")


def load_class_remap(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """A YAML/JSON mapping ``{input_id: model_id}`` -> lookup table (65536,) int64.

    Ids not listed keep their value. Model ids must lie in 0..num_classes (when given).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class_remap: file not found: {path}")
    try:
        table = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"class_remap {path}: not valid YAML/JSON: {exc}") from None
    if isinstance(table, dict) and "remap" in table:
        table = table["remap"]
    if not isinstance(table, dict) or not table:
        raise ValueError(f"class_remap {path}: expected a non-empty mapping input_id: "
                         f"model_id, found {type(table).__name__}")
    lut = np.arange(65536, dtype=np.int64)
    for key, value in table.items():
        try:
            src, dst = int(key), int(value)
        except (TypeError, ValueError):
            raise ValueError(f"class_remap {path}: expected integer ids, found "
                             f"{key!r}: {value!r}") from None
        if not 0 <= src <= 65535:
            raise ValueError(f"class_remap {path}: input id {src} outside 0..65535")
        if dst < 0 or (num_classes is not None and dst > num_classes):
            raise ValueError(f"class_remap {path}: model id {dst} (for {src}) outside "
                             f"0..{num_classes}")
        lut[src] = dst
    return lut


def _device_check(value: Any) -> str | None:
    if not _DEVICE_RE.match(str(value)):
        return f"device: expected auto, cpu, cuda or cuda:N, found {value!r}"
    return None


def _remap_check(value: Any) -> str | None:
    if value == "":
        return None
    try:
        load_class_remap(value)
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    return None


PARAMS = [
    Param("checkpoint", "", "generator checkpoint (.pt); empty = the `make demo` one",
          read_only=True, check=lambda v: None if v == "" or Path(v).is_file()
          else f"checkpoint: file not found: {v!r}"),
    Param("device", "auto", "torch device: auto, cpu, cuda or cuda:N", read_only=True,
          check=_device_check),
    Param("seed", -1, "noise seed of variant 0 (variant k uses seed+k); -1 = fresh noise "
          "for every message", lo=-1, hi=2**31 - 1),
    Param("variants", 1, "images synthesized (and published) per label image, each with the "
          "input header", lo=1, hi=16),
    Param("class_remap", "", "YAML/JSON file {input_id: model_id} applied to incoming labels "
          "(unlisted ids unchanged); empty = none", check=_remap_check),
    Param("output_height", 0, "output height in pixels; 0 = the label image's", lo=0,
          hi=4096),
    Param("output_width", 0, "output width in pixels; 0 = the label image's", lo=0, hi=4096),
    Param("max_rate_hz", 0.0, "at most this many label images per second are synthesized "
          "(others skipped); 0 = no limit", lo=0.0, hi=1000.0),
    Param("qos", "sensor_data", "QoS profile of the image topics", choices=QOS_PROFILES,
          read_only=True),
    Param("qos_depth", 5, "history depth of the image topics", lo=1, hi=100, read_only=True),
    Param("publish_depth_mm", False, "also publish synth/depth_mm (16UC1 millimetres)",
          read_only=True),
    Param("status_period_s", 1.0, "period of the synth/status JSON message (s)", lo=0.05,
          hi=3600.0, read_only=True),
]


class SynthNode(Node):
    """Label images -> synthesized RGB (rgb8) + depth (32FC1 m) with the input header."""

    def __init__(self, synthesizer: Synthesizer | None = None, **kwargs: Any) -> None:
        super().__init__("synth_node", **kwargs)
        self.synth: Synthesizer | None = None
        self._checked_remap: tuple[str, np.ndarray | None] | None = None
        self.p = ParamStore(self, PARAMS, on_change=self._on_change, check=self._check_param)
        if synthesizer is None:
            path = resolve_checkpoint(self.p["checkpoint"])
            synthesizer = Synthesizer.from_checkpoint(path, device=self.p["device"])
            self.get_logger().info(f"loaded {path} (step {synthesizer.step}, "
                                   f"{synthesizer.num_classes} classes, outputs "
                                   f"{', '.join(synthesizer.outputs)}) on "
                                   f"{synthesizer.device}")
        self.synth = synthesizer
        self._lut = self._load_remap(self.p["class_remap"])
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.pub_rgb = self.create_publisher(Image, "synth/rgb", qos)
        self.pub_depth = self.create_publisher(Image, "synth/depth", qos)
        self.pub_depth_mm = (self.create_publisher(Image, "synth/depth_mm", qos)
                             if self.p["publish_depth_mm"] else None)
        self.slot = LatestSlot()
        self.rate = RateLimiter()
        self.counts = {"received": 0, "processed": 0, "published": 0, "bad": 0,
                       "skipped_no_subscribers": 0, "skipped_rate": 0, "in_progress": 0}
        self._latency_ms: list[float] = []
        self._infer_ms: list[float] = []
        self._stats_lock = threading.Lock()
        self.sub = self.create_subscription(Image, "labels", self._on_labels, qos)
        self.status = StatusPublisher(self, "synth/status", self.snapshot,
                                      self.p["status_period_s"])
        self._worker = threading.Thread(target=self._run, name="synth-worker", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------------------------------

    def _load_remap(self, path: str) -> np.ndarray | None:
        return load_class_remap(path, self.synth.num_classes) if path else None

    def _check_param(self, name: str, value: Any) -> str | None:
        """Checks against the loaded model, before a new value is accepted."""
        if name != "class_remap" or self.synth is None:
            return None
        try:
            self._checked_remap = (value, self._load_remap(value))
        except (FileNotFoundError, ValueError) as exc:  # e.g. ids beyond the model's classes
            return str(exc)
        return None

    def _on_change(self, updates: dict[str, Any]) -> None:
        if "class_remap" in updates:
            value = updates["class_remap"]
            checked = self._checked_remap
            # the table validated a moment ago (the file is read only once per change)
            if checked and checked[0] == value:
                self._lut = checked[1]
            else:  # not checked (no model yet): load it here
                self._lut = self._load_remap(value)

    def _has_subscribers(self) -> bool:
        pubs = [self.pub_rgb, self.pub_depth, self.pub_depth_mm]
        return any(p is not None and p.get_subscription_count() > 0 for p in pubs)

    def _on_labels(self, msg: Image) -> None:
        """Executor callback: cheap bookkeeping only; the worker does the synthesis."""
        with self._stats_lock:
            self.counts["received"] += 1
            if not self._has_subscribers():
                self.counts["skipped_no_subscribers"] += 1
                return
            if not self.rate.allow(self.p["max_rate_hz"]):
                self.counts["skipped_rate"] += 1
                return
        self.slot.put((time.perf_counter(), msg))

    def snapshot(self) -> dict[str, Any]:
        """Counters and timings for the status topic."""
        with self._stats_lock:
            lat, inf = list(self._latency_ms), list(self._infer_ms)
            out: dict[str, Any] = dict(self.counts)
        out.update(dropped=self.slot.dropped, queue_len=len(self.slot),
                   queue_max=self.slot.max_len,
                   latency_ms_mean=round(float(np.mean(lat)), 2) if lat else None,
                   latency_ms_max=round(float(np.max(lat)), 2) if lat else None,
                   infer_ms_mean=round(float(np.mean(inf)), 2) if inf else None,
                   infer_ms_max=round(float(np.max(inf)), 2) if inf else None)
        return out

    def _warn_bad(self, msg: Image, exc: Exception) -> None:
        with self._stats_lock:
            self.counts["bad"] += 1
        self.get_logger().warning(f"dropped a bad label image (frame_id "
                                  f"{msg.header.frame_id!r}): {exc}",
                                  throttle_duration_sec=5.0)

    def _labels(self, msg: Image) -> np.ndarray:
        labels = labels_from_image(msg)
        if self._lut is not None:
            labels = self._lut[labels]
        hi = int(labels.max())
        if hi > self.synth.num_classes:
            raise ImageConversionError(f"labels: expected class ids in 0.."
                                       f"{self.synth.num_classes}, found max {hi}")
        out_h = self.p["output_height"] or labels.shape[0]
        out_w = self.p["output_width"] or labels.shape[1]
        if (out_h, out_w) != labels.shape:
            labels = resize_nearest(labels, out_h, out_w)
        return labels

    def process(self, msg: Image) -> int:
        """Synthesize and publish the variants of one label image; returns images published."""
        labels = self._labels(msg)
        seed0 = self.p["seed"]
        published = 0
        for k in range(self.p["variants"]):
            t0 = time.perf_counter()
            rgb, depth_m = self.synth.synth(labels, seed=None if seed0 < 0 else seed0 + k)
            with self._stats_lock:
                self._infer_ms = (self._infer_ms + [(time.perf_counter() - t0) * 1e3])[-50:]
            if rgb is not None:
                safe_publish(self, self.pub_rgb, numpy_to_image(rgb, "rgb8", msg.header))
            if depth_m is not None:
                safe_publish(self, self.pub_depth, numpy_to_image(depth_m, "32FC1",
                                                                  msg.header))
                if self.pub_depth_mm is not None:
                    safe_publish(self, self.pub_depth_mm,
                                 numpy_to_image(depth_m_to_mm(depth_m), "16UC1", msg.header))
            published += 1
        return published

    def _run(self) -> None:
        while not self.slot.closed:
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            t_received, msg = item
            with self._stats_lock:
                self.counts["in_progress"] = 1
            try:
                published = self.process(msg)
            except (ImageConversionError, ValueError) as exc:
                self._warn_bad(msg, exc)
                continue
            except Exception as exc:  # keep the node alive; say what went wrong
                self.get_logger().error(f"synthesis failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)
                with self._stats_lock:
                    self.counts["failed"] = self.counts.get("failed", 0) + 1
                continue
            finally:
                with self._stats_lock:
                    self.counts["in_progress"] = 0
            with self._stats_lock:
                self.counts["processed"] += 1
                self.counts["published"] += published
                self._latency_ms = (self._latency_ms +
                                    [(time.perf_counter() - t_received) * 1e3])[-50:]

    def close(self) -> None:
        """Stop the worker thread (called before the node is destroyed)."""
        self.slot.close()
        self._worker.join(timeout=10.0)
        log_info(self, "stopped: " + json.dumps(self.snapshot()))


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros synth_node``."""
    return run_node(SynthNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
