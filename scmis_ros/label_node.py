"""label node: semantic labels predicted from a camera's colour + depth, for robots whose
recordings carry no label topic (``augment.launch.py labels:=segmenter``).

Subscribes ``rgb`` (rgb8 / bgr8 Image, or jpeg / png CompressedImage on ``rgb/compressed``)
and ``depth`` (32FC1 m / 16UC1 mm Image, or ``depth/compressedDepth``) — raw or compressed
picked by what is published (``transport``) — pairs them by header stamp (``tolerance_s``),
predicts class ids with a segmenter checkpoint (``segmenter``: a ``scmis-segment train``
result, the judge of ``make demo``, or a fine-tune node checkpoint; loaded and run by
:class:`scmis_core.segment.Segmenter`) and publishes them on ``labels`` (mono8, or mono16
for more than 255 classes; ids 1..N, 0 is never predicted) with the colour image's header,
optionally also ``labels/compressed`` (png). Depth must be registered to the colour image
(e.g. realsense ``aligned_depth_to_color``); pairs of different sizes are dropped.

Like the synth node: the newest pair waits in a single-slot queue for a worker thread (older
ones are dropped and counted), nothing is predicted while no one subscribes to ``labels``,
bad or oversized messages are dropped with a throttled warning, and the node reports on
``/diagnostics``.

    ros2 run scmis_ros label_node --ros-args -p segmenter:=demo_out/segmenter/segmenter.pt \\
        -r rgb:=/camera/camera/color/image_raw \\
        -r depth:=/camera/camera/aligned_depth_to_color/image_raw
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.node import Node

from scmis_core.pretrained import check as check_checkpoint
from scmis_core.segment import Segmenter

from .conversions import ImageConversionError, labels_encoding, stamp_ns
from .diagnostics import DIAG_PARAMS, OK, Diagnostics, NodeStats
from .image_topics import (ImageInput, ImageOutput, decode_depth_m, decode_rgb, input_params,
                           message_pixels, output_params)
from .node_utils import (LatestSlot, Param, ParamStore, RateLimiter, log_info, qos_from_name,
                         run_node)
from .sync import ApproximateTimeSync

PARAMS = [
    Param("segmenter", "", "segmenter checkpoint (.pt) that predicts the labels, or shipped "
          "weights by name (rooms-judge)", read_only=True,
          check=lambda v: check_checkpoint(v, "segmenter") if v
          else f"segmenter: expected an existing checkpoint file, found {v!r}"),
    Param("device", "auto", "torch device: auto, cpu, cuda or cuda:N", read_only=True),
    Param("inference_height", 0, "height the segmenter sees; 0 = its training height",
          lo=0, hi=4096, read_only=True),
    Param("inference_width", 0, "width the segmenter sees; 0 = its training width", lo=0,
          hi=4096, read_only=True),
    Param("tolerance_s", 0.02, "largest stamp difference of a colour and a depth image "
          "predicted together (s)", lo=0.0, hi=10.0, read_only=True),
    Param("queue_size", 10, "messages kept per input while waiting for the partner", lo=1,
          hi=1000, read_only=True),
    Param("max_rate_hz", 0.0, "at most this many pairs per second are segmented (others "
          "skipped); 0 = no limit", lo=0.0, hi=1000.0),
    *input_params(),
    *output_params(),
    *DIAG_PARAMS,
]
INPUTS = ("rgb", "depth")


class LabelNode(Node):
    """Pair colour + depth by stamp, segment the newest pair, publish its labels."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("label_node", **kwargs)
        self.p = ParamStore(self, PARAMS)
        size = (self.p["inference_height"], self.p["inference_width"])
        if 0 in size and size != (0, 0):
            raise ValueError(f"inference_height / inference_width: expected both 0 or both "
                             f"set, found {size[0]}x{size[1]}")
        self.segmenter = Segmenter.from_checkpoint(self.p["segmenter"], self.p["device"])
        self.size = None if size == (0, 0) else size
        self.encoding = labels_encoding(self.segmenter.num_classes)
        self.stats = NodeStats("received", "processed", "published", "dropped", "bad",
                               "too_large", "failed", "skipped", "unmatched")
        self.slot = LatestSlot()
        self.limiter = RateLimiter()
        self.sync = ApproximateTimeSync(len(INPUTS), int(round(self.p["tolerance_s"] * 1e9)),
                                        self.p["queue_size"], callback=self._on_pair)
        qos = qos_from_name(self.p["qos"], self.p["qos_depth"])
        self.output = ImageOutput(self, "labels", "labels", qos,
                                  compressed=self.p["publish_compressed"])
        self.inputs = [ImageInput(self, name, name, self._callback(i),
                                  transport=self.p["transport"], qos=self.p["input_qos"],
                                  depth=self.p["queue_size"])
                       for i, name in enumerate(INPUTS)]
        self.diagnostics = Diagnostics(self, self.p, self.stats, self._state)
        self._stop = threading.Event()
        self.worker = threading.Thread(target=self._work, name="label_worker", daemon=True)
        self.worker.start()
        for source in self.inputs:
            source.start()
        net = self.size or self.segmenter.frame_size() or "the frame's size"
        self.get_logger().info(
            f"segmenter {self.p['segmenter']} ({self.segmenter.info.get('arch', '?')}, "
            f"{self.segmenter.num_classes} classes, {self.segmenter.device}, sees {net}); "
            f"publishing {self.output.raw.topic_name} ({self.encoding})")

    # ---- callbacks (executor thread: cheap)

    def _callback(self, index: int):
        def on_message(msg: Any) -> None:
            self.sync.add(index, stamp_ns(msg.header), msg)
        return on_message

    def _on_pair(self, rgb_msg: Any, depth_msg: Any) -> None:
        self.stats.add("received")
        self.stats.set("unmatched", self.sync.dropped)
        if self.slot.put((rgb_msg, depth_msg, time.monotonic())):
            self.stats.add("dropped")

    def _state(self) -> tuple[int, str, dict[str, Any], bool]:
        extra = {"segmenter": self.p["segmenter"], "classes": self.segmenter.num_classes,
                 "device": str(self.segmenter.device),
                 "inputs": "; ".join(source.describe() for source in self.inputs)}
        return OK, "segmenter loaded", extra, True

    # ---- worker thread

    def segment(self, rgb_msg: Any, depth_msg: Any) -> np.ndarray:
        """Decode one pair and predict its (H, W) ids (raises ImageConversionError)."""
        limit = self.p["max_input_pixels"]
        for msg in (rgb_msg, depth_msg):
            pixels = message_pixels(msg)
            if pixels > limit:
                raise _TooLarge(f"an image of {pixels} pixels exceeds max_input_pixels "
                                f"{limit}")
        rgb = decode_rgb(rgb_msg)
        depth_m = decode_depth_m(depth_msg)
        if depth_m.shape != rgb.shape[:2]:
            raise ImageConversionError(f"depth {depth_m.shape[1]}x{depth_m.shape[0]} differs "
                                       f"from colour {rgb.shape[1]}x{rgb.shape[0]}; subscribe "
                                       f"the depth registered to the colour image (e.g. "
                                       f"aligned_depth_to_color)")
        return self.segmenter.predict_frame(rgb, depth_m, self.size)

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            rgb_msg, depth_msg, received = item
            if not self.output.wanted() or not self.limiter.allow(self.p["max_rate_hz"]):
                self.stats.add("skipped")
                continue
            self.stats.set("in_progress", 1)
            try:
                start = time.monotonic()
                ids = self.segment(rgb_msg, depth_msg)
                self.stats.timing("infer", (time.monotonic() - start) * 1000)
                self.stats.add("processed")
                if self._publish(ids, rgb_msg.header):
                    self.stats.add("published")
                    self.stats.latency((time.monotonic() - received) * 1000)
            except _TooLarge as exc:
                self.stats.add("too_large")
                self._warn(f"dropped a pair: {exc}")
            except (ImageConversionError, ValueError) as exc:
                self.stats.add("bad")
                self._warn(f"dropped a bad pair: {exc}")
            except Exception as exc:  # a model failure must not end the worker
                self.stats.add("failed")
                self._warn(f"segmentation failed: {type(exc).__name__}: {exc}")
            finally:
                self.stats.set("in_progress", 0)

    def _publish(self, ids: np.ndarray, header: Any) -> bool:
        try:
            return self.output.publish(ids, self.encoding, header) > 0
        except Exception:
            if self.context.ok():
                raise
            return False  # Ctrl-C arrived before the worker stopped

    def _warn(self, text: str) -> None:
        if self.context.ok():
            self.get_logger().warning(text, throttle_duration_sec=5.0)

    def close(self) -> None:
        """Stop the worker (``run_node`` calls this before destroying the node)."""
        self._stop.set()
        self.slot.close()
        self.worker.join(timeout=30)
        s = self.stats.snapshot()
        log_info(self, f"received {s['received']} pairs, published {s['published']} label "
                       f"images, dropped {s['dropped']}, bad {s['bad']}")


class _TooLarge(ImageConversionError):
    """An input larger than ``max_input_pixels``."""


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros label_node``."""
    return run_node(LabelNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
