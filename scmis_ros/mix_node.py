"""mix node: class-mix of real RGB-D frames with the synth node's outputs (docs/ros.md).

Subscribes the real ``rgb`` (rgb8 / bgr8 / rgba8 / bgra8), ``depth`` (32FC1 m or 16UC1 mm)
and ``labels`` plus the synthesized ``synth/rgb`` / ``synth/depth`` that the mode needs
(``rgb``: synth/rgb, ``depth``: synth/depth, ``rgbd``: both) — each raw or compressed the
image_transport way (``transport``). Messages are grouped by header stamp with an
approximate-time synchroniser (``tolerance_s``); each group is passed to
:func:`scmis_core.augment.class_mix` and the result is published on ``mixed/rgb`` (rgb8),
``mixed/depth`` (32FC1 m) and ``mixed/labels`` (the labels, unchanged), all with the labels'
header, reliable keep-last (optionally also compressed). ``/diagnostics`` carries the
counters. Nothing is mixed while no one subscribes to a ``mixed/`` topic.

    ros2 run scmis_ros mix_node --ros-args -p mode:=rgbd -p ratio:=0.7
"""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np
from rclpy.node import Node

from scmis_core.augment import MIX_MODES, class_mix

from .conversions import ImageConversionError, labels_encoding, stamp_ns
from .diagnostics import DIAG_PARAMS, OK, Diagnostics, NodeStats
from .image_topics import (DECODERS, ImageInput, ImageOutput, admit_image, input_params,
                           output_params)
from .node_utils import Param, ParamStore, qos_from_name, run_node
from .sync import ApproximateTimeSync

PARAMS = [
    Param("mode", "rgb", "what is replaced at the chosen classes' pixels (fixes which synth "
          "topics are subscribed)", choices=MIX_MODES, read_only=True),
    Param("ratio", 0.7, "fraction of the classes present that are replaced (rounded half up; "
          "0.7 is the paper's best RGB ratio, Table 2)", lo=0.0, hi=1.0),
    Param("seed", 0, "seed of the class choice; -1 = nondeterministic", lo=-1, hi=2**31 - 1),
    Param("tolerance_s", 0.02, "largest stamp difference within one synchronised group (s)",
          lo=0.0, hi=10.0, read_only=True),
    Param("queue_size", 10, "messages kept per input while waiting for partners", lo=1,
          hi=1000, read_only=True),
    *input_params(),
    *output_params(),
    *DIAG_PARAMS,
]

#: input name -> (topic, role)
INPUTS = {"rgb": ("rgb", "rgb"), "depth": ("depth", "depth"), "labels": ("labels", "labels"),
          "synth_rgb": ("synth/rgb", "rgb"), "synth_depth": ("synth/depth", "depth")}


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
        self.inputs = ["rgb", "depth", "labels"] + synth_inputs(self.p["mode"])
        self.stats = NodeStats("received", "groups", "processed", "published", "dropped", "bad",
                               "too_large", "skipped_no_subscribers")
        self.sync = ApproximateTimeSync(len(self.inputs),
                                        int(round(self.p["tolerance_s"] * 1e9)),
                                        self.p["queue_size"], callback=self.on_group)
        comp = {"compressed": self.p["publish_compressed"],
                "compressed_format": self.p["compressed_format"]}
        self.outputs = {name: ImageOutput(self, f"mixed/{name}", name, qos, **comp)
                        for name in ("rgb", "depth", "labels")}
        self.subs = [ImageInput(self, INPUTS[name][0], INPUTS[name][1], self._callback(i),
                                self.p["transport"], self.p["input_qos"], self.p["qos_depth"])
                     for i, name in enumerate(self.inputs)]
        for sub in self.subs:
            sub.start()
        self.diagnostics = Diagnostics(self, self.p, self.stats, self._diag_state)
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
        what = f"a {self.inputs[index]} image"

        def on_message(msg: Any) -> None:
            if admit_image(self, self.stats, msg, self.p["max_input_pixels"], what,
                           self._warn_bad):
                self.sync.add(index, stamp_ns(msg.header), (time.perf_counter(), msg))
        return on_message

    def _warn_bad(self, exc: Exception) -> None:
        self.stats.add("bad")
        self.get_logger().warning(f"dropped a bad group: {exc}", throttle_duration_sec=5.0)

    def _diag_state(self) -> tuple[int, str, dict[str, Any], bool]:
        self.stats.set("dropped", self.sync.dropped)
        return OK, "", {"mode": self.p["mode"], "ratio": self.p["ratio"],
                        "inputs": "; ".join(s.describe() for s in self.subs),
                        "sync_waiting": self.sync.queue_lengths()}, True

    def mix(self, group: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class-mix one synchronised group of messages -> (rgb, depth_m, labels)."""
        labels = DECODERS["labels"](group["labels"])
        height, width = labels.shape
        rgb = DECODERS["rgb"](group["rgb"])
        depth_m = DECODERS["depth"](group["depth"])
        if rgb.shape[:2] != labels.shape or depth_m.shape != labels.shape:
            raise ImageConversionError(f"real frame sizes differ: rgb {rgb.shape[:2]}, depth "
                                       f"{depth_m.shape}, labels {labels.shape}")
        synth_rgb = synth_depth = None
        if "synth_rgb" in group:
            synth_rgb = fit_size(DECODERS["rgb"](group["synth_rgb"]), height, width, False)
        if "synth_depth" in group:
            synth_depth = fit_size(DECODERS["depth"](group["synth_depth"]), height, width,
                                   True)
        with self._rng_lock:
            out_rgb, out_depth, _ = class_mix(rgb, depth_m, labels, synth_rgb, synth_depth,
                                              self.p["ratio"], self.p["mode"], self._rng)
        return out_rgb, out_depth, labels

    def on_group(self, *items: tuple[float, Any]) -> None:
        """A synchronised group (arrival time, message) per input: mix and publish."""
        self.stats.add("groups")
        if not any(out.wanted() for out in self.outputs.values()):
            self.stats.add("skipped_no_subscribers")
            return
        group = {name: msg for name, (_, msg) in zip(self.inputs, items)}
        try:
            rgb, depth_m, labels = self.mix(group)
        except (ImageConversionError, ValueError) as exc:
            self._warn_bad(exc)
            return
        header = group["labels"].header
        sent = self.outputs["rgb"].publish(rgb, "rgb8", header)
        sent += self.outputs["depth"].publish(depth_m, "32FC1", header)
        sent += self.outputs["labels"].publish(labels, labels_encoding(int(labels.max())),
                                               header)
        self.stats.add("processed")
        self.stats.add("published", sent)
        self.stats.latency((time.perf_counter() - min(t for t, _ in items)) * 1e3)


def main(args: list[str] | None = None) -> int:
    """``ros2 run scmis_ros mix_node``."""
    return run_node(MixNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
